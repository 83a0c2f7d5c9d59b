"""In-sandbox language runtimes. Code here imports only the standard library and msgpack."""
