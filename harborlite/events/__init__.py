"""What happened to artifacts, told to whoever subscribed (webhooks, replication, scanning)."""
