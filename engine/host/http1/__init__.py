"""lambdalet's own HTTP/1.1 server: a sans-I/O request parser (`parser`), response framing
(`framing`), and one Trio task per connection running an ASGI app (`connection`, `server`)."""
