"""The time buckets of the stats aggregates: whole UTC days, shared by the stats service (which keeps one
aggregate row per sensor, source and day) and the gateway (which answers a window from the whole days
inside it plus the rows of the partial days at its edges). Pure functions only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

BUCKET = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # stands for "no lower bound" (PostgreSQL holds it as a timestamptz)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)  # stands for "no upper bound"

Span = tuple[datetime, datetime]  # [lo, hi): event_start >= lo AND event_start < hi
EMPTY: Span = (EPOCH, EPOCH)


def floor_bucket(instant: datetime) -> datetime:
    """The start of the bucket holding ``instant``."""
    return instant - (instant - EPOCH) % BUCKET


def ceil_bucket(instant: datetime) -> datetime:
    """The first bucket start at or after ``instant``."""
    floor = floor_bucket(instant)
    return floor if floor == instant else floor + BUCKET


def touched_span(event_start: datetime, event_end: datetime) -> Span:
    """The buckets a write of events starting in ``[event_start, event_end]`` may have changed.

    ``event_end`` is the end of the last event written, so the last start lies before it, or on it for
    an instantaneous sensor: the bucket holding ``event_end`` is included either way."""
    return floor_bucket(event_start), floor_bucket(event_end) + BUCKET


def merge_spans(spans: list[Span]) -> list[Span]:
    """Overlapping or adjacent spans joined, in order."""
    merged: list[Span] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


@dataclass(frozen=True)
class WindowPlan:
    """How to answer ``event_start_time <= event_start < event_end_time``: the aggregate rows of the
    buckets in ``buckets``, plus the beliefs themselves in the two partial ``edges`` (either may be EMPTY)."""

    buckets: Span
    edges: tuple[Span, Span]


def plan_window(start: datetime | None, end: datetime | None) -> WindowPlan:
    """Split a window (each bound optional) into whole buckets and the partial edges around them."""
    lo = ceil_bucket(start) if start is not None else EARLIEST
    hi = floor_bucket(end) if end is not None else LATEST
    if lo >= hi:  # both bounds given, no whole bucket between them: only rows
        assert start is not None and end is not None
        return WindowPlan(EMPTY, ((start, end) if start < end else EMPTY, EMPTY))
    before = (start, lo) if start is not None and start < lo else EMPTY
    after = (hi, end) if end is not None and hi < end else EMPTY
    return WindowPlan((lo, hi), (before, after))
