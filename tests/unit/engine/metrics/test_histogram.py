"""Histograms as plain counts, and quantiles estimated from their buckets."""

from __future__ import annotations

import math

import pytest

from engine.metrics.histogram import Histogram, le_text, quantile


def test_a_value_on_a_bound_falls_in_that_bucket_and_buckets_are_cumulative() -> None:
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(value)
    assert h.buckets() == [("0.1", 2.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert h.count == 5
    assert h.sum == pytest.approx(8.65)


def test_le_labels_are_written_as_prometheus_writes_them() -> None:
    assert [le_text(b) for b in (0.005, 1, 2.5, 900.0, math.inf)] == [
        "0.005", "1.0", "2.5", "900.0", "+Inf",
    ]  # fmt: skip


def test_quantiles_interpolate_within_a_bucket() -> None:
    buckets = [(0.1, 0.0), (0.2, 100.0), (math.inf, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.15)
    assert quantile(0.99, buckets) == pytest.approx(0.199)


def test_quantiles_of_the_first_bucket_start_at_zero_and_of_inf_stop_at_the_last_bound() -> None:
    assert quantile(0.5, [(1.0, 10.0), (math.inf, 10.0)]) == pytest.approx(0.5)
    assert quantile(0.5, [(1.0, 0.0), (2.0, 0.0), (math.inf, 4.0)]) == 2.0


def test_no_observations_have_no_quantile() -> None:
    assert quantile(0.5, []) is None
    assert quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
