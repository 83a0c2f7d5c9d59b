"""Matching requests to AWS Lambda operations, checked against botocore's own service model."""

from __future__ import annotations

import gzip
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import botocore
import pytest
from botocore.awsrequest import prepare_request_dict
from botocore.model import ServiceModel
from botocore.serialize import create_serializer

from engine.api.aws_routes import OperationTable, match_operation, match_operation_labels
from engine.shapes.model import Operation, load_service

ROOT = Path(__file__).resolve().parents[4]


def _load_model() -> dict[str, Any]:
    folder = Path(botocore.__file__).parent / "data" / "lambda" / "2015-03-31"
    plain = folder / "service-2.json"
    if plain.exists():
        model: dict[str, Any] = json.loads(plain.read_text(encoding="utf-8"))
    else:
        packed = (folder / "service-2.json.gz").read_bytes()
        model = json.loads(gzip.decompress(packed).decode("utf-8"))
    return model


MODEL = _load_model()
MODEL_OPERATIONS: dict[str, dict[str, Any]] = MODEL["operations"]
SERVICE = ServiceModel(MODEL, service_name="lambda")

ACCOUNT = "000000000000"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"
LAYER_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:my-layer"
CSC_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:code-signing-config:csc-0a1b2c3d4e5f6a7b8"
ESM_UUID = "6f2c6f5e-0c4e-4a8f-9b1e-3d2f1a7c9e10"

# Realistic values for every URI label in the model, by label name; several where clients
# really send several shapes (a function by name, by full or partial ARN, with a qualifier).
# The last three can contain "/", which only a raw (percent-encoded) path keeps in one label.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "FunctionName": (
        "my-function",
        FUNCTION_ARN,
        f"{FUNCTION_ARN}:prod",
        f"{ACCOUNT}:function:f",
        "f:7",
    ),
    "Name": ("prod",),
    "StatementId": ("allow-s3.1",),
    "LayerName": ("my-layer", LAYER_ARN),
    "VersionNumber": ("3",),
    "UUID": (ESM_UUID,),
    "Resource": (
        FUNCTION_ARN,
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:{ESM_UUID}",
        CSC_ARN,
    ),
    "CodeSigningConfigArn": (CSC_ARN,),
    "CapacityProviderName": (
        "cp-1",
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:capacity-provider:cp-1",
    ),
    "DurableExecutionArn": (f"{FUNCTION_ARN}:1/durable-execution/run-1/0f1e2d3c4b5a",),
    "CallbackId": ("Zm9v+YmFy/YmF6==",),
    "ResourceArn": (FUNCTION_ARN, f"arn:aws:lambda:us-east-1:{ACCOUNT}:runtime/python3.13"),
}

# Required query-string members, for building the request exactly as botocore would.
QUERY_VALUES: dict[str, Any] = {
    "Qualifier": "1",
    "Arn": f"{LAYER_ARN}:3",
    "CheckpointToken": "dG9rZW4=",
    "TagKeys": ["team"],
}

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


def _labels(uri: str) -> list[str]:
    return [m.group(1) for m in _LABEL.finditer(uri)]


def _fill(template: str, values: dict[str, str], *, encode: bool) -> str:
    """A template's path with the label values substituted (percent-encoded like botocore)."""

    def one(m: re.Match[str]) -> str:
        value = values[m.group(1)]
        if not encode:
            return value
        return quote(value, safe="/~" if m.group(2) else "~")

    return _LABEL.sub(one, template)


def _concrete_paths(uri: str) -> list[tuple[str, str, bool]]:
    """(raw path, decoded path, whether the decoded one keeps one label per segment)."""
    path_template = uri.partition("?")[0]
    names = _labels(path_template)
    missing = [n for n in names if n not in LABEL_VALUES]
    assert not missing, f"add realistic values for new URI labels {missing} to LABEL_VALUES"
    out = []
    for combo in itertools.product(*(LABEL_VALUES[n] for n in names)):
        values = dict(zip(names, combo, strict=True))
        raw = _fill(path_template, values, encode=True)
        decoded = _fill(path_template, values, encode=False)
        out.append((raw, decoded, not any("/" in v for v in combo)))
    return out


# --- the shipped model ----------------------------------------------------------------------

OPERATIONS = tuple(load_service("lambda").operations.values())


def test_shipped_model_is_up_to_date_with_installed_botocore() -> None:
    from_model = {
        (name, http["method"], http["requestUri"], int(http.get("responseCode", 200)))
        for name, spec in MODEL_OPERATIONS.items()
        for http in [spec["http"]]
    }
    shipped = {(op.name, op.method, op.uri, op.success_status) for op in OPERATIONS}
    hint = "regenerate: /opt/lambdalet/venv/bin/python scripts/gen_service_models.py"
    assert shipped == from_model, hint
    check = [sys.executable, str(ROOT / "scripts" / "gen_service_models.py"), "--check"]
    assert subprocess.run(check, cwd=ROOT, check=False).returncode == 0, hint


