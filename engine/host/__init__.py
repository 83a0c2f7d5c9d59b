"""The daemon's footing on this machine: preflight checks and the crash sweep, the state directory
and the sandboxes' /etc, the listening sockets and the HTTP server on them, systemd notify."""
