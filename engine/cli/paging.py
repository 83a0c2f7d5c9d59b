"""List* results across pages, as the AWS CLI prints them (``--max-items``, ``--starting-token``).

Tokens are botocore's (base64 of ``{"Marker": …, "boto_truncate_amount": n}``), so a NextToken
printed by either CLI resumes in the other against the same daemon.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any


class PagingError(ValueError):
    """A --starting-token that is not one, or a daemon that repeats its NextMarker."""


def encode_token(marker: str | None, truncate: int | None = None) -> str:
    token: dict[str, Any] = {"Marker": marker}
    if truncate is not None:
        token["boto_truncate_amount"] = truncate
    return base64.b64encode(json.dumps(token).encode()).decode()


def decode_token(token: str | None) -> tuple[str | None, int]:
    """(the Marker to ask for, how many items of that page were already printed)."""
    if token is None:
        return None, 0
    try:
        value = json.loads(base64.b64decode(token, validate=True))
        marker, skip = value["Marker"], value.get("boto_truncate_amount", 0)
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise PagingError(f"--starting-token {token!r} is not a NextToken we printed") from None
    if not (marker is None or isinstance(marker, str)) or not isinstance(skip, int):
        raise PagingError(f"--starting-token {token!r} is not a NextToken we printed")
    return marker, skip


def paginate(
    fetch: Callable[[str | None], dict[str, Any]],
    result_key: str,
    *,
    max_items: int | None = None,
    starting_token: str | None = None,
) -> dict[str, Any]:
    """Call ``fetch(marker)`` page after page and merge the `result_key` lists.

    Stops after `max_items` items; if more remain, the result has a ``NextToken`` that resumes
    exactly there (mid-page too, as botocore's paginator does).
    """
    marker, skip = decode_token(starting_token)
    out: dict[str, Any] = {}  # the key only once a page had it, as botocore merges
    items: list[Any] = []
    while True:
        page = fetch(marker)
        if page.get(result_key) is not None:
            out[result_key] = items
        got = list(page.get(result_key) or [])[skip:]
        if max_items is not None and len(items) + len(got) > max_items:
            keep = max_items - len(items)
            items.extend(got[:keep])
            return {**out, "NextToken": encode_token(marker, skip + keep)}
        items.extend(got)
        next_marker = page.get("NextMarker") or None
        if next_marker is None:
            return out
        if max_items is not None and len(items) == max_items:
            return {**out, "NextToken": encode_token(next_marker)}
        if next_marker == marker:
            raise PagingError(f"the daemon sent NextMarker {next_marker!r} twice")
        marker, skip = next_marker, 0
