"""lambdalet sandbox: one execution environment built from namespaces and cgroups."""
