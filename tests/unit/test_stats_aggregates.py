"""What a batch of BeliefsIngested events asks of the aggregates (services/stats/aggregates.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.stats.aggregates import SensorWork, plan
from shared.messages import BeliefsIngested, IngestOutcome

DAY = timedelta(days=1)
T = datetime(2025, 3, 1, tzinfo=UTC)


def event(
    sensor: int, outcome: IngestOutcome, start: datetime | None = None, end: datetime | None = None
) -> BeliefsIngested:
    return BeliefsIngested(command_id=uuid.uuid4(), sensor_id=sensor, outcome=outcome, event_start=start, event_end=end)


def test_writes_name_the_days_to_recompute_merged_per_sensor() -> None:
    work = plan([
        event(1, "processed", T + timedelta(hours=1), T + timedelta(hours=2)),
        event(1, "already_received", T + DAY, T + DAY + timedelta(hours=1)),  # some rows new, some not
        event(2, "processed", T + 5 * DAY, T + 5 * DAY + timedelta(minutes=15)),
        event(1, "processed", T + 9 * DAY, T + 9 * DAY + timedelta(hours=1)),
    ])  # fmt: skip
    assert work == {
        1: SensorWork(False, [(T, T + 2 * DAY), (T + 9 * DAY, T + 10 * DAY)]),
        2: SensorWork(False, [(T + 5 * DAY, T + 6 * DAY)]),
    }


def test_events_that_stored_nothing_ask_nothing() -> None:
    assert plan([event(1, "already_received"), event(2, "replacement_rejected", T, T + DAY)]) == {}


def test_a_deletion_clears_the_sensor_and_later_writes_are_still_recomputed() -> None:
    work = plan([event(1, "processed", T, T + timedelta(hours=1)), event(1, "deleted"),
                 event(1, "processed", T + DAY, T + DAY + timedelta(hours=1))])  # fmt: skip
    assert work == {1: SensorWork(True, [(T, T + 2 * DAY)])}
