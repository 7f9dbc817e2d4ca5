"""End to end through the real broker: a PostSensorData produced to flexstream.sensor-data.v1 lands as
belief rows, and the ingested event arrives; a message that can never succeed lands in the DLQ."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from shared import kafka
from shared.messages import PostSensorData
from shared.settings import Settings
from shared.topics import INGESTED, SENSOR_DATA, SENSOR_DATA_DLQ, key_for
from tests.integration.conftest import Factory, Service


async def _wait_for(consumer: object, predicate: object, timeout: float = 30) -> list[object]:
    found: list[object] = []
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)  # type: ignore[attr-defined]
        found = [r for records in batch.values() for r in records if predicate(r)]  # type: ignore[operator]
    return found


async def test_posted_command_becomes_rows_and_an_ingested_event(
    settings: Settings, ingest: Service, factory: Factory, pool: AsyncConnectionPool
) -> None:
    account = await factory.account()
    sensor = await factory.sensor(await factory.asset(account), unit="kW", resolution=timedelta(minutes=15))
    command = PostSensorData(
        sensor_id=sensor,
        start=datetime(2025, 1, 1, tzinfo=UTC),
        duration=timedelta(hours=1),
        values=[1.0, 2.0, None, 4.5],
        unit="W",
        horizon=timedelta(0),
    )
    async with kafka.open_consumer(settings, [INGESTED], None, auto_offset_reset="latest") as consumer:
        await kafka.position_at_end(consumer)  # at the end of every partition before producing
        async with kafka.open_producer(settings) as producer:
            await producer.send_and_wait(
                SENSOR_DATA.full_name(settings.topic_prefix), SENSOR_DATA.encode(command), key=key_for(sensor)
            )
        events = await _wait_for(consumer, lambda r: INGESTED.decode(r.value).command_id == command.command_id)
    assert events, "no ingested event within 30 s"
    event = INGESTED.decode(events[0].value)  # type: ignore[attr-defined]
    assert (event.outcome, event.rows_written, event.summary.count) == ("processed", 3, 3)
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT event_start, event_value, belief_time FROM timed_beliefs WHERE sensor_id = %s ORDER BY 1",
                (sensor,),
            )
        ).fetchall()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    quarter = timedelta(minutes=15)
    assert [r[0] for r in rows] == [start, start + quarter, start + 3 * quarter]
    assert [r[1] for r in rows] == pytest.approx([0.001, 0.002, 0.0045])  # W → kW
    assert [r[2] for r in rows] == [start + quarter, start + 2 * quarter, start + 4 * quarter]  # horizon 0


async def test_unknown_sensor_goes_to_the_dead_letter_topic(settings: Settings, ingest: Service) -> None:
    command = PostSensorData(
        sensor_id=987654321, start=datetime(2025, 1, 1, tzinfo=UTC), duration=timedelta(hours=1), values=[1], unit="kW"
    )
    async with kafka.open_consumer(settings, [SENSOR_DATA_DLQ], f"dlq-{uuid.uuid4().hex[:6]}") as consumer:
        async with kafka.open_producer(settings) as producer:
            await producer.send_and_wait(
                SENSOR_DATA.full_name(settings.topic_prefix), SENSOR_DATA.encode(command), key=key_for(987654321)
            )
        letters = await _wait_for(consumer, lambda r: SENSOR_DATA_DLQ.decode(r.value).command_id == command.command_id)
    assert letters, "no dead letter within 30 s"
    letter = SENSOR_DATA_DLQ.decode(letters[0].value)  # type: ignore[attr-defined]
    assert letter.reason == "unknown_sensor"
    assert PostSensorData.model_validate_json(letter.original) == command
