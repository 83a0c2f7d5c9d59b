"""`lambdalet <aws-lambda-command>`: the ``aws lambda`` commands, same options, same requests.

Each command is a row of data (method and botocore's request URI, options and where each goes);
`engine.cli.request` turns a row and the parsed arguments into the request, and the unit tests
check every row against botocore's service model.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli import args as a
from engine.cli.client import Client, ClientError, HttpResponse
from engine.cli.mapping_options import MAPPING, mapping_options
from engine.cli.paging import paginate
from engine.cli.request import (
    Command,
    Option,
    Request,
    build_request,
    error_sentence,
    in_query,
    in_uri,
    opt,
    strings,
    struct,
)


class ServiceError(ClientError):
    """The daemon answered with an AWS error; the message is the AWS CLI's sentence."""


FUNCTION = in_uri("--function-name", "the function's name or ARN")
QUALIFIER = in_query("--qualifier", "a version number or alias name")
QUALIFIER_REQUIRED = in_query("--qualifier", "a version number or alias name", required=True)
REVISION = opt("--revision-id", help="only if the RevisionId is still this")
DESCRIPTION = opt("--description", help="a description")
ALIAS = in_uri("--name", "the alias's name")
LAYER = in_uri("--layer-name", "the layer's name or ARN")
LAYER_VERSION = in_uri("--version-number", "the layer's version", type=int)
RESOURCE = in_uri("--resource", "the function's ARN")
RUNTIME_FILTER = in_query("--compatible-runtime", "only layers for this runtime")
ARCH_FILTER = in_query("--compatible-architecture", "only layers for x86_64 or arm64")
ZIP_HELP = "fileb://PATH.zip (as the AWS CLI), a .zip file or a directory"

ROUTING: a.Shape = {"AdditionalVersionWeights": a.DOUBLE_MAP}
CORS: a.Shape = {
    "AllowCredentials": a.BOOLEAN,
    "AllowHeaders": a.STRINGS,
    "AllowMethods": a.STRINGS,
    "AllowOrigins": a.STRINGS,
    "ExposeHeaders": a.STRINGS,
    "MaxAge": a.INTEGER,
}
VPC: a.Shape = {
    "SubnetIds": a.STRINGS,
    "SecurityGroupIds": a.STRINGS,
    "Ipv6AllowedForDualStack": a.BOOLEAN,
}
ENVIRONMENT: a.Shape = {"Variables": a.STRING_MAP}
EPHEMERAL: a.Shape = {"Size": a.INTEGER}
DEAD_LETTER: a.Shape = {"TargetArn": a.STRING}
LOGGING: a.Shape = {
    "LogFormat": a.STRING,
    "ApplicationLogLevel": a.STRING,
    "SystemLogLevel": a.STRING,
    "LogGroup": a.STRING,
}
LOGGING_HELP = "LogFormat=JSON,ApplicationLogLevel=DEBUG,SystemLogLevel=WARN,LogGroup=/my/group"
SNAP_START: a.Shape = {"ApplyOn": a.STRING}
SNAP_START_HELP = "ApplyOn=PublishedVersions"
DESTINATIONS: a.Shape = {
    "OnSuccess": {"Destination": a.STRING},
    "OnFailure": {"Destination": a.STRING},
}


def alias_options(*, create: bool) -> tuple[Option, ...]:
    return (
        FUNCTION,
        opt("--name", help="the alias's name", required=True) if create else ALIAS,
        opt("--function-version", help="the version it points at", required=create),
        DESCRIPTION,
        struct("--routing-config", ROUTING, "AdditionalVersionWeights={2=0.1}"),
        *(() if create else (REVISION,)),
    )


def url_options(*, create: bool) -> tuple[Option, ...]:
    return (
        FUNCTION,
        QUALIFIER,
        opt("--auth-type", help="NONE or AWS_IAM", required=create),
        struct("--cors", CORS, "AllowOrigins=https://a.example,AllowMethods=GET"),
        opt("--invoke-mode", help="BUFFERED or RESPONSE_STREAM"),
    )


def event_invoke_options() -> tuple[Option, ...]:
    return (
        FUNCTION,
        QUALIFIER,
        opt("--maximum-retry-attempts", type=int, help="retries after a function error (0-2)"),
        opt(
            "--maximum-event-age-in-seconds", type=int,
            help="how long an event may wait for a try, in seconds (60-21600)",
        ),
        struct(
            "--destination-config", DESTINATIONS,
            "OnFailure={Destination=arn:aws:sqs:us-east-1:000000000000:failed}",
        ),
    )  # fmt: skip


def cmd(name: str, http: str, help: str, *options: Option, pages: str | None = None) -> Command:
    method, uri = http.split(" ")
    return Command(name=name, method=method, uri=uri, help=help, options=options, result_key=pages)


