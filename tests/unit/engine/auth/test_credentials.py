"""The credentials file: parsing, reloading, refusing unsafe files, failing closed, add_key."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.auth.credentials import CredentialsFile, add_key, generate_key_pair, parse_credentials
from engine.errors import ConfigError

ME = os.geteuid()  # tests create the files, so "root" is whoever runs them
TWO_PROFILES = """\
[default]
aws_access_key_id = LKIAAAAAAAAAAAAAAAAA
aws_secret_access_key = secret/one+A
region = us-east-1

# a pasted profile, with keys lambdalet ignores
[ci]
aws_secret_access_key=secret%two
aws_access_key_id=LKIABBBBBBBBBBBBBBBB
aws_session_token = ignored
"""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def creds_path(tmp_path: Path) -> Path:
    return write(tmp_path / "credentials", TWO_PROFILES)


@pytest.fixture
def creds(creds_path: Path) -> CredentialsFile:
    return CredentialsFile(creds_path, owner_uid=ME)


# -- parsing ----------------------------------------------------------------------------------


def test_parses_aws_shared_credentials_format(creds: CredentialsFile) -> None:
    assert creds.load() == {
        "LKIAAAAAAAAAAAAAAAAA": "secret/one+A",
        "LKIABBBBBBBBBBBBBBBB": "secret%two",
    }
    assert creds.secrets() == creds.load()


def test_every_section_is_a_profile_even_default() -> None:
    text = "[DEFAULT]\naws_access_key_id = K1\naws_secret_access_key = s1\n"
    assert parse_credentials(text, source="x") == {"DEFAULT": ("K1", "s1")}


def test_empty_file_has_no_keys() -> None:
    assert parse_credentials("", source="x") == {}


@pytest.mark.parametrize("missing", ["aws_access_key_id", "aws_secret_access_key"])
def test_profile_missing_a_key_names_the_section(missing: str) -> None:
    text = "[ci]\naws_access_key_id = K1\naws_secret_access_key = s1\n"
    text = "\n".join(line for line in text.splitlines() if not line.startswith(missing))
    with pytest.raises(ConfigError, match=r"profile \[ci\] needs both"):
        parse_credentials(text, source="x")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("aws_access_key_id = K1\n", "not valid INI"),
        ("[a]\naws_access_key_id = K1\n[a]\naws_access_key_id = K2\n", "not valid INI"),
        (
            "[a]\naws_access_key_id = K1\naws_secret_access_key = s\n"
            "[b]\naws_access_key_id = K1\naws_secret_access_key = t\n",
            r"K1 is in both \[a\] and \[b\]",
        ),
        ("[a]\naws_access_key_id = K/1\naws_secret_access_key = s\n", "access key id must"),
        ("[a]\naws_access_key_id = K1\naws_secret_access_key = s t\n", "secret access key"),
    ],
    ids=["no-section", "duplicate-section", "duplicate-key-id", "slash-in-key", "space-in-secret"],
)
def test_bad_contents(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_credentials(text, source="x")


# -- reading and re-reading ---------------------------------------------------------------------


def test_load_of_a_missing_file_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open credentials file"):
        CredentialsFile(tmp_path / "nope", owner_uid=ME).load()


def test_rereads_when_the_file_changes(creds: CredentialsFile, creds_path: Path) -> None:
    creds.load()
    write(creds_path, "[x]\naws_access_key_id = NEW\naws_secret_access_key = s\n")
    assert creds.secrets() == {"NEW": "s"}


def test_rereads_a_replaced_file(creds: CredentialsFile, creds_path: Path) -> None:
    creds.load()
    other = write(creds_path.with_name("new"), TWO_PROFILES.replace("secret/one", "secret/uno"))
    os.replace(other, creds_path)  # same size; a new inode
    assert creds.secrets()["LKIAAAAAAAAAAAAAAAAA"] == "secret/uno+A"


def test_does_not_reread_an_unchanged_file(creds: CredentialsFile, creds_path: Path) -> None:
    creds.load()
    before = os.stat(creds_path)
    # Rewrite in place, same size, and put the mtime back: nothing in the identity changed,
    # so the cached secrets prove the file was not read again.
    with creds_path.open("r+") as f:
        f.write(TWO_PROFILES.replace("secret/one", "secret/uno"))
    os.utime(creds_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert creds.secrets()["LKIAAAAAAAAAAAAAAAAA"] == "secret/one+A"


# -- unsafe files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o620, 0o604, 0o602, 0o660, 0o644, 0o666])
def test_refuses_group_or_other_access(creds_path: Path, mode: int) -> None:
    creds_path.chmod(mode)
    with pytest.raises(ConfigError, match=f"mode {mode:04o}.*chmod 600"):
        CredentialsFile(creds_path, owner_uid=ME).load()


def test_owner_only_modes_are_fine(creds_path: Path) -> None:
    creds_path.chmod(0o400)
    assert CredentialsFile(creds_path, owner_uid=ME).load()


def test_refuses_a_file_owned_by_someone_else(creds_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"owned by uid {ME}, not {ME + 1}"):
        CredentialsFile(creds_path, owner_uid=ME + 1).load()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_refuses_a_non_root_file_by_default(creds_path: Path) -> None:
    os.chown(creds_path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534, not 0"):
        CredentialsFile(creds_path).load()


def test_refuses_a_symlink(creds_path: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(creds_path)
    with pytest.raises(ConfigError, match="symlink"):
        CredentialsFile(link, owner_uid=ME).load()


def test_refuses_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        CredentialsFile(folder, owner_uid=ME).load()


def test_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(ConfigError, match="not a regular file"):
        CredentialsFile(fifo, owner_uid=ME).load()


# -- failing closed -------------------------------------------------------------------------------


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.ERROR, logger="engine.auth.credentials"):
        yield caplog


def test_turning_unsafe_fails_closed_and_recovers(
    creds: CredentialsFile, creds_path: Path, errors: pytest.LogCaptureFixture
) -> None:
    good = creds.load()
    creds_path.chmod(0o644)
    assert creds.secrets() == {}
    assert creds.secrets() == {}
    assert len(errors.records) == 1  # logged once, not on every request
    assert "chmod 600" in errors.text
    creds_path.chmod(0o600)
    assert creds.secrets() == good


def test_turning_unparseable_fails_closed(
    creds: CredentialsFile, creds_path: Path, errors: pytest.LogCaptureFixture
) -> None:
    creds.load()
    write(creds_path, "[broken]\naws_access_key_id = K1\n")
    assert creds.secrets() == {}
    assert "[broken]" in errors.text


def test_deleted_file_fails_closed(
    creds: CredentialsFile, creds_path: Path, errors: pytest.LogCaptureFixture
) -> None:
    creds.load()
    creds_path.unlink()
    assert creds.secrets() == {}
    assert creds.secrets() == {}
    assert len(errors.records) == 1


def test_replaced_by_a_symlink_fails_closed(
    creds: CredentialsFile, creds_path: Path, tmp_path: Path, errors: pytest.LogCaptureFixture
) -> None:
    creds.load()
    target = write(tmp_path / "elsewhere", TWO_PROFILES)
    creds_path.unlink()
    creds_path.symlink_to(target)
    assert creds.secrets() == {}
    assert "symlink" in errors.text


# -- new keys -------------------------------------------------------------------------------------


def test_generate_key_pair() -> None:
    pairs = {generate_key_pair() for _ in range(20)}
    assert len(pairs) == 20
    for key_id, secret in pairs:
        assert re.fullmatch(r"LKIA[A-Z2-7]{16}", key_id)
        assert len(secret) == 40


@pytest.fixture
def strict_umask() -> Iterator[None]:
    old = os.umask(0o277)  # would make a plain create 0400
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("strict_umask")
def test_add_key_creates_the_file_0600(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    key_id, secret = generate_key_pair()
    add_key(path, "laptop", key_id, secret, owner_uid=ME)
    assert path.stat().st_mode & 0o777 == 0o600
    assert CredentialsFile(path, owner_uid=ME).load() == {key_id: secret}
    assert [p.name for p in tmp_path.iterdir()] == ["credentials"]  # no temporary left


def test_add_key_appends_and_keeps_what_was_there(creds_path: Path) -> None:
    creds_path.write_text(TWO_PROFILES.rstrip("\n"))  # no final newline
    add_key(creds_path, "laptop", "LKIACCCCCCCCCCCCCCCC", "s3cret", owner_uid=ME)
    text = creds_path.read_text()
    assert text.startswith(TWO_PROFILES)
    assert creds_path.stat().st_mode & 0o777 == 0o600
    profiles = parse_credentials(text, source="x")
    assert set(profiles) == {"default", "ci", "laptop"}
    assert profiles["laptop"] == ("LKIACCCCCCCCCCCCCCCC", "s3cret")


def test_add_key_refuses_an_existing_profile(creds_path: Path) -> None:
    before = creds_path.read_text()
    with pytest.raises(ConfigError, match=r"already has a profile \[ci\]"):
        add_key(creds_path, "ci", "LKIACCCCCCCCCCCCCCCC", "s3cret", owner_uid=ME)
    assert creds_path.read_text() == before


def test_add_key_refuses_an_existing_key_id(creds_path: Path) -> None:
    with pytest.raises(ConfigError, match="already has access key id"):
        add_key(creds_path, "new", "LKIABBBBBBBBBBBBBBBB", "s3cret", owner_uid=ME)


def test_add_key_refuses_an_unsafe_file(creds_path: Path) -> None:
    creds_path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        add_key(creds_path, "new", "LKIACCCCCCCCCCCCCCCC", "s3cret", owner_uid=ME)


@pytest.mark.parametrize(
    ("profile", "key_id", "secret"),
    [("a]b", "K1", "s"), ("", "K1", "s"), ("p", "K 1", "s"), ("p", "K1", "s\n[x]")],
)
def test_add_key_refuses_what_would_not_read_back(
    tmp_path: Path, profile: str, key_id: str, secret: str
) -> None:
    with pytest.raises(ConfigError):
        add_key(tmp_path / "credentials", profile, key_id, secret, owner_uid=ME)
    assert not (tmp_path / "credentials").exists()
