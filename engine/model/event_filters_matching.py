"""Matching a compiled pattern's branches against a document, as event-ruler matches JSON
events: values are found by their dotted path, a list in the document matches when any of its
elements does, and values taken from one list must come from the same element of it ("array
consistency": {"a": {"x": [1], "y": [2]}} does not match {"a": [{"x": 1}, {"y": 2}]}).

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.model.event_filters_patterns import Branch, Field

ArrayPlaces = tuple[tuple[int, int], ...]  # (list id, element index) of each list around a value


@dataclass(frozen=True, slots=True)
class Leaf:
    value: object  # a string, number, bool or None
    arrays: ArrayPlaces


def path_prefixes(paths: frozenset[str]) -> frozenset[str]:
    """Every path a document walk must enter to reach `paths`: "a.b.c" needs "a", "a.b" and
    "a.b.c" (a key "a.b" in the document is the same path as "b" inside "a")."""
    prefixes: set[str] = set()
    for path in paths:
        parts = path.split(".")
        prefixes.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return frozenset(prefixes)


def flatten(document: Mapping[str, Any], wanted: frozenset[str]) -> dict[str, list[Leaf]]:
    """The scalar values of `document` by dotted path, walking only into `wanted` paths.

    Iterative: a message body is up to 256 KiB of JSON, deeper than the interpreter's stack.
    An empty list or object holds no value, so a path ending there does not exist.
    """
    leaves: dict[str, list[Leaf]] = {}
    lists_seen = 0
    stack: list[tuple[object, str, ArrayPlaces]] = [(document, "", ())]
    while stack:
        node, path, arrays = stack.pop()
        if isinstance(node, Mapping):
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                if child_path in wanted:
                    stack.append((child, child_path, arrays))
        elif isinstance(node, list | tuple):
            list_id, lists_seen = lists_seen, lists_seen + 1
            stack.extend((item, path, (*arrays, (list_id, i))) for i, item in enumerate(node))
        else:
            leaves.setdefault(path, []).append(Leaf(node, arrays))
    return leaves


def branch_matches(branch: Branch, leaves: Mapping[str, Sequence[Leaf]]) -> bool:
    """Whether every field of `branch` holds in the flattened document."""
    in_lists: list[tuple[Field, Sequence[Leaf]]] = []
    for field in branch:
        found = leaves.get(field.path, ())
        if any(leaf.arrays for leaf in found):
            in_lists.append((field, found))
        elif not _holds_alone(field, found):
            return False
    return _consistent_choice(in_lists)


def _holds_alone(field: Field, found: Sequence[Leaf]) -> bool:
    # Values outside any list are consistent with every choice: the field stands alone.
    if any(field.matches(leaf.value) for leaf in found):
        return True
    return field.absent_ok and not found


def _consistent_choice(fields: Sequence[tuple[Field, Sequence[Leaf]]]) -> bool:
    """Pick one value for each field (or its absence) with no list element taken twice at two
    different indexes. Depth-first; a dead end is remembered by the field and by the choices
    made so far in the lists the remaining fields can still reach, so unrelated lists do not
    multiply the work."""
    if not fields:
        return True
    reachable: list[frozenset[int]] = [frozenset()] * (len(fields) + 1)
    for i in range(len(fields) - 1, -1, -1):
        lists = {list_id for leaf in fields[i][1] for list_id, _ in leaf.arrays}
        reachable[i] = reachable[i + 1] | lists
    dead_ends: set[tuple[int, ArrayPlaces]] = set()

    def search(i: int, chosen: dict[int, int]) -> bool:
        if i == len(fields):
            return True
        key = (i, tuple(sorted(item for item in chosen.items() if item[0] in reachable[i])))
        if key in dead_ends:
            return False
        field, found = fields[i]
        for leaf in found:
            if field.matches(leaf.value):
                merged = _merge(chosen, leaf.arrays)
                if merged is not None and search(i + 1, merged):
                    return True
        absent = all(_merge(chosen, leaf.arrays) is None for leaf in found)
        if field.absent_ok and absent and search(i + 1, chosen):
            return True
        dead_ends.add(key)
        return False

    return search(0, {})


def _merge(chosen: dict[int, int], arrays: ArrayPlaces) -> dict[int, int] | None:
    for list_id, index in arrays:
        if chosen.get(list_id, index) != index:
            return None
    return {**chosen, **dict(arrays)}
