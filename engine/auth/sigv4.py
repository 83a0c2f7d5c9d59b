"""AWS Signature Version 4 verification (header auth, AWS4-HMAC-SHA256): pure logic, no I/O.

The canonical request is rebuilt the way AWS SDKs build it for non-S3 services, so requests
signed by boto3, the AWS CLI or any SDK verify; every refusal is an `ApiError` in AWS's words.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from engine.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW = timedelta(minutes=5)
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."

_TIMESTAMP = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_AUTH_PARAMS = ("Credential", "SignedHeaders", "Signature")

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key_id: str
    date: str  # YYYYMMDD, the credential scope's day
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Checked:
    """A request whose headers passed every check; only the signature is left."""

    auth: Authorization
    secret: str
    timestamp: str  # the request time as YYYYMMDDTHHMMSSZ


# -- entry points -------------------------------------------------------------------------


def check_headers(
    *,
    headers: Headers,
    secrets: Mapping[str, str],
    now: datetime,
    hosts: Collection[str],
    region: str,
    service: str = "lambda",
) -> str:
    """Every check that needs neither the body nor the signature; returns the access key id.

    Lets a server refuse an unauthenticated request before it buffers the body.
    """
    return _check(
        headers=headers, secrets=secrets, now=now, hosts=hosts, region=region, service=service
    ).auth.access_key_id


def verify_request(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Headers,
    body: bytes,
    secrets: Mapping[str, str],
    now: datetime,
    hosts: Collection[str],
    region: str,
    service: str = "lambda",
) -> str:
    """Verify a SigV4-signed request; return its access key id or raise an `ApiError`.

    ``raw_path`` and ``query_string`` are as sent on the wire (still percent-encoded).
    Non-ASCII wire bytes in them or in header values should be decoded as UTF-8 with
    ``errors="surrogateescape"``, so the canonical request is byte for byte what was sent.
    ``now`` must be timezone-aware.
    """
    checked = _check(
        headers=headers, secrets=secrets, now=now, hosts=hosts, region=region, service=service
    )
    canonical = canonical_request(
        method=method,
        raw_path=raw_path,
        query_string=query_string,
        headers=headers,
        signed_headers=checked.auth.signed_headers,
        payload_hash=_payload_hash(headers, body),
    )
    expected = signature(
        secret=checked.secret,
        timestamp=checked.timestamp,
        auth=checked.auth,
        canonical=canonical,
    )
    if not hmac.compare_digest(expected, checked.auth.signature):
        raise InvalidSignatureException(MISMATCH)
    return checked.auth.access_key_id


def claimed_access_key_id(headers: Headers) -> str | None:
    """The access key id a request claims, for logs; None if it names none."""
    values = _values(headers, "authorization")
    if len(values) != 1:
        return None
    match = re.search(r"Credential=([^/,\s]+)/", values[0])
    return match.group(1) if match else None


def _check(
    *,
    headers: Headers,
    secrets: Mapping[str, str],
    now: datetime,
    hosts: Collection[str],
    region: str,
    service: str,
) -> _Checked:
    auth = parse_authorization(_authorization_header(headers))
    _refuse_security_token(headers)
    secret = _secret_for(auth.access_key_id, secrets)
    request_time = _request_time(headers)
    _check_skew(request_time, now)
    timestamp = request_time.strftime(TIMESTAMP_FORMAT)
    _check_scope(auth, timestamp=timestamp, region=region, service=service)
    _check_host(headers, hosts)
    return _Checked(auth=auth, secret=secret, timestamp=timestamp)


# -- the Authorization header -------------------------------------------------------------


def _authorization_header(headers: Headers) -> str:
    values = _values(headers, "authorization")
    if not values:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    if len(values) > 1:
        raise IncompleteSignatureException("The request has more than one Authorization header.")
    return values[0]


def parse_authorization(value: str) -> Authorization:
    """Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            # Cut short: a header of another scheme may carry a bearer secret of its own.
            f"Unsupported AWS 'algorithm': '{algorithm[:32]}'; only {ALGORITHM} is accepted."
        )
    params = _auth_params(rest)
    missing = [name for name in _AUTH_PARAMS if name not in params]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    signed_headers = tuple(params["SignedHeaders"].split(";"))
    if "" in signed_headers or any(name != name.lower() for name in signed_headers):
        raise IncompleteSignatureException(
            "SignedHeaders must be a ';'-separated list of lowercase header names."
        )
    if "host" not in signed_headers:
        raise IncompleteSignatureException("SignedHeaders must include 'host'.")
    if not _SIGNATURE.fullmatch(params["Signature"]):
        raise IncompleteSignatureException("Signature must be 64 lowercase hexadecimal digits.")
    key_id, date, region, service, terminator = _credential_parts(params["Credential"])
    return Authorization(
        access_key_id=key_id,
        date=date,
        region=region,
        service=service,
        terminator=terminator,
        signed_headers=signed_headers,
        signature=params["Signature"],
    )


