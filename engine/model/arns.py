"""ARNs of this host's resources: one region (the daemon's) and one account."""

from __future__ import annotations

ACCOUNT_ID = "000000000000"


def function_arn(region: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def layer_arn(region: str, layer: str, version: int | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:layer:{layer}"
    return f"{arn}:{version}" if version is not None else arn
