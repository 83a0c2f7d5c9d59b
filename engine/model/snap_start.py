"""A function's SnapStart setting: ApplyOn as a request sends it, AWS's rules past the model, and
the SnapStartResponse a configuration shows (pure).

The model checks ApplyOn's enum (PublishedVersions | None). Past the model, a function that
applies SnapStart to its published versions must run a runtime SnapStart supports and keep
/tmp at 512 MB (AWS's "Supported features and limitations"); PutProvisionedConcurrencyConfig
refuses such a version (`engine.model.function.snap_start_applies` tells one). A configuration
shows OptimizationStatus "On" only on a published version published with PublishedVersions;
$LATEST and everything else show "Off". A function that never set SnapStart shows
``{"ApplyOn": "None", "OptimizationStatus": "Off"}``, as AWS answers.

lambdalet departs from AWS in one place: python3.11 is accepted beside AWS's runtimes, because
it is the only Python of the hosts lambdalet targets (Debian 12).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.errors import InvalidParameterValueException
from engine.model.json_types import opt_object, opt_str
from engine.model.limits import MIN_EPHEMERAL_STORAGE_MB

PUBLISHED_VERSIONS: Final = "PublishedVersions"
NONE: Final = "None"
ON: Final = "On"
OFF: Final = "Off"

# The managed runtimes AWS offers SnapStart on ("Java 11 and later, Python 3.12 and later,
# .NET 8 and later"), among those it creates functions on today.
AWS_SNAP_START_RUNTIMES: Final = frozenset((
    "java11", "java17", "java21", "java25", "python3.12", "python3.13", "python3.14", "dotnet8",
    "dotnet10",
))  # fmt: skip
# lambdalet's deviation: Debian 12's Python, the one Python on the hosts lambdalet targets.
LAMBDALET_SNAP_START_RUNTIMES: Final = frozenset(("python3.11",))
SNAP_START_RUNTIMES: Final = AWS_SNAP_START_RUNTIMES | LAMBDALET_SNAP_START_RUNTIMES
MAX_SNAP_START_EPHEMERAL_STORAGE_MB: Final = MIN_EPHEMERAL_STORAGE_MB  # 512

# AWS's words for a runtime it has no SnapStart for (seen in its answers to CreateFunction and
# UpdateFunctionConfiguration, e.g. "nodejs18.x is not supported for SnapStart enabled
# functions."). The two below follow the same form: AWS's texts for them are not on record.
MSG_RUNTIME: Final = "{runtime} is not supported for SnapStart enabled functions."
MSG_EPHEMERAL_STORAGE: Final = (
    "Ephemeral storage greater than 512 MB is not supported for SnapStart enabled functions."
)
MSG_PROVISIONED_CONCURRENCY: Final = (
    "Provisioned Concurrency is not supported for SnapStart enabled functions."
)


def read_snap_start(body: Mapping[str, Any]) -> str | None:
    """SnapStart.ApplyOn as sent (its enum was checked by the model); None when SnapStart or
    its ApplyOn is left out."""
    raw = opt_object(body, "SnapStart")
    if raw is None:
        return None
    return opt_str(raw, "ApplyOn", "SnapStart.ApplyOn")


def check_snap_start(*, apply_on: str, runtime: str, ephemeral_storage_mb: int) -> None:
    """A function's SnapStart against its other settings (the ones it would have once the
    request is applied); raise AWS's error when they cannot go together."""
    if apply_on != PUBLISHED_VERSIONS:
        return
    if runtime not in SNAP_START_RUNTIMES:
        raise InvalidParameterValueException(MSG_RUNTIME.format(runtime=runtime))
    if ephemeral_storage_mb > MAX_SNAP_START_EPHEMERAL_STORAGE_MB:
        raise InvalidParameterValueException(MSG_EPHEMERAL_STORAGE)


def snap_start_to_aws(apply_on: str, *, on: bool) -> dict[str, str]:
    """The SnapStartResponse a configuration shows (always); `on`: SnapStart applies to it (a
    published version published with PublishedVersions)."""
    return {"ApplyOn": apply_on or NONE, "OptimizationStatus": ON if on else OFF}
