"""Check and extract an uploaded deployment package without trusting anything in it.

`inspect_zip` is pure (bytes in, summary or error out); `extract_zip` writes only below a fresh
temporary directory next to its destination and renames it into place whole, or leaves nothing.
"""

from __future__ import annotations

import contextlib
import enum
import io
import itertools
import lzma
import os
import posixpath
import re
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, TypeVar

from engine.errors import InvalidParameterValueException
from engine.model.code import MSG_BAD_ZIP
from engine.model.limits import MAX_UNZIPPED_BYTES

T = TypeVar("T")

MAX_ENTRIES: Final = 20_000  # AWS publishes no cap; this one bounds time and memory per package
MAX_NAME_BYTES: Final = 4096  # PATH_MAX, for entry names and symlink targets
MAX_COMPONENT_BYTES: Final = 255  # NAME_MAX
MAX_SYMLINK_HOPS: Final = 40  # the kernel's own limit per lookup
# Resolving symlinks through other symlinks can blow up; real packages (node_modules/.bin) need a
# few steps per link, so a budget for the whole package only stops crafted chains.
_LINK_STEP_BUDGET: Final = 1_000_000
_CHUNK_BYTES: Final = 64 * 1024
_FILE_MODE: Final = 0o644
_EXEC_MODE: Final = 0o755
_DIR_MODE: Final = 0o755
_ENCRYPTED_FLAG: Final = 0x1
_LOCAL_HEADER_BYTES: Final = 30
_DRIVE_RE: Final = re.compile(r"[A-Za-z]:")
# What a corrupt member can raise from zipfile and its decompressors while being read.
_READ_ERRORS: Final = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


class EntryKind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


@dataclass(frozen=True, slots=True, kw_only=True)
class ZipEntry:
    """One member, as it will appear below the extraction root."""

    path: str  # normalised: relative, "/"-separated, no ".", "..", empty parts or trailing "/"
    kind: EntryKind
    size_bytes: int  # declared uncompressed size; a symlink's is the length of its target
    executable: bool = False  # a file whose unix mode has an exec bit: written 0755, else 0644
    link_target: str | None = None  # symlinks only; checked to resolve inside the package


@dataclass(frozen=True, slots=True, kw_only=True)
class ZipSummary:
    entries: tuple[ZipEntry, ...]
    total_uncompressed_bytes: int  # as declared; extraction counts the real bytes again


def inspect_zip(
    zip_bytes: bytes,
    *,
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
    max_entries: int = MAX_ENTRIES,
) -> ZipSummary:
    """Validate names, types, symlinks and declared sizes; raise InvalidParameterValueException."""
    with _open_zip(zip_bytes, max_entries=max_entries) as archive:
        summary, _ = _scan(archive, max_unzipped_bytes=max_unzipped_bytes, max_entries=max_entries)
        return summary


def extract_zip(
    zip_bytes: bytes,
    dest: Path,
    *,
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
    max_entries: int = MAX_ENTRIES,
    durable: bool = False,
    before_publish: Callable[[Path], None] | None = None,
) -> int:
    """Check, then extract into `dest` atomically; return bytes written (0 if `dest` existed).

    `before_publish` may add to the extracted tree (e.g. byte-compiled sources) before it
    is renamed into place.

    Content-addressed callers may race for one `dest`: the first rename wins, a loser discards
    its copy, and an existing `dest` is always kept. `durable` flushes the tree to disk before
    the rename, so that a crash can never leave a renamed tree of empty files.
    Cleanup: on any error the temporary directory is removed; nothing else was written.
    """
    with _open_zip(zip_bytes, max_entries=max_entries) as archive:
        summary, infos = _scan(
            archive, max_unzipped_bytes=max_unzipped_bytes, max_entries=max_entries
        )
        if dest.exists():
            return 0

        def build(tmp: Path) -> int:
            written = _write_tree(archive, summary, infos, tmp, limit_bytes=max_unzipped_bytes)
            os.chmod(tmp, _DIR_MODE)  # mkdtemp made it 0700
            if before_publish is not None:
                before_publish(tmp)
            return written

        return publish_dir(dest, build, durable=durable) or 0


