"""The windows a batch checks with its look-ups, before its sensors are known (``window_hint``, ``early_windows``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka.structs import ConsumerRecord

from services.ingest.handlers import _Item, early_windows, window_hint
from shared.messages import DataCommand, DeleteSensorData, PostBeliefs, PostSensorData

START = datetime(2025, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def series(duration: timedelta, *, start: datetime = START, source: int | None = 7) -> PostSensorData:
    return PostSensorData(sensor_id=1, start=start, duration=duration, values=[1.0, 2.0], unit="kW", source_id=source)


def item(command: DataCommand, account_id: int | None = None) -> _Item:
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord("t", 0, 0, 0, 0, None, b"", None, 0, 0, [])
    return _Item(record, command, account_id=account_id)


def test_a_series_may_place_events_from_its_start_to_just_before_its_end() -> None:
    assert window_hint(series(timedelta(hours=1))) == (START, START + timedelta(hours=1) - US)


def test_a_series_lasting_no_time_is_its_start() -> None:
    assert window_hint(series(timedelta(0))) == (START, START)


def test_explicit_beliefs_span_their_first_and_last_event_start() -> None:
    starts = [START + timedelta(hours=2), START, START + timedelta(hours=1)]
    command = PostBeliefs(sensor_id=1, event_starts=starts, values=[1.0, 2.0, 3.0])
    assert window_hint(command) == (START, START + timedelta(hours=2))


def test_no_window_for_a_deletion_or_one_beyond_the_calendar() -> None:
    assert window_hint(DeleteSensorData(sensor_id=1)) is None
    assert window_hint(series(timedelta(days=2), start=datetime(9999, 12, 31, tzinfo=UTC))) is None


def test_a_batch_of_posts_from_given_sources_is_checked_early() -> None:
    items = [
        item(series(timedelta(hours=1))),
        item(series(timedelta(days=2), start=datetime(9999, 12, 31, tzinfo=UTC))),
    ]
    assert early_windows(items) == [(0, 1, START, START + timedelta(hours=1) - US)]  # the overflowing one later
    assert items[0].hint == (START, START + timedelta(hours=1) - US)
    assert items[1].hint is None


def test_a_batch_with_a_deletion_is_not_checked_early() -> None:
    """A deletion writes before its round's COPY, and the savepoint set with an early check would be before it."""
    post = item(series(timedelta(hours=1)))
    assert early_windows([post, item(DeleteSensorData(sensor_id=2))]) == []
    assert post.hint is None


def test_a_device_record_or_a_named_source_is_checked_early() -> None:
    """Their source is looked up with the check; one created later sets the savepoint again (``ingest_batch``)."""
    window = (START, START + timedelta(hours=1) - US)
    items = [item(series(timedelta(hours=1)), account_id=3), item(series(timedelta(hours=1), source=None))]
    assert early_windows(items) == [(0, 1, *window), (1, 1, *window)]


def test_a_sensor_id_beyond_the_column_is_not_checked() -> None:
    """It names no sensor (its command is dead-lettered as unknown), and the check's integer array cannot hold it."""
    huge = item(series(timedelta(hours=1)).model_copy(update={"sensor_id": 2**40}))
    assert early_windows([item(series(timedelta(hours=1))), huge]) == [(0, 1, START, START + timedelta(hours=1) - US)]
