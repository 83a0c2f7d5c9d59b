"""Function permissions (resource-based policies): add, read and remove, with qualifiers and
revision ids, and their errors, as AWS answers them.

boto3 hands `AddPermission`'s Statement and `GetPolicy`'s Policy over as JSON text; the
recordings hold them parsed, so the scenarios parse them before comparing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.integration.parity.conftest import Maker, Scenario
from tests.integration.parity.findings import Findings
from tests.integration.parity.kept import SAME_REVISION_ON_TAGS_AND_POLICY

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
REGION = "us-east-1"
ACCOUNT = "000000000000"
BUCKET_ARN = "arn:aws:s3:::test-bucket"  # LocalStack's arns.s3_bucket_arn("test-bucket")
ACTION = "lambda:InvokeFunction"
S3 = "s3.amazonaws.com"
# Revision ids may coincide where AWS changed them: SAME_REVISION_ON_TAGS_AND_POLICY.
REVISIONS = ("uuid",)


def _parsed(response: dict[str, Any]) -> dict[str, Any]:
    """The answer with its JSON-text fields (Statement, Policy) parsed, as recorded."""
    out = dict(response)
    for key in ("Statement", "Policy"):
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                pass  # not JSON: compared as text, and so reported
    return out


def _call(p: Scenario, label: str, method: Callable[..., Any], /, **kwargs: Any) -> dict[str, Any]:
    """`Scenario.call`, comparing the parsed answer."""
    try:
        response: dict[str, Any] = method(**kwargs)
    except botocore.exceptions.ClientError as exc:
        response = dict(exc.response)
    p.expect(label, _parsed(response))
    return response


def test_permission_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaPermissions::test_permission_exceptions")
    found = Findings(ignore=REVISIONS)
    name = maker.name("lambda_func")
    maker.function(name)
    s3: dict[str, Any] = dict(Action=ACTION, StatementId="s3", Principal=S3, SourceArn=BUCKET_ARN)
    _call(
        p,
        "add_permission_invalid_statement_id",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="example.com",
        Principal=S3,
    )
    _call(
        p,
        "add_permission_fn_qualifier_mismatch",
        lam.add_permission,
        FunctionName=f"{name}:alias-not-42",
        Qualifier="42",
        **s3,
    )
    _call(
        p,
        "add_permission_fn_qualifier_latest",
        lam.add_permission,
        FunctionName=f"{name}:$LATEST",
        Qualifier="$LATEST",
        **s3,
    )
    _call(
        p,
        "add_permission_principal_invalid",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="lambda",
        Principal="invalid.nonaws.com",
        SourceAccount=ACCOUNT,
    )
    _call(p, "get_policy_fn_doesnotexist", lam.get_policy, FunctionName="doesnotexist")
    _call(
        p,
        "get_policy_fn_version_doesnotexist",
        lam.get_policy,
        FunctionName=name,
        Qualifier="77",
    )
    _call(
        p, "add_permission_fn_doesnotexist", lam.add_permission, FunctionName="doesnotexist", **s3
    )
    _call(
        p,
        "remove_permission_policy_doesnotexist",
        lam.remove_permission,
        FunctionName=name,
        StatementId="s3",
    )
    _call(
        p,
        "add_permission_fn_alias_doesnotexist",
        lam.add_permission,
        FunctionName=f"{name}:alias-doesnotexist",
        **s3,
    )
    _call(
        p,
        "add_permission_fn_version_doesnotexist",
        lam.add_permission,
        FunctionName=name,
        Qualifier="42",
        **s3,
    )
    _call(
        p,
        "add_permission_fn_qualifier_invalid",
        lam.add_permission,
        FunctionName=name,
        Qualifier="invalid-qualifier-with-?-char",
        **s3,
    )
    _call(
        p,
        "add_permission_fn_qualifier_valid_doesnotexist",
        lam.add_permission,
        FunctionName=name,
        Qualifier="valid-with-$-but-doesnotexist",
        **s3,
    )
    found.step("add_permission", lam.add_permission, FunctionName=name, **s3)
    _call(p, "add_permission_conflicting_statement_id", lam.add_permission, FunctionName=name, **s3)
    _call(
        p,
        "remove_permission_fn_doesnotexist",
        lam.remove_permission,
        FunctionName="doesnotexist",
        StatementId="s3",
    )
    _call(
        p,
        "remove_permission_fn_alias_doesnotexist",
        lam.remove_permission,
        FunctionName=name,
        StatementId="s3",
        Qualifier="alias-doesnotexist",
    )
    found.done(p)


def test_add_lambda_permission_aws(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaPermissions::test_add_lambda_permission_aws")
    found = Findings(ignore=REVISIONS)
    name = maker.name("lambda_func")
    p.expect("create_lambda", maker.function(name))
    _call(
        p,
        "add_permission",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="s3",
        Principal=S3,
        SourceArn=BUCKET_ARN,
    )
    _call(p, "get_policy", lam.get_policy, FunctionName=name)
    found.done(p)


def test_lambda_permission_fn_versioning(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaPermissions::test_lambda_permission_fn_versioning")
    found = Findings(ignore=REVISIONS)
    name = maker.name("lambda_func")
    maker.function(name)
    s3: dict[str, Any] = dict(Action=ACTION, StatementId="s3", Principal=S3, SourceArn=BUCKET_ARN)
    _call(p, "add_permission", lam.add_permission, FunctionName=name, **s3)
    _call(p, "get_policy", lam.get_policy, FunctionName=name)
    published = _call(p, "publish_version_result", lam.publish_version, FunctionName=name)
    version = published.get("Version", "1")
    _call(p, "get_function_result_after_publishing", lam.get_function, FunctionName=name)
    _call(p, "get_policy_after_publishing_latest", lam.get_policy, FunctionName=name)
    _call(
        p,
        "get_policy_after_publishing_new_version",
        lam.get_policy,
        FunctionName=name,
        Qualifier=version,
    )
    found.step(
        "add_permission (version)",
        lam.add_permission,
        FunctionName=f"{name}:{version}",
        Qualifier=version,
        **s3,
    )
    _call(p, "get_policy_version", lam.get_policy, FunctionName=name, Qualifier=version)
    alias = "permission-alias"
    created = _call(
        p,
        "create_alias_response",
        lam.create_alias,
        FunctionName=name,
        Name=alias,
        FunctionVersion=version,
    )
    _call(p, "get_alias", lam.get_alias, FunctionName=name, Name=alias)
    _call(
        p,
        "add_permission_alias_revision_exception",
        lam.add_permission,
        FunctionName=name,
        Qualifier=alias,
        RevisionId="wrong",
        **s3,
    )
    found.step(
        "add_permission (alias, its revision id)",
        lam.add_permission,
        FunctionName=f"{name}:{alias}",
        Qualifier=alias,
        RevisionId=created.get("RevisionId", ""),
        **s3,
    )
    _call(p, "get_policy_alias", lam.get_policy, FunctionName=name, Qualifier=alias)
    policy = _call(p, "get_policy_after_adding_to_new_version", lam.get_policy, FunctionName=name)
    found.step(
        "add_permission (s3_2, the policy's revision id)",
        lam.add_permission,
        FunctionName=name,
        RevisionId=policy.get("RevisionId", ""),
        **{**s3, "StatementId": "s3_2"},
    )
    _call(p, "get_policy_after_adding_2", lam.get_policy, FunctionName=name)
    found.done(p)


def test_add_lambda_permission_fields(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaPermissions::test_add_lambda_permission_fields")
    found = Findings(ignore=REVISIONS)
    name = maker.name("lambda_func")
    maker.function(name)
    _call(
        p,
        "add_permission_principal_wildcard",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="wilcard",
        Principal="*",
        SourceAccount=ACCOUNT,
    )
    _call(
        p,
        "add_permission_principal_service",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="lambda",
        Principal="lambda.amazonaws.com",
        SourceAccount=ACCOUNT,
    )
    _call(
        p,
        "add_permission_principal_account",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="account-id",
        Principal=ACCOUNT,
    )
    # The recording used the caller's own ARN (STS GetCallerIdentity); any user ARN will do.
    _call(
        p,
        "add_permission_principal_arn",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="user-arn",
        Principal=f"arn:aws:iam::{ACCOUNT}:user/parity",
        SourceAccount=ACCOUNT,
    )
    _call(
        p,
        "add_permission_optional_fields",
        lam.add_permission,
        FunctionName=name,
        StatementId="urlPermission",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        SourceArn=BUCKET_ARN,
        SourceAccount=ACCOUNT,
        PrincipalOrgID="o-1234567890",
        FunctionUrlAuthType="NONE",
    )
    _call(
        p,
        "add_permission_alexa_skill",
        lam.add_permission,
        FunctionName=name,
        StatementId="alexaSkill",
        Action=ACTION,
        Principal="*",
        EventSourceToken="amzn1.ask.skill.xxxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    )
    found.done(p)


def test_remove_multi_permissions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaPermissions::test_remove_multi_permissions")
    found = Findings(ignore=REVISIONS)
    name = maker.name("lambda_func")
    maker.function(name)
    _call(
        p,
        "add_permission_1",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="s3",
        Principal=S3,
    )
    _call(
        p,
        "add_permission_2",
        lam.add_permission,
        FunctionName=name,
        Action=ACTION,
        StatementId="sqs",
        Principal="sqs.amazonaws.com",
        SourceArn=BUCKET_ARN,
    )
    _call(p, "policy_after_2_add", lam.get_policy, FunctionName=name)
    _call(
        p,
        "remove_permission_exception_nonexisting_sid",
        lam.remove_permission,
        FunctionName=name,
        StatementId="non-existent",
    )
    found.step(
        "remove_permission (sqs)", lam.remove_permission, FunctionName=name, StatementId="sqs"
    )
    _call(p, "policy_after_removal", lam.get_policy, FunctionName=name)
    policy = _call(p, "policy_after_removal_attempt", lam.get_policy, FunctionName=name)
    found.step(
        "remove_permission (s3, the policy's revision id)",
        lam.remove_permission,
        FunctionName=name,
        StatementId="s3",
        RevisionId=policy.get("RevisionId", ""),
    )
    _call(p, "get_policy_exception_removed_all", lam.get_policy, FunctionName=name)
    found.done(p)


def test_create_multiple_lambda_permissions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaPermissions::test_create_multiple_lambda_permissions")
    found = Findings(ignore=REVISIONS)
    name = maker.name("test-function")
    maker.function(name)
    for label, sid in (
        ("add_permission_response_1", "logs"),
        ("add_permission_response_2", "kinesis"),
    ):
        _call(
            p,
            label,
            lam.add_permission,
            FunctionName=name,
            Action=ACTION,
            StatementId=sid,
            Principal=f"{sid}.amazonaws.com",
        )
    _call(p, "policy_after_2_add", lam.get_policy, FunctionName=name)
    found.done(p)


def test_function_revisions_permissions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaRevisions::test_function_revisions_permissions")
    found = Findings(ignore=REVISIONS)
    name = maker.name()
    maker.function(name)

    def revision() -> Any:
        return (
            found.step("get_function", lam.get_function, FunctionName=name)
            .get("Configuration", {})
            .get("RevisionId")
        )

    rev2 = revision()
    s3: dict[str, Any] = dict(FunctionName=name, StatementId="s3", Action=ACTION, Principal=S3)
    _call(p, "add_permission_revision_exception", lam.add_permission, RevisionId="wrong", **s3)
    # The rest is unrecorded; the recording asserts how the revision ids move.
    found.step("add_permission", lam.add_permission, RevisionId=rev2, **s3)
    policy_rev = found.step("get_policy", lam.get_policy, FunctionName=name).get("RevisionId")
    rev3 = revision()
    # AWS: the function and its policy get one new revision id. lambdalet keeps the function's
    # (SAME_REVISION_ON_TAGS_AND_POLICY), and the policy's is the function's.
    found.check(
        policy_rev == rev2 == rev3,
        f"{SAME_REVISION_ON_TAGS_AND_POLICY}; yet: before {rev2}, then policy {policy_rev}, "
        f"function {rev3}",
    )
    try:
        lam.remove_permission(FunctionName=name, StatementId="s3", RevisionId="wrong")
        code = "none: it succeeded"
    except botocore.exceptions.ClientError as exc:
        code = exc.response["Error"]["Code"]
    found.check(
        code == "PreconditionFailedException",
        "RemovePermission with a wrong revision id: AWS PreconditionFailedException, "
        f"lambdalet {code}",
    )
    found.step(
        "remove_permission",
        lam.remove_permission,
        FunctionName=name,
        StatementId="s3",
        RevisionId=rev3,
    )
    found.check(revision() == rev3, SAME_REVISION_ON_TAGS_AND_POLICY)
    found.done(p)
