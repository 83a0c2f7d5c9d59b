"""An SQS-compatible service in the daemon: queues, messages, FIFO groups, dead-letter queues.

Pure rules (`md5`, `queue_attributes`, `message_attributes`, `fifo`, `queue`) are apart from
the I/O (`store` on the journal, `service` with its timer and long polls, `api` over ASGI).
"""