def _auth_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in _AUTH_PARAMS:
            raise IncompleteSignatureException(
                f"Authorization header parameter '{name}' is not one of: {', '.join(_AUTH_PARAMS)}."
            )
        if name in params:
            raise IncompleteSignatureException(
                f"Authorization header has more than one '{name}' parameter."
            )
        params[name] = value
    return params


def _credential_parts(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or "" in parts:
        raise IncompleteSignatureException(
            "Credential must have the form "
            f"<access key id>/<YYYYMMDD>/<region>/<service>/{TERMINATOR}; got '{credential}'."
        )
    key_id, date, region, service, terminator = parts
    return key_id, date, region, service, terminator


# -- checks on the headers ----------------------------------------------------------------


def _refuse_security_token(headers: Headers) -> None:
    # Temporary (STS) credentials would need a token service; lambdalet has long-term keys only.
    if _values(headers, "x-amz-security-token"):
        raise UnrecognizedClientException(INVALID_TOKEN)


def _secret_for(key_id: str, secrets: Mapping[str, str]) -> str:
    secret = secrets.get(key_id)
    if secret is None:
        raise UnrecognizedClientException(INVALID_TOKEN)
    return secret


def _request_time(headers: Headers) -> datetime:
    """The signing time, from ``X-Amz-Date`` (preferred) or ``Date``."""
    amz_date = _single(headers, "x-amz-date")
    if amz_date is not None:
        if not _TIMESTAMP.fullmatch(amz_date):
            raise IncompleteSignatureException(
                f"X-Amz-Date must be in ISO-8601 basic format (YYYYMMDDTHHMMSSZ); got '{amz_date}'."
            )
        try:
            return datetime.strptime(amz_date, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise IncompleteSignatureException(
                f"X-Amz-Date is not a valid date: '{amz_date}'."
            ) from None
    http_date = _single(headers, "date")
    if http_date is None:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    try:
        parsed = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        raise IncompleteSignatureException(
            f"Date header is not a valid HTTP date: '{http_date}'."
        ) from None
    if parsed.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _check_skew(request_time: datetime, now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC).replace(microsecond=0)
    stamp = request_time.strftime(TIMESTAMP_FORMAT)
    now_stamp = now.strftime(TIMESTAMP_FORMAT)
    earliest, latest = now - MAX_SKEW, now + MAX_SKEW
    if request_time < earliest:
        raise InvalidSignatureException(
            f"Signature expired: {stamp} is now earlier than "
            f"{earliest.strftime(TIMESTAMP_FORMAT)} ({now_stamp} - 5 min.)"
        )
    if request_time > latest:
        raise InvalidSignatureException(
            f"Signature not yet current: {stamp} is still later than "
            f"{latest.strftime(TIMESTAMP_FORMAT)} ({now_stamp} + 5 min.)"
        )


def _check_scope(auth: Authorization, *, timestamp: str, region: str, service: str) -> None:
    problems = []
    if auth.date != timestamp[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    if auth.region != region:
        problems.append(
            f"Credential should be scoped to a valid region: '{region}', not '{auth.region}'."
        )
    if auth.service != service:
        problems.append(
            f"Credential should be scoped to correct service: '{service}', not '{auth.service}'."
        )
    if auth.terminator != TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{auth.terminator}'."
        )
    if problems:
        raise InvalidSignatureException(" ".join(problems))


def _check_host(headers: Headers, hosts: Collection[str]) -> None:
    # The signature covers Host, but only this check stops a request signed for another
    # name (DNS rebinding, a request replayed against a second endpoint) from verifying.
    values = _values(headers, "host")
    host = values[0] if len(values) == 1 else ""
    if host.lower() not in {h.lower() for h in hosts}:
        raise InvalidSignatureException(
            f"The Host header '{','.join(values)}' does not name this endpoint."
        )


def _payload_hash(headers: Headers, body: bytes) -> str:
    """Hex SHA-256 of the body; an ``X-Amz-Content-SHA256`` header must agree with it.

    UNSIGNED-PAYLOAD (and streaming, chunk-signed payloads) are refused: the listener is plain
    HTTP, so the signature is all that protects the body from tampering on the way.
    """
    actual = hashlib.sha256(body).hexdigest()
    claimed = _single(headers, "x-amz-content-sha256")
    if claimed is None or claimed == actual:
        return actual
    if not _SHA256_HEX.fullmatch(claimed):
        raise InvalidSignatureException(
            f"X-Amz-Content-SHA256 '{claimed}' is not supported; sign the payload "
            "(send its hex SHA-256, or leave the header out)."
        )
    raise InvalidSignatureException(
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    )


# -- the canonical request and the signature ----------------------------------------------


def canonical_request(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Headers,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(query_string),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def canonical_uri(raw_path: str) -> str:
    """The wire path with dot segments and empty segments removed, then encoded again.

    Services other than S3 encode the already-encoded path a second time: ``arn%3Aaws``
    on the wire is ``arn%253Aaws`` in the canonical request.
    """
    return quote(_normalize_path(raw_path), safe="/", errors="surrogateescape")


def _normalize_path(path: str) -> str:
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    return "/" + "/".join(segments) + trailing


def canonical_query(query_string: str) -> str:
    """Pairs decoded, re-encoded with AWS's unreserved set, sorted by key then value.

    '+' means a space, as in form encoding: botocore sends ``params`` that way, and the
    app parses the query so, so the signature covers what the app will read.
    """
    if not query_string:
        return ""
    pairs = sorted(
        (_reencode(key), _reencode(value))
        for key, _, value in (pair.partition("=") for pair in query_string.split("&"))
    )
    return "&".join(f"{key}={value}" for key, value in pairs)


def _reencode(component: str) -> str:
    raw = unquote_to_bytes(_wire(component).replace(b"+", b" "))
    return quote_from_bytes(raw, safe="")  # leaves only A-Z a-z 0-9 - _ . ~


def canonical_headers(headers: Headers, signed_headers: Sequence[str]) -> str:
    """``name:value\\n`` per signed header; repeated headers joined with ','."""
    lines = []
    for name in signed_headers:
        values = _values(headers, name)
        if not values:
            raise IncompleteSignatureException(
                f"Signed header '{name}' is not present in the request."
            )
        lines.append(f"{name}:{','.join(_trim_all(v) for v in values)}\n")
    return "".join(lines)


def _trim_all(value: str) -> str:
    return " ".join(value.split())


def signature(*, secret: str, timestamp: str, auth: Authorization, canonical: str) -> str:
    digest = hashlib.sha256(_wire(canonical)).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{auth.scope}\n{digest}"
    return hmac.new(_signing_key(secret, auth), _wire(string_to_sign), hashlib.sha256).hexdigest()


def _signing_key(secret: str, auth: Authorization) -> bytes:
    key = _wire(f"AWS4{secret}")
    for part in (auth.date, auth.region, auth.service, auth.terminator):
        key = hmac.new(key, _wire(part), hashlib.sha256).digest()
    return key


def _wire(text: str) -> bytes:
    """Text back to the bytes it was decoded from (callers decode UTF-8 with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


# -- header lookup --------------------------------------------------------------------------


def _values(headers: Headers, name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


def _single(headers: Headers, name: str) -> str | None:
    values = _values(headers, name)
    if len(values) > 1:
        raise IncompleteSignatureException(f"The request has more than one {name} header.")
    return values[0] if values else None


__all__ = [
    "ALGORITHM",
    "MAX_SKEW",
    "Authorization",
    "canonical_request",
    "check_headers",
    "claimed_access_key_id",
    "parse_authorization",
    "verify_request",
]
