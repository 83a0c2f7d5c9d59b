"""Durable, group-committed SQLite stores for the event-driven services (`events/`, `sqs/`)."""
