"""SnapStart templates: environments cloned from an initialised runtime (`template`, the
template's init; `shell`, an environment's namespaces made ahead; `restore`, the clone as a
checklist of injected calls; `ptrace`, the injection itself)."""
