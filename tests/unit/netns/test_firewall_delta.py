"""`render_delta`: an ENI or host coming or going changes only elements; anything that would
change chains asks for the whole table. The kernel check loads the whole table for one state,
applies the delta to another, and compares nft's own listing with the whole table of that
other state."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from netns.firewall import FirewallState, render, render_delete, render_delta
from tests.unit.netns.test_firewall import eni, full_state, host

TEST_TABLE = "lambdalet_test_delta"


def with_attachments(state: FirewallState, *names: str) -> FirewallState:
    by_name = {a.ifname: a for a in state.attachments}
    extra = {
        "lb-8": eni("lb-8", "10.200.0.9"),
        "lb-9": eni("lb-9", "10.0.1.9", "subnet-app", "sg-app"),  # lb-2's profile
        "lb-10": host("lb-10", "10.0.1.10", "subnet-app", "sg-db"),  # lb-3's profile
    }
    return dataclasses.replace(state, attachments=tuple(by_name.get(n) or extra[n] for n in names))


def ops(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(add|delete, kind, set name) of each command."""
    out = []
    for command in doc["nftables"]:
        ((verb, body),) = command.items()
        ((kind, obj),) = body.items()
        out.append((verb, kind, obj.get("name", "")))
    return out


ALL = ("lb-1", "lb-2", "lb-3", "lb-4", "lb-5", "lb-6", "lb-7")


def test_a_default_network_eni_coming_adds_its_elements_only() -> None:
    old = full_state()
    doc = render_delta(old, with_attachments(old, *ALL, "lb-8"))
    assert doc is not None
    assert ops(doc) == [("add", "element", "att"), ("add", "element", "eg_map")]
    assert doc["nftables"][0]["add"]["element"]["elem"] == [{"concat": ["lb-8", "10.200.0.9"]}]
    assert doc["nftables"][1]["add"]["element"]["elem"] == [
        ["lb-8", {"goto": {"target": "eg_default"}}]
    ]


def test_a_vpc_eni_with_a_known_profile_joins_its_group_set_and_maps() -> None:
    old = full_state()
    doc = render_delta(old, with_attachments(old, *ALL, "lb-9"))
    assert doc is not None
    assert ops(doc) == [
        ("add", "element", "att"),
        ("add", "element", "eg_map"),
        ("add", "element", "in_map"),
        ("add", "element", "sg_app"),
    ]


def test_going_deletes_what_it_had() -> None:
    old = with_attachments(full_state(), *ALL, "lb-9", "lb-10")
    doc = render_delta(old, with_attachments(old, *ALL))
    assert doc is not None
    assert {op for op, _, _ in ops(doc)} == {"delete"}
    names = {name for _, _, name in ops(doc)}
    assert names == {"att", "hosts", "eg_map", "in_map", "sg_app", "sg_db"}


def test_no_change_is_an_empty_transaction() -> None:
    doc = render_delta(full_state(), full_state())
    assert doc == {"nftables": []}


@pytest.mark.parametrize(
    "change",
    [
        # lb-4 is the only one with its profile: it going removes a chain
        lambda s: with_attachments(s, *[n for n in ALL if n != "lb-4"]),
        # a new profile (a group combination nobody has) needs a chain
        lambda s: dataclasses.replace(
            s,
            attachments=(*s.attachments, eni("lb-8", "10.0.1.8", "subnet-app", "sg-db", "sg-dns")),
        ),
        lambda s: dataclasses.replace(s, vpcs=s.vpcs[:1], attachments=s.attachments[:5]),
        lambda s: dataclasses.replace(s, table="lambdalet_other"),
    ],
    ids=["last-of-a-profile", "new-profile", "vpcs", "table"],
)
def test_chain_changes_need_the_whole_table(change: Any) -> None:
    old = full_state()
    assert render_delta(old, change(old)) is None


# -- the kernel: whole(old) + delta(old, new) lists the same as whole(new) ---------------------


def nft(doc: dict[str, Any]) -> None:
    result = subprocess.run(
        ["nft", "-j", "-f", "-"],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def listing() -> list[Any]:
    result = subprocess.run(
        ["nft", "-j", "list", "table", "inet", TEST_TABLE],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    items = json.loads(result.stdout)["nftables"]
    out = []
    for item in items:
        ((kind, obj),) = item.items()
        if kind == "metainfo":
            continue
        obj = {k: v for k, v in obj.items() if k not in ("handle", "index")}
        if "elem" in obj:
            obj["elem"] = sorted(obj["elem"], key=json.dumps)
        out.append({kind: obj})
    return sorted(out, key=json.dumps)


@pytest.fixture
def kernel_table() -> Any:
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root and nft")
    yield
    nft(render_delete(TEST_TABLE))


@pytest.mark.privileged
@pytest.mark.usefixtures("kernel_table")
@pytest.mark.parametrize(
    ("before", "after"),
    [
        (ALL, (*ALL, "lb-8", "lb-9", "lb-10")),
        ((*ALL, "lb-8", "lb-9", "lb-10"), ALL),
        (ALL, ("lb-2", "lb-3", "lb-4", "lb-6", "lb-8", "lb-9")),
    ],
    ids=["coming", "going", "both"],
)
def test_the_delta_leaves_the_kernel_as_the_whole_table_would(
    before: tuple[str, ...], after: tuple[str, ...]
) -> None:
    base = dataclasses.replace(full_state(), table=TEST_TABLE)
    old, new = with_attachments(base, *before), with_attachments(base, *after)
    nft(render(new))
    wanted = listing()
    nft(render(old))
    assert listing() != wanted  # the comparison can tell the two apart
    doc = render_delta(old, new)
    assert doc is not None
    nft(doc)
    assert listing() == wanted
