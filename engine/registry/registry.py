"""Durable control-plane state: function configurations in SQLite, code as content-addressed blobs.

Layout of `state_dir` (0700): `registry.sqlite3` (WAL) and `registry.lock`
(`engine.registry.store`), `code/` and `opt/` (`engine.registry.blobs`). `Registry` composes the
two into the operations the control plane needs; `engine.registry.recovery` reconciles them
after a crash, at open.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from engine.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from engine.model.arns import function_arn
from engine.model.function import FunctionConfig, LayerRef
from engine.model.function_requests import CodeUpdate, ConfigurationChanges, CreateFunctionRequest
from engine.model.layers import (
    LayerVersion,
    PublishLayerRequest,
    layer_not_found,
    parse_function_layers,
)
from engine.model.limits import MAX_UNZIPPED_BYTES
from engine.model.names import validate_max_items
from engine.model.timestamps import format_last_modified
from engine.registry.blobs import Blobs
from engine.registry.layer_tree import merge_key, tree_size
from engine.registry.recovery import recover
from engine.registry.store import QUALIFIER_DOCUMENT_KINDS, Store

MSG_UPDATE_IN_PROGRESS: Final = (
    "The operation cannot be performed at this time. An update is in progress for resource: "
)
MSG_REVISION_MISMATCH: Final = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class Registry:
    """Every function's $LATEST configuration and code, surviving restarts.

    Thread-safe: one SQLite connection behind a lock. Unzipping runs outside the lock, so a
    large upload does not stall reads; digests being staged are pinned against garbage
    collection until their row commits or the call fails.
    Cleanup: `close()` releases the connection and the directory lock.
    """

    def __init__(self, state_dir: Path, *, region: str, durable: bool = True) -> None:
        self._region = region
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(state_dir, 0o700)  # mkdir's mode is masked by the umask and skipped if present
        self._store = Store(state_dir)
        try:
            self._blobs = Blobs(state_dir, store=self._store, durable=durable)
            recover(self._store, self._blobs)
        except BaseException:
            self.close()
            raise

    @property
    def region(self) -> str:
        return self._region

    # --- Reads ---------------------------------------------------------------------------

    def get(self, name: str) -> FunctionConfig:
        with self._store.lock:
            return self._load(name)

    def page_functions(
        self, *, marker: str | None = None, max_items: int = 50
    ) -> tuple[list[FunctionConfig], str | None]:
        """One page sorted by name, and the NextMarker for the page after it (None at the end)."""
        validate_max_items(max_items)
        with self._store.lock:
            configs = self._store.functions_after(marker or "", max_items + 1)
        if len(configs) > max_items:
            return configs[:max_items], configs[max_items - 1].name
        return configs, None

    def all_functions(self) -> list[FunctionConfig]:
        """Every function's $LATEST (the network needs to know which subnets are in use)."""
        with self._store.lock:
            return self._store.all_functions()

    def code_dir(self, config: FunctionConfig) -> Path:
        """The extracted package, to mount read-only at /var/task."""
        return self._blobs.tree(config.code_digest)

    def code_zip(self, config: FunctionConfig) -> Path:
        """The package as uploaded (GetFunction's Code.Location serves it)."""
        return self._blobs.zip(config.code_digest)

    def opt_dir(self, config: FunctionConfig) -> Path | None:
        """The merged layer tree to mount read-only at /opt (None: no layers)."""
        if not config.opt_key:
            return None
        return self._blobs.opt_tree(config.opt_key)

    # --- Writes --------------------------------------------------------------------------

    def create(self, req: CreateFunctionRequest, *, now: datetime) -> FunctionConfig:
        """Store the code (validated and unzipped first), then insert the row in one transaction."""
        last_modified = format_last_modified(now)
        store = self._store
        with store.lock:
            if store.function_exists(req.name):
                raise _conflict(req.name)  # before the costly unzip
        digest = hashlib.sha256(req.zip_bytes).hexdigest()
        with self._blobs.staged(digest):
            self._blobs.store_code(digest, req.zip_bytes)
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
                    environment_set=req.environment_set or bool(req.environment),
                    architectures=req.architectures,
                    subnet_ids=req.vpc.subnet_ids if req.vpc else (),
                    security_group_ids=req.vpc.security_group_ids if req.vpc else (),
                    vpc_id=req.vpc.vpc_id if req.vpc else "",
                    vpc_config_set=req.vpc is not None,
                    code_digest=digest,
                    code_sha256=_aws_sha256(req.zip_bytes),
                    code_size=len(req.zip_bytes),
                    last_modified=last_modified,
                    revision_id=str(uuid.uuid4()),
                    layers=layers,
                    opt_key=opt_key,
                    dead_letter_arn=req.dead_letter_arn,
                    **req.logging.fields(),
                    snap_start=req.snap_start,
                )
                with store.lock, store.transaction():
                    if not store.insert_function(config):
                        raise _conflict(req.name)  # lost a race with another create
                    if req.tags:
                        store.put_document("tags", req.name, dict(req.tags))
        return config

    def update_code(self, name: str, update: CodeUpdate, *, now: datetime) -> FunctionConfig:
        last_modified = format_last_modified(now)
        store = self._store
        with store.lock:
            _check_revision(self._load(name), update.revision_id)  # before the costly unzip
        digest = hashlib.sha256(update.zip_bytes).hexdigest()
        with self._blobs.staged(digest):
            self._blobs.store_code(digest, update.zip_bytes)
            with store.lock:
                layers = self._load(name).layers
            self._check_unzipped_size(digest, layers)
            with store.lock, store.transaction():
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
                store.save_function(config)
        if current.code_digest != digest:
            self._blobs.collect(current.code_digest)
        return config

    def update_configuration(
        self, name: str, changes: ConfigurationChanges, *, now: datetime
    ) -> FunctionConfig:
        last_modified = format_last_modified(now)
        store = self._store
        with store.lock:
            before = self._load(name)
        _check_revision(before, changes.revision_id)
        layers = None
        if changes.layers is not None:
            layers = self._resolve_layers(changes.layers, keep=before.layers)
        with (
            self._opt_tree(layers or (), code_digest=before.code_digest) as opt_key,
            store.lock,
            store.transaction(),
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
                **changes.replacements(current),
                **layer_fields,
                last_modified=last_modified,
                revision_id=str(uuid.uuid4()),
            )
            store.save_function(config)
        if current.opt_key and current.opt_key != config.opt_key:
            self._blobs.collect_opt(current.opt_key)
        return config

    def delete(self, name: str) -> FunctionConfig:
        """Remove the function, its versions and every record about it (aliases, URLs,
        concurrency, tags, policies); its code goes too unless something else shares it."""
        store = self._store
        with store.lock, store.transaction():
            config = self._load(name)
            versions = store.versions_of(name)
            store.delete_function(name)
            store.delete_function_documents(name)
        for each in (config, *versions):
            self._collect_all(each)
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
        store = self._store
        with store.lock, store.transaction():
            current = self._load(name)
            _check_revision(current, revision_id)
            if code_sha256 is not None and code_sha256 != current.code_sha256:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in "
                    f"$LATEST ({current.code_sha256}). Please try again with the CodeSHA256 in "
                    "$LATEST."
                )
            last = store.last_published(name)
            if last is not None and _unchanged_since(last, current):
                return last
            version = current.replace(
                version=str(store.next_version_number(name)),
                description=current.description if description is None else description,
                last_modified=format_last_modified(now),
                revision_id=str(uuid.uuid4()),
                published_from=current.revision_id,
            )
            store.insert_version(version)
        return version

    def get_version(self, name: str, version: str) -> FunctionConfig:
        """A published version ("1", "2", ...); ResourceNotFoundException if there is none."""
        with self._store.lock:
            found = self._store.load_version(name, int(version)) if version.isdigit() else None
            if found is None:
                self._load(name)  # an unknown function is reported as such
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(self._region, name, version)}"
                )
        return found

    def versions(self, name: str) -> list[FunctionConfig]:
        """$LATEST, then every published version in order (ListVersionsByFunction)."""
        with self._store.lock:
            latest = self._load(name)
            published = self._store.versions_of(name)
        return [latest, *published]

    def delete_version(self, name: str, version: str) -> FunctionConfig:
        config = self.get_version(name, version)
        store = self._store
        with store.lock, store.transaction():
            store.delete_version(name, int(version))
            for kind in QUALIFIER_DOCUMENT_KINDS:
                store.delete_document(kind, f"{name}/{version}")
        self._collect_all(config)
        return config

    # --- Layers ----------------------------------------------------------------------------

    def publish_layer_version(self, req: PublishLayerRequest, *, now: datetime) -> LayerVersion:
        digest = hashlib.sha256(req.zip_bytes).hexdigest()
        store = self._store
        with self._blobs.staged(digest):
            self._blobs.store_code(digest, req.zip_bytes)
            unzipped = tree_size(self._blobs.tree(digest))
            with store.lock, store.transaction():
                layer = LayerVersion(
                    layer=req.layer,
                    version=store.last_layer_version(req.layer) + 1,
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
                store.insert_layer(layer)
        return layer

    def get_layer_version(self, layer: str, version: int) -> LayerVersion:
        with self._store.lock:
            found = self._store.load_layer(layer, version)
        if found is None:
            raise layer_not_found(self._region, layer, version)
        return found

    def layer_versions(self, layer: str | None = None) -> list[LayerVersion]:
        """Live (not deleted) layer versions, by layer then version; one layer's if named."""
        with self._store.lock:
            return self._store.layer_versions(layer)

    def delete_layer_version(self, layer: str, version: int) -> None:
        """Idempotent, as AWS's. Functions already using the version keep working: the
        record stays (marked deleted) and the code stays until nothing references it."""
        store = self._store
        with store.lock, store.transaction():
            found = store.load_layer(layer, version)
            if found is None:
                return
            store.mark_layer_deleted(layer, version)
        self._blobs.collect(found.code_digest)

    def layer_zip(self, layer: LayerVersion) -> Path:
        return self._blobs.zip(layer.code_digest)

    # --- Documents: records about functions (aliases, URLs, concurrency, tags, policies) ----
    # --- and about other resources (VPCs, attached hosts) -----------------------------------

    def get_document(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        with self._store.lock:
            return self._store.get_document(kind, doc_id)

    def put_function_document(
        self, kind: str, name: str, key: str | None, doc: dict[str, Any]
    ) -> None:
        """Store a record that belongs to function `name` (deleted with it), in the same
        transaction that checks the function still exists."""
        with self._store.lock, self._store.transaction():
            self._load(name)
            self._store.put_document(kind, name if key is None else f"{name}/{key}", doc)

    def put_document(self, kind: str, doc_id: str, doc: dict[str, Any]) -> None:
        with self._store.lock, self._store.transaction():
            self._store.put_document(kind, doc_id, doc)

    def delete_document(self, kind: str, doc_id: str) -> None:
        with self._store.lock, self._store.transaction():
            self._store.delete_document(kind, doc_id)

    def documents(self, kind: str, prefix: str | None = None) -> list[dict[str, Any]]:
        """Every document of `kind`; only ids equal to `prefix` or under `prefix/` if given."""
        with self._store.lock:
            return self._store.documents(kind, prefix)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- Helpers (`_load` with the store's lock held) -------------------------------------

    def _load(self, name: str) -> FunctionConfig:
        config = self._store.load_function(name)
        if config is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(self._region, name)}"
            )
        return config

    def _collect_all(self, config: FunctionConfig) -> None:
        """A configuration is gone: so is every blob only it used."""
        self._blobs.collect(config.code_digest)
        for ref in config.layers:
            self._blobs.collect(ref.digest)
        if config.opt_key:
            self._blobs.collect_opt(config.opt_key)

    def _resolve_layers(
        self, arns: Sequence[str], *, keep: Sequence[LayerRef]
    ) -> tuple[LayerRef, ...]:
        """Layer version ARNs → refs. A deleted version is accepted only where the function
        already uses it (AWS keeps such functions working)."""
        pairs = parse_function_layers(list(arns), region=self._region)
        kept = {ref.arn: ref for ref in keep}
        refs = []
        with self._store.lock:
            for (layer, version), arn in zip(pairs, arns, strict=True):
                found = self._store.load_layer(layer, version)
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
        total = tree_size(self._blobs.code_root / code_digest) + sum(
            tree_size(self._blobs.code_root / ref.digest) for ref in layers
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
        with self._blobs.staged(key, collect=self._blobs.collect_opt):
            self._blobs.merge_opt(key, [ref.digest for ref in layers])
            yield key


def _aws_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _check_revision(current: FunctionConfig, revision_id: str | None) -> None:
    if revision_id is not None and revision_id != current.revision_id:
        raise PreconditionFailedException(MSG_REVISION_MISMATCH)


def _conflict(name: str) -> ResourceConflictException:
    return ResourceConflictException(f"Function already exist: {name}")


def _unchanged_since(last: FunctionConfig, current: FunctionConfig) -> bool:
    """Publishing now would publish `last` again (AWS then answers `last`): $LATEST has not
    been updated since `last` was published from it, or it is the same again, down to its
    description (a description-only update is a change)."""
    if last.published_from and last.published_from == current.revision_id:
        return True
    return _snapshot(last) == _snapshot(current) and last.description == current.description


def _snapshot(config: FunctionConfig) -> dict[str, Any]:
    """What a published version freezes: everything but identity and bookkeeping."""
    data = dataclasses.asdict(config)
    for key in ("version", "revision_id", "last_modified", "description", "published_from"):
        del data[key]
    return data
