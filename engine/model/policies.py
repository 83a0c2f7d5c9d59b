"""Resource-based policies (AddPermission / RemovePermission / GetPolicy) as data.

Pure: a request becomes one IAM statement in AWS's shape; a policy is a list of statements
with its own revision id. lambdalet stores and returns policies; it does not evaluate them
(the TCP listener authenticates callers by SigV4 and every known key may call every API).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from engine.model.json_types import opt_str, require_object
from engine.model.violations import Violations

_ACCOUNT_RE: Final = re.compile(r"\d{12}")
MSG_POLICY_NOT_FOUND: Final = "The resource you requested does not exist."
MSG_NO_POLICY: Final = "No policy is associated with the given resource."
MSG_BAD_PRINCIPAL: Final = (
    "The provided principal was invalid. Please check the principal and try again."
)
MSG_POLICY_REVISION_MISMATCH: Final = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetPolicy API to retrieve the latest Revision Id"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    statements: tuple[dict[str, Any], ...] = ()
    revision_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def document(self) -> str:
        """The policy JSON text GetPolicy returns."""
        return json.dumps(
            {"Version": "2012-10-17", "Id": "default", "Statement": list(self.statements)},
            separators=(",", ":"),
        )

    def to_doc(self) -> dict[str, Any]:
        return {"statements": list(self.statements), "revision_id": self.revision_id}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Policy:
        if doc is None:
            return cls(statements=(), revision_id="")
        return cls(statements=tuple(doc["statements"]), revision_id=doc["revision_id"])

    def add(self, statement: dict[str, Any], *, revision_id: str | None) -> Policy:
        self._check_revision(revision_id)
        if any(s["Sid"] == statement["Sid"] for s in self.statements):
            raise ResourceConflictException(
                f"The statement id ({statement['Sid']}) provided already exists. Please provide "
                "a new statement id, or remove the existing statement."
            )
        return Policy(statements=(*self.statements, statement), revision_id=self.revision_id)

    def remove(self, sid: str, *, revision_id: str | None) -> Policy:
        self._check_revision(revision_id)
        kept = tuple(s for s in self.statements if s["Sid"] != sid)
        if len(kept) == len(self.statements):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
        return Policy(statements=kept, revision_id=self.revision_id)

    def _check_revision(self, revision_id: str | None) -> None:
        if revision_id is not None and revision_id != self.revision_id:
            raise PreconditionFailedException(MSG_POLICY_REVISION_MISMATCH)


def parse_add_permission(body: Mapping[str, Any], *, resource_arn: str) -> dict[str, Any]:
    """An AddPermission body → the statement AWS would add (and return as JSON text)."""
    body = require_object(body)
    sid = opt_str(body, "StatementId")
    action = opt_str(body, "Action")
    principal = opt_str(body, "Principal")
    source_arn = opt_str(body, "SourceArn")
    source_account = opt_str(body, "SourceAccount")
    org_id = opt_str(body, "PrincipalOrgID")
    url_auth = opt_str(body, "FunctionUrlAuthType")
    token = opt_str(body, "EventSourceToken")
    if sid is None or action is None or principal is None:
        problems = Violations()  # required by the model: only a caller past the boundary
        for value, path in ((sid, "statementId"), (action, "action"), (principal, "principal")):
            if value is None:
                problems.add_null(path)
        problems.raise_if_any()
    assert sid is not None and action is not None and principal is not None
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": _principal(principal),
        "Action": action,
        "Resource": resource_arn,
    }
    condition: dict[str, dict[str, str]] = {}
    if source_arn is not None:
        condition.setdefault("ArnLike", {})["AWS:SourceArn"] = source_arn
    if source_account is not None:
        condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = source_account
    if org_id is not None:
        condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = org_id
    if url_auth is not None:
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = url_auth
    if token is not None:
        condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = token
    if condition:
        statement["Condition"] = condition
    return statement


def _principal(principal: str) -> str | dict[str, str]:
    """The statement's Principal: anyone, a service, an account or an IAM ARN; anything else
    is refused as AWS refuses it."""
    if principal == "*":
        return "*"
    if principal.endswith(".amazonaws.com") or principal.endswith(".amazon.com"):
        return {"Service": principal}
    if _ACCOUNT_RE.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    raise InvalidParameterValueException(MSG_BAD_PRINCIPAL)
