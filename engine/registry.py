"""Durable control-plane state: function configurations in SQLite, code as content-addressed blobs.

Layout of `state_dir` (0700): `registry.sqlite3` (WAL), `registry.lock` (one process at a time),
`code/<sha256hex>.zip` and the extracted tree `code/<sha256hex>/` that sandboxes mount read-only.
"""

from __future__ import annotations

import base64
import builtins
import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from engine.codezip import extract_zip, fsync_dir
from engine.errors import (
    ApiError,
    ConfigError,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from engine.models import FunctionConfig, function_arn
from engine.packaging import precompile_python
from engine.validation import (
    CodeUpdate,
    ConfigurationChanges,
    CreateFunctionRequest,
    validate_max_items,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 2
DB_NAME: Final = "registry.sqlite3"
LOCK_NAME: Final = "registry.lock"
CODE_DIR_NAME: Final = "code"
MSG_REVISION_MISMATCH: Final = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
_DIGEST_RE: Final = re.compile(r"[0-9a-f]{64}")
_SCHEMA: Final = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE functions (
    name TEXT PRIMARY KEY,
    code_digest TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    config_json TEXT NOT NULL
);
CREATE INDEX functions_by_code_digest ON functions (code_digest);
"""
# Schema 2: documents of other resources (kind "vpc", "host"), keyed by (kind, id).
_SCHEMA_2: Final = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    doc_json TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""


class Registry:
    """Every function's $LATEST configuration and code, surviving restarts.

    Thread-safe: one SQLite connection behind a lock. Unzipping runs outside the lock, so a
    large upload does not stall reads; digests being staged are pinned against garbage
    collection until their row commits or the call fails.
    Cleanup: `close()` releases the connection and the directory lock.
    """

    def __init__(self, state_dir: Path, *, region: str, durable: bool = True) -> None:
        self._region = region
        self._durable = durable  # fsync blobs and trees; tests of crash-free paths may skip it
        self._code_root = state_dir / CODE_DIR_NAME
        self._lock = threading.Lock()
        self._staging: collections.Counter[str] = collections.Counter()
        self._closed = False
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(state_dir, 0o700)  # mkdir's mode is masked by the umask and skipped if present
        self._lock_fd = _acquire_dir_lock(state_dir / LOCK_NAME)
        try:
            self._code_root.mkdir(mode=0o700, exist_ok=True)
            self._conn = _connect(state_dir / DB_NAME)
        except BaseException:
            os.close(self._lock_fd)
            raise
        try:
            self._recover()
        except BaseException:
            self.close()
            raise

    @property
    def region(self) -> str:
        return self._region

    # --- Reads ---------------------------------------------------------------------------

    def get(self, name: str) -> FunctionConfig:
        with self._lock:
            return self._load(name)

    def list(
        self, *, marker: str | None = None, max_items: int = 50
    ) -> tuple[builtins.list[FunctionConfig], str | None]:
        """One page sorted by name, and the NextMarker for the page after it (None at the end)."""
        validate_max_items(max_items)
        with self._lock:
            rows = self._conn.execute(
                "SELECT config_json FROM functions WHERE name > ? ORDER BY name LIMIT ?",
                (marker or "", max_items + 1),
            ).fetchall()
        configs = [_config_from_json(row[0]) for row in rows]
        if len(configs) > max_items:
            return configs[:max_items], configs[max_items - 1].name
        return configs, None

    def code_dir(self, config: FunctionConfig) -> Path:
        """The extracted package, to mount read-only at /var/task."""
        return self._code_root / _checked_digest(config.code_digest)

    def code_zip(self, config: FunctionConfig) -> Path:
        """The package as uploaded (GetFunction's Code.Location serves it)."""
        return self._code_root / f"{_checked_digest(config.code_digest)}.zip"

    # --- Writes --------------------------------------------------------------------------

    def create(self, req: CreateFunctionRequest, *, now: datetime) -> FunctionConfig:
        """Store the code (validated and unzipped first), then insert the row in one transaction."""
        last_modified = format_last_modified(now)
        with self._lock:
            if self._exists(req.name):
                raise _conflict(req.name)  # before the costly unzip
        digest = hashlib.sha256(req.zip_bytes).hexdigest()
        with self._staged(digest):
            self._store_code(digest, req.zip_bytes)
            config = FunctionConfig(
                name=req.name,
                runtime=req.runtime,
                handler=req.handler,
                role=req.role,
                description=req.description,
                memory_mb=req.memory_mb,
                timeout_s=req.timeout_s,
                ephemeral_storage_mb=req.ephemeral_storage_mb,
                environment=dict(req.environment),
                architectures=req.architectures,
                subnet_ids=req.vpc.subnet_ids if req.vpc else (),
                security_group_ids=req.vpc.security_group_ids if req.vpc else (),
                vpc_id=req.vpc.vpc_id if req.vpc else "",
                code_digest=digest,
                code_sha256=_aws_sha256(req.zip_bytes),
                code_size=len(req.zip_bytes),
                last_modified=last_modified,
                revision_id=str(uuid.uuid4()),
            )
            with self._lock, self._transaction() as conn:
                try:
                    conn.execute(
                        "INSERT INTO functions (name, code_digest, revision_id, config_json)"
                        " VALUES (?, ?, ?, ?)",
                        (config.name, digest, config.revision_id, _config_to_json(config)),
                    )
                except sqlite3.IntegrityError:
                    raise _conflict(req.name) from None  # lost a race with another create
        return config

    def update_code(self, name: str, update: CodeUpdate, *, now: datetime) -> FunctionConfig:
        last_modified = format_last_modified(now)
        with self._lock:
            _check_revision(self._load(name), update.revision_id)  # before the costly unzip
        digest = hashlib.sha256(update.zip_bytes).hexdigest()
        with self._staged(digest):
            self._store_code(digest, update.zip_bytes)
            with self._lock, self._transaction():
                current = self._load(name)
                _check_revision(current, update.revision_id)
                config = current.replace(
                    code_digest=digest,
                    code_sha256=_aws_sha256(update.zip_bytes),
                    code_size=len(update.zip_bytes),
                    architectures=update.architectures or current.architectures,
                    last_modified=last_modified,
                    revision_id=str(uuid.uuid4()),
                )
                self._save(config)
        if current.code_digest != digest:
            self._collect(current.code_digest)
        return config

    def update_configuration(
        self, name: str, changes: ConfigurationChanges, *, now: datetime
    ) -> FunctionConfig:
        last_modified = format_last_modified(now)
        with self._lock, self._transaction():
            current = self._load(name)
            _check_revision(current, changes.revision_id)
            config = current.replace(
                **changes.replacements(),
                last_modified=last_modified,
                revision_id=str(uuid.uuid4()),
            )
            self._save(config)
        return config

    def delete(self, name: str) -> FunctionConfig:
        """Remove the function; its code goes too unless another function shares it."""
        with self._lock, self._transaction() as conn:
            config = self._load(name)
            conn.execute("DELETE FROM functions WHERE name = ?", (name,))
        self._collect(config.code_digest)
        return config

    def all(self) -> builtins.list[FunctionConfig]:
        """Every function (the network needs to know which subnets are in use)."""
        with self._lock:
            rows = self._conn.execute("SELECT config_json FROM functions ORDER BY name").fetchall()
        return [_config_from_json(row[0]) for row in rows]

    # --- Other resources' documents (VPCs, attached hosts) ---------------------------------

    def put_document(self, kind: str, doc_id: str, doc: dict[str, Any]) -> None:
        with self._lock, self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO documents (kind, id, doc_json) VALUES (?, ?, ?)",
                (kind, doc_id, json.dumps(doc, sort_keys=True)),
            )

    def delete_document(self, kind: str, doc_id: str) -> None:
        with self._lock, self._transaction() as conn:
            conn.execute("DELETE FROM documents WHERE kind = ? AND id = ?", (kind, doc_id))

    def documents(self, kind: str) -> builtins.list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc_json FROM documents WHERE kind = ? ORDER BY id", (kind,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.close()
            os.close(self._lock_fd)  # releases the flock

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- Rows (call with self._lock held) -----------------------------------------------

    def _load(self, name: str) -> FunctionConfig:
        row = self._conn.execute(
            "SELECT config_json FROM functions WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(self._region, name)}"
            )
        return _config_from_json(row[0])

    def _exists(self, name: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM functions WHERE name = ?", (name,)).fetchone()
        return row is not None

    def _save(self, config: FunctionConfig) -> None:
        self._conn.execute(
            "UPDATE functions SET code_digest = ?, revision_id = ?, config_json = ? WHERE name = ?",
            (config.code_digest, config.revision_id, _config_to_json(config), config.name),
        )

    def _is_referenced(self, digest: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM functions WHERE code_digest = ? LIMIT 1", (digest,)
        ).fetchone()
        return row is not None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- Blobs ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _staged(self, digest: str) -> Iterator[None]:
        """Pin `digest` while its blobs exist without a row; on the way out, drop them if unused.

        This is what makes a failed create or update leave no blob behind, while a blob that
        another function (or a concurrent call) uses stays.
        """
        with self._lock:
            self._staging[digest] += 1
        try:
            yield
        finally:
            with self._lock:
                self._staging[digest] -= 1
                if self._staging[digest] <= 0:
                    del self._staging[digest]
            self._collect(digest)

    def _store_code(self, digest: str, zip_bytes: bytes) -> None:
        """Unzip first (that is the validation), then keep the zip itself."""
        extract_zip(
            zip_bytes,
            self._code_root / digest,
            durable=self._durable,
            before_publish=precompile_python,
        )
        blob = self._code_root / f"{digest}.zip"
        if not blob.exists():
            self._write_blob(blob, zip_bytes)

    def _write_blob(self, blob: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{blob.name}.", suffix=".tmp", dir=self._code_root)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                if self._durable:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(tmp, blob)  # same digest, same bytes: replacing a racer's copy is harmless
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if self._durable:
            fsync_dir(self._code_root)

    def _collect(self, digest: str) -> None:
        """Delete the blobs of `digest` if no row references it and no call is staging it."""
        with self._lock:
            if self._closed or digest in self._staging or self._is_referenced(digest):
                return
            # Move the tree aside under the lock (one rename) and delete it after: a staging
            # call that starts now finds no tree and unzips afresh instead of racing the rmtree.
            trash = self._set_aside(self._code_root / digest)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._code_root / f"{digest}.zip")
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def _set_aside(self, tree: Path) -> Path | None:
        trash = tree.with_name(f".{tree.name}.{uuid.uuid4().hex}.trash")
        try:
            os.rename(tree, trash)
        except FileNotFoundError:
            return None
        return trash

    def _recover(self) -> None:
        """After a crash: drop temporaries and orphans, and unzip again any missing tree."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT code_digest FROM functions").fetchall()
        referenced = {row[0] for row in rows}
        for child in self._code_root.iterdir():
            stem = child.name.removesuffix(".zip")
            if child.name.startswith("."):
                _remove(child)  # an interrupted extraction, upload or deletion
            elif _DIGEST_RE.fullmatch(stem) and stem not in referenced:
                _remove(child)  # its row never committed, or its deletion was cut short
        for digest in referenced:
            tree = self._code_root / digest
            blob = self._code_root / f"{digest}.zip"
            if tree.is_dir():
                continue
            if not blob.is_file():
                logger.error("code %s is missing: functions using it cannot be invoked", digest)
                continue
            logger.warning("re-extracting code tree %s from its zip", digest)
            try:
                extract_zip(blob.read_bytes(), tree, durable=self._durable)
            except (ApiError, OSError) as exc:
                # One damaged package must not keep the daemon from starting.
                logger.error("cannot re-extract code %s: %s", digest, exc)


# --- Helpers -------------------------------------------------------------------------------


def format_last_modified(now: datetime) -> str:
    """AWS's LastModified: `2024-01-31T12:34:56.789+0000`, always in UTC."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    utc = now.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def _aws_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _check_revision(current: FunctionConfig, revision_id: str | None) -> None:
    if revision_id is not None and revision_id != current.revision_id:
        raise PreconditionFailedException(MSG_REVISION_MISMATCH)


def _conflict(name: str) -> ResourceConflictException:
    return ResourceConflictException(f"Function already exist: {name}")


def _checked_digest(digest: str) -> str:
    # The digest becomes a path: make sure a damaged row cannot point outside code/.
    if not _DIGEST_RE.fullmatch(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest


def _config_to_json(config: FunctionConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def _config_from_json(text: str) -> FunctionConfig:
    data: dict[str, Any] = json.loads(text)
    # Keep only known fields, so that a row written by a newer version still loads.
    known = {f.name for f in dataclasses.fields(FunctionConfig)}
    fields = {k: v for k, v in data.items() if k in known}
    fields["architectures"] = tuple(fields.get("architectures", ("x86_64",)))
    for key in ("subnet_ids", "security_group_ids"):
        fields[key] = tuple(fields.get(key, ()))
    return FunctionConfig(**fields)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _acquire_dir_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"registry state {path.parent} is in use: another lambdalet process holds {path};"
            " stop it or choose another state directory"
        ) from None
    return fd


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), never implicit.
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ConfigError(f"{path}: SQLite refused WAL journal mode (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")  # a committed function survives power loss
        conn.execute("PRAGMA busy_timeout=5000")
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    os.chmod(path, 0o600)
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if exists is None:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        (version,) = conn.execute("SELECT version FROM schema_version").fetchone()
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{path} has registry schema {version}, newer than this lambdalet"
                f" understands ({SCHEMA_VERSION}); upgrade lambdalet"
            )
        if version < 2:
            conn.execute(_SCHEMA_2)
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
