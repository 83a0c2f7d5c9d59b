"""Control-plane records: a function's configuration as stored and as AWS shows it.

Pure data. `to_aws()` renders the `FunctionConfiguration` JSON shape that boto3 and the AWS
CLI expect (GetFunctionConfiguration, CreateFunction, ListFunctions items).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from engine.model.arns import function_arn
from engine.model.logging_config import TEXT, LoggingSettings, logging_to_aws
from engine.model.snap_start import NONE, PUBLISHED_VERSIONS, snap_start_to_aws

LATEST = "$LATEST"


@functools.lru_cache(maxsize=256)
def runtime_version_arn(region: str, runtime: str) -> str:
    """The runtime version a function runs, named as AWS names one: a digest per runtime
    (lambdalet runs the host's interpreter of that runtime; it has no version catalogue)."""
    digest = hashlib.sha256(f"lambdalet-runtime:{runtime}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRef:
    """One layer version a function uses, as its configuration keeps it."""

    arn: str  # the layer version's ARN, as the function's Layers list names it
    code_size: int  # bytes of the layer's zip (AWS's Layers[].CodeSize)
    digest: str  # hex sha256 of the zip: the extracted tree the /opt merge is built from


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionConfig:
    """One function's $LATEST configuration and the code it points at."""

    name: str
    runtime: str
    handler: str
    role: str
    description: str = ""
    memory_mb: int = 128
    timeout_s: int = 3
    ephemeral_storage_mb: int = 512
    environment: dict[str, str] = field(default_factory=dict)
    environment_set: bool = False  # Environment was ever sent: AWS then shows it, even empty
    architectures: tuple[str, ...] = ("x86_64",)
    code_digest: str  # hex sha256 of the zip: the content-addressed blob name
    code_sha256: str  # base64 sha256 of the zip, as AWS reports CodeSha256
    code_size: int
    last_modified: str  # ISO 8601 with milliseconds and +0000, as AWS prints it
    revision_id: str
    version: str = LATEST
    # VpcConfig: empty subnet_ids means the default network (no VPC).
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    vpc_id: str = ""
    layers: tuple[LayerRef, ...] = ()  # in the function's order: later ones win in /opt
    opt_key: str = ""  # names the merged /opt tree of `layers` ("" without layers)
    published_from: str = ""  # a version: the $LATEST revision it was published from
    vpc_config_set: bool = False  # VpcConfig was ever sent: AWS then shows it, even empty
    dead_letter_arn: str | None = None  # DeadLetterConfig.TargetArn (an SQS queue's ARN)
    # LoggingConfig (`engine.model.logging_config`): levels only with JSON; "" log group: the
    # function's default one, /aws/lambda/<name>.
    log_format: str = TEXT
    application_log_level: str = ""
    system_log_level: str = ""
    log_group: str = ""
    # SnapStart.ApplyOn (`engine.model.snap_start`): a published version keeps the value it was
    # published with.
    snap_start: str = NONE

    def replace(self, **changes: Any) -> FunctionConfig:
        return dataclasses.replace(self, **changes)

    def logging(self) -> LoggingSettings:
        return LoggingSettings(
            log_format=self.log_format,
            application_log_level=self.application_log_level,
            system_log_level=self.system_log_level,
            log_group=self.log_group,
        )

    def arn(self, region: str, *, qualified: bool = False) -> str:
        """Version-qualified for a published version; for $LATEST, unqualified unless the
        caller named $LATEST (AWS then answers with ``:$LATEST``)."""
        if self.version == LATEST and not qualified:
            return function_arn(region, self.name, None)
        return function_arn(region, self.name, self.version)

    def to_aws(
        self, region: str, *, qualified: bool = False, listed: bool = False
    ) -> dict[str, Any]:
        """The FunctionConfiguration shape. `qualified`: the caller named the version (see
        `arn`). `listed`: an item of ListFunctions / ListVersionsByFunction, where AWS leaves
        out the state and the runtime version."""
        out: dict[str, Any] = {
            "FunctionName": self.name,
            "FunctionArn": self.arn(region, qualified=qualified),
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": self.version,
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision_id,
            "PackageType": "Zip",
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": self.ephemeral_storage_mb},
            "SnapStart": snap_start_to_aws(self.snap_start, on=snap_start_applies(self)),
            "LoggingConfig": logging_to_aws(self.logging(), self.name),
        }
        if not listed:
            out["State"] = "Active"
            out["LastUpdateStatus"] = "Successful"
            out["RuntimeVersionConfig"] = {
                "RuntimeVersionArn": runtime_version_arn(region, self.runtime)
            }
        if self.environment or self.environment_set:
            out["Environment"] = {"Variables": dict(self.environment)}
        if self.layers:
            out["Layers"] = [{"Arn": ref.arn, "CodeSize": ref.code_size} for ref in self.layers]
        if self.dead_letter_arn:
            out["DeadLetterConfig"] = {"TargetArn": self.dead_letter_arn}
        if self.subnet_ids or self.vpc_config_set:
            out["VpcConfig"] = {
                "SubnetIds": list(self.subnet_ids),
                "SecurityGroupIds": list(self.security_group_ids),
                "VpcId": self.vpc_id,
                "Ipv6AllowedForDualStack": False,
            }
        return out


def snap_start_applies(version_config: FunctionConfig) -> bool:
    """SnapStart applies to this configuration: a published version whose function applied it
    to published versions when it was published ($LATEST never)."""
    return version_config.version != LATEST and version_config.snap_start == PUBLISHED_VERSIONS