def test_operation_names_and_bindings_are_unique() -> None:
    assert len({op.name for op in OPERATIONS}) == len(OPERATIONS)
    assert len({(op.method, op.uri) for op in OPERATIONS}) == len(OPERATIONS)


def test_labels_come_back_by_name_still_encoded() -> None:
    arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af"
    found = match_operation_labels("GET", f"/2015-03-31/functions/{arn}/aliases/p", "")
    assert found is not None
    operation, labels = found
    assert operation.name == "GetAlias"
    assert labels == {"FunctionName": arn, "Name": "p"}


# --- every operation in the model ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODEL_OPERATIONS))
def test_every_operation_matches_its_own_template(name: str) -> None:
    http = MODEL_OPERATIONS[name]["http"]
    method, uri = http["method"], http["requestUri"]
    query = uri.partition("?")[2]
    for raw, decoded, decoded_is_unambiguous in _concrete_paths(uri):
        found = match_operation(method, raw, query)
        assert found is not None, f"{method} {raw}?{query}"
        assert found.name == name, f"{method} {raw}?{query} -> {found.name}"
        if decoded_is_unambiguous:
            found = match_operation(method, decoded, query)
            assert found is not None, f"{method} {decoded}?{query}"
            assert found.name == name


@pytest.mark.parametrize("name", sorted(MODEL_OPERATIONS))
def test_every_operation_matches_the_request_botocore_sends(name: str) -> None:
    operation = SERVICE.operation_model(name)
    params: dict[str, Any] = {}
    shape = operation.input_shape  # every Lambda operation has one
    for member, member_shape in shape.members.items():
        location = member_shape.serialization.get("location")
        if location == "uri":
            label = member_shape.serialization["name"]
            assert label in LABEL_VALUES, f"add realistic values for URI label {label}"
            value: Any = LABEL_VALUES[label][-1]  # the last is the hardest: an ARN
            if member_shape.type_name in ("integer", "long"):
                value = int(value)
            params[member] = value
        elif location == "querystring" and member in shape.required_members:
            assert member in QUERY_VALUES, f"add a value for required query member {member}"
            params[member] = QUERY_VALUES[member]
    request = create_serializer("rest-json", include_validation=False).serialize_to_request(
        params, operation
    )
    prepare_request_dict(request, endpoint_url="https://lambda.us-east-1.amazonaws.com")
    url = urlsplit(request["url"])
    found = match_operation(request["method"], url.path, url.query)
    assert found is not None, request["url"]
    assert found.name == name, f"{request['url']} -> {found.name}"


# --- the pairs that only the date, the method or the query tells apart ------------------------


def _name(method: str, path: str, query: dict[str, str] | str = "") -> str | None:
    found = match_operation(method, path, query)
    return None if found is None else found.name


def test_layer_version_by_arn_versus_list_layers() -> None:
    path = "/2018-10-31/layers"
    arn = quote(f"{LAYER_ARN}:3", safe="")
    assert _name("GET", path) == "ListLayers"
    assert _name("GET", path, "CompatibleRuntime=python3.13&MaxItems=10") == "ListLayers"
    assert _name("GET", path, f"find=LayerVersion&Arn={arn}") == "GetLayerVersionByArn"
    assert _name("GET", path, f"Arn={arn}&find=LayerVersion") == "GetLayerVersionByArn"
    by_mapping = {"find": "LayerVersion", "Arn": f"{LAYER_ARN}:3"}
    assert _name("GET", path, by_mapping) == "GetLayerVersionByArn"
    assert _name("GET", path, "find=Layer") == "ListLayers"  # the literal value must match


def test_list_versus_get_provisioned_concurrency() -> None:
    path = f"/2019-09-30/functions/{quote(FUNCTION_ARN, safe='')}/provisioned-concurrency"
    assert _name("GET", path, "Qualifier=1") == "GetProvisionedConcurrencyConfig"
    assert _name("GET", path, "List=ALL") == "ListProvisionedConcurrencyConfigs"
    assert _name("GET", path, "MaxItems=5&List=ALL&Marker=x") == "ListProvisionedConcurrencyConfigs"
    assert _name("GET", path, {"List": "ALL"}) == "ListProvisionedConcurrencyConfigs"
    assert _name("PUT", path, "List=ALL&Qualifier=1") == "PutProvisionedConcurrencyConfig"
    assert _name("DELETE", path, "Qualifier=1") == "DeleteProvisionedConcurrencyConfig"


def test_function_concurrency_lives_under_two_dates() -> None:
    assert _name("GET", "/2019-09-30/functions/f/concurrency") == "GetFunctionConcurrency"
    assert _name("PUT", "/2017-10-31/functions/f/concurrency") == "PutFunctionConcurrency"
    assert _name("DELETE", "/2017-10-31/functions/f/concurrency") == "DeleteFunctionConcurrency"
    assert _name("GET", "/2017-10-31/functions/f/concurrency") is None
    assert _name("PUT", "/2019-09-30/functions/f/concurrency") is None
    assert _name("DELETE", "/2019-09-30/functions/f/concurrency") is None


