"""What an operator watches: Prometheus metrics (``/metrics``) and JSON log lines."""
