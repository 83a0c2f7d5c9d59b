"""The root-only credentials file: access key ids and secrets the SigV4 listener accepts.

AWS shared-credentials INI format, so a profile can be pasted from ``~/.aws/credentials``.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from engine.config import Config
from engine.errors import ConfigError

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
KEY_ID_PREFIX = "LKIA"
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32: no 0/O or 1/I to confuse
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_SECRET = re.compile(r"[\x21-\x7e]{1,256}")  # visible ASCII: survives INI parsing unchanged
_PROFILE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# What a change to the file looks like from one lstat: content (inode, mtime, size) and
# safety (mode, owner), so a chmod or chown is noticed as soon as a write is.
_Identity = tuple[int, int, int, int, int, int]


class CredentialsFile:
    """Access key id → secret, read from a file only root can read or write.

    `load()` reads the file now and raises `ConfigError` if it is missing, unsafe (not a
    regular file, a symlink, not owned by ``owner_uid``, or readable or writable by group or
    others) or unparseable: at start-up that is fatal. `secrets()` does one ``lstat`` per call
    and re-reads the file when it changed. If the file has become unsafe, unparseable or
    unreadable, `secrets()` logs an error (once per change) and returns an empty mapping, so
    every request is refused until the file is fixed: it fails closed, never open.
    """

    def __init__(self, path: Path, *, owner_uid: int = 0) -> None:
        self.path = path
        self.owner_uid = owner_uid
        self._identity: _Identity | None = None  # of the file last read, or last refused
        self._secrets: Mapping[str, str] = {}
        self._error: str | None = None  # the last refusal logged, to log each one once

    def load(self) -> Mapping[str, str]:
        """Read the file now; `ConfigError` if it is missing, unsafe or unparseable."""
        identity, profiles = _read_profiles(self.path, self.owner_uid)
        self._identity, self._error = identity, None
        self._secrets = {key_id: secret for key_id, secret in profiles.values()}
        return self._secrets

    def secrets(self) -> Mapping[str, str]:
        """The current keys; empty (every request refused) while the file is bad."""
        try:
            identity = _identity(os.lstat(self.path))
        except OSError as exc:
            return self._refuse(f"cannot stat credentials file {self.path}: {exc.strerror}", None)
        if identity == self._identity:
            return self._secrets
        try:
            return self.load()
        except ConfigError as exc:
            return self._refuse(str(exc), identity)

    def _refuse(self, error: str, identity: _Identity | None) -> Mapping[str, str]:
        if error != self._error:
            logger.error("%s; refusing every request until it is fixed", error)
        self._identity, self._secrets, self._error = identity, {}, error
        return self._secrets


def credentials_for(config: Config) -> CredentialsFile | None:
    """The credentials the daemon's listeners need: the API's TCP listener needs the file
    (fatal if missing or unsafe); function URLs use it only for AWS_IAM URLs."""
    credentials = CredentialsFile(config.credentials_file)
    if config.http_listen is not None:
        keys = credentials.load()
        logger.info("TCP API: %d access key(s) from %s", len(keys), config.credentials_file)
        return credentials
    if config.function_url_listen is not None and config.credentials_file.exists():
        credentials.load()
        return credentials
    return None


def _identity(st: os.stat_result) -> _Identity:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode, st.st_uid)


def _read_profiles(path: Path, owner_uid: int) -> tuple[_Identity, dict[str, tuple[str, str]]]:
    identity, text = _read_safely(path, owner_uid)
    return identity, parse_credentials(text, source=str(path))


def _read_safely(path: Path, owner_uid: int) -> tuple[_Identity, str]:
    """Open without following a symlink or blocking on a FIFO; check what was opened."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(
                f"credentials file {path} is a symlink; point the config at the real file"
            ) from exc
        raise ConfigError(f"cannot open credentials file {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        _check_safe(path, st, owner_uid)  # what was opened, not what the path names now
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"credentials file {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return _identity(st), data.decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"credentials file {path} is not UTF-8: {exc}") from exc


def _check_safe(path: Path, st: os.stat_result, owner_uid: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"credentials file {path} is not a regular file")
    if st.st_uid != owner_uid:
        raise ConfigError(
            f"credentials file {path} is owned by uid {st.st_uid}, not {owner_uid}; "
            f"run: chown {owner_uid} {path}"
        )
    if st.st_mode & 0o077:
        raise ConfigError(
            f"credentials file {path} has mode {stat.S_IMODE(st.st_mode):04o}: group or others "
            f"may read or write it; run: chmod 600 {path}"
        )


def parse_credentials(text: str, *, source: str) -> dict[str, tuple[str, str]]:
    """Profile name → (access key id, secret); other keys in a section are ignored."""
    # default_section="" can never match a "[...]" header, so every section is a profile and
    # none gets configparser's special DEFAULT treatment.
    parser = configparser.ConfigParser(interpolation=None, default_section="")
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(f"credentials file {source} is not valid INI: {exc}") from exc
    profiles: dict[str, tuple[str, str]] = {}
    owners: dict[str, str] = {}  # access key id → profile, to refuse one id twice
    for profile in parser.sections():
        section = parser[profile]
        key_id = section.get("aws_access_key_id")
        secret = section.get("aws_secret_access_key")
        if not key_id or not secret:
            raise ConfigError(
                f"credentials file {source}: profile [{profile}] needs both "
                "aws_access_key_id and aws_secret_access_key"
            )
        _check_key(key_id, secret, where=f"credentials file {source}: profile [{profile}]")
        if key_id in owners:
            raise ConfigError(
                f"credentials file {source}: access key id {key_id} is in both "
                f"[{owners[key_id]}] and [{profile}]"
            )
        owners[key_id] = profile
        profiles[profile] = (key_id, secret)
    return profiles


def _check_key(key_id: str, secret: str, *, where: str) -> None:
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigError(f"{where}: access key id must be 1-128 of A-Z a-z 0-9 _ -")
    if not _SECRET.fullmatch(secret):
        raise ConfigError(
            f"{where}: secret access key must be 1-256 visible ASCII characters, no spaces"
        )


def generate_key_pair() -> tuple[str, str]:
    """A new (access key id, secret access key): ``LKIA`` + 16 base32 characters, 40 secret."""
    key_id = KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    return key_id, secrets.token_urlsafe(30)  # 30 bytes → 40 characters, 240 bits


def add_key(path: Path, profile: str, key_id: str, secret: str, *, owner_uid: int = 0) -> None:
    """Add ``[profile]`` with this key to the credentials file, creating it mode 0600.

    Refuses a profile name or access key id that is already there, and an existing file
    that is unsafe. The file is replaced atomically (write a copy, rename), so a daemon
    reading it concurrently sees the old or the new file, never half of one.
    """
    if not _PROFILE.fullmatch(profile):
        raise ConfigError(f"profile name {profile!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    _check_key(key_id, secret, where=f"profile [{profile}]")
    text = ""
    if os.path.lexists(path):
        _, text = _read_safely(path, owner_uid)
        profiles = parse_credentials(text, source=str(path))
        if profile in profiles:
            raise ConfigError(f"credentials file {path} already has a profile [{profile}]")
        if any(key_id == existing for existing, _ in profiles.values()):
            raise ConfigError(f"credentials file {path} already has access key id {key_id}")
    section = f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    separator = "" if not text else "\n" if text.endswith("\n") else "\n\n"
    _replace(path, (text + separator + section).encode())


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create {tmp} next to {path}: {exc.strerror}") from exc
    try:
        with open(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # the umask may have taken bits off; set exactly
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = [
    "CredentialsFile",
    "add_key",
    "generate_key_pair",
    "parse_credentials",
]
