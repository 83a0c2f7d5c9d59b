"""Tumbling windows for stream mappings (`TumblingWindowInSeconds`): which window a record is
in, what a windowed invocation carries, and the state it hands on. Pure.

Lambda's rules (Developer Guide, "Using tumbling windows with Kinesis"): windows are fixed,
back to back, `TumblingWindowInSeconds` long, and a record belongs to the window of its
arrival time. Each invocation for a window gets the `state` the previous one of the same
window returned (`{}` for the first); when the window is over, one more invocation with
`isFinalInvokeForWindow: true` hands the final state over, and the state is dropped. A state
bigger than 1 MB ends the window early (`isWindowTerminatedEarly: true`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

MAX_STATE_BYTES: Final = 1024 * 1024


def window_of(arrival_s: float, length_s: int) -> tuple[float, float]:
    start = math.floor(arrival_s / length_s) * length_s
    return float(start), float(start + length_s)


def _stamp(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass(slots=True)
class Window:
    start: float
    end: float
    state: dict[str, Any] = field(default_factory=dict)
    terminated_early: bool = False

    def envelope(self, *, shard_id: str, stream_arn: str, final: bool) -> dict[str, Any]:
        """The fields a windowed invocation's event carries besides `Records`."""
        return {
            "window": {"start": _stamp(self.start), "end": _stamp(self.end)},
            "state": self.state,
            "shardId": shard_id,
            "eventSourceARN": stream_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": self.terminated_early,
        }

    def take_state(self, payload: bytes) -> None:
        """Keep the state a successful invocation returned (`{"state": {...}}`)."""
        try:
            answer = json.loads(payload) if payload.strip() else None
        except ValueError:
            return
        if isinstance(answer, dict) and isinstance(answer.get("state"), dict):
            self.state = answer["state"]
            if len(json.dumps(self.state)) > MAX_STATE_BYTES:
                self.terminated_early = True