def publish_dir(dest: Path, build: Callable[[Path], T], *, durable: bool) -> T | None:
    """Build a directory with `build(tmp)` in a temporary sibling of `dest`, then rename it
    into place whole; return what `build` returned, or None when a racer's `dest` appeared
    first (an existing `dest` is always kept: content-addressed callers build the same tree).
    `durable` flushes the tree to disk before the rename (one `sync`: an fsync per file is far
    slower), so that a crash can never leave a renamed tree of empty files.
    Cleanup: on any error the temporary directory is removed; nothing else was written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        result = build(tmp)
        if durable:
            os.sync()
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost a race: keep the winner's tree
            return None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if durable:
        fsync_dir(dest.parent)
    return result


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- Reading and checking ------------------------------------------------------------------


@contextlib.contextmanager
def _open_zip(zip_bytes: bytes, *, max_entries: int) -> Iterator[zipfile.ZipFile]:
    # Count entries from the end record before zipfile builds one object per entry.
    declared = _declared_entry_count(zip_bytes)
    if declared is not None and declared > max_entries:
        raise _too_many_entries(declared, max_entries)
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise InvalidParameterValueException(MSG_BAD_ZIP) from None
    with archive:
        yield archive


def _declared_entry_count(zip_bytes: bytes) -> int | None:
    """The entry count in the end-of-central-directory record; None if it cannot be read."""
    # The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
    at = zip_bytes.rfind(b"PK\x05\x06", max(0, len(zip_bytes) - 22 - 0xFFFF))
    if at < 0 or at + 22 > len(zip_bytes):
        return None
    (count,) = struct.unpack_from("<H", zip_bytes, at + 10)
    if count != 0xFFFF:
        return int(count)
    # Zip64: a locator 20 bytes earlier points at the zip64 end record and its 64-bit count.
    locator = at - 20
    if locator < 0 or zip_bytes[locator : locator + 4] != b"PK\x06\x07":
        return None
    (record,) = struct.unpack_from("<Q", zip_bytes, locator + 8)
    if record + 40 > len(zip_bytes) or zip_bytes[record : record + 4] != b"PK\x06\x06":
        return None
    (count64,) = struct.unpack_from("<Q", zip_bytes, record + 32)
    return int(count64)


def _scan(
    archive: zipfile.ZipFile, *, max_unzipped_bytes: int, max_entries: int
) -> tuple[ZipSummary, dict[str, zipfile.ZipInfo]]:
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise _too_many_entries(len(infos), max_entries)
    _check_no_overlap(infos)
    entries: dict[str, ZipEntry] = {}
    by_path: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        entry = _entry_of(archive, info)
        if entry is None:
            continue  # an entry for the root itself, such as "./"
        if entry.path in entries:
            raise _bad_entry(info.orig_filename, "appears more than once")
        entries[entry.path] = entry
        by_path[entry.path] = info
        total += entry.size_bytes
    if total >= max_unzipped_bytes:
        raise _unzipped_too_large(max_unzipped_bytes)
    links = {e.path: e.link_target for e in entries.values() if e.link_target is not None}
    budget = [_LINK_STEP_BUDGET]
    for entry in entries.values():
        _check_parents(entry, entries)
        if entry.link_target is not None:
            start = posixpath.dirname(entry.path)
            problem = _link_problem(start, entry.link_target, links, budget)
            if problem is not None:
                raise _bad_entry(entry.path, f"is a symlink to {entry.link_target!r}, {problem}")
    summary = ZipSummary(entries=tuple(entries.values()), total_uncompressed_bytes=total)
    return summary, by_path


def _check_no_overlap(infos: list[zipfile.ZipInfo]) -> None:
    """Reject members that share bytes: the overlapping-entry bomb (CVE-2024-0450)."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for before, after in itertools.pairwise(ordered):
        # A local header is at least 30 bytes, then the compressed data.
        if after.header_offset < before.header_offset + _LOCAL_HEADER_BYTES + before.compress_size:
            raise InvalidParameterValueException(MSG_BAD_ZIP)


