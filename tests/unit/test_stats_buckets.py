"""Day buckets of the stats aggregates (shared/stats_buckets.py): a window splits into whole days and two
partial edges that together cover it exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from shared.stats_buckets import (
    EARLIEST,
    EMPTY,
    LATEST,
    WindowPlan,
    ceil_bucket,
    floor_bucket,
    merge_spans,
    plan_window,
    touched_span,
)

DAY = timedelta(days=1)
T = datetime(2025, 3, 1, tzinfo=UTC)


def test_floor_and_ceil_are_utc_midnights_whatever_the_offset() -> None:
    late = datetime(2025, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=2)))  # 21:30 UTC
    assert floor_bucket(late) == T and ceil_bucket(late) == T + DAY
    assert floor_bucket(T) == ceil_bucket(T) == T


def test_touched_span_includes_the_day_of_the_end() -> None:
    assert touched_span(T + timedelta(hours=3), T + timedelta(hours=5)) == (T, T + DAY)
    assert touched_span(T + timedelta(hours=23, minutes=45), T + DAY) == (T, T + 2 * DAY)  # end on midnight
    assert touched_span(T, T) == (T, T + DAY)  # an instantaneous event at midnight


def test_merge_spans() -> None:
    spans = [(T + 3 * DAY, T + 4 * DAY), (T, T + DAY), (T + DAY, T + 2 * DAY), (T + 5 * DAY, T + 6 * DAY)]
    assert merge_spans(spans) == [(T, T + 2 * DAY), (T + 3 * DAY, T + 4 * DAY), (T + 5 * DAY, T + 6 * DAY)]
    assert merge_spans([(T, T + 3 * DAY), (T + DAY, T + 2 * DAY)]) == [(T, T + 3 * DAY)]


def test_plans() -> None:
    start, end = T + timedelta(hours=5), T + 2 * DAY + timedelta(hours=7)
    assert plan_window(start, end) == WindowPlan((T + DAY, T + 2 * DAY), ((start, T + DAY), (T + 2 * DAY, end)))
    assert plan_window(start, start + timedelta(hours=1)) == WindowPlan(
        EMPTY, ((start, start + timedelta(hours=1)), EMPTY)
    )
    assert plan_window(T, T + DAY) == WindowPlan((T, T + DAY), (EMPTY, EMPTY))
    assert plan_window(None, T) == WindowPlan((EARLIEST, T), (EMPTY, EMPTY))
    assert plan_window(start, None) == WindowPlan((T + DAY, LATEST), ((start, T + DAY), EMPTY))
    assert plan_window(end, start) == WindowPlan(EMPTY, (EMPTY, EMPTY))


instants = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))


@given(st.none() | instants, st.none() | instants, instants)
def test_the_parts_cover_the_window_exactly_once(start: datetime | None, end: datetime | None, t: datetime) -> None:
    plan = plan_window(start, end)
    in_window = (start is None or t >= start) and (end is None or t < end)
    days_lo, days_hi = plan.buckets
    in_days = days_lo <= floor_bucket(t) and floor_bucket(t) + DAY <= days_hi
    in_edges = [lo <= t < hi for lo, hi in plan.edges]
    assert in_days + sum(in_edges) == int(in_window)
    assert days_lo == EARLIEST or days_lo == floor_bucket(days_lo)  # whole days only
