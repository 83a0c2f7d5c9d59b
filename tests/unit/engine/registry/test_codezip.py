"""Deployment packages: what is extracted, what is refused, and that a refusal leaves nothing."""

from __future__ import annotations

import io
import os
import random
import stat
import struct
import threading
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.errors import InvalidParameterValueException
from engine.registry.codezip import (
    EntryKind,
    ZipEntry,
    copy_capped,
    extract_zip,
    inspect_zip,
)

BAD_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    name: str
    data: bytes = b""
    mode: int = 0  # unix st_mode, stored in the high 16 bits of external_attr; 0: none


def file(name: str, data: bytes | str = b"", mode: int = stat.S_IFREG | 0o644) -> Member:
    return Member(name=name, data=data.encode() if isinstance(data, str) else data, mode=mode)


def link(name: str, target: str) -> Member:
    return Member(name=name, data=target.encode(), mode=stat.S_IFLNK | 0o777)


def directory(name: str) -> Member:
    return Member(name=name, mode=stat.S_IFDIR | 0o755)


def make_zip(*members: Member, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on the duplicate names we write on purpose
        with zipfile.ZipFile(buf, "w") as zf:
            for m in members:
                info = zipfile.ZipInfo(m.name, date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = m.mode << 16
                info.compress_type = method
                zf.writestr(info, m.data)
    return buf.getvalue()


def rename_member(zip_bytes: bytes, old: str, new: bytes) -> bytes:
    """Rewrite a name in place (same length), for names zipfile refuses to write."""
    assert len(old.encode()) == len(new)
    return zip_bytes.replace(old.encode(), new)


def central_records(zip_bytes: bytes) -> Iterator[int]:
    at = zip_bytes.find(b"PK\x01\x02")
    while at >= 0:
        yield at
        at = zip_bytes.find(b"PK\x01\x02", at + 4)


def refused(zip_bytes: bytes, **caps: int) -> str:
    with pytest.raises(InvalidParameterValueException) as caught:
        inspect_zip(zip_bytes, **caps)
    return caught.value.message


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """Where a package goes; its parent exists, as the registry's code directory does."""
    (tmp_path / "code").mkdir()
    return tmp_path / "code" / "tree"


def tree_of(root: Path) -> dict[str, str]:
    """Every path below root with its kind and permission bits (and a link's target)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = f"-> {os.readlink(path)}"
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = f"dir {stat.S_IMODE(st.st_mode):o}"
        else:
            out[rel] = f"file {stat.S_IMODE(st.st_mode):o}"
    return out


# --- Accepted packages ---------------------------------------------------------------------


def test_normal_package_is_extracted_with_safe_modes(dest: Path) -> None:
    package = make_zip(
        file("app.py", "def handler(e, c):\n    return 1\n"),
        directory("lib/"),
        file("lib/pkg/__init__.py", ""),
        file("lib/pkg/mod.py", "X = 1\n", mode=stat.S_IFREG | 0o600),
        file("bin/tool", "#!/bin/sh\n", mode=stat.S_IFREG | 0o700),
        file("setuid", "x", mode=stat.S_IFREG | 0o4755),
    )
    written = extract_zip(package, dest)
    assert written == len("def handler(e, c):\n    return 1\n") + len("X = 1\n") + 10 + 1
    assert tree_of(dest) == {
        "app.py": "file 644",
        "bin": "dir 755",
        "bin/tool": "file 755",  # any exec bit in the zip: 0755
        "lib": "dir 755",
        "lib/pkg": "dir 755",
        "lib/pkg/__init__.py": "file 644",
        "lib/pkg/mod.py": "file 644",  # never narrower (or wider) than 0644
        "setuid": "file 755",  # set-id bits are dropped
    }
    assert (dest / "app.py").read_text() == "def handler(e, c):\n    return 1\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


def test_modes_do_not_depend_on_the_umask(dest: Path) -> None:
    old = os.umask(0o077)
    try:
        extract_zip(make_zip(file("a/b.py", "1"), file("run", "2", mode=0o100755)), dest)
    finally:
        os.umask(old)
    assert tree_of(dest) == {"a": "dir 755", "a/b.py": "file 644", "run": "file 755"}


def test_windows_zip_without_unix_modes(dest: Path) -> None:
    extract_zip(make_zip(Member(name="app.py", data=b"x"), Member(name="d/", data=b"")), dest)
    assert tree_of(dest) == {"app.py": "file 644", "d": "dir 755"}


def test_stored_members_and_dot_slash_names(dest: Path) -> None:
    extract_zip(make_zip(file("./app.py", "x"), file("a//b.py", "y"), method=0), dest)
    assert tree_of(dest) == {"a": "dir 755", "a/b.py": "file 644", "app.py": "file 644"}


def test_safe_internal_symlinks_are_kept(dest: Path) -> None:
    package = make_zip(
        file("vendor/lib/x.py", "X = 1\n"),
        link("lib", "vendor/lib"),
        link("node_modules/.bin/tool", "../tool/cli.js"),
        file("node_modules/tool/cli.js", "run()\n"),
        link("self", "."),
    )
    extract_zip(package, dest)
    assert tree_of(dest)["lib"] == "-> vendor/lib"
    assert (dest / "lib" / "x.py").read_text() == "X = 1\n"
    assert (dest / "node_modules/.bin/tool").read_text() == "run()\n"


def test_inspect_summarises(dest: Path) -> None:
    summary = inspect_zip(make_zip(file("a.py", "12345"), link("b", "a.py"), directory("d/")))
    assert summary.entries == (
        ZipEntry(path="a.py", kind=EntryKind.FILE, size_bytes=5),
        ZipEntry(path="b", kind=EntryKind.SYMLINK, size_bytes=4, link_target="a.py"),
        ZipEntry(path="d", kind=EntryKind.DIRECTORY, size_bytes=0),
    )
    assert summary.total_uncompressed_bytes == 9
    assert not dest.exists()  # inspecting writes nothing


def test_empty_zip_is_a_valid_empty_package(dest: Path) -> None:
    # AWS accepts it too; the function then fails at invoke with a missing handler.
    assert inspect_zip(make_zip()).entries == ()
    assert extract_zip(make_zip(), dest) == 0
    assert dest.is_dir()
    assert list(dest.iterdir()) == []


def test_existing_destination_is_kept(dest: Path) -> None:
    dest.mkdir(parents=True)
    (dest / "marker").write_text("first")
    assert extract_zip(make_zip(file("app.py", "x")), dest) == 0
    assert [p.name for p in dest.iterdir()] == ["marker"]


def test_concurrent_extractions_of_one_destination(dest: Path) -> None:
    package = make_zip(*(file(f"m{i}/f.py", "x" * 1000) for i in range(50)))
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(extract_zip(package, dest))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results)[-1] == 50_000  # someone wrote it; the others kept theirs or skipped
    assert len(list(dest.rglob("f.py"))) == 50
    assert sorted(p.name for p in dest.parent.iterdir()) == ["tree"]  # no temporaries left


# --- Refused packages ----------------------------------------------------------------------


def entry_error(name: str, reason: str) -> str:
    return f"Could not unzip uploaded file: entry {name!r} {reason}."


OUTSIDE = "which resolves outside the package"


@pytest.mark.parametrize(
    ("package", "message"),
    [
        (make_zip(file("../../x", "x")), entry_error("../../x", "has a '..' component")),
        (make_zip(file("a/../../x", "x")), entry_error("a/../../x", "has a '..' component")),
        (make_zip(file("a/../b", "x")), entry_error("a/../b", "has a '..' component")),
        (make_zip(file("/abs", "x")), entry_error("/abs", "is an absolute path")),
        (make_zip(file("C:/x", "x")), entry_error("C:/x", "is an absolute path")),
        (make_zip(file("..\\..\\x", "x")), entry_error("..\\..\\x", "contains a backslash")),
        (
            rename_member(make_zip(file("aXb.py", "x")), "aXb.py", b"a\x00b.py"),
            entry_error("a\x00b.py", "contains a NUL byte"),
        ),
        (
            make_zip(link("lib", "/etc"), file("app.py")),
            entry_error("lib", f"is a symlink to '/etc', {OUTSIDE}"),
        ),
        (make_zip(link("lib", "../..")), entry_error("lib", f"is a symlink to '../..', {OUTSIDE}")),
        (
            make_zip(link("a/lib", "../../etc")),
            entry_error("a/lib", f"is a symlink to '../../etc', {OUTSIDE}"),
        ),
        (
            # Lexically "a/b/s/../x" is "a/b/x", but the kernel follows s to the root first.
            make_zip(directory("a/b/"), link("a/b/s", "../.."), link("a/b/t", "s/../x")),
            entry_error("a/b/t", f"is a symlink to 's/../x', {OUTSIDE}"),
        ),
        (
            make_zip(link("x", "y"), link("y", "x")),
            entry_error("x", "is a symlink to 'y', which loops or nests too deeply"),
        ),
        (
            # The classic: a link first, then a file written "through" it.
            make_zip(link("lib", "vendor"), file("lib/passwd", "root::0:0")),
            entry_error("lib/passwd", "is inside 'lib', which is a symlink"),
        ),
        (
            make_zip(file("a", "x"), file("a/b", "y")),
            entry_error("a/b", "is inside 'a', which is a file"),
        ),
        (make_zip(file("a", "1"), file("a", "2")), entry_error("a", "appears more than once")),
        (make_zip(file("a", "1"), directory("a/")), entry_error("a/", "appears more than once")),
        (make_zip(file("./a", "1"), file("a", "2")), entry_error("a", "appears more than once")),
        (
            make_zip(Member(name="dev", mode=stat.S_IFCHR | 0o644)),
            entry_error("dev", "is a device, FIFO or socket"),
        ),
        (
            make_zip(file("x" * 256, "1")),
            entry_error("x" * 256, "has a path component longer than 255 bytes"),
        ),
    ],
)  # fmt: skip
def test_unsafe_packages_are_refused_and_nothing_is_written(
    package: bytes, message: str, dest: Path
) -> None:
    assert refused(package) == message
    with pytest.raises(InvalidParameterValueException):
        extract_zip(package, dest)
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize(
    "package",
    [
        b"",
        b"not a zip at all",
        make_zip(file("app.py", random.Random(0).randbytes(1000)))[:300],  # no central directory
        b"PK\x03\x04" + b"\x00" * 100,
    ],
)
def test_corrupt_bytes(package: bytes, dest: Path) -> None:
    assert refused(package) == BAD_ZIP
    with pytest.raises(InvalidParameterValueException, match="Could not unzip"):
        extract_zip(package, dest)
    assert list(dest.parent.iterdir()) == []


def test_corrupt_member_data_fails_extraction_and_leaves_nothing(dest: Path) -> None:
    package = bytearray(make_zip(file("app.py", "x" * 5000), file("b.py", "y")))
    at = package.find(b"app.py") + len("app.py")  # start of the deflated data
    package[at + 2 : at + 6] = b"\xff\xff\xff\xff"
    with pytest.raises(InvalidParameterValueException) as caught:
        extract_zip(bytes(package), dest)
    assert caught.value.message == BAD_ZIP
    assert list(dest.parent.iterdir()) == []


def test_header_that_lies_about_the_size_is_refused(dest: Path) -> None:
    # Central directory says 10 bytes; 1000 are stored. zipfile stops at 10 and the CRC fails.
    package = bytearray(make_zip(file("app.py", "x" * 1000), method=zipfile.ZIP_STORED))
    (record,) = central_records(bytes(package))
    struct.pack_into("<I", package, record + 24, 10)
    assert inspect_zip(bytes(package)).total_uncompressed_bytes == 10
    with pytest.raises(InvalidParameterValueException) as caught:
        extract_zip(bytes(package), dest)
    assert caught.value.message == BAD_ZIP
    assert list(dest.parent.iterdir()) == []


def test_overlapping_members_are_refused() -> None:
    # Two directory records pointing at one local header: the overlap bomb's trick.
    package = bytearray(make_zip(file("a.py", "x" * 100), file("b.py", "y" * 100)))
    _, second = central_records(bytes(package))
    struct.pack_into("<I", package, second + 42, 0)
    assert refused(bytes(package)) == BAD_ZIP


# --- Caps ----------------------------------------------------------------------------------


def test_declared_size_at_the_cap_is_refused(dest: Path) -> None:
    package = make_zip(file("a", "x" * 60), file("b", "y" * 40))
    assert (
        refused(package, max_unzipped_bytes=100) == "Unzipped size must be smaller than 100 bytes"
    )
    assert inspect_zip(package, max_unzipped_bytes=101).total_uncompressed_bytes == 100
    with pytest.raises(InvalidParameterValueException, match="smaller than 100 bytes"):
        extract_zip(package, dest, max_unzipped_bytes=100)
    assert list(dest.parent.iterdir()) == []


def test_default_unzipped_cap_is_awss() -> None:
    # Declare 250 MiB in the central directory rather than compressing that much.
    package = bytearray(make_zip(file("big", "x")))
    (record,) = central_records(bytes(package))
    struct.pack_into("<I", package, record + 24, 262_144_000)
    assert refused(bytes(package)) == "Unzipped size must be smaller than 262144000 bytes"
    struct.pack_into("<I", package, record + 24, 262_143_999)
    assert inspect_zip(bytes(package)).total_uncompressed_bytes == 262_143_999


def test_too_many_entries() -> None:
    package = make_zip(*(file(f"f{i}", "") for i in range(4)))
    message = (
        "Could not unzip uploaded file: it has 4 entries; this lambdalet host accepts at most 3."
    )
    assert refused(package, max_entries=3) == message
    assert len(inspect_zip(package, max_entries=4).entries) == 4


def test_streaming_counter_stops_at_the_cap() -> None:
    # What bounds the disk when the declared sizes lie: the bytes actually copied.
    out = io.BytesIO()
    with pytest.raises(InvalidParameterValueException) as caught:
        copy_capped(io.BytesIO(b"z" * 200_000), out, budget_bytes=99_999, limit_bytes=100_000)
    assert caught.value.message == "Unzipped size must be smaller than 100000 bytes"
    assert len(out.getvalue()) < 100_000
    assert (
        copy_capped(io.BytesIO(b"z" * 1000), io.BytesIO(), budget_bytes=1000, limit_bytes=1) == 1000
    )
