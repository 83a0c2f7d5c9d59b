"""The python3.11 runtime: loaded in the spawner, runs as the sandbox's runtime process."""
