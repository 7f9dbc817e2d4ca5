"""Ingest under abuse, through the real broker and database: direct device producers sending poison
interleaved with valid data, and a SIGKILL in the middle of a 100,000-belief stream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from shared import kafka
from shared.messages import DeadLetter, PostSensorData
from shared.settings import Settings
from shared.topics import SENSOR_DATA, SENSOR_DATA_DLQ, key_for
from tests import processes
from tests.integration.conftest import Factory, Service, start_service

START = datetime(2025, 6, 1, tzinfo=UTC)


async def _count(pool: AsyncConnectionPool, sensor: int) -> tuple[int, float]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*), coalesce(sum(event_value), 0) FROM timed_beliefs WHERE sensor_id = %s", (sensor,)
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


async def _wait_for_count(pool: AsyncConnectionPool, sensor: int, expected: int, timeout: float) -> tuple[int, float]:
    deadline = time.monotonic() + timeout
    while True:
        count, total = await _count(pool, sensor)
        if count >= expected or time.monotonic() > deadline:
            return count, total
        await asyncio.sleep(0.2)


async def _dead_letters(settings: Settings, wanted: int, timeout: float, keep: Any) -> list[DeadLetter]:
    """Dead letters (from the start of the DLQ topic) for which ``keep`` is true, until ``wanted`` are found."""
    found: list[DeadLetter] = []
    async with kafka.open_consumer(settings, [SENSOR_DATA_DLQ], f"dlq-{uuid.uuid4().hex[:8]}") as consumer:
        deadline = time.monotonic() + timeout
        while len(found) < wanted and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            letters = [SENSOR_DATA_DLQ.decode(r.value) for records in batch.values() for r in records]
            found.extend(letter for letter in letters if keep(letter))
    return found


async def _all_dead_letters(settings: Settings, timeout: float = 30) -> list[DeadLetter]:
    """Every dead letter now in the DLQ: read from the start of each partition up to its end offset as of this
    call (not "whatever arrives within a few seconds", which can be nothing at all)."""
    async with kafka.open_consumer(settings, [SENSOR_DATA_DLQ], None) as consumer:  # from the earliest offsets
        partitions = await kafka.all_partitions(consumer)
        ends = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "could not read the DLQ to its end"
            batch = await consumer.getmany(*partitions, timeout_ms=500)
            letters.extend(SENSOR_DATA_DLQ.decode(r.value) for records in batch.values() for r in records)
    return letters


async def test_poison_messages_go_to_the_dlq_and_valid_ones_are_stored(
    settings: Settings, ingest: Service, factory: Factory, pool: AsyncConnectionPool
) -> None:
    sensor = await factory.sensor(
        await factory.asset(await factory.account()), unit="kW", resolution=timedelta(minutes=15)
    )
    quarter = timedelta(minutes=15)

    def series(i: int, **extra: Any) -> bytes:
        command = PostSensorData(sensor_id=sensor, start=START + i * quarter, duration=quarter, values=[float(i + 1)],
                                 unit="kW", horizon=timedelta(0), **extra)  # fmt: skip
        return SENSOR_DATA.encode(command)

    marker = uuid.uuid4().hex  # lets this test find its own messages in the shared DLQ (readers ignore the key)

    def marked(value: bytes) -> bytes:
        return b'{"marker":"' + marker.encode() + b'",' + value[1:]

    beliefs = {"type": "PostBeliefs", "sensor_id": sensor, "horizon": "PT0H", "source_name": f"meter-{marker}"}
    poison: dict[str, bytes] = {
        "malformed_message": f'{{"not json {marker}'.encode(),
        "unit_not_convertible": marked(series(1)).replace(b'"unit":"kW"', b'"unit":"EUR"'),
        "unknown_sensor": marked(series(2)).replace(f'"sensor_id":{sensor}'.encode(), b'"sensor_id":987654321'),
        "invalid_resolution": marked(series(3)).replace(b'"duration":"PT15M"', b'"duration":"PT10M"'),
        "unknown_source": marked(series(4)).replace(b'"source_id":null', b'"source_id":987654321'),
        "invalid_beliefs": marked(
            json.dumps({**beliefs, "event_starts": [START.isoformat()] * 2, "values": [1, 2]}).encode()
        ),
    }
    huge_sensor = marked(series(7)).replace(f'"sensor_id":{sensor}'.encode(), b'"sensor_id":99999999999')
    missing_field = marked(json.dumps({"type": "PostSensorData", "sensor_id": sensor}).encode())
    valid = [series(0), series(5), json.dumps({**beliefs, "event_starts": [(START + 6 * quarter).isoformat()],
                                               "values": [7.0]}).encode()]  # fmt: skip
    stream = [
        valid[0],
        *poison.values(),
        valid[1],
        missing_field,
        huge_sensor,
        valid[2],
    ]  # one key: one partition, in order
    async with kafka.open_producer(settings) as producer:
        for value in stream:
            await producer.send(SENSOR_DATA.full_name(settings.topic_prefix), value, key=key_for(sensor))
        await producer.flush()

    count, total = await _wait_for_count(pool, sensor, 3, timeout=30)
    assert (count, total) == (3, 1.0 + 6.0 + 7.0), "valid messages after poison were not all stored"
    letters = await _dead_letters(settings, len(poison) + 2, 30, lambda letter: marker in letter.original)
    reasons = sorted(letter.reason for letter in letters)
    assert reasons == sorted([*poison, "malformed_message", "unknown_sensor"])
    assert all(letter.detail for letter in letters)
    by_reason = {letter.reason: letter for letter in letters}
    assert sorted(x.sensor_id or 0 for x in letters if x.reason == "unknown_sensor") == [987654321, 99999999999]
    assert by_reason["invalid_beliefs"].detail == "Event starts must be unique within one command."
    # reading the DLQ to its end offsets (as the crash test does to prove it empty) finds these letters too
    assert sum(marker in letter.original for letter in await _all_dead_letters(settings)) == len(letters)


@pytest.mark.slow
async def test_sigkill_during_a_stream_loses_and_duplicates_nothing(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool, service_logs: Path
) -> None:
    """100,000 beliefs stream in (1,000 device messages of 100 values); ingest is SIGKILLed mid-stream and
    restarted: afterwards every belief is there exactly once and the DLQ is empty."""
    crash = Settings(**{**settings.model_dump(), "topic_prefix": f"{settings.topic_prefix}crash."})
    await kafka.ensure_topics(crash)
    await asyncio.to_thread(processes.provision_acls, crash)  # topics of its own: their ACLs too
    group = f"flexstream-ingest-crash-{uuid.uuid4().hex[:6]}"
    sensor = await factory.sensor(
        await factory.asset(await factory.account()), unit="kW", resolution=timedelta(minutes=1)
    )
    messages, per_message = 1_000, 100
    prior = START + timedelta(days=365)
    commands = [
        PostSensorData(sensor_id=sensor, start=START + timedelta(minutes=i * per_message),
                       duration=timedelta(minutes=per_message), unit="kW", prior=prior,
                       values=[float(i * per_message + j) for j in range(per_message)])
        for i in range(messages)
    ]  # fmt: skip
    expected_sum = float(sum(range(messages * per_message)))

    ingest = await asyncio.to_thread(start_service, "ingest", crash, service_logs, ingest_group=group)

    async def produce() -> None:
        async with kafka.open_producer(crash) as producer:
            for i, command in enumerate(commands):
                await producer.send(SENSOR_DATA.full_name(crash.topic_prefix), SENSOR_DATA.encode(command),
                                    key=key_for(sensor))  # fmt: skip
                if i % 50 == 49:
                    await producer.flush()
                    await asyncio.sleep(0.1)
            await producer.flush()

    producing = asyncio.create_task(produce())
    killed_at, _ = await _wait_for_count(pool, sensor, 15_000, timeout=60)
    ingest.process.kill()  # SIGKILL: no graceful shutdown, offsets of the running batch uncommitted
    ingest.process.wait()
    assert killed_at < messages * per_message, "the stream finished before the kill; make it longer"
    restarted = await asyncio.to_thread(start_service, "ingest", crash, service_logs, ingest_group=group)
    try:
        await producing
        count, total = await _wait_for_count(pool, sensor, messages * per_message, timeout=120)
        assert (count, total) == (messages * per_message, expected_sum)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM ingested_commands WHERE sensor_id = %s", (sensor,))
            row = await cur.fetchone()
        assert row is not None and row[0] == messages  # every command recorded once
        assert await _all_dead_letters(crash) == []
    finally:
        restarted.stop()


@pytest.mark.slow
async def test_replicas_joining_and_leaving_mid_stream_crash_nothing_and_lose_nothing(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool, service_logs: Path
) -> None:
    """Commands for sensors on every partition stream in while a second ingest joins the group and later leaves:
    each rebalance lands while offsets are being committed. No process exits, and every belief is stored exactly
    once (a batch whose commit the rebalance refused is read again by the partition's new owner, which finds its
    commands done)."""
    scaled = Settings(**{**settings.model_dump(), "topic_prefix": f"{settings.topic_prefix}scale."})
    await kafka.ensure_topics(scaled)
    await asyncio.to_thread(processes.provision_acls, scaled)
    group = f"flexstream-ingest-scale-{uuid.uuid4().hex[:6]}"
    asset = await factory.asset(await factory.account())
    sensors = [await factory.sensor(asset, unit="kW", resolution=timedelta(minutes=1)) for _ in range(12)]
    messages, per_message = 3_000, 20
    commands = [
        PostSensorData(sensor_id=sensors[i % len(sensors)],
                       start=START + timedelta(minutes=(i // len(sensors)) * per_message),
                       duration=timedelta(minutes=per_message), unit="kW",
                       values=[float(i * per_message + j) for j in range(per_message)])
        for i in range(messages)
    ]  # fmt: skip

    first = await asyncio.to_thread(start_service, "ingest", scaled, service_logs, ingest_group=group)
    second: Service | None = None
    leaving = asyncio.Event()  # the last two fifths are produced only once the second replica is leaving

    async def produce() -> None:
        async with kafka.open_producer(scaled) as producer:
            for i, command in enumerate(commands):
                if i == messages * 3 // 5:
                    await leaving.wait()
                await producer.send(SENSOR_DATA.full_name(scaled.topic_prefix), SENSOR_DATA.encode(command),
                                    key=key_for(command.sensor_id))  # fmt: skip
                if i % 20 == 19:
                    await producer.flush()
                    await asyncio.sleep(0.05)
            await producer.flush()

    async def stored() -> int:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM timed_beliefs WHERE sensor_id = ANY(%s)", (sensors,))
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def until_stored(at_least: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (count := await stored()) < at_least and time.monotonic() < deadline:
            assert first.process.poll() is None, f"the first ingest exited; see {first.log}"
            await asyncio.sleep(0.1)
        return count

    producing = asyncio.create_task(produce())
    try:
        assert await until_stored(messages * per_message // 5, timeout=60) < messages * per_message
        second = await asyncio.to_thread(start_service, "ingest", scaled, service_logs, ingest_group=group)
        assert await until_stored(messages * per_message * 3 // 5, timeout=60) == messages * per_message * 3 // 5
        leaving.set()  # the stream goes on (paced, for seconds) while the second replica leaves
        assert second.stop() == 0, f"the second ingest did not stop cleanly; see {second.log}"
        await producing
        assert await until_stored(messages * per_message, timeout=120) == messages * per_message
        assert first.process.poll() is None, f"the first ingest exited; see {first.log}"
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*), coalesce(sum(event_value), 0) FROM timed_beliefs WHERE sensor_id = ANY(%s)",
                (sensors,),
            )
            row = await cur.fetchone()
        assert row is not None
        assert (int(row[0]), float(row[1])) == (messages * per_message, float(sum(range(messages * per_message))))
        assert await _all_dead_letters(scaled) == []
    finally:
        producing.cancel()
        if second is not None and second.process.poll() is None:
            second.stop()
        first.stop()
