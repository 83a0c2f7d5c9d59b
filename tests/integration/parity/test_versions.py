"""Published versions and revision ids of functions, as AWS answers them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.parity.conftest import Maker, Scenario, short_uid
from tests.integration.parity.test_functions import (
    ECHO_CODE,
    ECHO_ZIP,
    OTHER_RUNTIME,
    PYTHON_VERSION_CODE,
    create_args,
)

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]


def _field(response: dict[str, Any], *path: str) -> str:
    """A string deep in an answer, or "" if the answer was an error."""
    value: Any = response
    for key in path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, str) else ""


# -- TestLambdaVersions -------------------------------------------------------------------------


def test_publish_version_on_create(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaVersions::test_publish_version_on_create")
    name = f"fn-{short_uid()}"
    maker.track(name)
    code = maker.zip(ECHO_CODE)
    p.call("create_response", lam.create_function, **create_args(name, code, Publish=True))
    p.call("get_function_result", lam.get_function, FunctionName=name)
    p.call("get_function_version_result", lam.get_function, FunctionName=name, Qualifier="1")
    p.call("get_function_latest_result", lam.get_function, FunctionName=name, Qualifier="$LATEST")
    p.call("list_versions_result", lam.list_versions_by_function, FunctionName=name)
    # nothing changed since: the same version again, not a new one
    p.call(
        "repeated_publish_response",
        lam.publish_version,
        FunctionName=name,
        Description="Repeated version description :)",
    )
    p.call("list_versions_result_after_publish", lam.list_versions_by_function, FunctionName=name)


def test_version_lifecycle(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaVersions::test_version_lifecycle")
    name = f"fn-{short_uid()}"
    maker.track(name)
    code = maker.zip(ECHO_CODE)
    p.call(
        "create_response",
        lam.create_function,
        **create_args(name, code, Description="No version :("),
    )
    p.call("get_function_result", lam.get_function, FunctionName=name)
    p.call("list_versions_result", lam.list_versions_by_function, FunctionName=name)
    update = lam.update_function_configuration
    p.call("first_update_response", update, FunctionName=name, Description="First version :)")
    p.call("first_update_get_function", lam.get_function, FunctionName=name)
    first = p.call(
        "first_publish_response",
        lam.publish_version,
        FunctionName=name,
        Description="First version description :)",
    )
    version = _field(first, "Version") or "1"
    p.call("first_publish_get_function", lam.get_function, FunctionName=name, Qualifier=version)
    p.call(
        "first_publish_get_function_config",
        lam.get_function_configuration,
        FunctionName=name,
        Qualifier=version,
    )
    p.call("second_update_response", update, FunctionName=name, Description="Second version :))")
    p.call(
        "first_publish_get_function_after_update",
        lam.get_function,
        FunctionName=name,
        Qualifier=version,
    )
    p.call("second_publish_response", lam.publish_version, FunctionName=name)
    # $LATEST has not changed since: PublishVersion answers the same version 2
    p.call(
        "third_publish_response",
        lam.publish_version,
        FunctionName=name,
        Description="Third version description :)))",
    )
    p.call(
        "list_versions_result_after_third_publish",
        lam.list_versions_by_function,
        FunctionName=name,
    )
    lam.delete_function(FunctionName=f"{name}:{version}")
    p.call(
        "list_versions_result_after_deletion_of_first_version",
        lam.list_versions_by_function,
        FunctionName=name,
    )


def test_publish_with_wrong_sha256(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaVersions::test_publish_with_wrong_sha256")
    name = f"fn-{short_uid()}"
    maker.track(name)
    p.call("create_response", lam.create_function, **create_args(name, maker.zip(ECHO_CODE)))
    got = p.call("get_fn_response", lam.get_function, FunctionName=name)
    p.call(
        "publish_wrong_sha256_exc",
        lam.publish_version,
        FunctionName=name,
        CodeSha256="somenonexistentsha256",
    )
    p.call(
        "publish_result",
        lam.publish_version,
        FunctionName=name,
        CodeSha256=_field(got, "Configuration", "CodeSha256"),
    )


def test_publish_with_wrong_revisionid(parity: Parity, lam: Any, maker: Maker) -> None:
    """An older recording (python3.9, before LoggingConfig): only its error is compared; its
    other answers lack fields AWS has added since."""
    p = parity("test_lambda_api::TestLambdaVersions::test_publish_with_wrong_revisionid")
    name = f"fn-{short_uid()}"
    maker.track(name)
    lam.create_function(**create_args(name, maker.zip(ECHO_CODE)))
    p.call(
        "publish_wrong_revisionid_exc",
        lam.publish_version,
        FunctionName=name,
        RevisionId="somenonexistentrevisionid",
    )


def test_publish_with_update(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaVersions::test_publish_with_update")
    name = f"fn-{short_uid()}"
    maker.track(name)
    p.call("create_response", lam.create_function, **create_args(name, maker.zip(ECHO_CODE)))
    p.call("get_function_result", lam.get_function, FunctionName=name)
    p.call(
        "update_function_code_result",
        lam.update_function_code,
        FunctionName=name,
        ZipFile=maker.zip(PYTHON_VERSION_CODE),
        Publish=True,
    )
    p.call("get_function_version_result", lam.get_function, FunctionName=name, Qualifier="1")
    p.call("get_function_latest_result", lam.get_function, FunctionName=name, Qualifier="$LATEST")


# -- TestLambdaRevisions ------------------------------------------------------------------------


def test_function_revisions_basic(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaRevisions::test_function_revisions_basic")
    p.replace("python3.8", OTHER_RUNTIME)  # python3.8 does not run on lambdalet
    name = f"fn-{short_uid()}"
    maker.track(name)
    p.call(
        "create_function_response_rev1",
        lam.create_function,
        **maker.function_args(name, Handler="index.handler", Code={"ZipFile": ECHO_ZIP}),
    )
    rev2 = _field(
        p.call("get_function_response_rev2", lam.get_function, FunctionName=name),
        "Configuration",
        "RevisionId",
    )
    p.call(
        "update_function_revision_exception",
        lam.update_function_code,
        FunctionName=name,
        ZipFile=ECHO_ZIP,
        RevisionId="wrong",
    )
    p.call(
        "update_function_code_response_rev3",
        lam.update_function_code,
        FunctionName=name,
        ZipFile=ECHO_ZIP,
        RevisionId=rev2,
    )
    rev4 = _field(
        p.call("get_function_response_rev4", lam.get_function, FunctionName=name),
        "Configuration",
        "RevisionId",
    )
    p.call(
        "update_function_configuration_revision_exception",
        lam.update_function_configuration,
        FunctionName=name,
        Runtime=OTHER_RUNTIME,
        RevisionId="wrong",
    )
    p.call(
        "update_function_configuration_response_rev5",
        lam.update_function_configuration,
        FunctionName=name,
        Runtime=OTHER_RUNTIME,
        RevisionId=rev4,
    )
    p.call("get_function_response_rev6", lam.get_function, FunctionName=name)


def test_function_revisions_version_and_alias(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaRevisions::test_function_revisions_version_and_alias")
    name = f"fn-{short_uid()}"
    maker.track(name)
    p.call("create_function_response_rev1", lam.create_function, **maker.function_args(name))
    rev2 = _field(
        p.call("get_function_active_rev2", lam.get_function, FunctionName=name),
        "Configuration",
        "RevisionId",
    )
    p.call(
        "publish_version_revision_exception",
        lam.publish_version,
        FunctionName=name,
        RevisionId="wrong",
    )
    published = p.call(
        "publish_version_response_rev_v1", lam.publish_version, FunctionName=name, RevisionId=rev2
    )
    version = _field(published, "Version") or "1"
    p.call(
        "get_function_published_version_rev_v2",
        lam.get_function,
        FunctionName=name,
        Qualifier=version,
    )
    p.call("get_function_latest_rev3", lam.get_function, FunctionName=name)
    alias = "revision_alias"
    created = p.call(
        "create_alias_response_rev_a1",
        lam.create_alias,
        FunctionName=name,
        Name=alias,
        FunctionVersion=version,
    )
    p.call("get_function_latest_rev4", lam.get_function, FunctionName=name)
    p.call(
        "get_function_published_version_rev_v3",
        lam.get_function,
        FunctionName=name,
        Qualifier=version,
    )
    p.call(
        "update_alias_revision_exception",
        lam.update_alias,
        FunctionName=name,
        Name=alias,
        RevisionId="wrong",
    )
    p.call(
        "update_alias_response_rev_a2",
        lam.update_alias,
        FunctionName=name,
        Name=alias,
        Description="something changed",
        RevisionId=_field(created, "RevisionId"),
    )


def test_function_revisions_permissions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaRevisions::test_function_revisions_permissions")
    name = f"fn-{short_uid()}"
    maker.function(name)
    p.call(
        "add_permission_revision_exception",
        lam.add_permission,
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        RevisionId="wrong",
    )
