"""One execution environment and how it talks to its runtime: lifecycle, the msgpack and HTTP
Runtime API channels, platform log lines, the runtime's variables, and the runtime catalog."""
