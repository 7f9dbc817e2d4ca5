"""SensorChanged events: written to the outbox with the change, published to Kafka by the gateway's relay,
which retries (never drops) while the broker does not acknowledge."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql import outbox as outbox_sql
from services.gateway.workers import outbox_relay as outbox
from shared import kafka
from shared.migrate import migrate
from shared.settings import Settings
from shared.topics import SENSOR_EVENTS
from tests.integration.conftest import Factory
from tests.integration.test_sensors_api import new_sensor


async def events_for(settings: Settings, sensor_id: int, count: int, timeout: float = 30) -> list[Any]:
    consumer = AIOKafkaConsumer(
        SENSOR_EVENTS.full_name(settings.topic_prefix), **kafka.connection_options(settings),
        group_id=None, auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found += [SENSOR_EVENTS.decode(r.value) for r in records if r.key == str(sensor_id).encode()]
    finally:
        await consumer.stop()
    return found


async def test_sensor_changes_reach_the_compacted_topic(
    http: httpx.Client, factory: Factory, settings: Settings, pool: AsyncConnectionPool
) -> None:
    t = await factory.tenant()
    created = http.post("/api/v3_0/sensors", json=new_sensor(t.asset, unit="MW"), headers=t.admin.headers).json()
    sensor_id = created["id"]
    http.patch(f"/api/v3_0/sensors/{sensor_id}", json={"unit": "kW", "attributes": '{"a": 1}'}, headers=t.admin.headers)
    assert http.delete(f"/api/v3_0/sensors/{sensor_id}", headers=t.admin.headers).status_code == 204

    events = await events_for(settings, sensor_id, 3)
    assert [e.change for e in events] == ["created", "updated", "deleted"]
    assert events[0].sensor.unit == "MW" and events[0].sensor.event_resolution == timedelta(minutes=15)
    assert events[1].sensor.unit == "kW" and events[1].sensor.attributes == {"a": 1}
    assert events[2].sensor is None and events[2].sensor_id == sensor_id
    # The relay marks rows published after the broker's ack, so the mark may trail the events a little.
    deadline = time.monotonic() + 10
    while True:
        async with pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT count(*) FILTER (WHERE published_at IS NULL) FROM outbox WHERE key = %s",
                [str(sensor_id).encode()],
            )).fetchone()  # fmt: skip
        if rows == (0,) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert rows == (0,)


async def test_a_refused_change_writes_no_event(
    http: httpx.Client, factory: Factory, pool: AsyncConnectionPool
) -> None:
    t = await factory.tenant()
    body = new_sensor(t.asset)
    first = http.post("/api/v3_0/sensors", json=body, headers=t.admin.headers).json()
    assert http.post("/api/v3_0/sensors", json=body, headers=t.admin.headers).status_code == 422  # duplicate
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT count(*) FROM outbox WHERE key = %s", [str(first["id"]).encode()])
        ).fetchone()
    assert rows == (1,)


# --- the relay on a database of its own (so the running gateway's relay stays out of it) ------------------


@pytest.fixture
async def own_pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    server = settings.database_url.get_secret_value()
    name = f"flexstream_outbox_{uuid.uuid4().hex[:8]}"
    url = make_conninfo(server, dbname=name)
    migrate(url)
    async with AsyncConnectionPool(url, min_size=1, max_size=4, open=False) as pool:
        yield pool
    with psycopg.connect(make_conninfo(server, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class FlakyProducer:
    """Stands in for AIOKafkaProducer: the first ``failures`` sends fail. With ``unreachable`` they raise, as
    aiokafka's ``send`` does while it cannot reach the broker; otherwise they are enqueued but never acknowledged."""

    def __init__(self, failures: int, *, unreachable: bool = False) -> None:
        self.failures = failures
        self.unreachable = unreachable
        self.acked: list[tuple[str, bytes, bytes | None]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures > 0:
            self.failures -= 1
            if self.unreachable:
                raise KafkaConnectionError("broker unreachable")
            future.set_exception(KafkaConnectionError("broker down"))
        else:
            self.acked.append((topic, value, key))
            future.set_result(None)
        return future


async def enqueue(pool: AsyncConnectionPool, n: int) -> None:
    async with pool.connection() as conn:
        for i in range(n):
            await outbox_sql.enqueue(conn, "topic", str(i).encode(), f"value-{i}".encode())


async def unpublished(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")).fetchone()
    return int(row[0]) if row else -1


async def relay_until_published(pool: AsyncConnectionPool, producer: FlakyProducer) -> None:
    """Run the relay (20 ms interval) until the outbox holds no unpublished row (20 s at most), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(pool, producer, timedelta(milliseconds=20), stop))
    try:
        async with asyncio.timeout(20):
            while await unpublished(pool):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_relay_retries_until_acked_and_keeps_order(own_pool: AsyncConnectionPool) -> None:
    await enqueue(own_pool, 5)
    producer = FlakyProducer(failures=2, unreachable=True)
    await relay_until_published(own_pool, producer)
    assert producer.failures == 0
    # every row exactly once, in id order: no duplicates, nothing overtaken while the broker was away
    assert producer.acked == [("topic", f"value-{i}".encode(), str(i).encode()) for i in range(5)]
    assert await unpublished(own_pool) == 0


async def test_unacknowledged_rows_are_sent_again_in_order(own_pool: AsyncConnectionPool) -> None:
    """Sends the broker never acknowledged make the whole batch go again (at-least-once): the last complete
    pass holds every row once, in id order."""
    await enqueue(own_pool, 5)
    producer = FlakyProducer(failures=1)  # the first row's send is never acknowledged
    await relay_until_published(own_pool, producer)
    values = [value for _, value, _ in producer.acked]
    rows = [f"value-{i}".encode() for i in range(5)]
    assert values == rows[1:] + rows  # the failed pass (rows 1-4 acked, row 0 not), then every row once


async def test_nothing_is_marked_published_without_an_ack(own_pool: AsyncConnectionPool) -> None:
    await enqueue(own_pool, 3)
    with pytest.raises(KafkaConnectionError):
        await outbox.drain_once(own_pool, FlakyProducer(failures=1))
    assert await unpublished(own_pool) == 3


async def test_one_relay_at_a_time(own_pool: AsyncConnectionPool) -> None:
    await enqueue(own_pool, 2)
    async with own_pool.connection() as other_replica, other_replica.transaction():
        assert await outbox_sql.try_relay_lock(other_replica)
        assert await outbox.drain_once(own_pool, FlakyProducer(failures=0)) == 0
    assert await outbox.drain_once(own_pool, FlakyProducer(failures=0)) == 2
