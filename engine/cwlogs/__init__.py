"""The CloudWatch-Logs-compatible service: function logs read (and written) through AWS's
JSON protocol 1.1, ``X-Amz-Target: Logs_20140328.<Operation>``."""
