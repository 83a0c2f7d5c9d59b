"""Build a deployment package (zip) from a directory, for the CLI and bundled examples."""

from __future__ import annotations

import base64
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
