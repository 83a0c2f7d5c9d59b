"""The pure domain: records (functions, aliases, layers, policies), typed requests parsed in
AWS's order with AWS's words, limits and ARNs. No I/O, no Trio."""
