"""The registry's SQLite file: one process at a time, WAL with FULL sync, migrated in place; its
rows as typed records.

Thread-safety: one connection behind `lock`. Row methods must be called with `lock` held, and
writes inside `transaction()`; `Registry` composes them into operations. Cleanup: `close()`
releases the connection and the directory lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from engine.errors import ConfigError
from engine.model.function import FunctionConfig, LayerRef
from engine.model.layers import LayerVersion

SCHEMA_VERSION: Final = 5
DB_NAME: Final = "registry.sqlite3"
LOCK_NAME: Final = "registry.lock"
EVENT_INVOKE_KIND: Final = "event-invoke"  # EventInvokeConfig, id "<name>/<qualifier>"
# Event source mappings, id the UUID, and their tags. Not a function's documents: a mapping
# outlives its function, as on AWS (it fails until a function of that name exists again).
EVENT_SOURCE_MAPPING_KIND: Final = "event-source-mapping"
EVENT_SOURCE_MAPPING_TAGS_KIND: Final = "event-source-mapping-tags"
# Kinds of documents that belong to one function (id "<name>" or "<name>/<qualifier>").
FUNCTION_DOCUMENT_KINDS: Final = (
    "alias", "concurrency", "provisioned", "url", "tags", "policy", EVENT_INVOKE_KIND,
)  # fmt: skip
# Kinds of documents that belong to one version or alias (id "<name>/<qualifier>"): deleted
# with it.
QUALIFIER_DOCUMENT_KINDS: Final = ("provisioned", "url", "policy", EVENT_INVOKE_KIND)
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
# Schema 4: configurations carry LoggingConfig (log_format, the two levels, log_group). They are
# JSON documents, and a row without these fields loads with the defaults (Text, the default
# group), so no row changes; the version moves so that an older lambdalet, which drops fields
# it does not know, refuses the file instead of rewriting rows without their LoggingConfig.
# Schema 5: configurations carry SnapStart's ApplyOn (`snap_start`), $LATEST's and each published
# version's (the value it was published with). A row without it loads as "None", what AWS shows
# for a function that never set SnapStart; as with schema 4, no row changes, and the version moves
# so that an older lambdalet refuses the file rather than rewrite rows without their SnapStart.


class Store:
    """The SQLite file of `state_dir`, held open (and locked against other processes)."""

    def __init__(self, state_dir: Path) -> None:
        self.lock = threading.Lock()
        self.closed = False
        self._lock_fd = _acquire_dir_lock(state_dir / LOCK_NAME)
        try:
            self.conn = _connect(state_dir / DB_NAME)
        except BaseException:
            os.close(self._lock_fd)
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.conn.close()
            os.close(self._lock_fd)  # releases the flock

    # --- Functions and versions (call with `lock` held) ----------------------------------

    def load_function(self, name: str) -> FunctionConfig | None:
        row = self.conn.execute(
            "SELECT config_json FROM functions WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else config_from_json(row[0])

    def function_exists(self, name: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM functions WHERE name = ?", (name,)).fetchone()
        return row is not None

    def save_function(self, config: FunctionConfig) -> None:
        self.conn.execute(
            "UPDATE functions SET code_digest = ?, revision_id = ?, config_json = ? WHERE name = ?",
            (config.code_digest, config.revision_id, config_to_json(config), config.name),
        )

    def functions_after(self, marker: str, limit: int) -> list[FunctionConfig]:
        rows = self.conn.execute(
            "SELECT config_json FROM functions WHERE name > ? ORDER BY name LIMIT ?",
            (marker, limit),
        ).fetchall()
        return [config_from_json(row[0]) for row in rows]

    def all_functions(self) -> list[FunctionConfig]:
        rows = self.conn.execute("SELECT config_json FROM functions ORDER BY name").fetchall()
        return [config_from_json(row[0]) for row in rows]

    def versions_of(self, name: str) -> list[FunctionConfig]:
        rows = self.conn.execute(
            "SELECT config_json FROM versions WHERE name = ? ORDER BY version", (name,)
        ).fetchall()
        return [config_from_json(row[0]) for row in rows]

    def insert_function(self, config: FunctionConfig) -> bool:
        """False if a function of that name exists."""
        try:
            self.conn.execute(
                "INSERT INTO functions (name, code_digest, revision_id, config_json)"
                " VALUES (?, ?, ?, ?)",
                (config.name, config.code_digest, config.revision_id, config_to_json(config)),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def delete_function(self, name: str) -> None:
        """The function's row and its versions' (its documents: `delete_function_documents`)."""
        self.conn.execute("DELETE FROM functions WHERE name = ?", (name,))
        self.conn.execute("DELETE FROM versions WHERE name = ?", (name,))

    def load_version(self, name: str, number: int) -> FunctionConfig | None:
        row = self.conn.execute(
            "SELECT config_json FROM versions WHERE name = ? AND version = ?", (name, number)
        ).fetchone()
        return None if row is None else config_from_json(row[0])

    def last_published(self, name: str) -> FunctionConfig | None:
        row = self.conn.execute(
            "SELECT config_json FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1",
            (name,),
        ).fetchone()
        return None if row is None else config_from_json(row[0])

    def next_version_number(self, name: str) -> int:
        """One more than any version `name` ever had (numbers are never reused)."""
        (number,) = self.conn.execute(
            "SELECT last_version + 1 FROM functions WHERE name = ?", (name,)
        ).fetchone()
        return int(number)

    def insert_version(self, version: FunctionConfig) -> None:
        number = int(version.version)
        self.conn.execute(
            "INSERT INTO versions (name, version, code_digest, config_json) VALUES (?, ?, ?, ?)",
            (version.name, number, version.code_digest, config_to_json(version)),
        )
        self.conn.execute(
            "UPDATE functions SET last_version = ? WHERE name = ?", (number, version.name)
        )

    def delete_version(self, name: str, number: int) -> None:
        self.conn.execute("DELETE FROM versions WHERE name = ? AND version = ?", (name, number))

    def every_configuration(self) -> list[FunctionConfig]:
        """$LATEST of every function and every published version (crash recovery)."""
        rows = self.conn.execute(
            "SELECT config_json FROM functions UNION ALL SELECT config_json FROM versions"
        ).fetchall()
        return [config_from_json(row[0]) for row in rows]

    def is_referenced(self, digest: str) -> bool:
        """A code blob is in use by a function, a version or a live layer version, or (as a
        layer) by a configuration that names it; merge keys live in configurations too."""
        row = self.conn.execute(
            "SELECT 1 FROM functions WHERE code_digest = ?1"
            " UNION ALL SELECT 1 FROM versions WHERE code_digest = ?1"
            " UNION ALL SELECT 1 FROM layer_versions WHERE code_digest = ?1 AND deleted = 0"
            " UNION ALL SELECT 1 FROM functions WHERE instr(config_json, ?1) > 0"
            " UNION ALL SELECT 1 FROM versions WHERE instr(config_json, ?1) > 0 LIMIT 1",
            (digest,),
        ).fetchone()
        return row is not None

    # --- Layer versions (call with `lock` held) -------------------------------------------

    def load_layer(self, layer: str, version: int) -> LayerVersion | None:
        row = self.conn.execute(
            "SELECT doc_json FROM layer_versions WHERE layer = ? AND version = ? AND deleted = 0",
            (layer, version),
        ).fetchone()
        return None if row is None else LayerVersion.from_doc(json.loads(row[0]))

    def layer_versions(self, layer: str | None) -> list[LayerVersion]:
        """Live (not deleted) layer versions, by layer then version; one layer's if named."""
        rows = self.conn.execute(
            "SELECT doc_json FROM layer_versions WHERE deleted = 0 AND (? IS NULL OR"
            " layer = ?) ORDER BY layer, version",
            (layer, layer),
        ).fetchall()
        return [LayerVersion.from_doc(json.loads(row[0])) for row in rows]

    def last_layer_version(self, layer: str) -> int:
        """The highest version number `layer` ever had, deleted ones included (0: none)."""
        (last,) = self.conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM layer_versions WHERE layer = ?", (layer,)
        ).fetchone()
        return int(last)

    def insert_layer(self, layer: LayerVersion) -> None:
        self.conn.execute(
            "INSERT INTO layer_versions (layer, version, code_digest, doc_json)"
            " VALUES (?, ?, ?, ?)",
            (layer.layer, layer.version, layer.code_digest, json.dumps(layer.to_doc())),
        )

    def mark_layer_deleted(self, layer: str, version: int) -> None:
        self.conn.execute(
            "UPDATE layer_versions SET deleted = 1 WHERE layer = ? AND version = ?",
            (layer, version),
        )

    def live_layer_digests(self) -> set[str]:
        rows = self.conn.execute(
            "SELECT code_digest FROM layer_versions WHERE deleted = 0"
        ).fetchall()
        return {row[0] for row in rows}

    # --- Documents (call with `lock` held) ----------------------------------------------

    def get_document(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT doc_json FROM documents WHERE kind = ? AND id = ?", (kind, doc_id)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put_document(self, kind: str, doc_id: str, doc: Any) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO documents (kind, id, doc_json) VALUES (?, ?, ?)",
            (kind, doc_id, json.dumps(doc, sort_keys=True)),
        )

    def delete_document(self, kind: str, doc_id: str) -> None:
        self.conn.execute("DELETE FROM documents WHERE kind = ? AND id = ?", (kind, doc_id))

    def delete_function_documents(self, name: str) -> None:
        """Every record about function `name` and its versions and aliases."""
        for kind in FUNCTION_DOCUMENT_KINDS:
            self.conn.execute(
                "DELETE FROM documents WHERE kind = ? AND (id = ? OR substr(id, 1, ?) = ?)",
                (kind, name, len(name) + 1, name + "/"),
            )

    def documents(self, kind: str, prefix: str | None = None) -> list[dict[str, Any]]:
        """Every document of `kind`; only ids equal to `prefix` or under `prefix/` if given."""
        if prefix is None:
            rows = self.conn.execute(
                "SELECT doc_json FROM documents WHERE kind = ? ORDER BY id", (kind,)
            ).fetchall()
        else:
            rows = self.conn.execute(
                "SELECT doc_json FROM documents WHERE kind = ? AND (id = ? OR"
                " substr(id, 1, ?) = ?) ORDER BY id",
                (kind, prefix, len(prefix) + 1, prefix + "/"),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]


# --- Row codecs ------------------------------------------------------------------------------


def config_to_json(config: FunctionConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def config_from_json(text: str) -> FunctionConfig:
    data: dict[str, Any] = json.loads(text)
    # Keep only known fields, so that a row written by a newer version still loads.
    known = {f.name for f in dataclasses.fields(FunctionConfig)}
    fields = {k: v for k, v in data.items() if k in known}
    fields["architectures"] = tuple(fields.get("architectures", ("x86_64",)))
    for key in ("subnet_ids", "security_group_ids"):
        fields[key] = tuple(fields.get(key, ()))
    fields["layers"] = tuple(LayerRef(**ref) for ref in fields.get("layers", ()))
    return FunctionConfig(**fields)


# --- Opening the file ------------------------------------------------------------------------


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
