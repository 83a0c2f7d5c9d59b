"""Asynchronous invocation: the durable event queue, retries, destinations, dead-letter queues."""
