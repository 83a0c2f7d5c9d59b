"""The validator, on Lambda's own model: every sentence as AWS words it (the recorded answers
in tests/integration/parity/recorded/ are where these texts come from)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.api.validation import RULES
from engine.errors import ValidationException
from engine.shapes.model import java_regex, load_service
from engine.shapes.validate import (
    NO_RULES,
    Rules,
    check,
    java_double,
    java_text,
    summary,
    violations,
)

MODEL = load_service("lambda")


def broken(shape: str, params: dict[str, Any], rules: Rules = NO_RULES) -> list[str]:
    return violations(MODEL, shape, params, rules)


def test_nothing_broken_is_nothing_reported() -> None:
    assert broken("GetFunctionRequest", {"FunctionName": "f", "Qualifier": "$LATEST"}) == []


def test_a_missing_required_member_is_null() -> None:
    assert broken("GetFunctionRequest", {}) == [
        "Value null at 'functionName' failed to satisfy constraint: Member must not be null"
    ]


def test_members_are_named_as_aws_names_them_and_reported_in_model_order() -> None:
    assert broken(
        "CreateFunctionRequest",
        {
            "FunctionName": "f",
            "Role": "r1",
            "Code": {},
            "Timeout": 0,
            "MemorySize": 64,
            "EphemeralStorage": {"Size": 100},
        },
    ) == [
        "Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular "
        r"expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
        "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater "
        "than or equal to 1",
        "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value "
        "greater than or equal to 128",
        "Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have "
        "value greater than or equal to 512",
    ]


def test_a_list_of_enums_lists_every_rule_of_its_elements() -> None:
    assert broken(
        "CreateFunctionRequest",
        {"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Code": {},
         "Architectures": ["X86_64", "arm64"]},
    ) == [
        "Value '[X86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must "
        "have length less than or equal to 1",
        "Value '[X86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must "
        "satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must "
        "not be null]",
    ]  # fmt: skip


def test_nested_plain_strings_carry_no_not_null_but_top_level_ones_do() -> None:
    vpc = broken(
        "CreateFunctionRequest",
        {"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Code": {},
         "VpcConfig": {"SubnetIds": ["subnet_1"], "SecurityGroupIds": []}},
    )  # fmt: skip
    assert vpc == [
        "Value '[subnet_1]' at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must "
        "satisfy constraint: [Member must have length less than or equal to 1024, Member must "
        "have length greater than or equal to 0, Member must satisfy regular expression "
        "pattern: subnet-[0-9a-z]*]"
    ]
    layers = broken("UpdateFunctionConfigurationRequest", {"FunctionName": "f", "Layers": ["x"]})
    assert layers[0].endswith(", Member must not be null]")


def test_map_keys_and_values_and_doubles_print_as_java_prints_them() -> None:
    assert broken(
        "CreateAliasRequest",
        {"FunctionName": "f", "Name": "a", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"2": 2}}},
    ) == [
        "Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
        "constraint: Map value must satisfy constraint: [Member must have value less than or "
        "equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be "
        "null]"
    ]  # fmt: skip
    keys = broken(
        "CreateAliasRequest",
        {"FunctionName": "f", "Name": "a", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"$LATEST": 0.5}}},
    )  # fmt: skip
    assert keys == [
        "Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
        "constraint: Map keys must satisfy constraint: [Member must have length less than or "
        "equal to 1024, Member must have length greater than or equal to 1, Member must "
        "satisfy regular expression pattern: [0-9]+]"
    ]


def test_a_sensitive_value_is_left_out() -> None:
    assert broken(
        "CreateFunctionRequest",
        {"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Code": {},
         "Environment": {"Variables": {"1BAD": "secret"}}},
    ) == [
        "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy "
        "constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
    ]  # fmt: skip


def test_a_value_of_another_type_is_left_to_the_protocol_layer() -> None:
    assert broken("PutFunctionConcurrencyRequest", {"FunctionName": "f",
                  "ReservedConcurrentExecutions": "many"}) == []  # fmt: skip


def test_rules_skip_reorder_and_reword() -> None:
    params = {
        "LayerName": "l",
        "Content": {},
        "CompatibleArchitectures": ["sparc"],
        "CompatibleRuntimes": ["cobol"],
    }
    plain = broken("PublishLayerVersionRequest", params)
    assert [m.split("'")[3] for m in plain] == ["compatibleArchitectures", "compatibleRuntimes"]
    aws = broken("PublishLayerVersionRequest", params, RULES["PublishLayerVersion"])
    assert [m.split("'")[3] for m in aws] == ["compatibleRuntimes", "compatibleArchitectures"]
    assert aws[0] == (
        "Value '[cobol]' at 'compatibleRuntimes' failed to satisfy constraint: Member must "
        "satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, "
        "python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, "
        "ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, "
        "dotnet6, nodejs18.x, provided.al2, java8.al2]"
    )
    create = {"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Code": {},
              "Runtime": "cobol"}  # fmt: skip
    assert broken("CreateFunctionRequest", create) != []
    assert broken("CreateFunctionRequest", create, RULES["CreateFunction"]) == []


def test_check_raises_one_exception_naming_them_all() -> None:
    with pytest.raises(ValidationException) as caught:
        check(MODEL, "GetAliasRequest", {})
    assert caught.value.message == summary(
        [
            "Value null at 'functionName' failed to satisfy constraint: Member must not be null",
            "Value null at 'name' failed to satisfy constraint: Member must not be null",
        ]
    )
    assert caught.value.message.startswith("2 validation errors detected: ")


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.0, "2.0"), (0.5, "0.5"), (1e-5, "1.0E-5"), (12345678.0, "1.2345678E7"), (0.0, "0.0"),
     (-2.5e-7, "-2.5E-7"), (float("nan"), "NaN"), (float("inf"), "Infinity")],
)  # fmt: skip
def test_doubles_print_as_java_doubles(value: float, text: str) -> None:
    assert java_double(value) == text


def test_containers_print_as_java_collections() -> None:
    assert java_text(["a", "b"]) == "[a, b]"
    assert java_text({"k": "v", "n": 1}) == "{k=v, n=1}"
    assert java_text(True) == "true"


def test_java_unicode_classes_are_read() -> None:
    tag = java_regex(r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)")
    assert tag.fullmatch("héllo wörld_1 ٣")
    assert not tag.fullmatch("tab\there")
    assert not tag.fullmatch("a#b")
    assert java_regex(r"\d+").fullmatch("١٢") is None  # \d is ASCII, as in Java
    with pytest.raises(ValueError, match="cannot read"):
        java_regex(r"\p{Lu}+")


def test_every_pattern_of_the_model_compiles() -> None:
    for shape in MODEL.shapes.values():
        if shape.pattern is not None:
            shape.regex()


def test_error_shapes_say_which_message_key_they_use() -> None:
    not_found = MODEL.error("ResourceNotFoundException")
    invalid = MODEL.error("InvalidParameterValueException")
    service = MODEL.error("ServiceException")
    assert not_found is not None and invalid is not None and service is not None
    assert (not_found.status, not_found.message_key, not_found.sender_fault) == (
        404, "Message", True)  # fmt: skip
    assert (invalid.status, invalid.message_key) == (400, "message")
    assert (service.status, service.sender_fault) == (500, False)
    assert MODEL.error("ValidationException") is None  # not in Lambda's model
