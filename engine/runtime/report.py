"""Lambda's platform log lines (START, END, REPORT, timeouts), as pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

MIB = 1024 * 1024
TAIL_BYTES = 4096  # X-Amz-Log-Result carries the last 4 KB of the invocation's log


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def billed_ms(duration_ms: float) -> int:
    """Lambda bills in 1 ms steps, rounding up, with a 1 ms minimum."""
    return max(1, math.ceil(duration_ms))


def memory_used_mb(peak_bytes: int) -> int:
    return max(1, math.ceil(peak_bytes / MIB))


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """One invoke's REPORT. The first invoke of a new environment carries how it was made:
    `init_duration_ms` (a cold start), or for a SnapStart version, restored from a snapshot,
    `restore_duration_ms` (Lambda's Restore Duration: the whole restore, the clone included)
    and `restore_runtime_ms` (the runtime's part of it, from the Restore to Ready: its after-
    restore hooks; Lambda's Billed Restore Duration, which leaves the snapshot's own restore
    out). Never both an init and a restore."""

    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_bytes: int
    init_duration_ms: float | None = None  # only on the first invoke of a cold environment
    restore_duration_ms: float | None = None  # only on the first invoke of a restored one
    restore_runtime_ms: float | None = None  # of which the runtime's (None: all of it)
    status: str | None = None  # "timeout" / "error" when the environment was reset

    def __post_init__(self) -> None:
        if self.init_duration_ms is not None and self.restore_duration_ms is not None:
            raise ValueError("an environment is either initialized or restored, not both")

    @property
    def billed_restore_duration_ms(self) -> int | None:
        """Billed Restore Duration: the runtime's part of a restore, rounded up to 1 ms."""
        if self.restore_duration_ms is None:
            return None
        runtime_ms = self.restore_runtime_ms
        return billed_ms(self.restore_duration_ms if runtime_ms is None else runtime_ms)

    @property
    def billed_duration_ms(self) -> int:
        """What Lambda bills: the invoke and, on a cold start, its init (billed for on-demand
        functions of every runtime since August 2025), rounded up together to 1 ms. A restored
        environment's first invoke adds its Billed Restore Duration instead (as Lambda's
        REPORT lines show: Billed Duration = ceil(Duration + Billed Restore Duration))."""
        if (restore_ms := self.billed_restore_duration_ms) is not None:
            return billed_ms(self.duration_ms + restore_ms)
        return billed_ms(self.duration_ms + (self.init_duration_ms or 0.0))

    @property
    def init_billed_ms(self) -> int:
        """The part of `billed_duration_ms` that init, or a restore, added (0 on a warm
        invoke)."""
        if self.init_duration_ms is None and self.restore_duration_ms is None:
            return 0
        return self.billed_duration_ms - billed_ms(self.duration_ms)

    def line(self) -> str:
        duration = self.duration_ms
        line = (
            f"REPORT RequestId: {self.request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {self.billed_duration_ms} ms\t"
            f"Memory Size: {self.memory_size_mb} MB\t"
            f"Max Memory Used: {memory_used_mb(self.max_memory_used_bytes)} MB\t"
        )
        if self.init_duration_ms is not None:
            line += f"Init Duration: {self.init_duration_ms:.2f} ms\t"
        if self.restore_duration_ms is not None:
            line += (
                f"Restore Duration: {self.restore_duration_ms:.2f} ms\t"
                f"Billed Restore Duration: {self.billed_restore_duration_ms} ms\t"
            )
        if self.status is not None:
            line += f"Status: {self.status}\t"
        return line + "\n"  # AWS ends the line with a tab too


def timeout_message(timeout_s: float) -> str:
    return f"Task timed out after {timeout_s:.2f} seconds"


def timeout_line(request_id: str, timeout_s: float, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return f"{stamp} {request_id} {timeout_message(timeout_s)}\n"


def log_tail(data: bytes, limit: int = TAIL_BYTES) -> bytes:
    return data[-limit:]
