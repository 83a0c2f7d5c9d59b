"""A Kinesis-compatible stream service in the daemon: streams, shards, records, iterators.

Pure rules (`hashing`, `sequence`, `iterators`, `shard`) are apart from the I/O (`store` on
the journal, `service` with its trimmer and wake-ups, `api` over ASGI).
"""
