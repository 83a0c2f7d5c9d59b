"""Which streams retention and the size bound let go."""

from __future__ import annotations

from engine.runtime.log_retention import DAY_MS, StreamAge, horizon_ms, streams_to_remove

NOW = 100 * DAY_MS


def test_expired_streams_go_unless_live() -> None:
    streams = [
        StreamAge("old", NOW - 8 * DAY_MS, 10, live=False),
        StreamAge("old-live", NOW - 8 * DAY_MS, 10, live=True),
        StreamAge("new", NOW - DAY_MS, 10, live=False),
    ]
    assert streams_to_remove(streams, now_ms=NOW, retention_days=7, max_bytes=None) == ["old"]
    assert streams_to_remove(streams, now_ms=NOW, retention_days=None, max_bytes=None) == []


def test_over_size_the_oldest_go_first_and_live_ones_stay() -> None:
    streams = [
        StreamAge("c", 3, 100, live=False),
        StreamAge("a", 1, 100, live=True),
        StreamAge("b", 2, 100, live=False),
        StreamAge("d", 4, 100, live=False),
    ]
    assert streams_to_remove(streams, now_ms=NOW, retention_days=None, max_bytes=250) == ["b", "c"]
    assert streams_to_remove(streams, now_ms=NOW, retention_days=None, max_bytes=400) == []
    # Only live streams left over the bound: nothing more can go.
    only_live = [StreamAge("a", 1, 500, live=True)]
    assert streams_to_remove(only_live, now_ms=NOW, retention_days=None, max_bytes=10) == []


def test_expired_streams_count_before_the_size_bound() -> None:
    streams = [StreamAge("gone", 0, 1000, live=False), StreamAge("kept", NOW, 100, live=False)]
    assert streams_to_remove(streams, now_ms=NOW, retention_days=1, max_bytes=500) == ["gone"]


def test_horizon() -> None:
    assert horizon_ms(NOW, None) is None
    assert horizon_ms(NOW, 3) == NOW - 3 * DAY_MS
