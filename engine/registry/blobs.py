"""Content-addressed code on disk: each package's zip and extracted tree, and merged /opt trees.

Layout: `code/<sha256hex>.zip` as uploaded, `code/<sha256hex>/` extracted (sandboxes mount it
read-only at /var/task), `opt/<merge key>/` the merged layers of a function (mounted at /opt).
Trees are written beside their place and renamed in whole (`codezip.publish_dir`).

Garbage collection: a digest is deleted once no row references it (`Store.is_referenced`) and
no call is staging it (`staged()` pins it while its blobs exist without a row); the check and
the set-aside rename happen under the store's lock, the slow delete after it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

from engine.registry.codezip import extract_zip, fsync_dir
from engine.registry.layer_tree import merge_layers
from engine.registry.packaging import precompile_python
from engine.registry.store import Store

CODE_DIR_NAME: Final = "code"
OPT_DIR_NAME: Final = "opt"  # merged layer trees, mounted at /opt: opt/<merge key>/
DIGEST_RE: Final = re.compile(r"[0-9a-f]{64}")


class Blobs:
    def __init__(self, state_dir: Path, *, store: Store, durable: bool) -> None:
        self.code_root = state_dir / CODE_DIR_NAME
        self.opt_root = state_dir / OPT_DIR_NAME
        self.durable = durable  # fsync blobs and trees; tests of crash-free paths may skip it
        self._store = store
        self._staging: collections.Counter[str] = collections.Counter()
        self.code_root.mkdir(mode=0o700, exist_ok=True)

    # --- Paths ---------------------------------------------------------------------------

    def tree(self, digest: str) -> Path:
        """The extracted package, to mount read-only at /var/task."""
        return self.code_root / checked_digest(digest)

    def zip(self, digest: str) -> Path:
        """The package as uploaded."""
        return self.code_root / f"{checked_digest(digest)}.zip"

    def opt_tree(self, key: str) -> Path:
        return self.opt_root / checked_digest(key)

    # --- Writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def staged(self, digest: str, collect: Callable[[str], None] | None = None) -> Iterator[None]:
        """Pin `digest` while its blobs exist without a row; on the way out, drop them if unused.

        This is what makes a failed create or update leave no blob behind, while a blob that
        another function (or a concurrent call) uses stays.
        """
        with self._store.lock:
            self._staging[digest] += 1
        try:
            yield
        finally:
            with self._store.lock:
                self._staging[digest] -= 1
                if self._staging[digest] <= 0:
                    del self._staging[digest]
            (collect or self.collect)(digest)

    def store_code(self, digest: str, zip_bytes: bytes) -> None:
        """Unzip first (that is the validation), then keep the zip itself."""
        extract_zip(
            zip_bytes,
            self.code_root / digest,
            durable=self.durable,
            before_publish=precompile_python,
        )
        blob = self.code_root / f"{digest}.zip"
        if not blob.exists():
            self._write_blob(blob, zip_bytes)

    def merge_opt(self, key: str, digests: Sequence[str]) -> None:
        """Build (or keep) the merged /opt tree `key` of the layers with these code digests."""
        self.opt_root.mkdir(mode=0o755, exist_ok=True)
        merge_layers([self.code_root / digest for digest in digests], self.opt_root / key)

    def _write_blob(self, blob: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{blob.name}.", suffix=".tmp", dir=self.code_root)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                if self.durable:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(tmp, blob)  # same digest, same bytes: replacing a racer's copy is harmless
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if self.durable:
            fsync_dir(self.code_root)

    # --- Collecting ----------------------------------------------------------------------

    def collect(self, digest: str) -> None:
        """Delete the blobs of `digest` if no row references it and no call is staging it."""
        store = self._store
        with store.lock:
            if store.closed or digest in self._staging or store.is_referenced(digest):
                return
            # Move the tree aside under the lock (one rename) and delete it after: a staging
            # call that starts now finds no tree and unzips afresh instead of racing the rmtree.
            trash = _set_aside(self.code_root / digest)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.code_root / f"{digest}.zip")
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def collect_opt(self, key: str) -> None:
        store = self._store
        with store.lock:
            if store.closed or not key or key in self._staging or store.is_referenced(key):
                return
            trash = _set_aside(self.opt_root / key)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)


def checked_digest(digest: str) -> str:
    # The digest becomes a path: make sure a damaged row cannot point outside code/.
    if not DIGEST_RE.fullmatch(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _set_aside(tree: Path) -> Path | None:
    trash = tree.with_name(f".{tree.name}.{uuid.uuid4().hex}.trash")
    try:
        os.rename(tree, trash)
    except FileNotFoundError:
        return None
    return trash
