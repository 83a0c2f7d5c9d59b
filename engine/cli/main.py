"""The ``lambdalet`` command: ``serve`` runs the daemon; the rest talk to it over its socket."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine.cli import args as cli_args
from engine.cli import cost as cli_cost
from engine.cli import keys as cli_keys
from engine.cli import lambda_commands as cli_lambda
from engine.cli import logs as cli_logs
from engine.cli import top as cli_top
from engine.cli import vpc as cli_vpc
from engine.cli.client import Client, ClientError, HttpResponse
from engine.config import Config, load_config, validate
from engine.errors import ConfigError
from engine.registry.packaging import zip_bytes_of_directory

DEFAULT_ROLE = "arn:aws:iam::000000000000:role/lambdalet"
FUNCTIONS = "/2015-03-31/functions"
REQUEST_ID = "x-amzn-requestid"


def _parser() -> argparse.ArgumentParser:
    # --socket works before or after the command (`lambdalet serve --socket PATH`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--socket",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"the daemon's API socket (default: {Config().socket_path})",
    )
    p = argparse.ArgumentParser(
        prog="lambdalet", description="A self-hosted AWS Lambda engine.", parents=[common]
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    s = command("serve", "run the daemon (as root)")
    s.add_argument("--config", type=Path, help="TOML configuration file")
    s.add_argument("--state-dir", type=Path, help="state directory (default /var/lib/lambdalet)")
    s.add_argument("--examples", type=Path, help="deploy the example functions in this directory")
    s.add_argument("--http-listen", help="also serve the API on this loopback host:port")
    s.add_argument("--function-url-listen", help="serve function URLs on this loopback host:port")
    s.add_argument("--log-level", help="daemon log level (default: [daemon] log_level, else INFO)")

    c = command("create-function", "create a function from a directory or a zip")
    cli_args.add_function_name(c)
    c.add_argument("--code", type=Path, required=True, help="a directory or a .zip file")
    c.add_argument("--runtime", default="python3.11")
    c.add_argument("--handler", default="lambda_function.lambda_handler")
    c.add_argument("--memory-size", type=int)
    c.add_argument("--timeout", type=int)
    c.add_argument("--ephemeral-storage", type=int, help="size of /tmp in MB (512-10240)")
    c.add_argument(
        "--environment",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable (repeatable), or a JSON object",
    )
    c.add_argument("--description")
    c.add_argument("--role", default=DEFAULT_ROLE)
    c.add_argument("--subnet-ids", help="VpcConfig: comma-separated subnet ids")
    c.add_argument("--security-group-ids", help="VpcConfig: comma-separated security group ids")
    c.add_argument(
        "--layers", nargs="+", type=cli_args.strings_item, metavar="ARN", help="layer versions"
    )
    c.add_argument(
        "--publish", action=argparse.BooleanOptionalAction, help="also publish version 1"
    )
    c.add_argument(
        "--dead-letter-config",
        type=cli_args.structured(cli_lambda.DEAD_LETTER),
        metavar="TargetArn=ARN",
        help="the SQS queue for events that asynchronous invokes gave up on (or its JSON)",
    )
    c.add_argument(
        "--logging-config",
        type=cli_args.structured(cli_lambda.LOGGING),
        metavar="LogFormat=JSON,…",
        help=f"LoggingConfig, e.g. {cli_lambda.LOGGING_HELP} (or its JSON)",
    )
    c.add_argument(
        "--snap-start",
        type=cli_args.structured(cli_lambda.SNAP_START),
        metavar="ApplyOn=PublishedVersions",
        help=f"SnapStart, e.g. {cli_lambda.SNAP_START_HELP} or ApplyOn=None (or its JSON)",
    )

    i = command("invoke", "invoke a function and print its result (or queue the event)")
    cli_args.add_function_name(i, then_outfile=True)  # `--function-name F OUTFILE`, as AWS
    i.add_argument("--payload", default="", help="the event, as JSON text")
    i.add_argument("--qualifier")
    i.add_argument("--log-type", choices=("None", "Tail"), default="None")
    i.add_argument(
        "--invocation-type",
        choices=("RequestResponse", "Event", "DryRun"),
        default="RequestResponse",
        help="Event: queue the event and answer 202 at once (asynchronous invocation)",
    )

    command("list-functions", "list functions")
    g = command("get-function", "show a function")
    cli_args.add_function_name(g)
    d = command("delete-function", "delete a function")
    cli_args.add_function_name(d)
    cli_vpc.add_parser(sub, common)
    cli_logs.add_parser(sub, common)
    cli_cost.add_parser(sub, common)
    cli_lambda.add_parsers(sub, common)
    cli_keys.add_parser(sub)
    cli_top.add_parser(sub, common)
    return p


def _environment(items: list[str]) -> dict[str, str] | None:
    if not items:
        return None
    env: dict[str, str] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            env.update(json.loads(item))
        else:
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--environment expects KEY=VALUE or a JSON object, got {item!r}")
            env[key] = value
    return env


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def _check(resp: HttpResponse) -> Any:
    if resp.status >= 400:
        data = resp.json() or {}
        message = data.get("message") or data.get("Message") or resp.body.decode(errors="replace")
        raise ClientError(f"{resp.error_type or resp.status}: {message}")
    return resp.json()


def _create(client: Client, args: argparse.Namespace) -> int:
    code: Path = args.code
    if code.is_dir():
        zip_bytes = zip_bytes_of_directory(code)
    elif code.is_file():
        zip_bytes = code.read_bytes()
    else:
        raise ClientError(f"--code {code}: no such directory or zip file")
    body: dict[str, Any] = {
        "FunctionName": args.name,
        "Runtime": args.runtime,
        "Handler": args.handler,
        "Role": args.role,
        "Code": {"ZipFile": base64.b64encode(zip_bytes).decode()},
    }
    if args.memory_size is not None:
        body["MemorySize"] = args.memory_size
    if args.timeout is not None:
        body["Timeout"] = args.timeout
    if args.ephemeral_storage is not None:
        body["EphemeralStorage"] = {"Size": args.ephemeral_storage}
    if args.description is not None:
        body["Description"] = args.description
    if args.subnet_ids or args.security_group_ids:
        body["VpcConfig"] = {
            "SubnetIds": [s for s in (args.subnet_ids or "").split(",") if s],
            "SecurityGroupIds": [s for s in (args.security_group_ids or "").split(",") if s],
        }
    env = _environment(args.environment)
    if env is not None:
        body["Environment"] = {"Variables": env}
    if args.layers is not None:
        body["Layers"] = cli_args.flatten(args.layers)
    if args.publish is not None:
        body["Publish"] = args.publish
    if args.dead_letter_config is not None:
        body["DeadLetterConfig"] = args.dead_letter_config
    if args.logging_config is not None:
        body["LoggingConfig"] = args.logging_config
    if args.snap_start is not None:
        body["SnapStart"] = args.snap_start
    _print_json(_check(client.json_request("POST", FUNCTIONS, body)))
    return 0


def _invoke(client: Client, args: argparse.Namespace) -> int:
    path = f"{FUNCTIONS}/{quote(args.name, safe='')}/invocations"
    if args.qualifier:
        path += f"?Qualifier={quote(args.qualifier, safe='')}"
    headers = {"X-Amz-Invocation-Type": args.invocation_type, "X-Amz-Log-Type": args.log_type}
    resp = client.request("POST", path, args.payload.encode(), headers)
    if resp.status >= 400:
        _check(resp)
    if args.outfile is not None:
        return cli_lambda.write_invoke_result(resp, args.outfile)
    if args.invocation_type != "RequestResponse":  # queued (202) or only checked (204)
        _print_json({"StatusCode": resp.status, "RequestId": resp.headers.get(REQUEST_ID, "")})
        return 0
    if args.log_type == "Tail" and "x-amz-log-result" in resp.headers:
        sys.stderr.write(
            base64.b64decode(resp.headers["x-amz-log-result"]).decode(errors="replace")
        )
    sys.stdout.write(resp.body.decode(errors="replace") + "\n")
    if "x-amz-function-error" in resp.headers:
        print(f"function error ({resp.headers['x-amz-function-error']})", file=sys.stderr)
        return 1
    return 0


def _serve(args: argparse.Namespace) -> int:
    import trio

    from engine.daemon import serve

    def load() -> Config:
        """The configuration file with the command line's overrides (again on SIGHUP)."""
        config = load_config(
            args.config,
            state_dir=args.state_dir,
            socket_path=getattr(args, "socket", None),
            examples_dir=args.examples,
            http_listen=args.http_listen,
            function_url_listen=args.function_url_listen,
        )
        if args.log_level is not None:
            config = config.replace(
                daemon=dataclasses.replace(config.daemon, log_level=args.log_level)
            )
            validate(config)
        return config

    config = load()
    logging.basicConfig(
        level=config.daemon.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    trio.run(functools.partial(serve, config, load=load))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cli_args.settle_function_name(args)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "create-access-key":
            return cli_keys.run(args)
        client = Client(getattr(args, "socket", Config().socket_path))
        try:
            match args.command:
                case "create-function":
                    return _create(client, args)
                case "invoke":
                    return _invoke(client, args)
                case "list-functions":
                    _print_json(_check(client.request("GET", FUNCTIONS + "/")))
                case "get-function":
                    name = quote(args.name, safe="")
                    _print_json(_check(client.request("GET", f"{FUNCTIONS}/{name}")))
                case "delete-function":
                    name = quote(args.name, safe="")
                    _check(client.request("DELETE", f"{FUNCTIONS}/{name}"))
                case "vpc":
                    cli_vpc.run(client, args, _check, _print_json)
                case "logs":
                    return cli_logs.run(client, args)
                case "cost":
                    cli_cost.run(client, args, _check, _print_json)
                case "top":
                    return cli_top.run(client, args)
                case command if command in cli_lambda.COMMANDS:
                    return cli_lambda.run(client, args)
        finally:
            client.close()
    except (ClientError, ConfigError, ValueError, OSError) as exc:
        print(f"lambdalet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
