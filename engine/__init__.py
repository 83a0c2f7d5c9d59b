"""lambdalet engine: the Trio supervisor (API, registry, pool, invoker, daemon, CLI)."""
