"""No record stops ingest: through the real broker, database and ingest process, every record on the sensor-data
topic ends up stored or dead-lettered with a reason, the partition moves on and the process never exits.

The records come from hypothesis: valid series interleaved with malformed, truncated, oversized and extreme ones
(non-finite values after unit conversion, NUL characters, over-long strings, out-of-range instants and ids).
Ingest runs here with its own topic prefix and consumer group, so its dead letters are this module's alone.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from shared import kafka
from shared.messages import DeadLetter
from shared.settings import Settings
from shared.topics import SENSOR_DATA, SENSOR_DATA_DLQ, key_for
from tests import processes
from tests.integration.conftest import Factory, Service, start_service

START = datetime(2025, 1, 1, tzinfo=UTC)  # the records that may fail, 4 slots apart
VALID_START = START - timedelta(days=365)  # the valid records, one slot apart: nothing else writes there
QUARTER = timedelta(minutes=15)
MAX_VALUES = 1_000  # ingest's per-command limit here, so that "too many values" is cheap to reach
REASONS = {
    "malformed_message", "unknown_sensor", "unit_not_convertible", "invalid_unit", "invalid_resolution",
    "too_many_values", "unknown_source", "invalid_beliefs", "unstorable",
}  # fmt: skip


@dataclass(frozen=True)
class Poisoned:
    settings: Settings
    ingest: Service
    group: str
    sensor: int  # unit MW, 15 minutes


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _sensor(settings: Settings) -> int:
    async with AsyncConnectionPool(settings.database_url.get_secret_value(), min_size=1, open=False) as pool:
        factory = Factory(pool)
        sensor: int = await factory.sensor(await factory.asset(await factory.account()), unit="MW", resolution=QUARTER)
        return sensor


@pytest.fixture(scope="module")
def poisoned(settings: Settings, service_logs: Path) -> Iterator[Poisoned]:
    own = Settings(**{**settings.model_dump(), "topic_prefix": f"{settings.topic_prefix}poison."})
    run(kafka.ensure_topics(own))
    processes.provision_acls(own)  # topics of its own: their ACLs too (where the broker authenticates)
    group = f"flexstream-ingest-poison-{uuid.uuid4().hex[:6]}"  # the ingest principal's groups start so
    ingest = start_service("ingest", own, service_logs, ingest_group=group, ingest_max_values=MAX_VALUES)
    try:
        yield Poisoned(own, ingest, group, run(_sensor(own)))
    finally:
        ingest.stop()


# --- records --------------------------------------------------------------------------------------------------


def _series(sensor: int, slot: int, values: list[Any], *, at: datetime = START, **extra: Any) -> dict[str, Any]:
    return {
        "type": "PostSensorData", "command_id": str(uuid.uuid4()), "sensor_id": sensor,
        "start": (at + slot * QUARTER).isoformat(), "duration": "PT15M", "values": values, "unit": "MW",
        "horizon": "PT0H", **extra,
    }  # fmt: skip


@dataclass(frozen=True)
class Record:
    marker: str
    raw: bytes
    command_id: str | None
    stored_value: float | None = None  # a valid record: the value that must be stored at its slot
    slot: int = 0  # of a valid record, from VALID_START


PREFIX = len('{"marker": "')


def marker_of(letter: DeadLetter) -> str:
    return letter.original[PREFIX : PREFIX + 32]


def _encode(marker: str, body: dict[str, Any]) -> bytes:
    return json.dumps({"marker": marker, **body}).encode()


finite = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(["\x00", "a\x00b", "MW\x00"])
units = st.sampled_from(["MW", "GW", "TW", "kW", "W", "MWh", "EUR", "", "°C", "MW" * 41]) | texts
long_text = st.integers(min_value=121, max_value=5_000).map(lambda n: "x" * n)
instants = st.sampled_from(
    ["0001-01-01T00:00:00+00:00", "9999-12-31T23:30:00+00:00", "1677-09-21T00:00:00+00:00", "2262-04-12T00:00:00Z"]
)
durations = st.sampled_from(["PT15M", "PT0S", "-PT15M", "P99999999D", "PT7M", "P1D", "P99999D"])
sensor_ids = st.sampled_from([0, -1, 2**31, 2**63, 10**30])
kinds = st.sampled_from(
    ["valid", "valid", "valid", "value", "raw_value", "source_name", "unit", "start", "duration", "horizon",
     "sensor", "too_many", "truncated", "garbage", "beliefs", "oversized"]
)  # fmt: skip


@st.composite
def records(draw: st.DrawFn, sensor: int) -> list[Record]:
    """A stream of records for one sensor; each valid one takes a fresh slot, so its value is the one stored."""
    out: list[Record] = []
    for slot, kind in enumerate(draw(st.lists(kinds, min_size=3, max_size=14))):
        marker = uuid.uuid4().hex
        body = _series(sensor, 4 * slot, [float(slot)])
        value: float | None = None
        if kind == "valid":
            value = float(draw(st.integers(-(10**6), 10**6)))
            body = _series(sensor, slot, [value], at=VALID_START)
        elif kind == "value":
            body.update(values=[draw(finite), draw(finite)], duration="PT30M", unit=draw(units))
        elif kind == "raw_value":
            raw = _encode(marker, body).replace(b"[" + str(float(slot)).encode() + b"]", b"[" + draw(
                st.sampled_from([b"Infinity", b"-Infinity", b"NaN", b"1e400", b"1" + b"0" * 500, b'"1"', b"true"])
            ) + b"]")  # fmt: skip
            out.append(Record(marker, raw, body["command_id"], slot=slot))
            continue
        elif kind == "source_name":
            body["source_name"] = draw(texts | long_text)
        elif kind == "unit":
            body["unit"] = draw(units | long_text)
        elif kind == "start":
            body["start"] = draw(instants)
        elif kind == "duration":
            body["duration"] = draw(durations)
        elif kind == "horizon":
            body["horizon"] = draw(st.sampled_from(["P9999999999D", "-P9999999D", "P99999D"]))
        elif kind == "sensor":
            body["sensor_id"] = draw(sensor_ids)
        elif kind == "too_many":
            body.update(values=[1.0] * (MAX_VALUES + 1), duration=f"PT{15 * (MAX_VALUES + 1)}M")
        elif kind == "beliefs":
            body = {
                "type": "PostBeliefs", "command_id": body["command_id"], "sensor_id": sensor, "horizon": "PT0H",
                "event_starts": [draw(instants | st.just(START.isoformat()))], "values": [draw(finite)],
                "unit": draw(units),
            }  # fmt: skip
        elif kind == "oversized":
            body["source_name"] = "y" * draw(st.integers(100_000, 600_000))
        raw = _encode(marker, body)
        if kind == "truncated":
            raw = raw[: draw(st.integers(PREFIX + 33, len(raw) - 1))]
        elif kind == "garbage":
            raw = raw[: PREFIX + 33] + draw(st.binary(max_size=200))
        out.append(Record(marker, raw, body["command_id"], value, slot))
    return out


# --- what happened to them ------------------------------------------------------------------------------------


async def _send(settings: Settings, sensor: int, stream: list[Record]) -> None:
    async with kafka.open_producer(settings) as producer:
        for record in stream:  # one key: one partition, in this order
            await producer.send(SENSOR_DATA.full_name(settings.topic_prefix), record.raw, key=key_for(sensor))
        await producer.flush()


async def _dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every dead letter now in the DLQ (from the start of each partition to its end offset as of this call)."""
    async with kafka.open_consumer(settings, [SENSOR_DATA_DLQ], None) as consumer:
        partitions = await kafka.all_partitions(consumer)
        ends = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*partitions, timeout_ms=500)
            letters.extend(SENSOR_DATA_DLQ.decode(r.value) for part in batch.values() for r in part)
    return letters


