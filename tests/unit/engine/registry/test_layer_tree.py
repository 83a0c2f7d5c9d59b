"""Layers merged into /opt: later layers win path by path, files are shared, publish is atomic."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.registry.layer_tree import merge_key, merge_layers, tree_size

Spec = dict[str, "str | Spec | tuple[str]"]  # name -> file text | directory | (link target,)


def build(root: Path, spec: Spec) -> Path:
    """A layer tree: strings are files, dicts directories, 1-tuples symlinks."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in spec.items():
        path = root / name
        if isinstance(value, str):
            path.write_text(value)
        elif isinstance(value, tuple):
            os.symlink(value[0], path)
        else:
            build(path, value)
    return root


def listing(root: Path) -> dict[str, str]:
    """Every path under `root`: 'dir', 'link -> target' or the file's text."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = path.read_text()
    return found


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    """Three layers whose paths overlap in every way that matters."""
    first = build(
        tmp_path / "layers" / "one",
        {
            "python": {"mod.py": "v1", "only_one.py": "1"},
            "was_dir": {"inner": "gone", "deeper": {"x": "gone"}},
            "was_file": "file in one",
            "was_link": ("python",),
            "lib": {"a.so": "a"},
        },
    )
    second = build(
        tmp_path / "layers" / "two",
        {
            "python": {"mod.py": "v2"},
            "was_dir": "a file now",  # a file over a directory: its whole subtree goes
            "was_file": {"child": "a directory now"},  # a directory over a file
            "was_link": {"real": "a directory over a symlink"},
            "lib": {"b.so": "b"},
        },
    )
    third = build(
        tmp_path / "layers" / "three",
        {
            "python": {"mod.py": "v3"},
            "was_dir": {"fresh": "a directory again"},  # nothing of layer one comes back
            "lib": {"c.so": "c"},
            "bootstrap": "#!/bin/sh\n",
        },
    )
    return [first, second, third]


def test_later_layers_win_path_by_path_and_directories_merge(
    tmp_path: Path, layers: list[Path]
) -> None:
    dest = tmp_path / "merged" / "abc"
    merge_layers(layers, dest)
    assert listing(dest) == {
        "python": "dir",
        "python/mod.py": "v3",
        "python/only_one.py": "1",
        "was_dir": "dir",
        "was_dir/fresh": "a directory again",
        "was_file": "dir",
        "was_file/child": "a directory now",
        "was_link": "dir",
        "was_link/real": "a directory over a symlink",
        "lib": "dir",
        "lib/a.so": "a",
        "lib/b.so": "b",
        "lib/c.so": "c",
        "bootstrap": "#!/bin/sh\n",
    }
    assert leftovers(dest.parent) == []


def test_order_is_the_functions_order(tmp_path: Path, layers: list[Path]) -> None:
    dest = tmp_path / "reversed"
    merge_layers(list(reversed(layers)), dest)
    assert (dest / "python" / "mod.py").read_text() == "v1"
    assert (dest / "was_dir" / "inner").read_text() == "gone"  # layer one is last now
    assert (dest / "was_file").read_text() == "file in one"
    assert (dest / "was_link").is_symlink()


def test_files_are_hard_links_to_the_layer_trees(tmp_path: Path, layers: list[Path]) -> None:
    dest = tmp_path / "merged"
    merge_layers(layers, dest)
    for rel, layer in [("python/mod.py", 2), ("python/only_one.py", 0), ("lib/b.so", 1)]:
        merged, source = (dest / rel).stat(), (layers[layer] / rel).stat()
        assert (merged.st_dev, merged.st_ino) == (source.st_dev, source.st_ino)
        assert merged.st_nlink == 2
    assert (layers[0] / "python" / "mod.py").read_text() == "v1"  # the layers are untouched
    assert listing(layers[1])["was_dir"] == "a file now"


def test_symlinks_are_recreated_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    one = build(
        tmp_path / "one",
        {
            "target.txt": "t",
            "relative": ("target.txt",),
            "dangling": ("does/not/exist",),
            "absolute": ("/etc/passwd",),
            "escape": ("../../outside",),
            "into_outside": (str(outside),),
        },
    )
    # A directory of a later layer at a symlink's path replaces the link: nothing is ever
    # written through it.
    two = build(tmp_path / "two", {"into_outside": {"planted": "x"}})
    dest = tmp_path / "merged"
    merge_layers([one, two], dest)
    found = listing(dest)
    assert found["relative"] == "link -> target.txt"
    assert found["dangling"] == "link -> does/not/exist"
    assert found["absolute"] == "link -> /etc/passwd"
    assert found["escape"] == "link -> ../../outside"
    assert found["into_outside"] == "dir"
    assert list(outside.iterdir()) == []


def test_a_symlink_replaces_a_directory(tmp_path: Path) -> None:
    one = build(tmp_path / "one", {"node_modules": {"pkg": {"index.js": "1"}}})
    two = build(tmp_path / "two", {"node_modules": ("/var/task/node_modules",)})
    dest = tmp_path / "merged"
    merge_layers([one, two], dest)
    assert listing(dest) == {"node_modules": "link -> /var/task/node_modules"}


def test_modes_are_kept(tmp_path: Path) -> None:
    one = build(tmp_path / "one", {"bin": {"tool": "#!/bin/sh\n"}, "shared": {"a": "a"}})
    (one / "bin" / "tool").chmod(0o755)
    (one / "shared").chmod(0o750)
    two = build(tmp_path / "two", {"shared": {"b": "b"}, "sealed": {"inside": {"f": "f"}}})
    (two / "shared").chmod(0o711)  # a later layer's mode for a merged directory wins
    (two / "sealed" / "inside").chmod(0o500)
    (two / "sealed").chmod(0o555)  # read-only directories are still filled, then sealed
    dest = tmp_path / "merged"
    try:
        merge_layers([one, two], dest)
        assert (dest / "bin" / "tool").stat().st_mode & 0o7777 == 0o755
        assert (dest / "shared").stat().st_mode & 0o7777 == 0o711
        assert (dest / "sealed").stat().st_mode & 0o7777 == 0o555
        assert (dest / "sealed" / "inside").stat().st_mode & 0o7777 == 0o500
        assert dest.stat().st_mode & 0o7777 == 0o755
        assert (dest / "sealed" / "inside" / "f").read_text() == "f"
    finally:
        for root in (two, dest):  # let pytest remove what it made
            for sub in ("sealed", "sealed/inside"):
                if (root / sub).is_dir():
                    (root / sub).chmod(0o755)


def test_no_layers_is_an_empty_opt(tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    merge_layers([], dest)
    assert dest.is_dir() and listing(dest) == {}
    assert dest.stat().st_mode & 0o7777 == 0o755


def test_dest_appears_whole_from_a_temporary_sibling(
    tmp_path: Path, layers: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "merged" / "key"
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def rename(src: Any, dst: Any) -> None:
        assert not os.path.lexists(dst), "dest exists before the rename"
        assert listing(Path(src))["python/mod.py"] == "v3"  # complete before it is published
        renames.append((Path(src).name, Path(dst).name))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    merge_layers(layers, dest)
    ((src_name, dst_name),) = renames
    assert re.fullmatch(r"\.key\..+\.tmp", src_name)
    assert dst_name == "key"
    assert leftovers(dest.parent) == []


def test_an_existing_dest_is_left_alone(tmp_path: Path, layers: list[Path]) -> None:
    dest = tmp_path / "key"
    dest.mkdir()
    (dest / "marker").write_text("first build")
    merge_layers(layers, dest)
    assert listing(dest) == {"marker": "first build"}
    assert leftovers(tmp_path) == []


def test_losing_a_race_keeps_the_winners_tree(
    tmp_path: Path, layers: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "key"
    real_rename = os.rename

    def racer_first(src: Any, dst: Any) -> None:
        os.mkdir(dst)  # another builder published the same key meanwhile
        (Path(dst) / "winner").write_text("w")
        real_rename(src, dst)  # ENOTEMPTY

    monkeypatch.setattr(os, "rename", racer_first)
    merge_layers(layers, dest)
    assert listing(dest) == {"winner": "w"}
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fail_after", [0, 3])
def test_a_failure_leaves_nothing(
    tmp_path: Path, layers: list[Path], monkeypatch: pytest.MonkeyPatch, fail_after: int
) -> None:
    dest = tmp_path / "key"
    real_link: Callable[..., None] = os.link
    calls = [0]

    def link(src: Any, dst: Any, **kwargs: Any) -> None:
        calls[0] += 1
        if calls[0] > fail_after:
            raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(OSError, match="cross-device"):
        merge_layers(layers, dest)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_special_files_are_refused(tmp_path: Path, layers: list[Path]) -> None:
    os.mkfifo(layers[1] / "lib" / "pipe")
    dest = tmp_path / "key"
    with pytest.raises(ValueError, match="pipe is not a file, directory or symlink"):
        merge_layers(layers, dest)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_a_layer_tree_must_be_a_directory(tmp_path: Path, layers: list[Path]) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        merge_layers([layers[0], tmp_path / "missing"], tmp_path / "key")
    assert not (tmp_path / "key").exists()


def test_tree_size_counts_regular_files_without_following_links(tmp_path: Path) -> None:
    root = build(
        tmp_path / "t",
        {"a": "x" * 10, "d": {"b": "y" * 5, "e": {}}, "link": ("a",), "outside": ("/usr",)},
    )
    os.link(root / "a", root / "d" / "a_again")  # unpacked size counts every path
    assert tree_size(root) == 25
    assert tree_size(build(tmp_path / "empty", {})) == 0


def test_tree_size_of_a_merge_is_the_size_of_what_the_function_sees(
    tmp_path: Path, layers: list[Path]
) -> None:
    dest = tmp_path / "merged"
    merge_layers(layers, dest)
    expected = sum(len(t) for t in listing(dest).values() if t != "dir" and "link ->" not in t)
    assert tree_size(dest) == expected


def test_merge_key_names_the_ordered_digests() -> None:
    a, b = "a" * 64, "b" * 64
    key = merge_key([a, b])
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert merge_key([a, b]) == key  # deterministic
    assert merge_key((a, b)) == key  # any sequence
    assert merge_key([b, a]) != key  # order matters: later layers win
    assert merge_key([a]) != key and merge_key([a, b, b]) != key
    assert merge_key(["ab", "c"]) != merge_key(["a", "bc"])  # no ambiguous concatenation
    assert merge_key([]) != merge_key([""])