FN = "/2015-03-31/functions/{FunctionName}"
LAYER_VERSIONS = "/2018-10-31/layers/{LayerName}/versions"
CONCURRENCY = "/2017-10-31/functions/{FunctionName}/concurrency"
PROVISIONED = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency"
URL = "/2021-10-31/functions/{FunctionName}/url"
TAGS = "/2017-03-31/tags/{Resource}"
EVENT_INVOKE = "/2019-09-25/functions/{FunctionName}/event-invoke-config"
MAPPINGS = "/2015-03-31/event-source-mappings"

COMMAND_LIST = (
    # versions and aliases
    cmd(
        "publish-version", f"POST {FN}/versions", "publish $LATEST as a new version",
        FUNCTION,
        opt("--code-sha256", help="only if $LATEST's code has this SHA-256 (base64)"),
        DESCRIPTION,
        REVISION,
    ),
    cmd(
        "list-versions-by-function", f"GET {FN}/versions", "list a function's versions",
        FUNCTION, pages="Versions",
    ),
    cmd("create-alias", f"POST {FN}/aliases", "create an alias", *alias_options(create=True)),
    cmd("get-alias", f"GET {FN}/aliases/{{Name}}", "show an alias", FUNCTION, ALIAS),
    cmd(
        "list-aliases", f"GET {FN}/aliases", "list a function's aliases",
        FUNCTION,
        in_query("--function-version", "only the aliases of this version"),
        pages="Aliases",
    ),
    cmd(
        "update-alias", f"PUT {FN}/aliases/{{Name}}", "change an alias",
        *alias_options(create=False),
    ),
    cmd("delete-alias", f"DELETE {FN}/aliases/{{Name}}", "delete an alias", FUNCTION, ALIAS),
    # layers
    cmd(
        "publish-layer-version", f"POST {LAYER_VERSIONS}", "publish a layer version",
        in_uri("--layer-name", "the layer's name"),
        DESCRIPTION,
        opt("--zip-file", member="Content.ZipFile", type=a.zip_file, required=True, help=ZIP_HELP),
        strings("--compatible-runtimes", "the runtimes it is for"),
        strings("--compatible-architectures", "x86_64 and/or arm64"),
        opt("--license-info", help="its license: an SPDX id, a URL or text"),
    ),
    cmd(
        "get-layer-version", f"GET {LAYER_VERSIONS}/{{VersionNumber}}", "show a layer version",
        LAYER, LAYER_VERSION,
    ),
    cmd(
        "get-layer-version-by-arn", "GET /2018-10-31/layers?find=LayerVersion",
        "show a layer version given its ARN",
        in_query("--arn", "the layer version's ARN", required=True),
    ),
    cmd(
        "list-layers", "GET /2018-10-31/layers", "list layers (and their latest version)",
        RUNTIME_FILTER, ARCH_FILTER, pages="Layers",
    ),
    cmd(
        "list-layer-versions", f"GET {LAYER_VERSIONS}", "list a layer's versions",
        LAYER, RUNTIME_FILTER, ARCH_FILTER, pages="LayerVersions",
    ),
    cmd(
        "delete-layer-version", f"DELETE {LAYER_VERSIONS}/{{VersionNumber}}",
        "delete a layer version", LAYER, LAYER_VERSION,
    ),
    # concurrency
    cmd(
        "put-function-concurrency", f"PUT {CONCURRENCY}", "reserve concurrency for a function",
        FUNCTION,
        opt("--reserved-concurrent-executions", type=int, required=True, help="how many"),
    ),
    cmd(
        "get-function-concurrency", "GET /2019-09-30/functions/{FunctionName}/concurrency",
        "show a function's reserved concurrency", FUNCTION,
    ),
    cmd(
        "delete-function-concurrency", f"DELETE {CONCURRENCY}",
        "drop a function's reserved concurrency", FUNCTION,
    ),
    cmd(
        "put-provisioned-concurrency-config", f"PUT {PROVISIONED}",
        "keep environments initialized for a version or alias",
        FUNCTION,
        QUALIFIER_REQUIRED,
        opt("--provisioned-concurrent-executions", type=int, required=True, help="how many"),
    ),
    cmd(
        "get-provisioned-concurrency-config", f"GET {PROVISIONED}", "show provisioned concurrency",
        FUNCTION, QUALIFIER_REQUIRED,
    ),
    cmd(
        "delete-provisioned-concurrency-config", f"DELETE {PROVISIONED}",
        "drop provisioned concurrency", FUNCTION, QUALIFIER_REQUIRED,
    ),
    cmd(
        "list-provisioned-concurrency-configs", f"GET {PROVISIONED}?List=ALL",
        "list a function's provisioned concurrency",
        FUNCTION, pages="ProvisionedConcurrencyConfigs",
    ),
    cmd("get-account-settings", "GET /2016-08-19/account-settings", "show limits and usage"),
    # function URLs
    cmd(
        "create-function-url-config", f"POST {URL}", "give a function an HTTP URL",
        *url_options(create=True),
    ),
    cmd("get-function-url-config", f"GET {URL}", "show a function URL", FUNCTION, QUALIFIER),
    cmd(
        "update-function-url-config", f"PUT {URL}", "change a function URL",
        *url_options(create=False),
    ),
    cmd("delete-function-url-config", f"DELETE {URL}", "drop a function URL", FUNCTION, QUALIFIER),
    cmd(
        "list-function-url-configs", "GET /2021-10-31/functions/{FunctionName}/urls",
        "list a function's URLs", FUNCTION, pages="FunctionUrlConfigs",
    ),
    # asynchronous invocation
    cmd(
        "put-function-event-invoke-config", f"PUT {EVENT_INVOKE}",
        "set retries, event age and destinations of asynchronous invokes (replaces them all)",
        *event_invoke_options(),
    ),
    cmd(
        "update-function-event-invoke-config", f"POST {EVENT_INVOKE}",
        "change some settings of asynchronous invokes (keeps the others)",
        *event_invoke_options(),
    ),
    cmd(
        "get-function-event-invoke-config", f"GET {EVENT_INVOKE}",
        "show the settings of asynchronous invokes", FUNCTION, QUALIFIER,
    ),
    cmd(
        "delete-function-event-invoke-config", f"DELETE {EVENT_INVOKE}",
        "drop the settings of asynchronous invokes", FUNCTION, QUALIFIER,
    ),
    cmd(
        "list-function-event-invoke-configs", f"GET {EVENT_INVOKE}/list",
        "list a function's asynchronous invoke settings",
        FUNCTION, pages="FunctionEventInvokeConfigs",
    ),
    # event source mappings
    cmd(
        "create-event-source-mapping", f"POST {MAPPINGS}",
        "invoke a function with batches from an SQS queue or a Kinesis stream",
        *mapping_options(create=True),
    ),
    cmd(
        "update-event-source-mapping", f"PUT {MAPPINGS}/{{UUID}}",
        "change, pause or resume an event source mapping (keeps what is left out)",
        *mapping_options(create=False),
    ),
    cmd(
        "get-event-source-mapping", f"GET {MAPPINGS}/{{UUID}}", "show an event source mapping",
        MAPPING,
    ),
    cmd(
        "delete-event-source-mapping", f"DELETE {MAPPINGS}/{{UUID}}",
        "stop and delete an event source mapping", MAPPING,
    ),
    cmd(
        "list-event-source-mappings", f"GET {MAPPINGS}", "list event source mappings",
        in_query("--event-source-arn", "only those of this queue or stream"),
        in_query("--function-name", "only those of this function (name or ARN)"),
        pages="EventSourceMappings",
    ),
    # tags
    cmd(
        "tag-resource", f"POST {TAGS}", "tag a function",
        RESOURCE,
        opt(
            "--tags", shape=a.STRING_MAP, type=a.structured(a.STRING_MAP), required=True,
            help="e.g. Team=a,Env=dev (shorthand, JSON or file://PATH)",
        ),
    ),
    cmd(
        "untag-resource", f"DELETE {TAGS}", "remove tags from a function",
        RESOURCE,
        strings(
            "--tag-keys", "the tags to remove", where="querystring", wire="tagKeys", required=True
        ),
    ),
    cmd("list-tags", f"GET {TAGS}", "show a function's tags", RESOURCE),
    # resource policy
    cmd(
        "add-permission", f"POST {FN}/policy", "let a principal invoke the function",
        FUNCTION,
        opt("--statement-id", required=True, help="the statement's id"),
        opt("--action", required=True, help="e.g. lambda:InvokeFunction"),
        opt("--principal", required=True, help="an account id, ARN or service"),
        opt("--source-arn", help="only for requests from this ARN"),
        opt("--source-account", help="only for requests from this account"),
        QUALIFIER,
        REVISION,
        opt("--function-url-auth-type", help="NONE or AWS_IAM"),
        opt("--principal-org-id", member="PrincipalOrgID", help="an AWS Organizations id"),
        opt("--event-source-token", help="an Alexa skill's token"),
    ),
    cmd(
        "remove-permission", f"DELETE {FN}/policy/{{StatementId}}", "drop a policy statement",
        FUNCTION,
        in_uri("--statement-id", "the statement's id"),
        QUALIFIER,
        in_query("--revision-id", "only if the RevisionId is still this"),
    ),
    cmd(
        "get-policy", f"GET {FN}/policy", "show the function's resource policy",
        FUNCTION, QUALIFIER,
    ),
    # code and configuration
    cmd(
        "update-function-code", f"PUT {FN}/code", "replace a function's code",
        FUNCTION,
        opt("--zip-file", "--code", type=a.zip_file, required=True, help=ZIP_HELP),
        REVISION,
        opt("--publish", action=argparse.BooleanOptionalAction, help="also publish a version"),
        strings("--architectures", "x86_64 or arm64"),
    ),
    cmd(
        "update-function-configuration", f"PUT {FN}/configuration", "change a function's settings",
        FUNCTION,
        opt("--memory-size", type=int, help="memory in MB"),
        opt("--timeout", type=int, help="in seconds"),
        opt(
            "--environment", shape=ENVIRONMENT, action="append", type=a.environment_item,
            finish=a.environment,
            help="Variables={A=1,B=2} (as the AWS CLI), KEY=VALUE (repeatable) or JSON; "
            "replaces all the variables",
        ),
        opt("--handler", help="e.g. lambda_function.lambda_handler"),
        opt("--runtime", help="e.g. python3.11"),
        DESCRIPTION,
        opt("--role", help="the execution role's ARN"),
        strings("--layers", "layer version ARNs"),
        struct("--vpc-config", VPC, "SubnetIds=subnet-a,SecurityGroupIds=sg-b"),
        struct(
            "--dead-letter-config", DEAD_LETTER,
            "TargetArn=arn:aws:sqs:us-east-1:000000000000:dlq (TargetArn= removes it)",
        ),
        opt(
            "--ephemeral-storage", shape=EPHEMERAL, type=a.ephemeral_storage,
            help="the size of /tmp: Size=1024, or just 1024 (MB)",
        ),
        struct("--logging-config", LOGGING, LOGGING_HELP),
        struct("--snap-start", SNAP_START, SNAP_START_HELP),
        REVISION,
    ),
)  # fmt: skip
COMMANDS = {c.name: c for c in COMMAND_LIST}


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    for command in COMMAND_LIST:
        p = sub.add_parser(command.name, help=command.help, parents=[common])
        for option in command.options:
            p.add_argument(*option.flags, dest=option.dest, **option.argparse_kw)
        if command.result_key:
            p.add_argument(
                "--max-items", type=int, help="print at most this many, then a NextToken"
            )
            p.add_argument("--starting-token", help="a NextToken printed before: go on from there")
            p.add_argument("--page-size", type=int, help="ask the daemon for this many at a time")
            p.add_argument("--marker", help="one raw page from this NextMarker (no paging)")


