"""What a batch of ``BeliefsIngested`` events asks of the aggregates (pure).

Each event that wrote or replaced beliefs names the buckets to recompute from ``timed_beliefs``; a
deletion of a sensor's data clears that sensor's aggregates first. Recomputing (rather than adding the
event's summary) makes every update idempotent: a replayed event recomputes the same buckets from the
same rows and changes nothing, and replacements and deletions come out exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.messages import BeliefsIngested
from shared.stats_buckets import Span, merge_spans, touched_span

WRITES = frozenset({"processed", "already_received"})  # outcomes that may have stored beliefs


@dataclass
class SensorWork:
    clear: bool = False  # the sensor's data was deleted: drop all its aggregates before recomputing
    spans: list[Span] = field(default_factory=list)


def plan(events: Iterable[BeliefsIngested]) -> dict[int, SensorWork]:
    """Per sensor: whether to clear it, and the merged bucket spans to recompute (in that order).

    Clearing first and then recomputing every span of the batch from the current rows is right whatever
    the order of writes and the deletion inside the batch: rows deleted are gone from the table, rows
    written after the deletion are still there and lie in the batch's spans."""
    work: dict[int, SensorWork] = {}
    for event in events:
        if event.outcome == "deleted":
            work.setdefault(event.sensor_id, SensorWork()).clear = True
        elif event.outcome in WRITES and event.event_start is not None and event.event_end is not None:
            span = touched_span(event.event_start, event.event_end)
            work.setdefault(event.sensor_id, SensorWork()).spans.append(span)
    for item in work.values():
        item.spans = merge_spans(item.spans)
    return work
