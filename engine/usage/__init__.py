"""The usage ledger (per-minute aggregates of billed work) and what it would cost on Lambda."""
