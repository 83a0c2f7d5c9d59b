"""The syscall filter every sandboxed process runs under: the policy (`policy`, data), the
system call numbers (`numbers`, generated), and its compiler to classic BPF (`bpf`, pure)."""
