"""Merge a function's layers into the one tree its sandboxes see at /opt (file-system only).

Lambda extracts a function's layers into /opt one after another, so a later layer wins path
by path: its file or symlink replaces whatever an earlier layer had there (a directory with
everything under it, too), its directory replaces an earlier file or symlink, and
directories present in both merge. `merge_layers` builds that result without copying data:
files are hard links to the extracted layer trees (all in the state directory, one file
system), so the merged tree shares their inodes. That is safe because layer trees are
read-only to sandboxes and never modified in place (the registry writes a new tree and
renames it), and because nothing here ever writes through a file or a symlink it did not
create. Merged trees are content-addressed by `merge_key`: same key, same content.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from engine.registry.codezip import publish_dir

_ROOT_MODE: Final = 0o755  # /opt itself, whatever the layers' own roots were
_BUILD_DIR_MODE: Final = 0o700  # while we fill a directory; its own mode is set last
_KEY_VERSION: Final = "lambdalet-layers-v1"  # change it if the merge's result ever changes


@dataclass(slots=True)
class _Dir:
    mode: int
    children: dict[str, _Node] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _File:
    source: Path  # hard-linked


@dataclass(frozen=True, slots=True)
class _Link:
    target: str  # re-created as is, never followed


_Node = _Dir | _File | _Link


def merge_key(digests: Sequence[str]) -> str:
    """A hex sha256 naming the merged tree of layers with these code digests, in this order."""
    encoded = json.dumps([_KEY_VERSION, list(digests)], separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def merge_layers(trees: Sequence[Path], dest: Path, *, durable: bool = False) -> None:
    """Build the /opt tree of `trees` (extracted layers, in the function's order) at `dest`.

    Nothing happens if `dest` exists. Otherwise the tree is built in a temporary sibling
    (``.<name>.<random>.tmp``) and renamed into place whole; a racer that renamed first wins
    and our copy is discarded. `durable` flushes the new directories and links to disk before
    the rename. Raises ValueError for an entry that is not a file, a directory or a symlink.
    Cleanup: on any error the temporary directory is removed; nothing else was written.
    """
    if os.path.lexists(dest):
        return
    root = _Dir(mode=_ROOT_MODE)
    for tree in trees:
        _overlay(root, Path(tree))
    publish_dir(dest, lambda tmp: _materialize(root, tmp), durable=durable)


def tree_size(path: Path) -> int:
    """Unpacked size in bytes: regular files' sizes, every path counted, symlinks not followed."""
    total = 0
    pending = [path]  # a loop, not recursion: a package may nest deeper than Python recurses
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


# --- The merge: a plan in memory, then written out ------------------------------------------


def _overlay(root: _Dir, tree: Path) -> None:
    """Lay the layer `tree` over `root`, as extracting it over the earlier layers would."""
    if not tree.is_dir() or tree.is_symlink():
        raise ValueError(f"layer tree {tree} is not a directory")
    pending = [(root, tree)]  # a loop, not recursion: a package may nest deeper than that
    while pending:
        into, source = pending.pop()
        with os.scandir(source) as scan:
            entries = sorted(scan, key=lambda e: e.name)  # stable: errors are reproducible
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                existing = into.children.get(entry.name)
                if isinstance(existing, _Dir):
                    existing.mode = stat.S_IMODE(st.st_mode)  # the later layer's, as unzip does
                else:
                    existing = _Dir(mode=stat.S_IMODE(st.st_mode))  # replaces a file or link
                    into.children[entry.name] = existing
                pending.append((existing, Path(entry.path)))
            elif stat.S_ISREG(st.st_mode):
                into.children[entry.name] = _File(source=Path(entry.path))
            elif stat.S_ISLNK(st.st_mode):
                into.children[entry.name] = _Link(target=os.readlink(entry.path))
            else:
                raise ValueError(f"layer entry {entry.path} is not a file, directory or symlink")


def _materialize(root: _Dir, path: Path) -> None:
    """Create `root`'s tree in the existing, empty directory `path`; modes last, deepest
    first, so that a read-only directory is still ours to fill until it is complete."""
    made: list[tuple[Path, int]] = [(path, root.mode)]
    pending: list[tuple[_Dir, Path]] = [(root, path)]
    while pending:
        node, here = pending.pop()
        for name, child in node.children.items():
            target = here / name
            match child:
                case _Dir():
                    os.mkdir(target, _BUILD_DIR_MODE)
                    made.append((target, child.mode))
                    pending.append((child, target))
                case _File():
                    os.link(child.source, target, follow_symlinks=False)
                case _Link():
                    os.symlink(child.target, target)
    for directory, mode in sorted(made, key=lambda m: len(m[0].parts), reverse=True):
        os.chmod(directory, mode)  # our own directories: never a linked layer file
