"""Event source mappings at work: pollers that read queues and streams and invoke functions."""
