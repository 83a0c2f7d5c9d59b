from __future__ import annotations

from engine.sqs.message import Message
from engine.sqs.queue import Queue
from engine.sqs.queue_attributes import new_attributes, settings_of

_seq = 0


def make_queue(fifo: bool = False, **attributes: str) -> Queue:
    given = {"FifoQueue": "true", **attributes} if fifo else attributes
    values = new_attributes(fifo, given)
    return Queue(
        name="q.fifo" if fifo else "q",
        arn="arn:aws:sqs:us-east-1:000000000000:q",
        attributes=values,
        settings=settings_of(values),
        tags={},
        created_ms=0,
        modified_ms=0,
    )


def msg(body: str, *, at: int = 0, group: str | None = None, delay_ms: int = 0) -> Message:
    global _seq
    _seq += 1
    return Message(
        id=body,
        seq=_seq,
        body=body,
        attributes={},
        system={},
        md5_body="",
        md5_attributes=None,
        md5_system=None,
        sender_id="x",
        sent_ms=at,
        visible_at_ms=at + delay_ms,
        group_id=group,
    )


def bodies(messages: list[Message]) -> list[str]:
    return [m.body for m in messages]


def test_standard_queue_hands_out_in_order_and_hides_in_flight() -> None:
    q = make_queue()
    for body in "abc":
        assert q.add(msg(body), 0)
    assert bodies(q.receive(0, 2, 30).messages) == ["a", "b"]
    assert bodies(q.receive(0, 10, 30).messages) == ["c"]
    assert q.receive(0, 10, 30).messages == []
    assert q.counts(0) == (0, 3, 0)


def test_visibility_timeout_expiry_redelivers_with_a_new_receipt() -> None:
    q = make_queue()
    q.add(msg("a"), 0)
    (first,) = q.receive(0, 1, 30).messages
    receipt = first.receipt
    assert q.next_deadline() == 30_000
    assert q.receive(29_999, 1, 30).messages == []
    (again,) = q.receive(30_000, 1, 30).messages
    assert again is first and again.receive_count == 2 and again.receipt != receipt
    assert again.first_receive_ms == 0


def test_delay_keeps_a_message_back_until_due() -> None:
    q = make_queue()
    assert not q.add(msg("late", delay_ms=5_000), 0)
    assert q.counts(0) == (0, 0, 1)
    assert q.receive(4_999, 1, 30).messages == []
    woke, _ = q.advance(5_000)
    assert woke
    assert bodies(q.receive(5_000, 1, 30).messages) == ["late"]


def test_change_visibility_to_zero_releases_at_once() -> None:
    q = make_queue()
    q.add(msg("a"), 0)
    (m,) = q.receive(0, 1, 30).messages
    assert q.change_visibility(m, 10, 0)
    assert bodies(q.receive(10, 1, 30).messages) == ["a"]


def test_deleted_messages_are_not_redelivered_and_stale_timers_are_skipped() -> None:
    q = make_queue()
    q.add(msg("a"), 0)
    (m,) = q.receive(0, 1, 30).messages
    q.delete(m.id)
    assert q.advance(60_000) == (False, [])
    assert q.receive(60_000, 1, 30).messages == []
    assert q.next_deadline() is None


def test_redrive_limit_dead_letters_on_the_next_receive() -> None:
    q = make_queue()
    q.add(msg("a"), 0)
    assert q.receive(0, 1, 0, max_receives=2).messages  # count 1
    assert q.receive(0, 1, 0, max_receives=2).messages  # count 2
    received = q.receive(0, 1, 0, max_receives=2)
    assert received.messages == [] and bodies(received.dead_lettered) == ["a"]
    assert q.messages == {}


def test_retention_drops_old_messages() -> None:
    q = make_queue(MessageRetentionPeriod="60")
    q.add(msg("old", at=0), 0)
    q.add(msg("new", at=30_000), 30_000)
    assert q.next_deadline() == 60_000
    _, expired = q.advance(60_000)
    assert bodies(expired) == ["old"]
    assert bodies(q.receive(60_000, 10, 30).messages) == ["new"]


def test_fifo_group_is_held_while_a_batch_is_in_flight() -> None:
    q = make_queue(fifo=True)
    for body, group in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("a3", "a")]:
        q.add(msg(body, group=group), 0)
    first = q.receive(0, 2, 30).messages
    assert bodies(first) == ["a1", "a2"]  # a group's messages together, in order
    assert bodies(q.receive(0, 10, 30).messages) == ["b1"]  # group a is in flight
    assert q.receive(0, 10, 30).messages == []
    q.delete("a1")
    assert q.receive(0, 10, 30).messages == []  # a2 still in flight
    q.delete("a2")
    assert bodies(q.receive(0, 10, 30).messages) == ["a3"]


def test_fifo_expired_batch_comes_back_first_in_its_group() -> None:
    q = make_queue(fifo=True)
    q.add(msg("a1", group="g"), 0)
    q.add(msg("a2", group="g"), 0)
    assert bodies(q.receive(0, 1, 30).messages) == ["a1"]
    assert q.receive(10, 1, 30).messages == []
    assert bodies(q.receive(30_000, 10, 30).messages) == ["a1", "a2"]


def test_fifo_pending_message_holds_its_group() -> None:
    q = make_queue(fifo=True)
    pending = msg("a1", group="g")
    pending.pending = True
    q.add(pending, 0)
    q.add(msg("a2", group="g"), 0)
    assert q.receive(0, 10, 30).messages == []
    pending.pending = False
    assert bodies(q.receive(0, 10, 30).messages) == ["a1", "a2"]
