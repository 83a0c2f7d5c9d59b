"""Reading lambdalet's answers as LocalStack's snapshot transformers read AWS's, for the
scenarios whose recordings stored more than boto3's dict (JSON text parsed, values masked)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import botocore.exceptions

from tests.integration.parity.conftest import Scenario


def snap(value: Any) -> Any:
    """A value as LocalStack's snapshot stores it: strings that open with ``{`` (at any depth
    of a dict, or in dicts inside lists) parsed as JSON where they parse."""
    if isinstance(value, dict):
        return {k: snap_item(v) for k, v in value.items()}
    return value


def snap_item(value: Any) -> Any:
    if isinstance(value, dict):
        return snap(value)
    if isinstance(value, list):
        return [snap(v) if isinstance(v, dict) else v for v in value]
    if isinstance(value, str) and value.startswith("{"):
        try:
            return snap(json.loads(value))
        except ValueError:
            return value
    return value


def mask(value: Any, masks: Mapping[str, str]) -> Any:
    """Replace the value under each key of `masks`, at any depth, as the recording's
    transformers did (e.g. every ``CodeSha256`` of test_lambda.py recorded as the text
    ``code-sha256``, every ``FunctionUrl`` as ``lambda-url``)."""
    if isinstance(value, dict):
        return {k: masks[k] if k in masks else mask(v, masks) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, masks) for v in value]
    return value


def answer(method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """boto3's answer (for an error, `ClientError.response`), a streamed Payload read, as the
    snapshot saw it."""
    try:
        response: dict[str, Any] = method(**kwargs)
    except botocore.exceptions.ClientError as exc:
        response = dict(exc.response)
    if hasattr(response.get("Payload"), "read"):
        response["Payload"] = response["Payload"].read().decode("utf-8", errors="replace")
    return snap(response)  # type: ignore[no-any-return]


def ask(
    p: Scenario,
    label: str,
    method: Callable[..., Any],
    /,
    masks: Mapping[str, str] | None = None,
    sort: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`p.call`, reading the answer as the recording did (`answer`, `masks`; the list under
    `sort` ordered by FunctionArn); returns the answer unmasked."""
    response = answer(method, **kwargs)
    shown = mask(response, masks or {})
    if sort and isinstance(shown.get(sort), list):
        shown[sort] = sorted(shown[sort], key=lambda c: c.get("FunctionArn", ""))
    p.expect(label, shown)
    return response
