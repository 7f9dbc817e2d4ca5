"""Ingest's decoding of device records: ids and belief times derived from the record are stable on replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import numpy as np
import pytest
from aiokafka.structs import ConsumerRecord

from services.ingest.handlers import (
    MAX_ORIGINAL_BYTES,
    Results,
    _replay,
    announcements,
    dead_letter,
    decode,
)
from shared.beliefs import MAX_MAGNITUDE, SensorInfo, rows_for
from shared.command_results import of_event, storable
from shared.errors import InvalidBeliefs, MalformedMessage
from shared.messages import BeliefsIngested, PostBeliefs, PostSensorData, ValueSummary
from shared.topics import INGESTED


def record(value: bytes, offset: int = 5) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="t", partition=1, offset=offset, timestamp=1_735_689_600_000, timestamp_type=0,
                          key=b"3", value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                          headers=())  # fmt: skip


DEVICE = b'{"type": "PostBeliefs", "sensor_id": 3, "event_starts": ["2025-01-01T00:00:00Z"], "values": [1.5]}'


def test_device_records_get_a_stable_command_id_and_the_record_time() -> None:
    first, again = decode(record(DEVICE)), decode(record(DEVICE))
    assert first.command_id == again.command_id != decode(record(DEVICE, offset=6)).command_id
    assert first.recorded_at == datetime(2025, 1, 1, tzinfo=UTC)


def test_given_ids_and_times_are_kept() -> None:
    command = PostBeliefs(sensor_id=3, event_starts=[datetime(2025, 1, 1, tzinfo=UTC)], values=[1.0])
    decoded = decode(record(command.model_dump_json().encode()))
    assert (decoded.command_id, decoded.recorded_at) == (command.command_id, command.recorded_at)


def test_mismatched_lengths_are_malformed() -> None:
    with pytest.raises(MalformedMessage, match="2 event starts but 1 values"):
        decode(record(DEVICE.replace(b'["2025-01-01T00:00:00Z"]', b'["2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"]')))


def test_explicit_beliefs_become_rows_in_the_sensor_unit() -> None:
    sensor = SensorInfo(3, "kW", timedelta(minutes=15))
    starts = [datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 0, 30, tzinfo=UTC)]
    rows = rows_for(PostBeliefs(sensor_id=3, event_starts=starts, values=[1000, None], unit="W", horizon=timedelta(0)),
                    sensor)  # fmt: skip
    assert rows.values.tolist() == [1.0] and len(rows) == 1
    assert rows.belief_times[0] - rows.event_starts[0] == np.timedelta64(15, "m")
    with pytest.raises(InvalidBeliefs, match="unique"):
        rows_for(PostBeliefs(sensor_id=3, event_starts=starts[:1] * 2, values=[1, 2]), sensor)
    with pytest.raises(InvalidBeliefs, match="finite"):
        rows_for(PostBeliefs(sensor_id=3, event_starts=starts[:1], values=[float("inf")]), sensor)
    with pytest.raises(InvalidBeliefs, match="Cannot place"):
        rows_for(PostBeliefs(sensor_id=3, event_starts=[datetime(9999, 1, 1, tzinfo=UTC)], values=[1]), sensor)


def test_dead_letters_of_huge_records_stay_small() -> None:
    huge = b'{"type": "PostSensorData", "values": [' + b"1," * MAX_ORIGINAL_BYTES + b"1]}"
    letter = dead_letter(record(huge), MalformedMessage("bad"))
    assert len(letter.original) == MAX_ORIGINAL_BYTES and "truncated" in letter.detail
    assert (letter.sensor_id, letter.offset) == (3, 5)


def test_values_that_overflow_in_the_sensor_unit_are_refused() -> None:
    """1e306 GW is finite, but 1e309 MW is not: refused before anything is written (it used to crash ingest)."""
    sensor = SensorInfo(3, "MW", timedelta(hours=1))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    post = PostSensorData(sensor_id=3, start=start, duration=timedelta(hours=2), values=[1e306, 1.0], unit="GW")
    with pytest.raises(InvalidBeliefs, match="magnitude"):
        rows_for(post, sensor)
    with pytest.raises(InvalidBeliefs, match="magnitude"):  # finite, but a sum of a few such values is not
        rows_for(post.model_copy(update={"values": [1e301, 1.0], "unit": "MW"}), sensor)
    assert rows_for(
        post.model_copy(update={"values": [MAX_MAGNITUDE, None], "unit": "MW"}), sensor
    ).values.tolist() == [MAX_MAGNITUDE]


@pytest.mark.parametrize(
    "change",
    [{"source_name": "meter\x00"}, {"source_name": "m" * 121}, {"unit": "M\x00W"}, {"unit": "W" * 81}],
)
def test_text_postgresql_cannot_store_is_malformed(change: dict[str, str]) -> None:
    body = json.loads(DEVICE) | change
    with pytest.raises(MalformedMessage):
        decode(record(json.dumps(body).encode()))


def test_stored_results_hold_no_nul_and_no_infinity() -> None:
    """What ``ingested_commands`` keeps must fit ``jsonb`` (no NUL character, no Infinity)."""
    letter = dead_letter(record(b'{"unit": "M\x00W"}'), MalformedMessage("unit: M\x00W"))
    kept = storable({"dead": letter.model_dump(mode="json"), "sum": float("inf")})
    assert "\x00" not in json.dumps(kept) and kept["sum"] is None
    assert kept["dead"]["original"] == '{"unit": "M\ufffdW"}'


def test_an_events_stored_result_is_its_kafka_json_and_replays_as_the_event() -> None:
    event = BeliefsIngested(
        command_id=uuid4(), sensor_id=3, source_id=7, outcome="processed", rows_written=96,
        summary=ValueSummary(count=96, min=-1e300, max=2.5, sum=0.125), event_start=datetime(2025, 1, 1, tzinfo=UTC),
        event_end=datetime(2025, 1, 2, tzinfo=UTC),
    )  # fmt: skip
    payload = INGESTED.encode(event)
    stored = json.loads(of_event(payload))
    assert stored == {"ingested": event.model_dump(mode="json")}  # what the rows held when built from the dump
    replayed = Results()
    _replay(stored, replayed)
    assert replayed.ingested == [event]
    long = BeliefsIngested(command_id=uuid4(), sensor_id=4, outcome="processed")
    letter = dead_letter(record(b"{}"), MalformedMessage("no"), PostSensorData(sensor_id=5, values=[1.0], unit="kW",
                         start=datetime(2025, 1, 1, tzinfo=UTC), duration=timedelta(minutes=15)))  # fmt: skip
    batch = Results([event, long], [letter], {event.command_id: payload, long.command_id: b"x" * 8000})
    # too long to announce, and a dead letter: by their ids alone
    assert announcements(batch) == [payload.decode(), str(long.command_id), str(letter.command_id)]


def test_the_results_of_two_halves_keep_every_encoded_event() -> None:
    first, second = (BeliefsIngested(command_id=uuid4(), sensor_id=s, outcome="processed") for s in (1, 2))
    halves = Results([first], [], {first.command_id: b"1"}), Results([second], [], {})
    both = halves[0] + halves[1]
    assert both.ingested == [first, second]
    assert (both.payload(first), both.payload(second)) == (b"1", INGESTED.encode(second))
