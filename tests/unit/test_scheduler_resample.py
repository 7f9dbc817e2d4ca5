"""Placing input events on the schedule's grid (services/scheduler/resample.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from services.scheduler.resample import on_grid

T0 = datetime(2026, 1, 1, tzinfo=UTC)
M15, H1 = timedelta(minutes=15), timedelta(hours=1)


def _events(step: timedelta, values: list[float], start: datetime = T0) -> list[tuple[datetime, float]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


def test_same_grid_copies_values_and_leaves_gaps_nan() -> None:
    events = _events(M15, [1.0, 2.0, 3.0])
    out = on_grid(events[:1] + events[2:], M15, T0, M15, 4, "flow")
    np.testing.assert_array_equal(out, [1.0, np.nan, 3.0, np.nan])


def test_hourly_prices_cover_four_quarter_hours() -> None:
    out = on_grid(_events(H1, [10.0, 20.0]), H1, T0, M15, 8, "flow")
    np.testing.assert_array_equal(out, [10.0] * 4 + [20.0] * 4)


def test_quarter_hours_are_averaged_into_an_hour() -> None:
    out = on_grid(_events(M15, [1.0, 2.0, 3.0, 6.0]), M15, T0, H1, 1, "flow")
    np.testing.assert_array_equal(out, [3.0])


def test_an_event_before_the_start_that_overlaps_the_first_slot_counts() -> None:
    out = on_grid(_events(H1, [7.0], start=T0 - timedelta(minutes=30)), H1, T0, M15, 4, "flow")
    np.testing.assert_array_equal(out, [7.0, 7.0, np.nan, np.nan])


def test_off_grid_start_is_weighted_by_overlap() -> None:
    events = _events(M15, [0.0, 4.0], start=T0 - timedelta(minutes=5))
    out = on_grid(events, M15, T0, M15, 1, "flow")
    np.testing.assert_allclose(out, [(0.0 * 10 + 4.0 * 5) / 15])


def test_instants_take_the_covering_event_and_exact_instantaneous_ones() -> None:
    out = on_grid(_events(M15, [1.0, 2.0]), M15, T0, M15, 2, "instant")
    np.testing.assert_array_equal(out, [1.0, 2.0, np.nan])
    instantaneous = [(T0, 5.0), (T0 + timedelta(minutes=20), 9.0)]
    out = on_grid(instantaneous, timedelta(0), T0, M15, 2, "instant")
    np.testing.assert_array_equal(out, [5.0, np.nan, np.nan])


def test_instantaneous_events_in_a_flow_are_averaged_per_slot() -> None:
    events = [(T0, 1.0), (T0 + timedelta(minutes=5), 3.0), (T0 + timedelta(minutes=20), 8.0)]
    out = on_grid(events, timedelta(0), T0, M15, 3, "flow")
    np.testing.assert_array_equal(out, [2.0, 8.0, np.nan])


def test_nothing_known_is_all_nan() -> None:
    assert np.isnan(on_grid([], M15, T0, M15, 3, "flow")).all()
    assert len(on_grid([], M15, T0, M15, 3, "instant")) == 4
