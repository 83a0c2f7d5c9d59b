"""An EventBridge-Scheduler-compatible service whose targets are this host's functions.

Pure rules (`cron`, `expressions`, `ticks`, `schedule`, `retry`) are apart from the I/O
(`store` on the journal, `service` with its one timer task, `api` over ASGI). The service
imports nothing above its floor: the asynchronous invoke (`Fire`) and the dead-letter queues
(`DeadLetterSink`) are handed to it by the daemon.
"""
