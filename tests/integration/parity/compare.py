"""Compare one answer lambdalet gave with the answer real AWS gave to the same call.

Pure: no I/O. An answer is what boto3 hands the caller — the parsed response dict, or
``ClientError.response`` — with its HTTP status beside it. A recorded answer keeps the
placeholders its recording used for what differs between runs (``<function-name:1>``,
``<uuid:2>``, ``date``): a placeholder matches any value, and the same placeholder must match
the same value everywhere in one scenario. Everything else must be equal: the status, every
key at every depth, every value, and error codes and messages to the character.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# `<function-name:1>`, `<region>`, `<uuid:12>`, … as a recording writes them.
_PLACEHOLDER: Final = re.compile(r"<[a-z][a-z0-9_-]*(?::\d+)?>")
# Recordings write any account as this id; the daemon's own account takes its place.
RECORDED_ACCOUNT: Final = "111111111111"
DATE: Final = "date"  # a recorded timestamp of any value
DATETIME: Final = "datetime"  # a recorded rest-json timestamp (boto3 parses it to a datetime)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Mapping[str, Any]  # boto3's dict without ResponseMetadata


@dataclass
class Bindings:
    """What each placeholder stood for so far in one scenario."""

    values: dict[str, str] = field(default_factory=dict)


def compare(
    recorded: Answer,
    actual: Answer,
    *,
    bindings: Bindings,
    kept: Mapping[str, str] = {},
) -> list[str]:
    """Every difference between `actual` and `recorded`, as readable lines (none: identical).

    `kept` maps a key path (``Configuration.State``; ``*`` matches any one level) to the reason
    lambdalet answers differently there on purpose; differences under it are not reported.
    """
    diffs: list[str] = []
    if recorded.status != actual.status:
        diffs.append(f"status: AWS {recorded.status}, lambdalet {actual.status}")
    _walk(recorded.body, actual.body, "", diffs, bindings, _kept_patterns(kept))
    return diffs


def _kept_patterns(kept: Mapping[str, str]) -> list[re.Pattern[str]]:
    return [
        re.compile(r"\.".join("[^.]+" if p == "*" else re.escape(p) for p in path.split(".")))
        for path in kept
    ]


def _walk(
    rec: Any,
    act: Any,
    path: str,
    diffs: list[str],
    bindings: Bindings,
    kept: list[re.Pattern[str]],
) -> None:
    if path and any(p.fullmatch(path) for p in kept):
        return
    where = path or "(body)"
    if isinstance(rec, dict):
        if not isinstance(act, dict):
            diffs.append(f"{where}: AWS an object, lambdalet {_show(act)}")
            return
        for key in rec:
            sub = f"{path}.{key}" if path else key
            if key not in act:
                if not any(p.fullmatch(sub) for p in kept):
                    diffs.append(f"{sub}: missing (AWS {_show(rec[key])})")
                continue
            _walk(rec[key], act[key], sub, diffs, bindings, kept)
        for key in act:
            sub = f"{path}.{key}" if path else key
            if key not in rec and not any(p.fullmatch(sub) for p in kept):
                diffs.append(f"{sub}: not in AWS's answer (lambdalet {_show(act[key])})")
        return
    if isinstance(rec, list):
        if not isinstance(act, list):
            diffs.append(f"{where}: AWS a list, lambdalet {_show(act)}")
            return
        if len(rec) != len(act):
            diffs.append(f"{where}: AWS {len(rec)} items, lambdalet {len(act)}")
            return
        for i, (r, a) in enumerate(zip(rec, act, strict=True)):
            _walk(r, a, f"{path}[{i}]", diffs, bindings, kept)
        return
    if isinstance(rec, str):
        problem = match_text(rec, act, bindings)
        if problem:
            diffs.append(f"{where}: {problem}")
        return
    if type(rec) is not type(act) or rec != act:
        diffs.append(f"{where}: AWS {_show(rec)}, lambdalet {_show(act)}")


def match_text(rec: str, act: Any, bindings: Bindings) -> str | None:
    """None if `act` is what `rec` (with placeholders) describes; else what is wrong."""
    rec = rec.replace(RECORDED_ACCOUNT, "<account>")
    if rec == DATE:
        return None if act is not None else f"AWS a date, lambdalet {_show(act)}"
    if rec == DATETIME:
        ok = isinstance(act, datetime.datetime)
        return None if ok else f"AWS a timestamp, lambdalet {_show(act)}"
    holders = _PLACEHOLDER.findall(rec)
    if rec in holders:  # the whole value is one placeholder: any type goes
        return _bind(bindings, rec, str(act))
    if not isinstance(act, str):
        return f"AWS {_show(rec)}, lambdalet {_show(act)}"
    if not holders:
        return None if rec == act else _text_difference(rec, act)
    pattern, names = _text_pattern(rec)
    found = pattern.fullmatch(act)
    if found is None:
        return _pattern_difference(rec, act)
    for group, holder in names.items():
        problem = _bind(bindings, holder, found.group(group))
        if problem:
            return problem
    return None


def _text_pattern(rec: str) -> tuple[re.Pattern[str], dict[str, str]]:
    parts: list[str] = []
    names: dict[str, str] = {}  # group name -> placeholder
    groups: dict[str, str] = {}  # placeholder -> group name
    end = 0
    for holder in _PLACEHOLDER.finditer(rec):
        parts.append(re.escape(rec[end : holder.start()]))
        text = holder.group()
        if text in groups:
            parts.append(f"(?P={groups[text]})")
        else:
            group = f"g{len(groups)}"
            groups[text] = group
            names[group] = text
            parts.append(f"(?P<{group}>.+?)")
        end = holder.end()
    parts.append(re.escape(rec[end:]))
    return re.compile("".join(parts), re.DOTALL), names


def _bind(bindings: Bindings, holder: str, value: str) -> str | None:
    if ":" not in holder:  # unnumbered (`<region>`, `<account>`): any value, no binding
        return None
    seen = bindings.values.setdefault(holder, value)
    if seen != value:
        return f"{holder} stood for {seen!r} earlier in this scenario, here {value!r}"
    return None


def _text_difference(rec: str, act: str) -> str:
    """Two texts, shown from a little before where they part (placeholders end the common
    part, since they stand for text of any length)."""
    if len(rec) <= 120 and len(act) <= 120:
        return f"AWS {rec!r}, lambdalet {act!r}"
    same = 0
    for a, b in zip(rec, act, strict=False):
        if a != b or a == "<":
            break
        same += 1
    start = max(0, same - 30)
    return (
        f"from character {same}: AWS …{rec[start : start + 130]!r}, "
        f"lambdalet …{act[start : start + 130]!r}"
    )


def _pattern_difference(rec: str, act: str) -> str:
    """Where `act` stops matching `rec`: the first literal piece of `rec` (between
    placeholders) that a growing prefix of the pattern cannot place."""
    pieces = _PLACEHOLDER.split(rec)
    holders = _PLACEHOLDER.findall(rec)
    for end in range(1, len(pieces) + 1):
        prefix = "".join(
            re.escape(piece) + (".+?" if i < end - 1 else "")
            for i, piece in enumerate(pieces[:end])
        )
        if re.match(prefix, act, re.DOTALL) is None:
            piece = pieces[end - 1]
            before = holders[end - 2] if end >= 2 else "(start)"
            return (
                f"after {before}, AWS has {piece[:120]!r}; lambdalet "
                f"{_show(act if len(act) < 200 else act[:200] + '…')}"
            )
    return f"AWS {_show(rec)}, lambdalet {_show(act)} (the ending differs)"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."
