"""Reserved and provisioned concurrency: the settings, their limits and errors, and how they
throttle or serve invokes, as AWS answers them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.config
import botocore.exceptions
import pytest

from tests.integration.parity.conftest import (
    RUNTIME,
    Maker,
    Scenario,
    short_uid,
    unvalidated_client,
)

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
REGION = "us-east-1"
WAIT_S = 120.0  # provisioned concurrency settles (READY or FAILED) well within this here

# LocalStack's functions/lambda_invocation_type.py and lambda_invocation_type_failure.py.
INIT_TYPE_CODE = (
    "import os\nimport time\n\n\n"
    "def handler(event, context):\n"
    '    if event.get("wait"):\n'
    '        time.sleep(event["wait"])\n'
    '    init_type = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]\n'
    '    print(f"{init_type=}")\n'
    "    return init_type\n"
)
INIT_FAILURE_CODE = (
    "import os\nimport time\n\n"
    'init_type = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]\n\n'
    'if init_type == "provisioned-concurrency":\n'
    '    raise Exception("Intentional failure upon provisioned concurrency initialization")\n\n\n'
    "def handler(event, context):\n"
    '    if event.get("wait"):\n'
    '        time.sleep(event["wait"])\n'
    '    print(f"{init_type=}")\n'
    "    return init_type\n"
)
# Stands in for functions/lambda_notifier.py (which notifies an SQS queue, then sleeps).
SLEEP_CODE = (
    "import time\n\n\n"
    "def handler(event, context):\n"
    '    if event.get("wait"):\n'
    '        time.sleep(event["wait"])\n'
    "    return {}\n"
)
# Stands in for functions/lambda_introspect.py: only throttled invokes of it are recorded.
INTROSPECT_CODE = "def handler(event, context):\n    return {'event': event}\n"


def _invoke(p: Scenario, label: str, lam: Any, **kwargs: Any) -> dict[str, Any]:
    """Invoke and compare, the payload read as JSON (as the recording stored it)."""
    response = _invoke_raw(lam, **kwargs)
    p.expect(label, response)
    return response


def _invoke_raw(lam: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        response: dict[str, Any] = dict(lam.invoke(**kwargs))
    except botocore.exceptions.ClientError as exc:
        return dict(exc.response)
    raw = response["Payload"].read().decode()
    try:
        response["Payload"] = json.loads(raw)
    except ValueError:
        response["Payload"] = raw
    return response


def _init_type(lam: Any, name: str, qualifier: str) -> str:
    """What AWS_LAMBDA_INITIALIZATION_TYPE the environment serving an invoke had."""
    answer = _invoke_raw(lam, FunctionName=name, Qualifier=qualifier)
    payload = answer.get("Payload")
    if isinstance(payload, str):
        return payload
    return f"(no init type: {answer.get('FunctionError') or answer.get('Error')!r} {payload!r})"


def _settle(lam: Any, name: str, qualifier: str, until: tuple[str, ...] = ("READY",)) -> str:
    """Poll GetProvisionedConcurrencyConfig until its status is one of `until` (bounded)."""
    deadline = time.monotonic() + WAIT_S
    status = ""
    while time.monotonic() < deadline:
        try:
            config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
            status = str(config["Status"])
        except botocore.exceptions.ClientError as exc:
            return f"error {exc.response['Error']['Code']}"
        if status in until:
            return status
        time.sleep(0.5)
    return status


def _latest_arn(lam: Any, name: str) -> str:
    """The FunctionArn GetFunctionConfiguration(Qualifier=$LATEST) answers on AWS: qualified
    with `:$LATEST` (lambdalet answers it unqualified; the `fn` labels compare that)."""
    arn = str(lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")["FunctionArn"])
    return arn if arn.endswith(":$LATEST") else f"{arn}:$LATEST"


def _function(maker: Maker, name: str, code: str, **settings: Any) -> dict[str, Any]:
    return maker.function(name, Code={"ZipFile": maker.zip(code)}, **settings)


# -- TestLambdaReservedConcurrency (test_lambda_api) ----------------------------------------------


def test_function_concurrency_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "test_lambda_api::TestLambdaReservedConcurrency::test_function_concurrency_exceptions"
    )
    p.call(
        "put_function_concurrency_with_function_name_doesnotexist",
        lam.put_function_concurrency,
        FunctionName="doesnotexist",
        ReservedConcurrentExecutions=1,
    )
    p.call(
        "put_function_concurrency_with_function_name_doesnotexist_and_invalid_concurrency",
        lam.put_function_concurrency,
        FunctionName="doesnotexist",
        ReservedConcurrentExecutions=0,
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    p.call(
        "put_function_concurrency_with_qualified_arn",
        lam.put_function_concurrency,
        FunctionName=_latest_arn(lam, name),
        ReservedConcurrentExecutions=0,
    )


def test_function_concurrency_limits(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaReservedConcurrency::test_function_concurrency_limits")
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    limit = lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    p.call(
        "put_function_concurrency_account_limit_exceeded",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=limit + 1,
    )
    p.call(
        "put_function_concurrency_below_unreserved_min_value",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=limit,
    )


def test_function_concurrency(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaReservedConcurrency::test_function_concurrency")
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    p.call(
        "put_function_concurrency_with_reserved_0",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=0,
    )
    p.call(
        "put_function_concurrency_with_reserved_1",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=1,
    )
    p.call("get_function_concurrency", lam.get_function_concurrency, FunctionName=name)
    p.call("delete_response", lam.delete_function_concurrency, FunctionName=name)
    p.call("get_function_concurrency_after_delete", lam.get_function_concurrency, FunctionName=name)
    # Not recorded (its value depends on the account), but asserted by the recording's test:
    # all of the unreserved pool but its minimum (101 in that test) can be reserved.
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    most = lam.put_function_concurrency(
        FunctionName=name, ReservedConcurrentExecutions=unreserved - 101
    )
    assert most["ReservedConcurrentExecutions"] == unreserved - 101


# -- TestLambdaProvisionedConcurrency (test_lambda_api) -------------------------------------------


def test_provisioned_concurrency_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "test_lambda_api::TestLambdaProvisionedConcurrency::test_provisioned_concurrency_exceptions"
    )
    client = unvalidated_client(lam)
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    published = p.call("publish_version_result", client.publish_version, FunctionName=name)
    version = str(published.get("Version", "1"))

    p.call(
        "get_provisioned_config_doesnotexist",
        client.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
    )
    p.call(
        "get_provisioned_functionname_doesnotexist",
        client.get_provisioned_concurrency_config,
        FunctionName="doesnotexist",
        Qualifier="noalias",
    )
    p.call(
        "get_provisioned_qualifier_doesnotexist",
        client.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="noalias",
    )
    p.call(
        "get_provisioned_version_doesnotexist",
        client.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="10",
    )
    p.call(
        "get_provisioned_latest",
        client.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="$LATEST",
    )

    p.call(
        "list_provisioned_noconfigs", client.list_provisioned_concurrency_configs, FunctionName=name
    )
    p.call(
        "list_provisioned_functionname_doesnotexist",
        client.list_provisioned_concurrency_configs,
        FunctionName="doesnotexist",
    )

    p.call(
        "delete_provisioned_functionname_doesnotexist",
        client.delete_provisioned_concurrency_config,
        FunctionName="doesnotexist",
        Qualifier=version,
    )
    p.call(
        "delete_provisioned_qualifier_doesnotexist",
        client.delete_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="noalias",
    )
    p.call(
        "delete_provisioned_version_doesnotexist",
        client.delete_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="10",
    )
    p.call(
        "delete_provisioned_latest",
        client.delete_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="$LATEST",
    )
    p.call(
        "delete_provisioned_config_doesnotexist",
        client.delete_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
    )

    put = client.put_provisioned_concurrency_config
    p.call(
        "put_provisioned_invalid_param_0",
        put,
        FunctionName=name,
        Qualifier=version,
        ProvisionedConcurrentExecutions=0,
    )
    p.call(
        "put_provisioned_functionname_doesnotexist_alias",
        put,
        FunctionName="doesnotexist",
        Qualifier="noalias",
        ProvisionedConcurrentExecutions=1,
    )
    p.call(
        "put_provisioned_functionname_doesnotexist_version",
        put,
        FunctionName="doesnotexist",
        Qualifier="1",
        ProvisionedConcurrentExecutions=1,
    )
    p.call(
        "put_provisioned_qualifier_doesnotexist",
        put,
        FunctionName=name,
        Qualifier="doesnotexist",
        ProvisionedConcurrentExecutions=1,
    )
    p.call(
        "put_provisioned_version_doesnotexist",
        put,
        FunctionName=name,
        Qualifier="10",
        ProvisionedConcurrentExecutions=1,
    )
    p.call(
        "put_provisioned_latest",
        put,
        FunctionName=name,
        Qualifier="$LATEST",
        ProvisionedConcurrentExecutions=1,
    )


def test_provisioned_concurrency_limits(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "test_lambda_api::TestLambdaProvisionedConcurrency::test_provisioned_concurrency_limits"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    version = lam.publish_version(FunctionName=name)["Version"]
    limit = lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    # The recording's test asserts the number AWS names is the account's ConcurrentExecutions.
    p.replace("<unreserved_concurrency>", str(limit))
    p.call(
        "put_provisioned_concurrency_account_limit_exceeded",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
        ProvisionedConcurrentExecutions=limit + 1,
    )
    p.call(
        "put_provisioned_concurrency_below_unreserved_min_value",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
        ProvisionedConcurrentExecutions=limit,
    )


def test_lambda_provisioned_lifecycle(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "test_lambda_api::TestLambdaProvisionedConcurrency::test_lambda_provisioned_lifecycle"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    published = p.call("publish_version_result", lam.publish_version, FunctionName=name)
    version = str(published.get("Version", "1"))
    alias = f"alias-{short_uid()}"
    p.call(
        "create_alias_result",
        lam.create_alias,
        FunctionName=name,
        Name=alias,
        FunctionVersion=version,
    )
    put = lam.put_provisioned_concurrency_config
    p.call(
        "put_provisioned_on_version",
        put,
        FunctionName=name,
        Qualifier=version,
        ProvisionedConcurrentExecutions=1,
    )
    conflict = p.call(
        "put_provisioned_on_alias_versionconflict",
        put,
        FunctionName=name,
        Qualifier=alias,
        ProvisionedConcurrentExecutions=1,
    )
    if conflict["ResponseMetadata"]["HTTPStatusCode"] == 202:  # AWS refused it: undo
        lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=alias)
    _settle(lam, name, version)
    p.call(
        "delete_provisioned_version",
        lam.delete_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
    )
    p.call(
        "get_provisioned_version_postdelete",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
    )
    p.call(
        "put_provisioned_on_alias",
        put,
        FunctionName=name,
        Qualifier=alias,
        ProvisionedConcurrentExecutions=1,
    )
    conflict = p.call(
        "put_provisioned_on_version_conflict",
        put,
        FunctionName=name,
        Qualifier=version,
        ProvisionedConcurrentExecutions=1,
    )
    if conflict["ResponseMetadata"]["HTTPStatusCode"] == 202:  # AWS refused it: undo
        lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    p.call("delete_alias_result", lam.delete_alias, FunctionName=name, Name=alias)
    p.call(
        "get_provisioned_alias_postaliasdelete",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=alias,
    )
    p.call("list_response_postdeletes", lam.list_provisioned_concurrency_configs, FunctionName=name)


# -- TestLambdaConcurrency (test_lambda) ----------------------------------------------------------


def test_lambda_concurrency_crud(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_lambda_concurrency_crud")
    name = f"fn-concurrency-{short_uid()}"
    maker.function(name)
    p.call("get_function_concurrency_default", lam.get_function_concurrency, FunctionName=name)
    p.call(
        "put_function_concurrency",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=0,
    )
    p.call("get_function_concurrency_updated", lam.get_function_concurrency, FunctionName=name)
    lam.delete_function_concurrency(FunctionName=name)
    p.call("get_function_concurrency_deleted", lam.get_function_concurrency, FunctionName=name)


def test_lambda_concurrency_update(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_lambda_concurrency_update")
    p.replace("code-sha256", "<code-sha256>")  # the recording's stand-in for any digest
    name = f"fn-concurrency-{short_uid()}"
    maker.function(name)
    p.call(
        "put_function_concurrency",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=3,
    )
    p.call("get_function_concurrency_updated", lam.get_function_concurrency, FunctionName=name)
    p.call("get_function_concurrency_info", lam.get_function, FunctionName=name)
    lam.delete_function_concurrency(FunctionName=name)
    p.call("get_function_concurrency_deleted", lam.get_function_concurrency, FunctionName=name)


def test_lambda_concurrency_block(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_lambda_concurrency_block")
    p.replace("code-sha256", "<code-sha256>")
    name = f"fn-concurrency-{short_uid()}"
    maker.function(name)
    published = p.call("v1_result", lam.publish_version, FunctionName=name)
    v1 = str(published.get("Version", "1"))
    p.call(
        "reserved_concurrency_result",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=1,
    )
    payload = json.dumps({"hello": "world"})
    _invoke(
        p,
        "invoke_latest_before_block",
        lam,
        FunctionName=name,
        Qualifier="$LATEST",
        Payload=payload,
    )
    p.call(
        "provisioned_concurrency_result",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
        ProvisionedConcurrentExecutions=1,
    )
    _settle(lam, name, v1)
    _invoke(
        p, "invoke_latest_first_exc", lam, FunctionName=name, Qualifier="$LATEST", Payload=payload
    )
    _invoke(p, "invoke_v1_after_block", lam, FunctionName=name, Qualifier=v1, Payload=payload)
    _invoke(
        p, "invoke_latest_second_exc", lam, FunctionName=name, Qualifier="$LATEST", Payload=payload
    )


def test_lambda_provisioned_concurrency_moves_with_alias(
    parity: Parity, lam: Any, maker: Maker
) -> None:
    p = parity(
        "test_lambda::TestLambdaConcurrency::test_lambda_provisioned_concurrency_moves_with_alias"
    )
    p.replace("code-sha256", "<code-sha256>")
    p.replace("python3.8", RUNTIME)  # recorded (in 2023) on python3.8
    p.keep("LoggingConfig", "recorded in 2023, before AWS answered LoggingConfig")
    p.keep("Configuration.LoggingConfig", "recorded in 2023, before AWS answered LoggingConfig")
    behaviour: list[str] = []
    name = f"test_lambda_{short_uid()}"
    alias = f"test_alias_{short_uid()}"
    p.expect("create-result", _function(maker, name, INIT_TYPE_CODE, Timeout=2))
    fn = p.call(
        "get-function-configuration",
        lam.get_function_configuration,
        FunctionName=name,
        Qualifier="$LATEST",
    )
    first = p.call(
        "publish_version_1",
        lam.publish_version,
        FunctionName=name,
        RevisionId=fn["RevisionId"],
        Description="my-first-version",
    )
    v1 = str(first.get("Version", "1"))
    p.call(
        "get_function_configuration_version_1",
        lam.get_function_configuration,
        FunctionName=name,
        Qualifier=v1,
    )
    if (seen := _init_type(lam, name, v1)) != "on-demand":
        behaviour.append(f"version {v1} before any provisioning served by {seen}")
    p.call("create_alias", lam.create_alias, FunctionName=name, FunctionVersion=v1, Name=alias)
    p.call("get_function_before_provisioned", lam.get_function, FunctionName=name, Qualifier=v1)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=1
    )
    _settle(lam, name, alias)
    p.call("get_function_after_provisioned", lam.get_function, FunctionName=name, Qualifier=alias)
    for qualifier in (v1, alias):
        if (seen := _init_type(lam, name, qualifier)) != "provisioned-concurrency":
            behaviour.append(f"{qualifier} with the alias provisioned served by {seen}")
    lam.update_function_configuration(FunctionName=name, Timeout=10)
    conf = p.call("get_function_after_update", lam.get_function_configuration, FunctionName=name)
    second = p.call(
        "publish_version_2",
        lam.publish_version,
        FunctionName=name,
        RevisionId=conf["RevisionId"],
    )
    v2 = str(second.get("Version", "2"))
    p.call("update_alias", lam.update_alias, FunctionName=name, FunctionVersion=v2, Name=alias)
    p.call_while_provisioning(
        "get_provisioned_config_after_alias_move",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=alias,
    )
    _settle(lam, name, alias)
    for qualifier, want in (
        (v1, "on-demand"),
        (v2, "provisioned-concurrency"),
        (alias, "provisioned-concurrency"),
    ):
        if (seen := _init_type(lam, name, qualifier)) != want:
            behaviour.append(f"{qualifier} after the alias moved served by {seen}, AWS {want}")
    p.call(
        "provisioned_concurrency_notfound",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v2,
    )
    assert not behaviour, "invokes served unlike AWS's: " + "; ".join(behaviour)


def test_provisioned_concurrency(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_provisioned_concurrency")
    name = f"test_lambda_{short_uid()}"
    _function(maker, name, INIT_TYPE_CODE)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    p.call(
        "put_provisioned_5",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
        ProvisionedConcurrentExecutions=5,
    )
    p.call_while_provisioning(
        "get_provisioned_prewait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
    )
    _settle(lam, name, v1)
    p.call(
        "get_provisioned_postwait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
    )
    served = (_init_type(lam, name, v1), _init_type(lam, name, "$LATEST"))
    assert served == ("provisioned-concurrency", "on-demand"), served


def test_provisioned_concurrency_init_failure(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_provisioned_concurrency_init_failure")
    name = f"test_lambda_{short_uid()}"
    created = _function(maker, name, INIT_FAILURE_CODE, Publish=True)
    # AWS answers CreateFunction(Publish=True) with the version it published ("1").
    version = str(created["Version"]).replace("$LATEST", "1")
    p.call(
        "put_provisioned",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
        ProvisionedConcurrentExecutions=1,
    )
    p.call_while_provisioning(
        "get_provisioned_prewait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
    )
    during = _init_type(lam, name, version)
    _settle(lam, name, version, until=("FAILED", "READY"))
    p.call(
        "get_provisioned_postwait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=version,
    )
    served = (during, _init_type(lam, name, version))
    assert served == ("on-demand", "on-demand"), served


def test_provisioned_concurrency_on_alias(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_provisioned_concurrency_on_alias")
    name = f"test_lambda_{short_uid()}"
    _function(maker, name, INIT_TYPE_CODE)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)
    p.call(
        "put_provisioned_5",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="live",
        ProvisionedConcurrentExecutions=5,
    )
    p.call_while_provisioning(
        "get_provisioned_prewait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="live",
    )
    _settle(lam, name, "live")
    p.call(
        "get_provisioned_postwait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="live",
    )
    served = tuple(_init_type(lam, name, q) for q in ("live", v1, "$LATEST"))
    assert served == ("provisioned-concurrency", "provisioned-concurrency", "on-demand"), served


def test_lambda_provisioned_concurrency_scheduling(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_lambda_provisioned_concurrency_scheduling")
    name = f"fn-concurrency-{short_uid()}"
    _function(maker, name, INIT_TYPE_CODE, Timeout=10)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=v1, ProvisionedConcurrentExecutions=1
    )
    _settle(lam, name, v1)
    p.call(
        "get_provisioned_postwait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
    )
    # Not recorded, but asserted: invokes go to the provisioned environment while it is free,
    # and on demand while it is busy.
    first = _init_type(lam, name, v1)
    busy: list[str] = []
    thread = threading.Thread(
        target=lambda: busy.append(
            str(
                _invoke_raw(
                    lam, FunctionName=name, Qualifier=v1, Payload=json.dumps({"wait": 6})
                ).get("Payload")
            )
        )
    )
    thread.start()
    time.sleep(2)
    second = _init_type(lam, name, v1)
    thread.join()
    served = (first, busy[0] if busy else "", second)
    assert served == ("provisioned-concurrency", "provisioned-concurrency", "on-demand"), served


def test_reserved_concurrency_async_queue(parity: Parity, lam: Any, maker: Maker) -> None:
    """The recorded throttle came while an Event invoke held the function's one reserved unit;
    here a RequestResponse invoke holds it (Event invokes are not replayed)."""
    p = parity("test_lambda::TestLambdaConcurrency::test_reserved_concurrency_async_queue")
    p.replace("code-sha256", "<code-sha256>")
    name = f"test_lambda_{short_uid()}"
    _function(maker, name, SLEEP_CODE, Timeout=30)
    fn = p.call("fn", lam.get_function_configuration, FunctionName=name, Qualifier="$LATEST")
    p.call(
        "put_fn_concurrency",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=1,
    )
    arn = _latest_arn(lam, name) if "FunctionArn" in fn else name
    warm = _invoke_raw(lam, FunctionName=arn, InvocationType="RequestResponse")
    assert "FunctionError" not in warm, warm
    thread = threading.Thread(
        target=_invoke_raw, args=(lam,), kwargs={"FunctionName": arn, "Payload": b'{"wait": 6}'}
    )
    thread.start()
    time.sleep(2)
    _invoke(p, "too_many_requests_exc", lam, FunctionName=arn, InvocationType="RequestResponse")
    thread.join()


def test_reserved_concurrency(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_reserved_concurrency")
    p.replace("code-sha256", "<code-sha256>")
    name = f"test_lambda_{short_uid()}"
    _function(maker, name, INTROSPECT_CODE, Timeout=20)
    fn = p.call("fn", lam.get_function_configuration, FunctionName=name, Qualifier="$LATEST")
    p.call(
        "put_reserved",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=0,
    )
    _invoke(
        p,
        "exc_no_cap_requestresponse",
        lam,
        FunctionName=_latest_arn(lam, name) if "FunctionArn" in fn else name,
        InvocationType="RequestResponse",
    )


def test_reserved_provisioned_overlap(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaConcurrency::test_reserved_provisioned_overlap")
    p.replace("code-sha256", "<code-sha256>")
    name = f"test_lambda_{short_uid()}"
    _function(maker, name, INIT_TYPE_CODE)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    p.call(
        "put_provisioned_5",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
        ProvisionedConcurrentExecutions=2,
    )
    p.call_while_provisioning(
        "get_provisioned_prewait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
    )
    _settle(lam, name, v1)
    p.call(
        "get_provisioned_postwait",
        lam.get_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
    )
    p.call(
        "reserved_lower_than_provisioned_exc",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=1,
    )
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    p.call("get_concurrency", lam.get_function_concurrency, FunctionName=name)
    _invoke(p, "reserved_equals_provisioned_latest_invoke_exc", lam, FunctionName=name)
    served = _init_type(lam, name, v1)
    p.call("update_func_config", lam.update_function_configuration, FunctionName=name, Timeout=15)
    v2 = lam.publish_version(FunctionName=name)["Version"]
    assert v2 != v1
    p.call(
        "reserved_equals_provisioned_another_provisioned_exc",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v2,
        ProvisionedConcurrentExecutions=1,
    )
    p.call(
        "reserved_equals_provisioned_increase_provisioned_exc",
        lam.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier=v1,
        ProvisionedConcurrentExecutions=3,
    )
    assert served == "provisioned-concurrency", served
