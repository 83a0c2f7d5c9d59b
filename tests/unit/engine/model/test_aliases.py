"""Aliases: parsing in AWS's words, routing rules, the weighted choice."""

from __future__ import annotations

import pytest

from engine.api.validation import lambda_model
from engine.errors import InvalidParameterValueException, ValidationException
from engine.model.aliases import Alias, check_routing, parse_alias_request
from engine.shapes.validate import check


def test_the_weighted_choice_follows_the_draw() -> None:
    alias = Alias(name="a", function_version="1", weights={"2": 0.25}, revision_id="r")
    assert [alias.pick(d) for d in (0.0, 0.2499, 0.25, 0.9)] == ["2", "2", "1", "1"]
    assert alias.versions() == ("1", "2")
    assert Alias(name="a", function_version="1", revision_id="r").pick(0.0) == "1"


def test_requests_are_parsed_and_checked() -> None:
    req = parse_alias_request(
        {"Name": "live", "FunctionVersion": "3",
         "RoutingConfig": {"AdditionalVersionWeights": {"4": 0.5}}},
        create=True,
    )  # fmt: skip
    assert (req.name, req.function_version, req.weights) == ("live", "3", {"4": 0.5})
    with pytest.raises(ValidationException, match="functionVersion"):
        parse_alias_request({"Name": "live"}, create=True)
    with pytest.raises(InvalidParameterValueException, match="greater than 1"):
        parse_alias_request(
            {"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}}}, create=False
        )


def test_the_model_checks_names_and_weights_before_the_parser() -> None:
    model = lambda_model()
    with pytest.raises(ValidationException, match="pattern"):  # all digits would be a version
        check(model, "GetAliasRequest", {"FunctionName": "f", "Name": "123"})
    weights = {"AdditionalVersionWeights": {"2": 1.5}}
    with pytest.raises(ValidationException, match=r"less than or equal to 1\.0"):
        check(
            model,
            "UpdateAliasRequest",
            {"FunctionName": "f", "Name": "a", "RoutingConfig": weights},
        )


def test_routing_rules() -> None:
    check_routing("1", {"2": 0.5})
    with pytest.raises(InvalidParameterValueException, match=r"\$LATEST"):
        check_routing("$LATEST", {"2": 0.5})
    with pytest.raises(InvalidParameterValueException, match="already included"):
        check_routing("2", {"2": 0.5})
