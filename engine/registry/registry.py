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
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from engine.registry.codezip import extract_zip, fsync_dir
from engine.errors import (
    ApiError,
    ConfigError,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from engine.registry.layer_tree import merge_key, merge_layers, tree_size
from engine.model.layers import (
    LayerVersion,
    PublishLayerRequest,
    layer_not_found,
    parse_function_layers,
)
from engine.model.function import FunctionConfig, LayerRef, function_arn
from engine.registry.packaging import precompile_python
from engine.model.requests import (
    MAX_UNZIPPED_BYTES,
    CodeUpdate,
    ConfigurationChanges,
    CreateFunctionRequest,
    validate_max_items,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 3
DB_NAME: Final = "registry.sqlite3"
LOCK_NAME: Final = "registry.lock"
CODE_DIR_NAME: Final = "code"
OPT_DIR_NAME: Final = "opt"  # merged layer trees, mounted at /opt: opt/<merge key>/
# Kinds of documents that belong to one function (id "<name>" or "<name>/<qualifier>").
FUNCTION_DOCUMENT_KINDS: Final = ("alias", "concurrency", "provisioned", "url", "tags", "policy")
MSG_UPDATE_IN_PROGRESS: Final = (
    "The operation cannot be performed at this time. An update is in progress for resource: "
)
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
# Schema 3: published versions (immutable configurations) and layer versions.
# `functions.last_version` keeps numbering monotonic after a version is deleted;
# `layer_versions.deleted` keeps a deleted layer's code while functions still use it.
_SCHEMA_3: Final = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    code_digest TEXT NOT NULL,
    config_json TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS versions_by_code_digest ON versions (code_digest);
CREATE TABLE IF NOT EXISTS layer_versions (
    layer TEXT NOT NULL,
    version INTEGER NOT NULL,
    code_digest TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    doc_json TEXT NOT NULL,
    PRIMARY KEY (layer, version)
);
CREATE INDEX IF NOT EXISTS layer_versions_by_code_digest ON layer_versions (code_digest);
ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
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
        self._opt_root = state_dir / OPT_DIR_NAME
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
            layers = self._resolve_layers(req.layers, keep=())
            with self._opt_tree(layers, code_digest=digest) as opt_key:
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
                    layers=layers,
                    opt_key=opt_key,
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
                    if req.tags:
                        self._put_doc(conn, "tags", req.name, dict(req.tags))
        return config

    def update_code(self, name: str, update: CodeUpdate, *, now: datetime) -> FunctionConfig:
        last_modified = format_last_modified(now)
        with self._lock:
            _check_revision(self._load(name), update.revision_id)  # before the costly unzip
        digest = hashlib.sha256(update.zip_bytes).hexdigest()
        with self._staged(digest):
            self._store_code(digest, update.zip_bytes)
            with self._lock:
                layers = self._load(name).layers
            self._check_unzipped_size(digest, layers)
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
        with self._lock:
            before = self._load(name)
        _check_revision(before, changes.revision_id)
        layers = None
        if changes.layers is not None:
            layers = self._resolve_layers(changes.layers, keep=before.layers)
        with (
            self._opt_tree(layers or (), code_digest=before.code_digest) as opt_key,
            self._lock,
            self._transaction(),
        ):
            current = self._load(name)
            _check_revision(current, changes.revision_id)
            if layers is not None and current.code_digest != before.code_digest:
                # The size check above measured other code: let the caller retry.
                raise ResourceConflictException(
                    MSG_UPDATE_IN_PROGRESS + function_arn(self._region, name)
                )
            layer_fields = {} if layers is None else {"layers": layers, "opt_key": opt_key}
            config = current.replace(
                **changes.replacements(),
                **layer_fields,
                last_modified=last_modified,
                revision_id=str(uuid.uuid4()),
            )
            self._save(config)
        if current.opt_key and current.opt_key != config.opt_key:
            self._collect_opt(current.opt_key)
        return config

    def delete(self, name: str) -> FunctionConfig:
        """Remove the function, its versions and every record about it (aliases, URLs,
        concurrency, tags, policies); its code goes too unless something else shares it."""
        with self._lock, self._transaction() as conn:
            config = self._load(name)
            versions = [
                _config_from_json(row[0])
                for row in conn.execute(
                    "SELECT config_json FROM versions WHERE name = ?", (name,)
                ).fetchall()
            ]
            conn.execute("DELETE FROM functions WHERE name = ?", (name,))
            conn.execute("DELETE FROM versions WHERE name = ?", (name,))
            for kind in FUNCTION_DOCUMENT_KINDS:
                conn.execute(
                    "DELETE FROM documents WHERE kind = ? AND (id = ? OR substr(id, 1, ?) = ?)",
                    (kind, name, len(name) + 1, name + "/"),
                )
        for each in (config, *versions):
            self._collect(each.code_digest)
            for ref in each.layers:
                self._collect(ref.digest)
            if each.opt_key:
                self._collect_opt(each.opt_key)
        return config

    # --- Published versions --------------------------------------------------------------

    def publish_version(
        self,
        name: str,
        *,
        code_sha256: str | None,
        revision_id: str | None,
        description: str | None,
        now: datetime,
    ) -> FunctionConfig:
        """Snapshot $LATEST as the next version; an unchanged $LATEST gives the last one."""
        with self._lock, self._transaction() as conn:
            current = self._load(name)
            _check_revision(current, revision_id)
            if code_sha256 is not None and code_sha256 != current.code_sha256:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in "
                    f"$LATEST ({current.code_sha256}). Please try again with the CodeSHA256 in "
                    "$LATEST."
                )
            row = conn.execute(
                "SELECT config_json FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
            if row is not None:
                last = _config_from_json(row[0])
                if _snapshot(last) == _snapshot(current):
                    return last
            (number,) = conn.execute(
                "SELECT last_version + 1 FROM functions WHERE name = ?", (name,)
            ).fetchone()
            version = current.replace(
                version=str(number),
                description=current.description if description is None else description,
                last_modified=format_last_modified(now),
                revision_id=str(uuid.uuid4()),
            )
            conn.execute(
                "INSERT INTO versions (name, version, code_digest, config_json)"
                " VALUES (?, ?, ?, ?)",
                (name, number, version.code_digest, _config_to_json(version)),
            )
            conn.execute("UPDATE functions SET last_version = ? WHERE name = ?", (number, name))
        return version

    def get_version(self, name: str, version: str) -> FunctionConfig:
        """A published version ("1", "2", ...); ResourceNotFoundException if there is none."""
        with self._lock:
            row = None
            if version.isdigit():
                row = self._conn.execute(
                    "SELECT config_json FROM versions WHERE name = ? AND version = ?",
                    (name, int(version)),
                ).fetchone()
            if row is None:
                self._load(name)  # an unknown function is reported as such
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(self._region, name, version)}"
                )
        return _config_from_json(row[0])

    def versions(self, name: str) -> builtins.list[FunctionConfig]:
        """$LATEST, then every published version in order (ListVersionsByFunction)."""
        with self._lock:
            latest = self._load(name)
            rows = self._conn.execute(
                "SELECT config_json FROM versions WHERE name = ? ORDER BY version", (name,)
            ).fetchall()
        return [latest, *(_config_from_json(row[0]) for row in rows)]

    def delete_version(self, name: str, version: str) -> FunctionConfig:
        config = self.get_version(name, version)
        with self._lock, self._transaction() as conn:
            conn.execute(
                "DELETE FROM versions WHERE name = ? AND version = ?", (name, int(version))
            )
            for kind in ("provisioned", "url", "policy"):
                conn.execute(
                    "DELETE FROM documents WHERE kind = ? AND id = ?", (kind, f"{name}/{version}")
                )
        self._collect(config.code_digest)
        for ref in config.layers:
            self._collect(ref.digest)
        if config.opt_key:
            self._collect_opt(config.opt_key)
        return config

    # --- Layers ----------------------------------------------------------------------------

    def publish_layer_version(self, req: PublishLayerRequest, *, now: datetime) -> LayerVersion:
        digest = hashlib.sha256(req.zip_bytes).hexdigest()
        with self._staged(digest):
            self._store_code(digest, req.zip_bytes)
            unzipped = tree_size(self._code_root / digest)
            with self._lock, self._transaction() as conn:
                (last,) = conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM layer_versions WHERE layer = ?",
                    (req.layer,),
                ).fetchone()
                layer = LayerVersion(
                    layer=req.layer,
                    version=last + 1,
                    description=req.description,
                    created=format_last_modified(now),
                    compatible_runtimes=req.compatible_runtimes,
                    compatible_architectures=req.compatible_architectures,
                    license_info=req.license_info,
                    code_digest=digest,
                    code_sha256=_aws_sha256(req.zip_bytes),
                    code_size=len(req.zip_bytes),
                    unzipped_size=unzipped,
                )
                conn.execute(
                    "INSERT INTO layer_versions (layer, version, code_digest, doc_json)"
                    " VALUES (?, ?, ?, ?)",
                    (layer.layer, layer.version, digest, json.dumps(layer.to_doc())),
                )
        return layer

    def get_layer_version(self, layer: str, version: int) -> LayerVersion:
        with self._lock:
            found = self._load_layer(layer, version)
        if found is None:
            raise layer_not_found(self._region, layer, version)
        return found

    def layer_versions(self, layer: str | None = None) -> builtins.list[LayerVersion]:
        """Live (not deleted) layer versions, by layer then version; one layer's if named."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc_json FROM layer_versions WHERE deleted = 0 AND (? IS NULL OR"
                " layer = ?) ORDER BY layer, version",
                (layer, layer),
            ).fetchall()
        return [LayerVersion.from_doc(json.loads(row[0])) for row in rows]

    def delete_layer_version(self, layer: str, version: int) -> None:
        """Idempotent, as AWS's. Functions already using the version keep working: the
        record stays (marked deleted) and the code stays until nothing references it."""
        with self._lock, self._transaction() as conn:
            found = self._load_layer(layer, version)
            if found is None:
                return
            conn.execute(
                "UPDATE layer_versions SET deleted = 1 WHERE layer = ? AND version = ?",
                (layer, version),
            )
        self._collect(found.code_digest)

    def layer_zip(self, layer: LayerVersion) -> Path:
        return self._code_root / f"{_checked_digest(layer.code_digest)}.zip"

    def opt_dir(self, config: FunctionConfig) -> Path | None:
        """The merged layer tree to mount read-only at /opt (None: no layers)."""
        if not config.opt_key:
            return None
        return self._opt_root / _checked_digest(config.opt_key)

    # --- Records about functions (aliases, URLs, concurrency, tags, policies) --------------

    def get_document(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT doc_json FROM documents WHERE kind = ? AND id = ?", (kind, doc_id)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put_function_document(
        self, kind: str, name: str, key: str | None, doc: dict[str, Any]
    ) -> None:
        """Store a record that belongs to function `name` (deleted with it), in the same
        transaction that checks the function still exists."""
        with self._lock, self._transaction() as conn:
            self._load(name)
            self._put_doc(conn, kind, name if key is None else f"{name}/{key}", doc)

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

    def documents(self, kind: str, prefix: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every document of `kind`; only ids equal to `prefix` or under `prefix/` if given."""
        with self._lock:
            if prefix is None:
                rows = self._conn.execute(
                    "SELECT doc_json FROM documents WHERE kind = ? ORDER BY id", (kind,)
                ).fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT doc_json FROM documents WHERE kind = ? AND (id = ? OR"
                    " substr(id, 1, ?) = ?) ORDER BY id",
                    (kind, prefix, len(prefix) + 1, prefix + "/"),
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
        """A code blob is in use by a function, a version or a live layer version, or (as a
        layer) by a configuration that names it; merge keys live in configurations too."""
        row = self._conn.execute(
            "SELECT 1 FROM functions WHERE code_digest = ?1"
            " UNION ALL SELECT 1 FROM versions WHERE code_digest = ?1"
            " UNION ALL SELECT 1 FROM layer_versions WHERE code_digest = ?1 AND deleted = 0"
            " UNION ALL SELECT 1 FROM functions WHERE instr(config_json, ?1) > 0"
            " UNION ALL SELECT 1 FROM versions WHERE instr(config_json, ?1) > 0 LIMIT 1",
            (digest,),
        ).fetchone()
        return row is not None

    def _put_doc(self, conn: sqlite3.Connection, kind: str, doc_id: str, doc: Any) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO documents (kind, id, doc_json) VALUES (?, ?, ?)",
            (kind, doc_id, json.dumps(doc, sort_keys=True)),
        )

    def _load_layer(self, layer: str, version: int) -> LayerVersion | None:
        row = self._conn.execute(
            "SELECT doc_json FROM layer_versions WHERE layer = ? AND version = ? AND deleted = 0",
            (layer, version),
        ).fetchone()
        return None if row is None else LayerVersion.from_doc(json.loads(row[0]))

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

    # --- Layers in a function: resolution, size, the merged /opt tree ------------------------

    def _resolve_layers(
        self, arns: Sequence[str], *, keep: Sequence[LayerRef]
    ) -> tuple[LayerRef, ...]:
        """Layer version ARNs → refs. A deleted version is accepted only where the function
        already uses it (AWS keeps such functions working)."""
        pairs = parse_function_layers(list(arns), region=self._region)
        kept = {ref.arn: ref for ref in keep}
        refs = []
        with self._lock:
            for (layer, version), arn in zip(pairs, arns, strict=True):
                found = self._load_layer(layer, version)
                if found is not None:
                    refs.append(
                        LayerRef(arn=arn, code_size=found.code_size, digest=found.code_digest)
                    )
                elif arn in kept:
                    refs.append(kept[arn])
                else:
                    raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
        return tuple(refs)

    def _check_unzipped_size(self, code_digest: str, layers: Sequence[LayerRef]) -> None:
        if not layers:
            return  # the code alone was checked when it was unzipped
        total = tree_size(self._code_root / code_digest) + sum(
            tree_size(self._code_root / ref.digest) for ref in layers
        )
        if total > MAX_UNZIPPED_BYTES:
            raise InvalidParameterValueException(
                "Function code combined with layers exceeds the maximum allowed size of "
                f"{MAX_UNZIPPED_BYTES} bytes. The actual size is {total} bytes."
            )

    @contextlib.contextmanager
    def _opt_tree(self, layers: Sequence[LayerRef], *, code_digest: str) -> Iterator[str]:
        """Check the 250 MB budget, build (or reuse) the merged /opt tree of `layers` and
        yield its key, pinned against collection until the caller's row is written."""
        if not layers:
            yield ""
            return
        self._check_unzipped_size(code_digest, layers)
        key = merge_key([ref.digest for ref in layers])
        with self._staged(key, collect=self._collect_opt):
            self._opt_root.mkdir(mode=0o755, exist_ok=True)
            merge_layers([self._code_root / ref.digest for ref in layers], self._opt_root / key)
            yield key

    def _collect_opt(self, key: str) -> None:
        with self._lock:
            if self._closed or not key or key in self._staging or self._is_referenced(key):
                return
            trash = self._set_aside(self._opt_root / key)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    @contextlib.contextmanager
    def _staged(self, digest: str, collect: Callable[[str], None] | None = None) -> Iterator[None]:
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
            (collect or self._collect)(digest)

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
            configs = [
                _config_from_json(row[0])
                for row in self._conn.execute(
                    "SELECT config_json FROM functions UNION ALL SELECT config_json FROM versions"
                ).fetchall()
            ]
            rows = self._conn.execute(
                "SELECT code_digest FROM layer_versions WHERE deleted = 0"
            ).fetchall()
        referenced = {row[0] for row in rows}
        opt_keys = {c.opt_key: c.layers for c in configs if c.opt_key}
        for config in configs:
            referenced.add(config.code_digest)
            referenced.update(ref.digest for ref in config.layers)
        for child in self._code_root.iterdir():
            stem = child.name.removesuffix(".zip")
            if child.name.startswith("."):
                _remove(child)  # an interrupted extraction, upload or deletion
            elif _DIGEST_RE.fullmatch(stem) and stem not in referenced:
                _remove(child)  # its row never committed, or its deletion was cut short
        self._recover_opt(opt_keys)
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

    def _recover_opt(self, opt_keys: dict[str, tuple[LayerRef, ...]]) -> None:
        """Drop merged /opt trees nothing uses; rebuild missing ones from their layers."""
        if self._opt_root.is_dir():
            for child in self._opt_root.iterdir():
                if child.name not in opt_keys:
                    _remove(child)
        for key, layers in opt_keys.items():
            if (self._opt_root / key).is_dir():
                continue
            logger.warning("rebuilding the /opt tree %s from its layers", key)
            try:
                self._opt_root.mkdir(mode=0o755, exist_ok=True)
                merge_layers([self._code_root / ref.digest for ref in layers], self._opt_root / key)
            except (OSError, ValueError) as exc:
                logger.error("cannot rebuild the /opt tree %s: %s", key, exc)


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
    fields["layers"] = tuple(LayerRef(**ref) for ref in fields.get("layers", ()))
    return FunctionConfig(**fields)


def _snapshot(config: FunctionConfig) -> dict[str, Any]:
    """What a published version freezes: everything but identity and bookkeeping."""
    data = dataclasses.asdict(config)
    for key in ("version", "revision_id", "last_modified", "description"):
        del data[key]
    return data


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
        if version < 3:
            for statement in _SCHEMA_3.split(";"):
                if statement.strip():
                    conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
