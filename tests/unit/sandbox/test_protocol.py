"""The Runtime API framing, fed whole, byte by byte and with trailing data (h11's tr())."""

from __future__ import annotations

import struct

import msgpack
import pytest

from sandbox.protocol import (
    NEED_DATA,
    Closed,
    Connection,
    ErrorInfo,
    FunctionError,
    InitError,
    Invoke,
    Listening,
    LocalProtocolError,
    Log,
    Message,
    NeedData,
    Prepare,
    Prepared,
    ProtocolError,
    Ready,
    RemoteProtocolError,
    Response,
    Restore,
    RestoreError,
    SetupFailed,
    TemplateReady,
)

MESSAGES: list[Message] = [
    Ready(),
    InitError(error=ErrorInfo(error_type="Runtime.ImportModuleError", error_message="no")),
    SetupFailed(step="build root filesystem", message="EPERM"),
    Invoke(
        request_id="r-1",
        deadline_ms=1_700_000_000_000,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        payload=b'{"a": 1}',
        client_context='{"custom": {}}',
        identity=None,
    ),
    Response(request_id="r-1", payload=b"\x00\xffbinary"),
    FunctionError(
        request_id="r-1",
        error=ErrorInfo(error_type="ValueError", error_message="boom", stack_trace=["  File x\n"]),
    ),
    Log(data="héllo\n".encode()),
    TemplateReady(threads=3),
    Restore(env={"AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[7]ab", "É": "ü"}, unset_env=["X"]),
    Restore(),
    Prepare(env={"AWS_LAMBDA_LOG_STREAM_NAME": "s"}, unset_env=["Y"]),
    Prepared(),
    Prepared(ready=True),
    RestoreError(
        error=ErrorInfo(
            error_type="Runtime.AfterRestoreError", error_message="no", stack_trace=["  File y\n"]
        ),
        body=b'{"errorType": "KeyError"}',
    ),
    RestoreError(
        error=ErrorInfo(error_type="Runtime.AfterRestoreError", error_message="slow"),
        timed_out=True,
    ),
]


def drain(conn: Connection) -> list[Message | Closed]:
    out: list[Message | Closed] = []
    while True:
        event = conn.next_event()
        if isinstance(event, NeedData):
            return out
        out.append(event)
        if isinstance(event, Closed):
            return out


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_whole(msg: Message) -> None:
    conn = Connection()
    conn.receive_data(Connection().send(msg))
    assert drain(conn) == [msg]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_byte_by_byte(msg: Message) -> None:
    data = Connection().send(msg)
    conn = Connection()
    got: list[Message | Closed] = []
    for i in range(len(data)):
        assert conn.next_event() is NEED_DATA or got
        conn.receive_data(data[i : i + 1])
        got += drain(conn)
    assert got == [msg]


def test_many_frames_in_one_chunk_then_clean_eof() -> None:
    conn = Connection()
    conn.receive_data(b"".join(Connection().send(m) for m in MESSAGES))
    conn.receive_data(b"")
    assert drain(conn) == [*MESSAGES, Closed()]


def test_trailing_partial_frame_is_kept_for_later() -> None:
    first, second = Connection().send(Ready()), Connection().send(Log(data=b"x"))
    conn = Connection()
    conn.receive_data(first + second[:3])
    assert drain(conn) == [Ready()]
    assert conn.buffered_bytes == 3
    conn.receive_data(second[3:])
    assert drain(conn) == [Log(data=b"x")]


def test_eof_inside_a_frame_is_a_remote_error() -> None:
    data = Connection().send(Log(data=b"abc"))
    conn = Connection()
    conn.receive_data(data[:-1])
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="inside a frame"):
        conn.next_event()


def test_oversize_frame_announced_by_peer_is_rejected_before_buffering() -> None:
    conn = Connection(max_frame_bytes=100)
    conn.receive_data(struct.pack(">I", 101))
    with pytest.raises(RemoteProtocolError, match="101-byte frame"):
        conn.next_event()


def test_oversize_send_is_a_local_error() -> None:
    conn = Connection(max_frame_bytes=64)
    with pytest.raises(LocalProtocolError, match="frame limit"):
        conn.send(Log(data=b"x" * 100))


def test_frame_at_exactly_the_limit_is_accepted() -> None:
    probe = Connection().send(Log(data=b""))
    overhead = len(probe) - 4
    conn = Connection(max_frame_bytes=overhead + 10)
    data = conn.send(Log(data=b"y" * 10))
    conn.receive_data(data)
    assert drain(conn) == [Log(data=b"y" * 10)]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (msgpack.packb({"not": "a list"}), "tagged msgpack array"),
        (msgpack.packb([99]), "unknown message tag 99"),
        (msgpack.packb([4, "r-1"]), "unknown message tag 4 with 1 fields"),
        (msgpack.packb([4, 1, b"x"]), "malformed"),
        (msgpack.packb([3, "r", "not-int", "arn", b"", None, None]), "malformed"),
        (msgpack.packb([9, True]), "malformed"),  # TemplateReady's threads: an int
        (msgpack.packb([10, {"A": 1}, []]), "malformed"),  # Restore's env: str to str
        (msgpack.packb([10, {}, "X"]), "malformed"),
        (msgpack.packb([11, "T", "m", [], None, 0]), "malformed"),  # timed_out: a bool
        (b"\xc1", "undecodable"),
        (msgpack.packb([6, b"x"]) + b"\x00", "undecodable"),
    ],
)
def test_garbage_from_the_peer_is_a_remote_error(body: bytes, match: str) -> None:
    conn = Connection()
    conn.receive_data(struct.pack(">I", len(body)) + body)
    with pytest.raises(RemoteProtocolError, match=match):
        conn.next_event()


def test_data_after_eof_is_our_bug() -> None:
    conn = Connection()
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")


def test_protocol_error_base_cannot_be_raised_directly() -> None:
    with pytest.raises(TypeError):
        ProtocolError("x")


def test_error_info_renders_lambda_shape() -> None:
    info = ErrorInfo(error_type="E", error_message="m", stack_trace=["a"])
    assert info.to_aws() == {"errorMessage": "m", "errorType": "E", "stackTrace": ["a"]}


def test_listening_and_error_documents_round_trip() -> None:
    conn = Connection()
    info = ErrorInfo(error_type="Error", error_message="boom", stack_trace=["Error: boom"])
    sent: list[Message] = [
        Listening(),
        FunctionError(request_id="r", error=info, body=b'{"errorType":"Error"}'),
        InitError(error=info, body=b"{}"),
        FunctionError(request_id="r", error=info),
    ]
    for msg in sent:
        conn.receive_data(conn.send(msg))
    assert [conn.next_event() for _ in sent] == sent