def test_event_invoke_config_methods_and_its_list() -> None:
    path = "/2019-09-25/functions/f/event-invoke-config"
    assert _name("GET", path, "Qualifier=prod") == "GetFunctionEventInvokeConfig"
    assert _name("PUT", path) == "PutFunctionEventInvokeConfig"
    assert _name("POST", path) == "UpdateFunctionEventInvokeConfig"
    assert _name("DELETE", path) == "DeleteFunctionEventInvokeConfig"
    assert _name("GET", path + "/list", "MaxItems=5") == "ListFunctionEventInvokeConfigs"
    assert _name("POST", path + "/list") is None
    # a function called "list" is still a function
    assert _name("GET", "/2019-09-25/functions/list/event-invoke-config") == (
        "GetFunctionEventInvokeConfig"
    )


def test_arn_labels_match_raw_or_with_literal_colons() -> None:
    for function in (quote(FUNCTION_ARN, safe=""), FUNCTION_ARN, f"{FUNCTION_ARN}:$LATEST"):
        assert _name("POST", f"/2015-03-31/functions/{function}/invocations") == "Invoke"


def test_a_slash_inside_a_label_needs_the_raw_path() -> None:
    arn = f"{FUNCTION_ARN}:1/durable-execution/run-1/0f1e2d3c4b5a"
    raw = f"/2025-12-01/durable-executions/{quote(arn, safe='')}/history"
    assert _name("GET", raw) == "GetDurableExecutionHistory"
    assert _name("GET", f"/2025-12-01/durable-executions/{arn}/history") is None


# --- requests that are for no operation -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        # wrong method for a path that exists
        ("PATCH", "/2015-03-31/functions/f"),
        ("POST", "/2015-03-31/functions/f/configuration"),
        ("GET", "/2015-03-31/functions/f/code"),
        ("HEAD", "/2015-03-31/functions"),
        ("get", "/2015-03-31/functions"),
        # unknown or wrong date prefix
        ("GET", "/2015-03-30/functions/f"),
        ("GET", "/2099-01-01/functions"),
        ("GET", "/2019-09-30/functions/f/configuration"),
        ("GET", "/functions/f"),
        # extra, missing or empty segments
        ("PUT", "/2015-03-31/functions/f/code/extra"),
        ("GET", "/2015-03-31/functions/f/aliases/prod/more"),
        ("GET", "/2015-03-31/functions/f/"),
        ("GET", "/2015-03-31/functions//configuration"),
        ("GET", "/2015-03-31/functions/f/unknown"),
        ("GET", "/2018-10-31/layers/my-layer/versions/3/policy/extra"),
        # not a path at all
        ("GET", "/"),
        ("GET", ""),
        ("GET", "2015-03-31/functions"),
    ],
)
def test_requests_for_no_operation(method: str, path: str) -> None:
    assert match_operation(method, path, "") is None


# --- the matching rules, on made-up templates -------------------------------------------------


def _table(*templates: tuple[str, str]) -> OperationTable:
    return OperationTable(Operation(name=n, method="GET", uri=u) for n, u in templates)


def test_fewer_labels_wins() -> None:
    table = _table(("Two", "/x/{A}/{B}"), ("One", "/x/{A}/list"))
    assert table.match("GET", "/x/f/list", "") == Operation(
        name="One", method="GET", uri="/x/{A}/list"
    )
    found = table.match("GET", "/x/f/g", "")
    assert found is not None and found.name == "Two"


def test_greedy_label_takes_one_or_more_segments_and_ranks_last() -> None:
    table = _table(("Greedy", "/y/{Key+}"), ("Pair", "/y/{A}/{B}"))
    names = {
        p: (op.name if (op := table.match("GET", p, "")) else None)
        for p in ("/y/a", "/y/a/b", "/y/a/b/c", "/y/", "/y/a//b", "/y/a/")
    }
    assert names == {
        "/y/a": "Greedy",
        "/y/a/b": "Pair",
        "/y/a/b/c": "Greedy",
        "/y/": None,
        "/y/a//b": None,
        "/y/a/": None,
    }


def test_templates_starting_with_a_label_and_bare_query_keys() -> None:
    table = _table(("Bucket", "/{Bucket}"), ("Literal", "/literal"), ("Acl", "/literal?acl"))
    found = {q: table.match("GET", "/literal", q) for q in ("", "acl", "acl=", "x=1")}
    assert {q: op.name if op else None for q, op in found.items()} == {
        "": "Literal",
        "acl": "Acl",
        "acl=": "Acl",
        "x=1": "Literal",
    }
    other = table.match("GET", "/other", "acl")
    assert other is not None and other.name == "Bucket"


@pytest.mark.parametrize("uri", ["functions/{F}", "/x/{A", "/x/{A-B}", "/x/}"])
def test_malformed_templates_are_rejected(uri: str) -> None:
    with pytest.raises(ValueError, match="requestUri"):
        _table(("Bad", uri))
