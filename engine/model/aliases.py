"""Aliases as data: a named pointer at a version, optionally shifting weighted traffic to a
second version. Pure: parsing past the model's constraints (checked at the API boundary), the
AWS shape, and the weighted choice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidParameterValueException
from engine.model.arns import function_arn
from engine.model.function import LATEST
from engine.model.json_types import opt_object, opt_str, require_object, type_error
from engine.model.violations import Violations


@dataclass(frozen=True, slots=True, kw_only=True)
class Alias:
    name: str
    function_version: str  # "$LATEST" or a published version number
    description: str = ""
    weights: dict[str, float] = field(default_factory=dict)  # {"<version>": 0.0..1.0}, ≤ 1
    revision_id: str

    def to_aws(self, region: str, function_name: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AliasArn": function_arn(region, function_name, self.name),
            "Name": self.name,
            "FunctionVersion": self.function_version,
            "Description": self.description,
            "RevisionId": self.revision_id,
        }
        if self.weights:
            out["RoutingConfig"] = {"AdditionalVersionWeights": dict(self.weights)}
        return out

    def to_doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function_version": self.function_version,
            "description": self.description,
            "weights": dict(self.weights),
            "revision_id": self.revision_id,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Alias:
        return cls(
            name=doc["name"],
            function_version=doc["function_version"],
            description=doc.get("description", ""),
            weights={str(k): float(v) for k, v in doc.get("weights", {}).items()},
            revision_id=doc["revision_id"],
        )

    def versions(self) -> tuple[str, ...]:
        """Every version this alias can route to."""
        return (self.function_version, *self.weights)

    def pick(self, draw: float) -> str:
        """The version one invocation runs, given `draw` uniform in [0, 1)."""
        for version, weight in self.weights.items():
            if draw < weight:
                return version
        return self.function_version


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasRequest:
    """Create/UpdateAlias: `None` fields are left as they are (Update)."""

    name: str | None = None
    function_version: str | None = None
    description: str | None = None
    weights: dict[str, float] | None = None
    revision_id: str | None = None


def parse_alias_request(body: Mapping[str, Any], *, create: bool) -> AliasRequest:
    """A Create/UpdateAlias body (its model constraints checked at the API boundary) as a
    request."""
    body = require_object(body)
    name = opt_str(body, "Name")
    version = opt_str(body, "FunctionVersion")
    if create and (name is None or version is None):
        problems = Violations()  # required by the model: only a caller past the boundary
        for value, path in ((name, "name"), (version, "functionVersion")):
            if value is None:
                problems.add_null(path)
        problems.raise_if_any()
    routing = opt_object(body, "RoutingConfig")
    return AliasRequest(
        name=name,
        function_version=version,
        description=opt_str(body, "Description"),
        weights=None if routing is None else _parse_weights(routing),
        revision_id=opt_str(body, "RevisionId"),
    )


def check_routing(function_version: str, weights: Mapping[str, float]) -> None:
    """AWS's rules for weighted aliases (the versions' existence is checked by the caller)."""
    if not weights:
        return
    if function_version == LATEST:
        raise InvalidParameterValueException(
            "$LATEST is not supported for an alias pointing to more than 1 version",
            with_type=False,
        )
    if function_version in weights:
        raise InvalidParameterValueException(
            f"Invalid function version {function_version}. Function version "
            f"{function_version} is already included in routing configuration."
        )


def _parse_weights(routing: Mapping[str, Any]) -> dict[str, float]:
    unknown = sorted(set(routing) - {"AdditionalVersionWeights"})
    if unknown:
        raise InvalidParameterValueException(
            f"RoutingConfig: unknown member(s) {', '.join(unknown)}"
        )
    raw = routing.get("AdditionalVersionWeights") or {}
    if not isinstance(raw, Mapping):
        raise InvalidParameterValueException(
            "RoutingConfig.AdditionalVersionWeights must be a map of version to weight"
        )
    if len(raw) > 1:
        raise InvalidParameterValueException(
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        )
    weights: dict[str, float] = {}
    for version, weight in raw.items():  # keys and ranges are the model's, checked before
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise type_error(
                f"RoutingConfig.AdditionalVersionWeights.{version}", "a number", weight
            )
        weights[str(version)] = float(weight)
    return weights
