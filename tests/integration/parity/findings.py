"""What a recording shows beyond its labelled answers, checked where a scenario needs it."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import botocore.exceptions

from tests.integration.parity.conftest import Scenario


class Findings:
    """Steps whose answers the recording did not keep but that succeeded on AWS, and
    placeholders of one kind (`<uuid:1>`, `<uuid:2>`) that stood for different values there
    (`compare` checks only that each stands for one value). The test fails on them once every
    label is compared. `ignore` names placeholder kinds not to hold apart (with a reason in
    kept.py)."""

    def __init__(self, *, ignore: Collection[str] = ()) -> None:
        self.lines: list[str] = []
        self.ignore = frozenset(ignore)

    def step(self, what: str, method: Callable[..., Any], /, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = method(**kwargs)
        except botocore.exceptions.ClientError as exc:
            self.lines.append(f"{what}: AWS succeeded, lambdalet {exc.response['Error']}")
            return dict(exc.response)
        return response

    def check(self, ok: bool, text: str) -> None:
        if not ok:
            self.lines.append(text)

    def done(self, p: Scenario, alike: Collection[tuple[str, str]] = ()) -> None:
        """Fail on what was found; `alike` names placeholder pairs that may coincide here."""
        seen: dict[tuple[str, str], str] = {}
        for holder, value in p.bindings.values.items():
            kind = holder.strip("<>").split(":")[0]
            if kind in self.ignore:
                continue
            first = seen.setdefault((kind, value), holder)
            self.check(
                first == holder or (first, holder) in alike,
                f"{first} and {holder} differ in AWS's answers; lambdalet gave {value!r} twice",
            )
        assert not self.lines, f"{p.key}:\n  " + "\n  ".join(self.lines)
