"""Function configurations and invoke outcomes for the usage ledger's tests."""

from __future__ import annotations

from engine.model.arns import ACCOUNT_ID
from engine.model.function import LATEST, FunctionConfig
from engine.runtime.environment import InvokeOutcome

MINUTE_MS = 60_000
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def config(
    name: str = "fn",
    *,
    memory_mb: int = 128,
    arch: str = "x86_64",
    version: str = LATEST,
    last_modified: str = "2024-01-01T00:00:00.000+0000",
) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.12",
        handler="app.handler",
        role=f"arn:aws:iam::{ACCOUNT_ID}:role/r",
        memory_mb=memory_mb,
        architectures=(arch,),
        code_digest="0" * 64,
        code_sha256="x",
        code_size=1,
        last_modified=last_modified,
        revision_id="r1",
        version=version,
    )


def outcome(billed_ms: int, init_billed_ms: int = 0, *, restored: bool = False) -> InvokeOutcome:
    return InvokeOutcome(
        restored=restored,
        payload=b"{}",
        function_error=None,
        log_tail=b"",
        reusable=True,
        billed_ms=billed_ms,
        init_billed_ms=init_billed_ms,
    )
