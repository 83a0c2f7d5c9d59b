"""SnapStart on CreateFunction and UpdateFunctionConfiguration: the model's enum, AWS's rules past
it (runtimes, /tmp), what a configuration shows, and `snap_start_applies`."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import ApiError, InvalidParameterValueException, ValidationException
from engine.model.function import LATEST, snap_start_applies
from engine.model.function_requests import (
    ConfigurationChanges,
    parse_create_function,
    parse_update_function_configuration,
)
from engine.model.snap_start import (
    AWS_SNAP_START_RUNTIMES,
    MSG_EPHEMERAL_STORAGE,
    SNAP_START_RUNTIMES,
    check_snap_start,
    snap_start_to_aws,
)
from tests.unit.engine.model.test_validation import (
    CURRENT,
    create,
    create_body,
    one,
    update_config,
    validated,
)

ON = {"ApplyOn": "PublishedVersions"}
OFF = {"ApplyOn": "None"}
ENUM = "Member must satisfy enum value set: [PublishedVersions, None]"


def refused(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


# --- the model's enum ------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["CreateFunction", "UpdateFunctionConfiguration"])
def test_an_unknown_apply_on_is_the_models_enum_error(operation: str) -> None:
    body = create_body(SnapStart={"ApplyOn": "invalidOption"})
    error = refused(validated, operation, body)
    assert type(error) is ValidationException
    assert error.message == one(f"Value 'invalidOption' at 'snapStart.applyOn' failed to satisfy"
                                f" constraint: {ENUM}")  # fmt: skip


# --- CreateFunction --------------------------------------------------------------------------


def test_without_snap_start_a_function_shows_none_and_off() -> None:
    req = create()
    assert req.snap_start == "None"
    assert snap_start_to_aws(req.snap_start, on=False) == {
        "ApplyOn": "None",
        "OptimizationStatus": "Off",
    }


@pytest.mark.parametrize(("sent", "kept"), [(ON, "PublishedVersions"), (OFF, "None"), ({}, "None")])
def test_create_keeps_apply_on(sent: dict[str, str], kept: str) -> None:
    assert create(SnapStart=sent).snap_start == kept


@pytest.mark.parametrize("runtime", ["nodejs20.x", "provided.al2023", "python3.10", "ruby3.3"])
def test_create_refuses_a_runtime_without_snap_start_in_aws_words(runtime: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_create_function(
            validated("CreateFunction", create_body(Runtime=runtime, SnapStart=ON)),
            supported_runtimes=("python3.11", runtime),
        )
    assert type(caught.value) is InvalidParameterValueException
    assert caught.value.message == f"{runtime} is not supported for SnapStart enabled functions."
    assert (caught.value.error_type, caught.value.status) == ("InvalidParameterValueException", 400)


def test_a_runtime_without_snap_start_may_send_apply_on_none() -> None:
    body = validated("CreateFunction", create_body(Runtime="nodejs20.x", SnapStart=OFF))
    req = parse_create_function(body, supported_runtimes=("nodejs20.x",))
    assert req.snap_start == "None"


def test_python_3_11_is_lambdalets_one_deviation() -> None:
    assert "python3.11" not in AWS_SNAP_START_RUNTIMES
    assert sorted(SNAP_START_RUNTIMES - AWS_SNAP_START_RUNTIMES) == ["python3.11"]
    assert create(SnapStart=ON).snap_start == "PublishedVersions"  # the default runtime: 3.11


@pytest.mark.parametrize(
    "runtime", ["python3.12", "python3.13", "python3.14", "java11", "java21", "dotnet8"]
)
def test_aws_runtimes_with_snap_start_pass_its_rules(runtime: str) -> None:
    check_snap_start(apply_on="PublishedVersions", runtime=runtime, ephemeral_storage_mb=512)


def test_create_refuses_more_than_512_mb_of_tmp() -> None:
    error = refused(lambda: create(SnapStart=ON, EphemeralStorage={"Size": 513}))
    assert type(error) is InvalidParameterValueException
    assert error.message == MSG_EPHEMERAL_STORAGE
    assert create(SnapStart=ON, EphemeralStorage={"Size": 512}).ephemeral_storage_mb == 512
    assert create(SnapStart=OFF, EphemeralStorage={"Size": 10240}).snap_start == "None"


def test_the_runtime_is_refused_before_the_storage() -> None:
    error = refused(
        lambda: parse_create_function(
            validated(
                "CreateFunction",
                create_body(Runtime="nodejs20.x", SnapStart=ON, EphemeralStorage={"Size": 1024}),
            ),
            supported_runtimes=("nodejs20.x",),
        )
    )
    assert error.message == "nodejs20.x is not supported for SnapStart enabled functions."


# --- UpdateFunctionConfiguration -------------------------------------------------------------


def update_on_any_host(body: dict[str, Any]) -> ConfigurationChanges:
    """`update_config` on a host that runs every runtime: AWS's rules, not this host's."""
    validated("UpdateFunctionConfiguration", {"FunctionName": "my-fn", **body})
    return parse_update_function_configuration(body, supported_runtimes=("python3.10",))


def test_update_turns_snap_start_on_and_off() -> None:
    assert update_config({"SnapStart": ON}).replacements(CURRENT) == {
        "snap_start": "PublishedVersions"
    }
    on = CURRENT.replace(snap_start="PublishedVersions")
    assert update_config({"SnapStart": OFF}).replacements(on) == {"snap_start": "None"}


def test_update_leaves_snap_start_alone_unless_sent() -> None:
    on = CURRENT.replace(snap_start="PublishedVersions")
    assert update_config({"MemorySize": 256}).replacements(on) == {"memory_mb": 256}
    assert update_config({"SnapStart": {}}).replacements(on) == {}


@pytest.mark.parametrize(
    ("current", "body", "message"),
    [
        # SnapStart turned on for a runtime without it...
        ({"runtime": "nodejs20.x"}, {"SnapStart": ON},
         "nodejs20.x is not supported for SnapStart enabled functions."),
        # ...or the runtime of a SnapStart function changed to one...
        ({"snap_start": "PublishedVersions"}, {"Runtime": "python3.10"},
         "python3.10 is not supported for SnapStart enabled functions."),
        # ...and /tmp, whichever of the two the request changes.
        ({"ephemeral_storage_mb": 1024}, {"SnapStart": ON}, MSG_EPHEMERAL_STORAGE),
        ({"snap_start": "PublishedVersions"}, {"EphemeralStorage": {"Size": 2048}},
         MSG_EPHEMERAL_STORAGE),
    ],
)  # fmt: skip
def test_update_checks_the_function_it_would_make(
    current: dict[str, Any], body: dict[str, Any], message: str
) -> None:
    changes = update_on_any_host(body)
    with pytest.raises(InvalidParameterValueException) as caught:
        changes.replacements(CURRENT.replace(**current))
    assert caught.value.message == message


def test_update_may_turn_snap_start_off_while_growing_tmp() -> None:
    on = CURRENT.replace(snap_start="PublishedVersions")
    changes = update_config({"SnapStart": OFF, "EphemeralStorage": {"Size": 4096}})
    assert changes.replacements(on) == {"snap_start": "None", "ephemeral_storage_mb": 4096}


# --- what a configuration shows, and snap_start_applies --------------------------------------


@pytest.mark.parametrize(
    ("version", "apply_on", "status"),
    [
        (LATEST, "PublishedVersions", "Off"),
        (LATEST, "None", "Off"),
        ("1", "PublishedVersions", "On"),
        ("1", "None", "Off"),
    ],
)
def test_optimization_status_is_on_only_for_a_snap_start_version(
    version: str, apply_on: str, status: str
) -> None:
    config = CURRENT.replace(version=version, snap_start=apply_on)
    assert snap_start_applies(config) is (status == "On")
    shown = config.to_aws("us-east-1", listed=True)["SnapStart"]
    assert shown == {"ApplyOn": apply_on, "OptimizationStatus": status}
