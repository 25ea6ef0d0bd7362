"""Webhooks: per-project policies, event payloads (Harbor's Default, CloudEvents, Slack), signed
deliveries run as background jobs."""
