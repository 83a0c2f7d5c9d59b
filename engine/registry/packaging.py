"""Deployment packages: zip a directory (CLI, bundled examples); byte-compile a code tree."""

from __future__ import annotations

import base64
import compileall
import io
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

_SKIP_DIRS = frozenset({"__pycache__", ".git", ".venv"})


def zip_bytes_of_directory(directory: Path, *, exclude: Iterable[str] = ()) -> bytes:
    """Zip `directory`'s files (relative paths, exec bits kept), deterministic order."""
    skip = set(exclude)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            for name in sorted(files):
                path = Path(root) / name
                rel = path.relative_to(directory).as_posix()
                if rel in skip or name.endswith(".pyc"):
                    continue
                info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def zip_directory(directory: Path, *, exclude: Iterable[str] = ()) -> str:
    """The base64 ZipFile string for CreateFunction's ``Code.ZipFile``."""
    return base64.b64encode(zip_bytes_of_directory(directory, exclude=exclude)).decode()


MAX_PRECOMPILE_BYTES = 1024 * 1024  # larger sources are left to compile at import


def precompile_python(tree: Path) -> None:
    """Write __pycache__ .pyc files for the tree's Python sources, as seen from /var/task.

    The code is mounted read-only in sandboxes, so Python could never cache its compiled
    form there: without this, every cold start recompiles the handler's modules. Only
    parsing happens here (no code runs); files that do not compile are left for the import
    to report, exactly as it would have.
    """
    for path in tree.rglob("*.py"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_PRECOMPILE_BYTES:
            continue
        rel = path.relative_to(tree).as_posix()
        compileall.compile_file(path, ddir=str(Path("/var/task", rel).parent), quiet=2)
