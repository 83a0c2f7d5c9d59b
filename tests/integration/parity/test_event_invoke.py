"""EventInvokeConfig: its lifecycle (Put overwrites, Update merges, versions, paging) and its
errors (names, qualifiers, destinations), as AWS answers them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.parity.conftest import Maker, Scenario, short_uid, unvalidated_client

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
REGION = "us-east-1"
ACCOUNT = "000000000000"


def test_lambda_eventinvokeconfig_lifecycle(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "test_lambda_api::TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_lifecycle"
    )
    name = f"fn-eventinvoke-{short_uid()}"
    maker.function(name)
    p.call(
        "put_invokeconfig_retries_0",
        lam.put_function_event_invoke_config,
        FunctionName=name,
        MaximumRetryAttempts=0,
    )
    p.call(
        "put_invokeconfig_eventage_60",
        lam.put_function_event_invoke_config,
        FunctionName=name,
        MaximumEventAgeInSeconds=60,
    )
    p.call(
        "update_invokeconfig_eventage_nochange",
        lam.update_function_event_invoke_config,
        FunctionName=name,
        MaximumEventAgeInSeconds=60,
    )
    p.call(
        "update_invokeconfig_retries",
        lam.update_function_event_invoke_config,
        FunctionName=name,
        MaximumRetryAttempts=1,
    )
    p.call("get_invokeconfig", lam.get_function_event_invoke_config, FunctionName=name)
    p.call(
        "get_invokeconfig_latest",
        lam.get_function_event_invoke_config,
        FunctionName=name,
        Qualifier="$LATEST",
    )
    p.call("list_single_invokeconfig", lam.list_function_event_invoke_configs, FunctionName=name)
    version = p.call("publish_version_result", lam.publish_version, FunctionName=name)["Version"]
    p.call(
        "get_invokeconfig_postpublish",
        lam.get_function_event_invoke_config,
        FunctionName=name,
        Qualifier=version,
    )
    p.call(
        "put_published_invokeconfig",
        lam.put_function_event_invoke_config,
        FunctionName=name,
        Qualifier=version,
        MaximumEventAgeInSeconds=120,
    )
    p.call(
        "get_published_invokeconfig",
        lam.get_function_event_invoke_config,
        FunctionName=name,
        Qualifier=version,
    )
    # Paging, asserted (not recorded) by the recording's test.
    single = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=1)
    everything = lam.list_function_event_invoke_configs(FunctionName=name)
    assert len(single["FunctionEventInvokeConfigs"]) == 1
    assert len(everything["FunctionEventInvokeConfigs"]) == 2
    rest = lam.list_function_event_invoke_configs(
        FunctionName=name, Marker=single["NextMarker"], MaxItems=1
    )
    assert len(rest["FunctionEventInvokeConfigs"]) == 1
    assert {c["FunctionArn"] for c in everything["FunctionEventInvokeConfigs"]} == {
        single["FunctionEventInvokeConfigs"][0]["FunctionArn"],
        rest["FunctionEventInvokeConfigs"][0]["FunctionArn"],
    }
    lam.delete_function_event_invoke_config(FunctionName=name)
    p.call(
        "list_paging_nolimit_postdelete", lam.list_function_event_invoke_configs, FunctionName=name
    )


def test_lambda_eventinvokeconfig_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "test_lambda_api::TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_exceptions"
    )
    client = unvalidated_client(lam)
    name = f"fn-eventinvoke-{short_uid()}"
    name_2 = f"fn-eventinvoke-2-{short_uid()}"
    maker.function(name)
    fn_arn = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    maker.function(name_2)
    fn_arn_2 = client.get_function(FunctionName=name_2)["Configuration"]["FunctionArn"]
    version = p.call("fn_version_result", client.publish_version, FunctionName=name)["Version"]
    alias = p.call(
        "fn_alias_result",
        client.create_alias,
        FunctionName=name,
        Name="eventinvokealias",
        FunctionVersion=version,
    )
    alias_name, alias_arn = alias["Name"], alias["AliasArn"]
    fake_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:doesnotexist"
    put = client.put_function_event_invoke_config
    update = client.update_function_event_invoke_config

    p.call(
        "put_functionname_name_notfound", put, FunctionName="doesnotexist", MaximumRetryAttempts=1
    )
    p.call("put_functionname_arn_notfound", put, FunctionName=fake_arn, MaximumRetryAttempts=1)
    p.call("put_functionname_nootherargs", put, FunctionName="doesnotexist")

    def destination(label: str, config: dict[str, Any]) -> None:
        p.call(label, put, FunctionName=name, DestinationConfig=config)

    destination("put_destination_lambda_doesntexist", {"OnSuccess": {"Destination": fake_arn}})
    destination("put_destination_recursive", {"OnSuccess": {"Destination": fn_arn}})
    destination("put_destination_other_lambda", {"OnSuccess": {"Destination": fn_arn_2}})
    destination(
        "put_destination_invalid_service_arn",
        {"OnSuccess": {"Destination": fn_arn.replace(":lambda:", ":iam:")}},
    )
    destination("put_destination_success_no_destination_arn", {"OnSuccess": {}})
    destination("put_destination_failure_no_destination_arn", {"OnFailure": {}})
    destination(
        "put_destination_invalid_arn_pattern",
        {"OnFailure": {"Destination": fn_arn.replace(":lambda:", ":_-/!lambda:")}},
    )

    def qualified(label: str, function: str, qualifier: str | None = None) -> None:
        extra = {} if qualifier is None else {"Qualifier": qualifier}
        p.call(label, put, FunctionName=function, MaximumRetryAttempts=1, **extra)

    qualified("put_destination_latest", name)
    qualified("put_destination_latest_explicit_qualifier", name, "$LATEST")
    qualified("put_destination_version", name, version)
    qualified("put_alias_functionname_qualifier", name, alias_name)
    qualified("put_alias_doesnotexist", name, f"{alias_name}doesnotexist")
    qualified("put_alias_qualifiedarn", alias_arn)
    qualified("put_alias_qualifiedarn_qualifier", alias_arn, alias_name)
    qualified("put_alias_qualifiedarn_qualifierconflict", alias_arn, f"{alias_name}doesnotexist")
    qualified("put_alias_shorthand", f"{name}:{alias_name}")
    qualified("put_alias_shorthand_qualifier", f"{name}:{alias_name}", alias_name)
    qualified(
        "put_alias_shorthand_qualifierconflict",
        f"{name}:{alias_name}",
        f"{alias_name}doesnotexist",
    )
    qualified("put_version_shorthand", f"{name}:{version}")
    qualified("put_shorthand_qualifier_match", f"{name}:$LATEST", "$LATEST")
    qualified("put_shorthand_qualifier_mismatch_1", f"{name}:{version}", "$LATEST")
    qualified("put_shorthand_qualifier_mismatch_2", f"{name}:$LATEST", version)
    qualified("put_shorthand_qualifier_mismatch_3", f"{name}:{version}", alias_name)

    p.call(
        "put_maxevent_maxvalue_result",
        put,
        FunctionName=name,
        MaximumRetryAttempts=2,
        MaximumEventAgeInSeconds=21600,
    )
    # Put overwrites; Update merges.
    p.call(
        "put_pre_overwrite", put, FunctionName=name, MaximumRetryAttempts=2,
        MaximumEventAgeInSeconds=60,
    )  # fmt: skip
    p.call("put_post_overwrite", put, FunctionName=name, MaximumRetryAttempts=0)
    p.call("second_overwrite_existing_response", put, FunctionName=name, MaximumRetryAttempts=0)
    got = p.call("get_post_overwrite", client.get_function_event_invoke_config, FunctionName=name)
    assert got["MaximumRetryAttempts"] == 0 and "MaximumEventAgeInSeconds" not in got
    p.call(
        "pre_update_response", put, FunctionName=name, MaximumRetryAttempts=2,
        MaximumEventAgeInSeconds=60,
    )  # fmt: skip
    p.call("update_response", update, FunctionName=name, MaximumRetryAttempts=0)
    p.call("update_response_existing", update, FunctionName=name, MaximumRetryAttempts=0)
    got = client.get_function_event_invoke_config(FunctionName=name)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 60)

    # The recording sorted this list by FunctionArn; lambdalet lists $LATEST, versions,
    # aliases, which is that order here.
    p.call("list_configs", client.list_function_event_invoke_configs, FunctionName=name)
    paged = client.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    assert len(paged["FunctionEventInvokeConfigs"]) == 2 and paged["NextMarker"]

    delete = client.delete_function_event_invoke_config
    p.call("delete_latest", delete, FunctionName=name, Qualifier="$LATEST")
    p.call("delete_version", delete, FunctionName=name, Qualifier=version)
    p.call("delete_alias", delete, FunctionName=name, Qualifier=alias_name)
    p.call("list_configs_postdelete", client.list_function_event_invoke_configs, FunctionName=name)
    p.call("delete_function_not_found", delete, FunctionName=name)
    p.call("delete_function_doesnotexist", delete, FunctionName="doesnotexist")
    p.call(
        "list_function_doesnotexist",
        client.list_function_event_invoke_configs,
        FunctionName="doesnotexist",
    )
    get = client.get_function_event_invoke_config
    p.call("get_function_doesnotexist", get, FunctionName="doesnotexist")
    p.call("get_qualifier_doesnotexist", get, FunctionName=name, Qualifier="doesnotexist")
    p.call(
        "update_eventinvokeconfig_function_doesnotexist",
        update,
        FunctionName="doesnotexist",
        MaximumRetryAttempts=0,
    )
    p.call("get_eventinvokeconfig_doesnotexist", get, FunctionName=alias_arn)
    p.call(
        "update_eventinvokeconfig_config_doesnotexist_with_qualifier",
        update,
        FunctionName=alias_arn,
        MaximumRetryAttempts=0,
    )
    p.call(
        "update_eventinvokeconfig_config_doesnotexist_without_qualifier",
        update,
        FunctionName=fn_arn,
        MaximumRetryAttempts=0,
    )
