"""The state directory's sandbox view: the name servers written to the sandboxes' resolv.conf."""

from __future__ import annotations

from pathlib import Path

from engine.config import Config


def test_sandbox_nameservers_skip_loopback_and_ipv6(tmp_path: Path) -> None:
    from engine.host.state_dir import read_nameservers, sandbox_nameservers

    conf = tmp_path / "resolv.conf"
    conf.write_text("# x\nnameserver 127.0.0.53\nnameserver 2001:db8::1\nnameserver 192.0.2.1\n")
    assert read_nameservers(str(conf)) == ["127.0.0.53", "192.0.2.1"]
    assert read_nameservers(str(tmp_path / "missing")) == []
    fixed = Config().replace(network=Config().network.__class__(nameservers=("192.0.2.9",)))
    assert sandbox_nameservers(fixed) == ("192.0.2.9",)
