"""The daemon's life under a service manager: reload on SIGHUP, graceful stop on SIGTERM, the
STATUS= line."""
