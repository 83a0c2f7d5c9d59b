"""Who may call: SigV4 verification (pure), its ASGI gate for the TCP listener, and the access-key
file it trusts."""
