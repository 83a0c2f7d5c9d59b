"""Prometheus metrics: Lambda's CloudWatch metrics per function and qualifier, the host's pool,
and the daemon's own health, served at ``GET /metrics``."""
