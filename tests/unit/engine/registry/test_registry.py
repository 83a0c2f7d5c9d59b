"""The registry: what a client reads back, across restarts, and what is left on disk."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import shutil
import sqlite3
import stat
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.errors import (
    ConfigError,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from engine.model.function import FunctionConfig, snap_start_applies
from engine.model.function_requests import CodeUpdate, ConfigurationChanges, CreateFunctionRequest
from engine.model.layers import PublishLayerRequest
from engine.model.logging_config import LoggingRequest, LoggingSettings
from engine.model.timestamps import format_last_modified
from engine.registry.registry import Registry
from engine.registry.store import Store

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
NOW = datetime(2024, 1, 31, 12, 34, 56, 789_123, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


def make_zip(source: str = "def handler(event, context):\n    return event\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        # A fixed timestamp keeps the digest, and so the blob names, the same on every run.
        zf.writestr(zipfile.ZipInfo("app.py", date_time=(2024, 1, 1, 0, 0, 0)), source)
    return buf.getvalue()


ZIP_A = make_zip("A = 1\n")
ZIP_B = make_zip("B = 2\n")


def request(
    name: str = "my-fn", zip_bytes: bytes = ZIP_A, **fields: object
) -> CreateFunctionRequest:
    return CreateFunctionRequest(
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role=ROLE,
        zip_bytes=zip_bytes,
        **fields,  # type: ignore[arg-type]
    )


def digest(zip_bytes: bytes) -> str:
    return hashlib.sha256(zip_bytes).hexdigest()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def registry(state_dir: Path) -> Iterator[Registry]:
    with Registry(state_dir, region="us-east-1") as reg:
        yield reg


def code_listing(state_dir: Path) -> list[str]:
    return sorted(p.name for p in (state_dir / "code").iterdir())


# --- Create and read -----------------------------------------------------------------------


def test_create_round_trip(registry: Registry, state_dir: Path) -> None:
    config = registry.create(
        request(
            description="hello",
            memory_mb=256,
            timeout_s=30,
            ephemeral_storage_mb=1024,
            environment={"STAGE": "prod"},
        ),
        now=NOW,
    )
    assert config == FunctionConfig(
        name="my-fn",
        runtime="python3.11",
        handler="app.handler",
        role=ROLE,
        description="hello",
        memory_mb=256,
        timeout_s=30,
        ephemeral_storage_mb=1024,
        environment={"STAGE": "prod"},
        environment_set=True,
        architectures=("x86_64",),
        code_digest=digest(ZIP_A),
        code_sha256=base64.b64encode(hashlib.sha256(ZIP_A).digest()).decode(),
        code_size=len(ZIP_A),
        last_modified="2024-01-31T12:34:56.789+0000",
        revision_id=config.revision_id,
    )
    assert uuid.UUID(config.revision_id).version == 4
    assert registry.get("my-fn") == config
    assert (registry.code_dir(config) / "app.py").read_text() == "A = 1\n"
    assert registry.code_zip(config).read_bytes() == ZIP_A
    assert code_listing(state_dir) == [digest(ZIP_A), f"{digest(ZIP_A)}.zip"]


def test_state_dir_layout_and_sqlite_settings(registry: Registry, state_dir: Path) -> None:
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "registry.sqlite3").stat().st_mode) == 0o600
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(5,)]
    finally:
        conn.close()


def test_a_schema_1_registry_is_upgraded_in_place_and_keeps_its_functions(
    registry: Registry, state_dir: Path
) -> None:
    registry.create(request("old-fn", ZIP_A), now=NOW)
    registry.close()
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    # What schema 1 had: no documents (2), no versions, layers or version counter (3).
    for table in ("documents", "versions", "layer_versions"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("ALTER TABLE functions DROP COLUMN last_version")
    conn.execute("UPDATE schema_version SET version = 1")
    conn.commit()
    conn.close()
    with Registry(state_dir, region="us-east-1") as again:
        assert again.get("old-fn").name == "old-fn"
        again.put_document("vpc", "vpc-a", {"id": "vpc-a", "cidr": "10.0.0.0/16"})
        assert again.documents("vpc") == [{"id": "vpc-a", "cidr": "10.0.0.0/16"}]
        again.delete_document("vpc", "vpc-a")
        assert again.documents("vpc") == []
        assert again.publish_version("old-fn", code_sha256=None, revision_id=None,
                                     description=None, now=NOW).version == "1"  # fmt: skip


def test_logging_config_is_kept_by_the_function_its_versions_and_a_restart(
    registry: Registry, state_dir: Path
) -> None:
    json_info = LoggingSettings(
        log_format="JSON", application_log_level="INFO", system_log_level="INFO"
    )
    registry.create(request("logged", logging=json_info), now=NOW)
    version = registry.publish_version(
        "logged", code_sha256=None, revision_id=None, description=None, now=NOW
    )
    change = ConfigurationChanges(logging=LoggingRequest(log_format="Text", log_group="g"))
    latest = registry.update_configuration("logged", change, now=LATER)
    assert latest.logging() == LoggingSettings(log_group="g")
    registry.close()
    with Registry(state_dir, region="us-east-1") as again:
        assert again.get("logged").logging() == LoggingSettings(log_group="g")
        assert again.get_version("logged", version.version).logging() == json_info


def test_a_schema_3_row_loads_as_text_in_the_default_group(
    registry: Registry, state_dir: Path
) -> None:
    registry.create(request("old-fn", ZIP_A), now=NOW)
    registry.close()
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    (text,) = conn.execute("SELECT config_json FROM functions WHERE name = 'old-fn'").fetchone()
    row = json.loads(text)
    for key in ("log_format", "application_log_level", "system_log_level", "log_group"):
        del row[key]  # what schema 3 wrote
    conn.execute("UPDATE functions SET config_json = ?", (json.dumps(row),))
    conn.execute("UPDATE schema_version SET version = 3")
    conn.commit()
    conn.close()
    with Registry(state_dir, region="us-east-1") as again:
        old = again.get("old-fn")
        assert old.logging() == LoggingSettings()
        assert old.to_aws("us-east-1")["LoggingConfig"] == {
            "LogFormat": "Text",
            "LogGroup": "/aws/lambda/old-fn",
        }
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(5,)]
    conn.close()


def test_snap_start_is_kept_by_the_function_its_versions_and_a_restart(
    registry: Registry, state_dir: Path
) -> None:
    registry.create(request("snappy", snap_start="PublishedVersions"), now=NOW)
    on = registry.publish_version(
        "snappy", code_sha256=None, revision_id=None, description=None, now=NOW
    )
    latest = registry.update_configuration(
        "snappy", ConfigurationChanges(snap_start="None"), now=LATER
    )
    off = registry.publish_version(
        "snappy", code_sha256=None, revision_id=None, description=None, now=LATER
    )
    assert (on.version, off.version) == ("1", "2")  # a SnapStart change is a change to publish
    assert [snap_start_applies(c) for c in (latest, on, off)] == [False, True, False]
    registry.close()
    with Registry(state_dir, region="us-east-1") as again:
        assert again.get("snappy").snap_start == "None"
        kept = again.get_version("snappy", "1")
        assert kept.snap_start == "PublishedVersions"
        assert snap_start_applies(kept)
        assert kept.to_aws("us-east-1")["SnapStart"] == {
            "ApplyOn": "PublishedVersions",
            "OptimizationStatus": "On",
        }
        assert not snap_start_applies(again.get_version("snappy", "2"))


def test_a_schema_4_row_loads_without_snap_start(registry: Registry, state_dir: Path) -> None:
    registry.create(request("old-fn", ZIP_A), now=NOW)
    registry.publish_version("old-fn", code_sha256=None, revision_id=None, description=None,
                             now=NOW)  # fmt: skip
    registry.close()
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    for table in ("functions", "versions"):
        (text,) = conn.execute(f"SELECT config_json FROM {table}").fetchone()
        row = json.loads(text)
        del row["snap_start"]  # what schema 4 wrote
        conn.execute(f"UPDATE {table} SET config_json = ?", (json.dumps(row),))
    conn.execute("UPDATE schema_version SET version = 4")
    conn.commit()
    conn.close()
    with Registry(state_dir, region="us-east-1") as again:
        for config in again.versions("old-fn"):
            assert config.snap_start == "None"
            assert config.to_aws("us-east-1")["SnapStart"] == {
                "ApplyOn": "None",
                "OptimizationStatus": "Off",
            }
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(5,)]
    conn.close()


def test_a_newer_schema_is_refused(registry: Registry, state_dir: Path) -> None:
    registry.close()
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    conn.execute("UPDATE schema_version SET version = 6")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="has registry schema 6, newer than this lambdalet"):
        Registry(state_dir, region="us-east-1")


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (datetime(2024, 1, 31, 12, 34, 56, 789_999, tzinfo=UTC), "2024-01-31T12:34:56.789+0000"),
        (datetime(2024, 2, 1, 1, tzinfo=timezone(timedelta(hours=2))),
         "2024-01-31T23:00:00.000+0000"),
    ],
)  # fmt: skip
def test_last_modified_is_utc_with_milliseconds(now: datetime, text: str) -> None:
    assert format_last_modified(now) == text


def test_naive_time_is_a_programming_error(registry: Registry) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.create(request(), now=datetime(2024, 1, 1))


def test_create_existing_name_conflicts_and_stores_nothing(
    registry: Registry, state_dir: Path
) -> None:
    first = registry.create(request(), now=NOW)
    with pytest.raises(ResourceConflictException) as caught:
        registry.create(request(zip_bytes=ZIP_B), now=LATER)
    assert caught.value.message == "Function already exist: my-fn"
    assert registry.get("my-fn") == first
    assert code_listing(state_dir) == [digest(ZIP_A), f"{digest(ZIP_A)}.zip"]


def corrupt_member_zip() -> bytes:
    """A zip whose directory is fine but whose data is not: it fails half-way through unzipping."""
    data = bytearray(make_zip("x = 1\n" * 500))
    at = data.find(b"app.py") + len("app.py")
    data[at + 2 : at + 6] = b"\xff\xff\xff\xff"
    return bytes(data)


@pytest.mark.parametrize("zip_bytes", [b"not a zip", b"", corrupt_member_zip()])
def test_failed_create_leaves_no_row_and_no_files(
    registry: Registry, state_dir: Path, zip_bytes: bytes
) -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        registry.create(request(zip_bytes=zip_bytes), now=NOW)
    assert caught.value.message == (
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )
    with pytest.raises(ResourceNotFoundException):
        registry.get("my-fn")
    assert code_listing(state_dir) == []


def test_failed_create_with_an_unsafe_entry(registry: Registry, state_dir: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "x")
        zf.writestr("../../etc/cron.d/evil", "x")
    with pytest.raises(InvalidParameterValueException, match=r"'\.\./\.\./etc/cron\.d/evil'"):
        registry.create(request(zip_bytes=buf.getvalue()), now=NOW)
    assert registry.page_functions() == ([], None)
    assert code_listing(state_dir) == []
    assert sorted(p.name for p in state_dir.parent.iterdir()) == ["state"]


def test_failed_create_keeps_code_shared_with_another_function(
    registry: Registry, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.create(request("one"), now=NOW)

    def broken_insert(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "transaction", broken_insert)
    with pytest.raises(sqlite3.OperationalError):
        registry.create(request("two"), now=NOW)  # same code as "one"
    with pytest.raises(sqlite3.OperationalError):
        registry.create(request("three", zip_bytes=ZIP_B), now=NOW)  # new code
    assert code_listing(state_dir) == [digest(ZIP_A), f"{digest(ZIP_A)}.zip"]


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.get("nope"),
        lambda r: r.delete("nope"),
        lambda r: r.update_configuration("nope", ConfigurationChanges(memory_mb=256), now=NOW),
        lambda r: r.update_code("nope", CodeUpdate(zip_bytes=ZIP_B), now=NOW),
    ],
)
def test_unknown_function_is_not_found(registry: Registry, call: object) -> None:
    with pytest.raises(ResourceNotFoundException) as caught:
        call(registry)  # type: ignore[operator]
    assert caught.value.message == (
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    )


# --- Persistence ---------------------------------------------------------------------------


def test_functions_survive_a_restart(state_dir: Path) -> None:
    with Registry(state_dir, region="us-east-1") as first:
        a = first.create(request("a", environment={"K": "v"}), now=NOW)
        b = first.create(request("b", zip_bytes=ZIP_B), now=NOW)
        b = first.update_configuration("b", ConfigurationChanges(timeout_s=60), now=LATER)
    with Registry(state_dir, region="us-east-1") as second:
        assert second.get("a") == a
        assert second.get("b") == b
        assert second.page_functions() == ([a, b], None)
        assert (second.code_dir(b) / "app.py").read_text() == "B = 2\n"


def test_one_process_per_state_dir(registry: Registry, state_dir: Path) -> None:
    with pytest.raises(ConfigError, match="in use"):
        Registry(state_dir, region="us-east-1")


def test_restart_cleans_up_after_a_crash(state_dir: Path) -> None:
    with Registry(state_dir, region="us-east-1") as first:
        config = first.create(request(), now=NOW)
    code = state_dir / "code"
    (code / f".{digest(ZIP_B)}.abc.tmp").mkdir()  # an interrupted extraction
    (code / f"{digest(ZIP_B)}.zip").write_bytes(ZIP_B)  # a blob whose row never committed
    (code / "README").write_text("not ours")  # unknown names are left alone
    shutil.rmtree(code / digest(ZIP_A))  # a referenced tree lost: it comes back from the zip
    with Registry(state_dir, region="us-east-1") as second:
        assert (second.code_dir(config) / "app.py").read_text() == "A = 1\n"
    assert code_listing(state_dir) == sorted(["README", digest(ZIP_A), f"{digest(ZIP_A)}.zip"])


# --- Updates -------------------------------------------------------------------------------


def test_update_configuration(registry: Registry) -> None:
    created = registry.create(request(environment={"A": "1"}), now=NOW)
    changes = ConfigurationChanges(
        memory_mb=512, environment={}, description="new", revision_id=created.revision_id
    )
    updated = registry.update_configuration("my-fn", changes, now=LATER)
    assert updated == created.replace(
        memory_mb=512,
        environment={},
        description="new",
        last_modified="2024-01-31T12:39:56.789+0000",
        revision_id=updated.revision_id,
    )
    assert updated.revision_id != created.revision_id
    assert registry.get("my-fn") == updated


def test_update_code_replaces_and_collects_the_old_code(
    registry: Registry, state_dir: Path
) -> None:
    created = registry.create(request(), now=NOW)
    updated = registry.update_code("my-fn", CodeUpdate(zip_bytes=ZIP_B), now=LATER)
    assert updated == created.replace(
        code_digest=digest(ZIP_B),
        code_sha256=base64.b64encode(hashlib.sha256(ZIP_B).digest()).decode(),
        code_size=len(ZIP_B),
        last_modified="2024-01-31T12:39:56.789+0000",
        revision_id=updated.revision_id,
    )
    assert (registry.code_dir(updated) / "app.py").read_text() == "B = 2\n"
    assert code_listing(state_dir) == sorted([digest(ZIP_B), f"{digest(ZIP_B)}.zip"])


def test_update_code_with_the_same_zip_keeps_it(registry: Registry, state_dir: Path) -> None:
    created = registry.create(request(), now=NOW)
    updated = registry.update_code("my-fn", CodeUpdate(zip_bytes=ZIP_A), now=LATER)
    assert updated.revision_id != created.revision_id
    assert (registry.code_dir(updated) / "app.py").read_text() == "A = 1\n"


@pytest.mark.parametrize(
    "update",
    [
        lambda r: r.update_configuration(
            "my-fn", ConfigurationChanges(memory_mb=512, revision_id="stale"), now=LATER
        ),
        lambda r: r.update_code(
            "my-fn", CodeUpdate(zip_bytes=ZIP_B, revision_id="stale"), now=LATER
        ),
    ],
)
def test_stale_revision_id_is_refused(registry: Registry, state_dir: Path, update: object) -> None:
    created = registry.create(request(), now=NOW)
    with pytest.raises(PreconditionFailedException) as caught:
        update(registry)  # type: ignore[operator]
    assert caught.value.message == REVISION_MISMATCH
    assert caught.value.status == 412
    assert registry.get("my-fn") == created
    assert code_listing(state_dir) == [digest(ZIP_A), f"{digest(ZIP_A)}.zip"]


def test_failed_update_code_keeps_the_function_and_its_code(
    registry: Registry, state_dir: Path
) -> None:
    created = registry.create(request(), now=NOW)
    with pytest.raises(InvalidParameterValueException):
        registry.update_code("my-fn", CodeUpdate(zip_bytes=b"PK\x05\x06broken"), now=LATER)
    assert registry.get("my-fn") == created
    assert code_listing(state_dir) == [digest(ZIP_A), f"{digest(ZIP_A)}.zip"]


# --- Delete and garbage collection ---------------------------------------------------------


def test_delete_collects_code_no_longer_used(registry: Registry, state_dir: Path) -> None:
    registry.create(request("one"), now=NOW)
    registry.create(request("two"), now=NOW)  # shares ZIP_A with "one"
    registry.create(request("three", zip_bytes=ZIP_B), now=NOW)
    both = sorted([digest(ZIP_A), f"{digest(ZIP_A)}.zip", digest(ZIP_B), f"{digest(ZIP_B)}.zip"])

    deleted = registry.delete("one")
    assert deleted.name == "one"
    assert code_listing(state_dir) == both  # "two" still uses ZIP_A
    registry.delete("two")
    assert code_listing(state_dir) == sorted([digest(ZIP_B), f"{digest(ZIP_B)}.zip"])
    with pytest.raises(ResourceNotFoundException):
        registry.get("one")
    assert [c.name for c in registry.page_functions()[0]] == ["three"]


def test_delete_then_create_again(registry: Registry) -> None:
    registry.create(request(), now=NOW)
    registry.delete("my-fn")
    again = registry.create(request(), now=LATER)
    assert (registry.code_dir(again) / "app.py").read_text() == "A = 1\n"


# --- List ----------------------------------------------------------------------------------


def test_list_pages_by_name(registry: Registry) -> None:
    for name in ["delta", "alpha", "echo", "charlie", "bravo"]:
        registry.create(request(name), now=NOW)
    page, marker = registry.page_functions(max_items=2)
    assert ([c.name for c in page], marker) == (["alpha", "bravo"], "bravo")
    page, marker = registry.page_functions(marker=marker, max_items=2)
    assert ([c.name for c in page], marker) == (["charlie", "delta"], "delta")
    page, marker = registry.page_functions(marker=marker, max_items=2)
    assert ([c.name for c in page], marker) == (["echo"], None)
    assert [c.name for c in registry.page_functions()[0]] == [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
    ]
    assert registry.page_functions(max_items=5)[1] is None


def test_list_empty_and_invalid_page_size(registry: Registry) -> None:
    assert registry.page_functions() == ([], None)
    with pytest.raises(ValidationException, match="at 'maxItems'"):
        registry.page_functions(max_items=0)


# --- Threads -------------------------------------------------------------------------------


def test_concurrent_creates_share_one_blob(registry: Registry, state_dir: Path) -> None:
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            registry.create(request(f"fn-{i}"), now=NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(registry.page_functions()[0]) == 8
    assert code_listing(state_dir) == [digest(ZIP_A), f"{digest(ZIP_A)}.zip"]


def test_python_sources_are_byte_compiled_as_seen_from_var_task(state_dir: Path) -> None:
    import marshal

    with Registry(state_dir, region="us-east-1") as registry:
        config = registry.create(request(), now=NOW)
        tree = registry.code_dir(config)
    (pyc,) = (tree / "__pycache__").glob("app.cpython-*.pyc")
    code = marshal.loads(pyc.read_bytes()[16:])
    assert code.co_filename == "/var/task/app.py"  # tracebacks name the sandbox's path


# --- Versions and layers ---------------------------------------------------------------------


def layer_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


def publish_layer(registry: Registry, name: str, files: dict[str, str]) -> str:
    layer = registry.publish_layer_version(
        PublishLayerRequest(layer=name, zip_bytes=layer_zip(files)), now=NOW
    )
    return layer.arn("us-east-1")


def test_layers_merge_into_one_opt_tree_that_lives_as_long_as_its_users(
    registry: Registry, state_dir: Path
) -> None:
    base = publish_layer(registry, "base", {"python/m.py": "W = 'base'\n", "a.txt": "a"})
    top = publish_layer(registry, "top", {"python/m.py": "W = 'top'\n"})
    config = registry.create(dataclasses.replace(request(), layers=(base, top)), now=NOW)
    opt = registry.opt_dir(config)
    assert opt is not None
    assert (opt / "python/m.py").read_text() == "W = 'top'\n"
    assert (opt / "a.txt").read_text() == "a"
    version = registry.publish_version(
        "my-fn", code_sha256=None, revision_id=None, description=None, now=NOW
    )
    assert version.opt_key == config.opt_key

    # A deleted layer keeps serving the function and its version; its code stays.
    registry.delete_layer_version("base", 1)
    layer_digest = config.layers[0].digest
    assert (state_dir / "code" / layer_digest).is_dir()
    with pytest.raises(ResourceNotFoundException):
        registry.get_layer_version("base", 1)
    changes = ConfigurationChanges(memory_mb=256, layers=(base, top))
    assert registry.update_configuration("my-fn", changes, now=NOW).opt_key == config.opt_key
    with pytest.raises(InvalidParameterValueException, match="does not exist"):
        registry.create(dataclasses.replace(request("other"), layers=(base,)), now=NOW)

    registry.delete("my-fn")  # the function and its versions go: so do the tree and the code
    assert not opt.exists()
    assert not (state_dir / "code" / layer_digest).exists()
    assert registry.get_layer_version("top", 1).layer == "top"


def test_function_plus_layers_may_not_exceed_the_unzipped_limit(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = publish_layer(registry, "big", {"blob.bin": "x" * 5000})
    monkeypatch.setattr("engine.registry.registry.MAX_UNZIPPED_BYTES", 4000)
    with pytest.raises(InvalidParameterValueException, match="maximum allowed size of 4000"):
        registry.create(dataclasses.replace(request(), layers=(big,)), now=NOW)
    assert registry.page_functions() == ([], None)


def test_versions_count_on_and_unchanged_latest_publishes_nothing(registry: Registry) -> None:
    registry.create(request(), now=NOW)

    def publish() -> str:
        return registry.publish_version(
            "my-fn", code_sha256=None, revision_id=None, description=None, now=LATER
        ).version

    assert publish() == "1"
    assert publish() == "1"
    registry.update_code("my-fn", CodeUpdate(zip_bytes=ZIP_B), now=LATER)
    assert publish() == "2"
    registry.delete_version("my-fn", "2")
    registry.update_code("my-fn", CodeUpdate(zip_bytes=ZIP_A), now=LATER)
    assert publish() == "1"  # the same as the last published version (2 is gone)
    registry.update_code("my-fn", CodeUpdate(zip_bytes=make_zip("C = 3\n")), now=LATER)
    assert publish() == "3"  # numbers are never reused
    assert [c.version for c in registry.versions("my-fn")] == ["$LATEST", "1", "3"]
    with pytest.raises(ResourceNotFoundException):
        registry.get_version("my-fn", "2")


QUEUE = "arn:aws:sqs:us-east-1:000000000000:dlq"


def test_a_version_keeps_the_dead_letter_queue_it_was_published_with(registry: Registry) -> None:
    registry.create(request(dead_letter_arn=QUEUE), now=NOW)
    published = registry.publish_version(
        "my-fn", code_sha256=None, revision_id=None, description=None, now=LATER
    )
    registry.update_configuration("my-fn", ConfigurationChanges(dead_letter_arn=""), now=LATER)
    assert registry.get("my-fn").dead_letter_arn is None
    assert registry.get_version("my-fn", published.version).dead_letter_arn == QUEUE
    assert "DeadLetterConfig" not in registry.get("my-fn").to_aws("us-east-1")
    assert published.to_aws("us-east-1")["DeadLetterConfig"] == {"TargetArn": QUEUE}
    # Removing the DLQ is a change: publishing makes a new version.
    assert (
        registry.publish_version(
            "my-fn", code_sha256=None, revision_id=None, description=None, now=LATER
        ).version
        == "2"
    )


def test_rows_written_before_dead_letter_queues_still_load(state_dir: Path) -> None:
    with Registry(state_dir, region="us-east-1") as reg:
        reg.create(request(), now=NOW)
    conn = sqlite3.connect(state_dir / "registry.sqlite3")
    with conn:
        row = conn.execute("SELECT config_json FROM functions WHERE name = 'my-fn'").fetchone()
        old = json.loads(row[0])
        del old["dead_letter_arn"]
        conn.execute("UPDATE functions SET config_json = ?", (json.dumps(old),))
    conn.close()
    with Registry(state_dir, region="us-east-1") as reg:
        assert reg.get("my-fn").dead_letter_arn is None
