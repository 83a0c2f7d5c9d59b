"""Lambda layers as data: a published layer version, its AWS shapes, and request parsing.

Pure. The registry stores layer versions (zip, extracted tree, this record); a function's
`Layers` become `LayerRef`s and one merged read-only tree at /opt (`engine.registry.layer_tree`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import InvalidParameterValueException, ResourceNotFoundException
from engine.model.arns import ACCOUNT_ID, layer_arn
from engine.model.code import decode_zip_file
from engine.model.json_types import opt_str, opt_str_list, require_object
from engine.model.violations import Violations

MAX_FUNCTION_LAYERS: Final = 5
MAX_COMPATIBLE_RUNTIMES: Final = 15
MAX_LICENSE_CHARS: Final = 512
MAX_DESCRIPTION_CHARS: Final = 256
LAYER_NAME_PATTERN: Final = r"[a-zA-Z0-9-_]+"
_LAYER_NAME_RE: Final = re.compile(LAYER_NAME_PATTERN)
_LAYER_ARN_RE: Final = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<layer>[a-zA-Z0-9-_]+)(?::(?P<version>[0-9]+))?"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerVersion:
    """One immutable, published version of a layer."""

    layer: str
    version: int
    description: str
    created: str  # AWS's CreatedDate text
    # None: not given (AWS leaves the key out); (): given empty (AWS shows []).
    compatible_runtimes: tuple[str, ...] | None
    compatible_architectures: tuple[str, ...] | None
    license_info: str | None
    code_digest: str  # hex sha256 of the zip: names the blob and the extracted tree
    code_sha256: str  # base64 sha256, as AWS reports CodeSha256
    code_size: int
    unzipped_size: int  # bytes of the extracted tree (counts toward a function's 250 MB)

    def arn(self, region: str) -> str:
        return layer_arn(region, self.layer, self.version)

    def list_item(self, region: str) -> dict[str, Any]:
        """LayerVersionsListItem (ListLayerVersions, ListLayers' LatestMatchingVersion)."""
        out: dict[str, Any] = {
            "LayerVersionArn": self.arn(region),
            "Version": self.version,
            "Description": self.description,
            "CreatedDate": self.created,
        }
        if self.compatible_runtimes is not None:
            out["CompatibleRuntimes"] = list(self.compatible_runtimes)
        if self.compatible_architectures is not None:
            out["CompatibleArchitectures"] = list(self.compatible_architectures)
        if self.license_info is not None:
            out["LicenseInfo"] = self.license_info
        return out

    def to_aws(self, region: str, *, location: str) -> dict[str, Any]:
        """GetLayerVersion / PublishLayerVersion's answer."""
        return {
            "Content": {
                "Location": location,
                "CodeSha256": self.code_sha256,
                "CodeSize": self.code_size,
            },
            "LayerArn": layer_arn(region, self.layer),
            **self.list_item(region),
        }

    def to_doc(self) -> dict[str, Any]:
        return {
            "schema": 2,  # 2: a missing compatibility list is null, not []
            "layer": self.layer,
            "version": self.version,
            "description": self.description,
            "created": self.created,
            "compatible_runtimes": _optional_list(self.compatible_runtimes),
            "compatible_architectures": _optional_list(self.compatible_architectures),
            "license_info": self.license_info,
            "code_digest": self.code_digest,
            "code_sha256": self.code_sha256,
            "code_size": self.code_size,
            "unzipped_size": self.unzipped_size,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> LayerVersion:
        return cls(
            layer=doc["layer"],
            version=int(doc["version"]),
            description=doc.get("description", ""),
            created=doc["created"],
            compatible_runtimes=_from_doc_list(doc, "compatible_runtimes"),
            compatible_architectures=_from_doc_list(doc, "compatible_architectures"),
            license_info=doc.get("license_info"),
            code_digest=doc["code_digest"],
            code_sha256=doc["code_sha256"],
            code_size=int(doc["code_size"]),
            unzipped_size=int(doc.get("unzipped_size", 0)),
        )


def _optional_list(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def _from_doc_list(doc: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = doc.get(key)
    if doc.get("schema", 1) < 2 and not value:
        return None  # schema 1 wrote [] for a list that was never given
    return None if value is None else tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishLayerRequest:
    layer: str
    zip_bytes: bytes
    description: str = ""
    compatible_runtimes: tuple[str, ...] | None = None
    compatible_architectures: tuple[str, ...] | None = None
    license_info: str | None = None


def parse_layer_name(raw: str, *, region: str) -> str:
    """A layer name or a layer ARN (without version) → the bare name."""
    problems = Violations()
    if not 1 <= len(raw) <= 140:
        problems.add_max_length("layerName", raw, 140)
    match = _LAYER_ARN_RE.fullmatch(raw)
    if match is None and not _LAYER_NAME_RE.fullmatch(raw):
        problems.add_pattern(
            "layerName",
            raw,
            f"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:"
            f"{LAYER_NAME_PATTERN})|{LAYER_NAME_PATTERN}",
        )
    problems.raise_if_any()
    if match is None:
        return raw
    if match["version"] is not None:
        raise InvalidParameterValueException(
            f"Layer name {raw} must not carry a version: pass the version separately"
        )
    _check_ours(raw, match, region)
    return match["layer"]


def parse_layer_version_arn(arn: str, *, region: str) -> tuple[str, int]:
    """`arn:aws:lambda:<region>:<account>:layer:<name>:<version>` → (name, version)."""
    match = _LAYER_ARN_RE.fullmatch(arn)
    if match is None or match["version"] is None:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{arn}' at 'arn' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+"
        )
    _check_ours(arn, match, region)
    return match["layer"], int(match["version"])


def parse_function_layers(value: object, *, region: str) -> tuple[tuple[str, int], ...]:
    """A function's `Layers` list → ((name, version), ...) in order, at most five, one
    version per layer."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterValueException("Layers must be a list of layer version ARNs")
    if len(value) > MAX_FUNCTION_LAYERS:
        raise InvalidParameterValueException(
            f"Cannot reference more than {MAX_FUNCTION_LAYERS} layers."
        )
    refs: list[tuple[str, int]] = []
    seen: dict[str, str] = {}
    for arn in value:
        name, version = parse_layer_version_arn(arn, region=region)
        if name in seen:
            raise InvalidParameterValueException(
                "Two different versions of the same layer are not allowed to be referenced in "
                f"the same function. {seen[name]} and {arn} are versions of the same layer."
            )
        seen[name] = arn
        refs.append((name, version))
    return tuple(refs)


def parse_publish_layer_version(
    layer: str, body: Mapping[str, Any], *, region: str
) -> PublishLayerRequest:
    """A PublishLayerVersion body (its model constraints already checked) as a request."""
    body = require_object(body)
    name = parse_layer_name(layer, region=region)
    description = opt_str(body, "Description") or ""
    license_info = opt_str(body, "LicenseInfo")
    runtimes = opt_str_list(body, "CompatibleRuntimes")
    architectures = opt_str_list(body, "CompatibleArchitectures")
    content = body.get("Content")
    if not isinstance(content, dict):
        raise InvalidParameterValueException('Content is required: {"ZipFile": <base64 zip>}')
    for other in ("S3Bucket", "S3Key", "S3ObjectVersion"):
        if content.get(other):
            raise InvalidParameterValueException(
                f"Content.{other}: lambdalet has no S3; upload the layer as Content.ZipFile"
            )
    zip_b64 = content.get("ZipFile")
    if not isinstance(zip_b64, str) or not zip_b64:
        raise InvalidParameterValueException("Content.ZipFile is required (a base64 zip)")
    return PublishLayerRequest(
        layer=name,
        zip_bytes=decode_zip_file(zip_b64),
        description=description,
        compatible_runtimes=None if runtimes is None else tuple(runtimes),
        compatible_architectures=None if architectures is None else tuple(architectures),
        license_info=license_info,
    )


MSG_LAYER_NOT_FOUND: Final = "The resource you requested does not exist."


def layer_not_found(region: str, layer: str, version: int) -> ResourceNotFoundException:
    """A layer version that is not there, in AWS's words (which name nothing)."""
    return ResourceNotFoundException(MSG_LAYER_NOT_FOUND)


def check_layer_version_number(number: int) -> None:
    if number < 1:
        raise InvalidParameterValueException("Layer Version Cannot be less than 1")


def _check_ours(raw: str, match: re.Match[str], region: str) -> None:
    if match["region"] != region:
        raise InvalidParameterValueException(
            "Layers are not in the same region as the function. Layers are expected to be in "
            f"region {region}."
        )
    if match["account"] != ACCOUNT_ID:
        raise InvalidParameterValueException(
            f"{raw}: this lambdalet host serves region {region} and account {ACCOUNT_ID} only"
        )
