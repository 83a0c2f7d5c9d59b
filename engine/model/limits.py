"""The Lambda API's limits, defaults, patterns and enums for zip functions, as AWS states them.

Pure constants: the parsers in this package check against them, and the registry, the API and
the codezip reader size their work by them.
"""

from __future__ import annotations

from typing import Final

# --- Members of the model (AWS quotas for zip functions) -------------------------------------

MIN_MEMORY_MB: Final = 128
MAX_MEMORY_MB: Final = 10240
DEFAULT_MEMORY_MB: Final = 128
MIN_TIMEOUT_S: Final = 1
MAX_TIMEOUT_S: Final = 900
DEFAULT_TIMEOUT_S: Final = 3
MIN_EPHEMERAL_STORAGE_MB: Final = 512
MAX_EPHEMERAL_STORAGE_MB: Final = 10240
DEFAULT_EPHEMERAL_STORAGE_MB: Final = 512
MAX_FUNCTION_NAME_CHARS: Final = 64  # the bare name
MAX_FUNCTION_ARN_CHARS: Final = 140  # a full or partial ARN, qualifier included
MAX_HANDLER_CHARS: Final = 128
MAX_DESCRIPTION_CHARS: Final = 256
MAX_ROLE_CHARS: Final = 10000
MAX_QUALIFIER_CHARS: Final = 128
MAX_LIST_ITEMS: Final = 10000
DEFAULT_ARCHITECTURES: Final = ("x86_64",)

# --- Sizes of packages and payloads ------------------------------------------------------------

# Sizes AWS words "must be smaller than N bytes" are exclusive bounds: N itself is rejected.
MAX_ZIP_BYTES: Final = 50 * 1024 * 1024  # decoded ZipFile of a direct upload
MAX_UNZIPPED_BYTES: Final = 262_144_000  # 250 MiB, the whole extracted package
MAX_ENV_BYTES: Final = 4096  # inclusive: the compact JSON of Environment.Variables, UTF-8
MAX_SYNC_PAYLOAD_BYTES: Final = 6 * 1024 * 1024  # RequestResponse invoke payload
MAX_ASYNC_PAYLOAD_BYTES: Final = 1024 * 1024  # Event invoke payload (1 MB since January 2026)

# --- Patterns, spelt exactly as AWS prints them in its messages --------------------------------

FUNCTION_NAME_PATTERN: Final = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
ROLE_PATTERN: Final = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
HANDLER_PATTERN: Final = r"[^\s]+"
ENV_KEY_PATTERN: Final = r"[a-zA-Z]([a-zA-Z0-9_])+"
QUALIFIER_PATTERN: Final = r"(|[a-zA-Z0-9$_-]+)"

# --- Enums -------------------------------------------------------------------------------------

# The Runtime enum of the Lambda API model (botocore 1.44), deprecated values included: a value
# outside it is a ValidationException, a value inside it that this host lacks is not.
AWS_RUNTIMES: Final = (
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
    "nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x", "java8", "java8.al2",
    "java11", "java17", "java21", "java25", "python2.7", "python3.6", "python3.7", "python3.8",
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8",
    "dotnet10", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3", "ruby3.4",
    "ruby4.0", "provided", "provided.al2", "provided.al2023", "nodejs26.x", "python3.15",
    "java8.al2023", "java11.al2023", "java17.al2023", "custom",
)  # fmt: skip
# The runtimes AWS creates functions and layers on today, in the order its refusals list them
# (not the model's order; recorded answers of CreateFunction and PublishLayerVersion).
AWS_SUPPORTED_RUNTIMES: Final = (
    "nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x",
    "nodejs22.x", "java25", "python3.10", "python3.11", "java21", "ruby3.3", "ruby3.4", "ruby3.2",
    "python3.8", "python3.9", "java17", "nodejs16.x", "dotnet10", "dotnet8", "java11", "dotnet6",
    "nodejs18.x", "provided.al2", "java8.al2",
)  # fmt: skip
AWS_SUPPORTED_RUNTIMES_TEXT: Final = "[" + ", ".join(AWS_SUPPORTED_RUNTIMES) + "]"
# Every runtime name AWS knows, as its ListLayers refusal lists them (a filter is checked
# against this set, not the model's enum).
AWS_KNOWN_RUNTIMES_TEXT: Final = (
    "[ruby3.5, ruby2.6, dotnetcore1.0, python3.7, nodejs8.10, nasa, ruby2.7,"
    " python2.7-greengrass, dotnetcore2.0, python3.8, java21, dotnet6, dotnetcore2.1, python3.9,"
    " java11, nodejs6.10, provided, dotnetcore3.1, dotnet8, java25, java17, nodejs, nodejs4.3,"
    " java8.al2, go1.x, dotnet10, nodejs20.x, go1.9, byol, nodejs10.x, provided.al2023,"
    " nodejs22.x, python3.10, java8, nodejs12.x, python3.11, nodejs24.x, nodejs8.x, python3.12,"
    " nodejs14.x, nodejs8.9, nodejs26.x, python3.13, python3.14, nodejs16.x, python3.15,"
    " provided.al2, nodejs4.3-edge, nodejs18.x, ruby3.2, python3.4, ruby3.3, ruby3.4, ruby2.5,"
    " python3.6, python2.7]"
)
AWS_ARCHITECTURES: Final = ("x86_64", "arm64")
PACKAGE_TYPES: Final = ("Zip", "Image")
TRACING_MODES: Final = ("Active", "PassThrough")

# AWS's documented reserved variables. `_HANDLER` and `_X_AMZN_TRACE_ID` are listed for
# completeness; they already fail the key pattern, which AWS checks first. AWS_XRAY_CONTEXT_MISSING
# and AWS_XRAY_DAEMON_ADDRESS are deliberately absent: AWS documents them as settable.
RESERVED_ENV_KEYS: Final = frozenset((
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
))  # fmt: skip