def _done(settings: Settings, command_ids: list[str]) -> dict[str, dict[str, Any]]:
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        rows = conn.execute(
            "SELECT command_id::text, result FROM ingested_commands WHERE command_id::text = ANY(%s)", (command_ids,)
        ).fetchall()
    return {row[0]: row[1] for row in rows}


def _stored(settings: Settings, sensor: int) -> dict[datetime, float]:
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        rows = conn.execute(
            "SELECT event_start, event_value FROM timed_beliefs WHERE sensor_id = %s", (sensor,)
        ).fetchall()
    return {row[0]: row[1] for row in rows}


async def _committed_and_end(settings: Settings, group: str, sensor: int) -> tuple[int | None, int]:
    """The ingest group's committed offset and the end offset of the sensor's partition (read without joining)."""
    topic = SENSOR_DATA.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        **kafka.connection_options(settings), group_id=settings.topic_prefix + group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tp = TopicPartition(topic, kafka.partition_for(sensor, len(partitions)))
        return await consumer.committed(tp), (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()


def account_for(poisoned: Poisoned, stream: list[Record], timeout: float = 60) -> list[DeadLetter]:
    """Wait until every record of ``stream`` is either done (recorded by ingest) or in the DLQ; its letters."""
    deadline = time.monotonic() + timeout
    markers = {r.marker for r in stream}
    while True:
        letters = [x for x in run(_dead_letters(poisoned.settings)) if marker_of(x) in markers]
        lettered = {marker_of(x) for x in letters}
        done = _done(poisoned.settings, [r.command_id for r in stream if r.command_id])
        missing = [r for r in stream if r.marker not in lettered and r.command_id not in done]
        if not missing:
            return letters
        assert poisoned.ingest.process.poll() is None, f"ingest exited: {poisoned.ingest.tail()}"
        assert time.monotonic() < deadline, f"{len(missing)} records neither stored nor dead-lettered: {missing[:2]}"
        time.sleep(0.3)


def assert_all_accounted(poisoned: Poisoned, stream: list[Record]) -> None:
    letters = account_for(poisoned, stream)
    assert {x.reason for x in letters} <= REASONS, {x.reason for x in letters}
    assert all(x.detail for x in letters)
    stored = _stored(poisoned.settings, poisoned.sensor)
    for record in stream:
        if record.stored_value is not None:
            assert stored.get(VALID_START + record.slot * QUARTER) == record.stored_value, record
    assert poisoned.ingest.process.poll() is None, "ingest exited"
    deadline = time.monotonic() + 10  # ingest commits the offsets just after it has sent the batch's events
    while (offsets := run(_committed_and_end(poisoned.settings, poisoned.group, poisoned.sensor)))[0] != offsets[1]:
        assert time.monotonic() < deadline, f"the partition did not move past the records: {offsets}"
        time.sleep(0.2)


# --- tests ----------------------------------------------------------------------------------------------------


def _clear(settings: Settings, sensor: int) -> None:
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        conn.execute("DELETE FROM timed_beliefs WHERE sensor_id = %s", (sensor,))


def test_the_records_that_crashed_ingest_are_dead_lettered(poisoned: Poisoned) -> None:
    """The reported crashes: a value that becomes infinite in the sensor's unit (1e306 GW in MW), a NUL in
    ``source_name`` or ``unit``, a ``source_name`` longer than its column; and a record the database refuses
    although every check passed (here a CHECK constraint that refuses one source name): each is dead-lettered
    with its reason, and the valid records around them are stored."""
    _clear(poisoned.settings, poisoned.sensor)
    refused = f"refused-by-check-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(poisoned.settings.database_url.get_secret_value()) as conn:
        constraint = refused.replace("-", "_")
        conn.execute(f"ALTER TABLE data_sources ADD CONSTRAINT {constraint} CHECK (name <> '{refused}')")
    sensor, stream = poisoned.sensor, []
    bodies = [
        (_series(sensor, 0, [1.0], at=VALID_START), 1.0),
        (_series(sensor, 0, [1e306, 1e306, 1, 2], duration="PT1H", unit="GW"), None),
        (_series(sensor, 4, [1.0], source_name="meter\x00"), None),
        (_series(sensor, 8, [1.0], source_name="m" * 200), None),
        (_series(sensor, 12, [1.0], unit="M\x00W"), None),
        (_series(sensor, 16, [1e301]), None),  # finite, but sums of such values would not be
        (_series(sensor, 20, [1.0], source_name=refused), None),
        (_series(sensor, 1, [2.0], at=VALID_START), 2.0),
    ]
    for body, value in bodies:
        marker = uuid.uuid4().hex
        slot = int((datetime.fromisoformat(body["start"]) - VALID_START) / QUARTER)
        stream.append(Record(marker, _encode(marker, body), body["command_id"], value, slot))
    try:
        run(_send(poisoned.settings, sensor, stream))
        assert_all_accounted(poisoned, stream)
    finally:
        with psycopg.connect(poisoned.settings.database_url.get_secret_value()) as conn:
            conn.execute(f"ALTER TABLE data_sources DROP CONSTRAINT {constraint}")
    letters = {marker_of(x): x for x in run(_dead_letters(poisoned.settings))}
    reasons = [letters[r.marker].reason for r in stream[1:-1]]
    assert reasons == [
        "invalid_beliefs", "malformed_message", "malformed_message", "malformed_message", "invalid_beliefs",
        "unstorable",
    ]  # fmt: skip
    assert "CheckViolation" in letters[stream[-2].marker].detail


@pytest.mark.slow
def test_every_record_is_stored_or_dead_lettered(poisoned: Poisoned) -> None:
    examples = 0

    @hypothesis_settings(max_examples=25, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(st.data())
    def check(data: st.DataObject) -> None:
        nonlocal examples
        examples += 1
        _clear(poisoned.settings, poisoned.sensor)
        stream = data.draw(records(poisoned.sensor))
        run(_send(poisoned.settings, poisoned.sensor, stream))
        assert_all_accounted(poisoned, stream)

    check()
    assert examples >= 10
