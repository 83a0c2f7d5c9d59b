"""Durable state: SQLite rows (functions, versions, layers, documents), content-addressed code and
/opt trees on disk, crash recovery, and the zip reader that trusts nothing. Synchronous and
thread-safe: `engine.control` calls it from worker threads."""
