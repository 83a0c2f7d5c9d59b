"""nodejs<N>.x: the host's node runs ``bootstrap.js`` from here (mounted at /var/runtime)."""