def call(client: Client, command: Command, request: Request) -> Any:
    resp = client.json_request(request.method, request.target, request.body)
    if resp.status >= 400:
        raise ServiceError(error_sentence(command.operation, resp))
    return resp.json()


def print_json(value: Any) -> None:
    """As the AWS CLI's json output: indent 4, non-ASCII as is, nothing for an empty answer."""
    if value is not None and value != {}:
        print(json.dumps(value, indent=4, ensure_ascii=False))


def run(client: Client, args: argparse.Namespace) -> int:
    command = COMMANDS[args.command]
    if command.result_key is None:
        result = call(client, command, build_request(command, args))
    elif args.marker is not None:  # a raw page, as the AWS CLI does when given --marker
        paging = {"Marker": args.marker, "MaxItems": args.max_items}
        result = call(client, command, build_request(command, args, paging))
    else:

        def page(marker: str | None) -> dict[str, Any]:
            paging = {"MaxItems": args.page_size, "Marker": marker}
            got = call(client, command, build_request(command, args, paging))
            return got if isinstance(got, dict) else {}

        result = paginate(
            page, command.result_key, max_items=args.max_items, starting_token=args.starting_token
        )
    print_json(result)
    return 0


def write_invoke_result(resp: HttpResponse, outfile: str) -> int:
    """`invoke --function-name F OUTFILE` as the AWS CLI: the payload to OUTFILE, the status
    (and FunctionError, LogResult, ExecutedVersion) as JSON on stdout, exit 0."""
    with open(outfile, "wb") as f:
        f.write(resp.body)
    out: dict[str, Any] = {"StatusCode": resp.status}
    for header, key in (
        ("x-amz-function-error", "FunctionError"),
        ("x-amz-log-result", "LogResult"),
        ("x-amz-executed-version", "ExecutedVersion"),
    ):
        if header in resp.headers:
            out[key] = resp.headers[header]
    print_json(out)
    return 0


__all__ = ["COMMANDS", "COMMAND_LIST", "ServiceError", "add_parsers", "run", "write_invoke_result"]