def _entry_of(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> ZipEntry | None:
    raw = info.orig_filename  # `filename` has already been cut at a NUL byte by zipfile
    if "\x00" in raw:
        raise _bad_entry(raw, "contains a NUL byte")
    if "\\" in raw:
        raise _bad_entry(raw, "contains a backslash")
    if raw.startswith("/") or _DRIVE_RE.match(raw):
        raise _bad_entry(raw, "is an absolute path")
    if ".." in raw.split("/"):
        raise _bad_entry(raw, "has a '..' component")
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise _bad_entry(raw, "is encrypted")
    if len(raw.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise _bad_entry(raw, f"has a name longer than {MAX_NAME_BYTES} bytes")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(len(p.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES for p in parts):
        raise _bad_entry(raw, f"has a path component longer than {MAX_COMPONENT_BYTES} bytes")
    mode = info.external_attr >> 16  # unix st_mode when the archiver recorded one, else 0
    file_type = stat.S_IFMT(mode)
    is_dir = raw.endswith("/") or file_type == stat.S_IFDIR
    if not parts:
        if is_dir:
            return None
        raise _bad_entry(raw, "has an empty name")
    path = "/".join(parts)
    if is_dir:
        if file_type not in (0, stat.S_IFDIR):
            raise _bad_entry(raw, "is named as a directory but is not one")
        return ZipEntry(path=path, kind=EntryKind.DIRECTORY, size_bytes=0)
    if file_type == stat.S_IFLNK:
        target = _read_link_target(archive, info)
        size = len(target.encode("utf-8"))
        return ZipEntry(path=path, kind=EntryKind.SYMLINK, size_bytes=size, link_target=target)
    if file_type not in (0, stat.S_IFREG):
        raise _bad_entry(raw, "is a device, FIFO or socket")
    return ZipEntry(
        path=path,
        kind=EntryKind.FILE,
        size_bytes=info.file_size,
        executable=bool(mode & 0o111),
    )


def _read_link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    name = info.orig_filename
    if info.file_size > MAX_NAME_BYTES:
        raise _bad_entry(name, f"is a symlink whose target is longer than {MAX_NAME_BYTES} bytes")
    try:
        with archive.open(info) as src:
            data = src.read(MAX_NAME_BYTES + 1)
    except _READ_ERRORS:
        raise InvalidParameterValueException(MSG_BAD_ZIP) from None
    try:
        target = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_entry(name, "is a symlink whose target is not UTF-8") from None
    if not target or "\x00" in target or len(data) > MAX_NAME_BYTES:
        raise _bad_entry(name, "is a symlink with an invalid target")
    return target


def _check_parents(entry: ZipEntry, entries: dict[str, ZipEntry]) -> None:
    """An entry below a file or a symlink would be written through it: refuse."""
    parent = posixpath.dirname(entry.path)
    while parent:
        above = entries.get(parent)
        if above is not None and above.kind is not EntryKind.DIRECTORY:
            raise _bad_entry(entry.path, f"is inside {parent!r}, which is a {above.kind.value}")
        parent = posixpath.dirname(parent)


def _link_problem(start: str, target: str, links: dict[str, str], budget: list[int]) -> str | None:
    """Walk `target` from directory `start` as the kernel would, following links in the package;
    say what is wrong with it, or None when it stays inside.

    Resolving ".." lexically is not enough: "a/s -> ../.." then "a/t -> s/../x" looks inside
    but leaves the root, because the kernel applies ".." after following "s".
    """
    outside = "which resolves outside the package"
    if target.startswith("/"):
        return outside
    resolved = [p for p in start.split("/") if p]
    pending = list(reversed(target.split("/")))  # a stack: the next part is at the end
    hops = 0
    while pending:
        budget[0] -= 1
        if budget[0] < 0:
            return "which takes too many steps to resolve"
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return outside
            resolved.pop()
            continue
        resolved.append(part)
        link = links.get("/".join(resolved))
        if link is not None:
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return "which loops or nests too deeply"
            if link.startswith("/"):
                return outside
            resolved.pop()  # the link's target is relative to the link's directory
            pending.extend(reversed(link.split("/")))
    return None


# --- Writing -------------------------------------------------------------------------------


def _write_tree(
    archive: zipfile.ZipFile,
    summary: ZipSummary,
    infos: dict[str, zipfile.ZipInfo],
    root: Path,
    *,
    limit_bytes: int,
) -> int:
    """Directories, then files, then symlinks, all relative to an fd of the fresh `root`."""
    directories = {e.path for e in summary.entries if e.kind is EntryKind.DIRECTORY}
    for entry in summary.entries:
        parent = posixpath.dirname(entry.path)
        while parent:
            directories.add(parent)
            parent = posixpath.dirname(parent)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path in sorted(directories, key=lambda p: p.count("/")):
            os.mkdir(path, _DIR_MODE, dir_fd=root_fd)
            os.chmod(path, _DIR_MODE, dir_fd=root_fd)  # mkdir's mode is masked by the umask
        # Strictly below the cap, as AWS words it ("must be smaller than").
        budget_bytes = limit_bytes - 1
        written = 0
        for entry in summary.entries:
            if entry.kind is EntryKind.FILE:
                info = infos[entry.path]
                written += _write_file(
                    archive,
                    info,
                    entry,
                    root_fd,
                    budget_bytes=budget_bytes - written,
                    limit_bytes=limit_bytes,
                )
        # Links last, once every file exists: nothing is ever written through one.
        for entry in summary.entries:
            if entry.link_target is not None:
                os.symlink(entry.link_target, entry.path, dir_fd=root_fd)
    finally:
        os.close(root_fd)
    return written


def _write_file(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    entry: ZipEntry,
    root_fd: int,
    *,
    budget_bytes: int,
    limit_bytes: int,
) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(entry.path, flags, 0o600, dir_fd=root_fd)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(fd, _EXEC_MODE if entry.executable else _FILE_MODE)
        try:
            src = archive.open(info)
        except _READ_ERRORS:
            raise InvalidParameterValueException(MSG_BAD_ZIP) from None
        with src:
            copied = copy_capped(src, out, budget_bytes=budget_bytes, limit_bytes=limit_bytes)
    if copied != info.file_size:
        raise InvalidParameterValueException(MSG_BAD_ZIP)  # the header lied about the size
    return copied


def copy_capped(src: IO[bytes], dst: IO[bytes], *, budget_bytes: int, limit_bytes: int) -> int:
    """Copy in chunks, counting the real bytes; past `budget_bytes`, fail with `limit_bytes`.

    The count, not the archive's declared sizes, is what bounds disk use against a zip bomb.
    Read errors of a corrupt member become AWS's "Could not unzip" error.
    """
    copied = 0
    while True:
        try:
            chunk = src.read(_CHUNK_BYTES)
        except _READ_ERRORS:
            raise InvalidParameterValueException(MSG_BAD_ZIP) from None
        if not chunk:
            return copied
        copied += len(chunk)
        if copied > budget_bytes:
            raise _unzipped_too_large(limit_bytes)
        dst.write(chunk)


# --- Errors --------------------------------------------------------------------------------


def _bad_entry(name: str, reason: str) -> InvalidParameterValueException:
    # repr() shows NUL and control characters instead of printing them.
    return InvalidParameterValueException(
        f"Could not unzip uploaded file: entry {name!r} {reason}."
    )


def _too_many_entries(count: int, limit: int) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Could not unzip uploaded file: it has {count} entries;"
        f" this lambdalet host accepts at most {limit}."
    )


def _unzipped_too_large(limit_bytes: int) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Unzipped size must be smaller than {limit_bytes} bytes")
