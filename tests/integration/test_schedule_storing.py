"""Ingest stores computed schedules as beliefs and marks their jobs finished in the same transaction, through the
real broker and database (the scheduler's side is in test_scheduling.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from services.gateway.sql import jobs
from shared import kafka
from shared.messages import DeviceSchedule, ScheduleComputed
from shared.settings import Settings
from shared.topics import SCHEDULES, key_for
from tests.integration.conftest import Factory, Service

START = datetime(2026, 3, 1, tzinfo=UTC)
M15 = timedelta(minutes=15)


async def queued_job(pool: AsyncConnectionPool, sensor: int) -> uuid.UUID:
    """A job row as the gateway creates it (queued), for ``sensor``."""
    job_id = uuid.uuid4()
    async with pool.connection() as conn:
        await jobs.create_job(
            conn, job_id=job_id, sensor_id=sensor, request={"start": START.isoformat()}, request_hash=job_id.bytes,
            scheduler="StorageScheduler",
        )  # fmt: skip
    return job_id


async def _produce(settings: Settings, *messages: ScheduleComputed) -> None:
    async with kafka.open_producer(settings) as producer:
        topic = SCHEDULES.full_name(settings.topic_prefix)
        for message in messages:
            await producer.send_and_wait(topic, SCHEDULES.encode(message), key=key_for(message.sensor_id))


async def _job_row(pool: AsyncConnectionPool, job_id: uuid.UUID, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT j.status, j.belief_time, j.time_limit_hit, ds.name, ds.type, ds.model, ds.version, ds.id"
                " FROM schedule_jobs j LEFT JOIN data_sources ds ON ds.id = j.data_source_id WHERE j.id = %s",
                (job_id,),
            )
            row = await cur.fetchone()
        assert row is not None
        if row[0] == "finished" or time.monotonic() > deadline:
            keys = ("status", "belief_time", "time_limit_hit", "name", "type", "model", "version", "source_id")
            return dict(zip(keys, row, strict=True))
        await asyncio.sleep(0.1)


async def _beliefs(pool: AsyncConnectionPool, sensor: int) -> list[tuple[datetime, int, datetime, float]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_start, source_id, belief_time, event_value FROM timed_beliefs WHERE sensor_id = %s"
            " ORDER BY event_start",
            (sensor,),
        )
        return [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]


async def test_a_finished_schedule_is_stored_under_the_scheduler_source_and_marks_the_job(
    settings: Settings, ingest: Service, factory: Factory, pool: AsyncConnectionPool
) -> None:
    account = await factory.account()
    asset = await factory.asset(account)
    power = await factory.sensor(asset, unit="kW")
    soc = await factory.sensor(asset, unit="kWh", resolution=timedelta(0))
    job_id = await queued_job(pool, power)
    belief_time = START - timedelta(hours=1)
    message = ScheduleComputed(
        job_id=job_id, sensor_id=power, status="finished", start=START, resolution=M15, values=[-1.5, 0.0, 2.25],
        unit="kW", belief_time=belief_time, scheduler="StorageScheduler", time_limit_hit=True, soc_sensor_id=soc,
        soc_start=START, soc_values=[10.0, 10.375, 10.375, 9.8125], soc_unit="kWh",
    )  # fmt: skip

    await _produce(settings, message)

    row = await _job_row(pool, job_id)
    assert row["status"] == "finished"
    assert row["belief_time"] == belief_time and row["time_limit_hit"] is True
    assert (row["name"], row["type"], row["model"], row["version"]) == ("Seita", "scheduler", "StorageScheduler", "5")
    stored = await _beliefs(pool, power)
    assert [(s, v) for s, _, _, v in stored] == [(START + i * M15, v) for i, v in enumerate([-1.5, 0.0, 2.25])]
    assert {(src, bt) for _, src, bt, _ in stored} == {(row["source_id"], belief_time)}
    soc_stored = await _beliefs(pool, soc)
    assert [v for *_, v in soc_stored] == [10.0, 10.375, 10.375, 9.8125]
    assert soc_stored[-1][0] == START + 3 * M15


async def test_an_asset_level_job_stores_every_device_and_is_finished_once(
    settings: Settings, ingest: Service, factory: Factory, pool: AsyncConnectionPool
) -> None:
    account = await factory.account()
    asset = await factory.asset(account)
    first, second, third = [await factory.sensor(asset, unit="kW") for _ in range(3)]
    soc = await factory.sensor(asset, unit="kWh", resolution=timedelta(0))
    job_id = await queued_job(pool, first)
    devices = [
        DeviceSchedule(sensor_id=first, values=[1.0, 2.0], unit="kW"),
        DeviceSchedule(sensor_id=second, values=[-3.0, 0.0], unit="kW", soc_sensor_id=soc, soc_values=[5.0, 5.5, 5.5],
                       soc_unit="kWh"),
        DeviceSchedule(sensor_id=third, values=[4.0, 4.0], unit="kW"),
    ]  # fmt: skip
    message = ScheduleComputed(
        job_id=job_id, sensor_id=first, status="finished", start=START, resolution=M15, values=[1.0, 2.0], unit="kW",
        belief_time=START, scheduler="StorageScheduler", devices=devices,
    )  # fmt: skip

    await _produce(settings, message)

    row = await _job_row(pool, job_id)
    assert row["status"] == "finished"
    for device in devices:
        stored = await _beliefs(pool, device.sensor_id)
        assert [(s, src, v) for s, src, _, v in stored] == [
            (START + i * M15, row["source_id"], v) for i, v in enumerate(device.values)
        ]
    assert [v for *_, v in await _beliefs(pool, soc)] == [5.0, 5.5, 5.5]


async def test_fallback_and_process_schedules_get_their_own_sources_and_a_rerun_overwrites(
    settings: Settings, ingest: Service, factory: Factory, pool: AsyncConnectionPool
) -> None:
    account = await factory.account()
    asset = await factory.asset(account)
    power = await factory.sensor(asset, unit="MW")
    belief_time = START - timedelta(hours=2)
    fallback_job, process_job = await queued_job(pool, power), await queued_job(pool, power)
    common: dict[str, Any] = {"sensor_id": power, "status": "finished", "start": START, "resolution": M15,
                              "unit": "MW", "belief_time": belief_time}  # fmt: skip
    await _produce(
        settings,
        ScheduleComputed(job_id=fallback_job, values=[1.0, 1.0], scheduler="StorageFallbackScheduler", **common),
        ScheduleComputed(job_id=fallback_job, values=[1.0, 3.0], scheduler="StorageFallbackScheduler", **common),
        ScheduleComputed(job_id=process_job, values=[0.0, 5.0], scheduler="ProcessScheduler", **common),
    )
    fallback_row, process_row = await _job_row(pool, fallback_job), await _job_row(pool, process_job)
    assert (fallback_row["model"], fallback_row["version"]) == ("StorageFallbackScheduler", "2")
    assert (process_row["model"], process_row["version"]) == ("ProcessScheduler", "1")
    by_source: dict[int, list[float]] = {}
    for _, source, _, value in await _beliefs(pool, power):
        by_source.setdefault(source, []).append(value)
    assert by_source == {fallback_row["source_id"]: [1.0, 3.0], process_row["source_id"]: [0.0, 5.0]}


async def test_a_failed_outcome_stores_nothing(
    settings: Settings, ingest: Service, factory: Factory, pool: AsyncConnectionPool
) -> None:
    account = await factory.account()
    power = await factory.sensor(await factory.asset(account), unit="kW")
    job_id = await queued_job(pool, power)
    failed = ScheduleComputed(job_id=job_id, sensor_id=power, status="failed", error="no prices", start=START)
    marker = await queued_job(pool, power)  # produced after the failure: once it is finished, the failure was consumed
    done = ScheduleComputed(job_id=marker, sensor_id=power, status="finished", start=START + timedelta(days=1),
                            resolution=M15, values=[1.0], unit="kW", belief_time=START)  # fmt: skip
    await _produce(settings, failed, done)
    assert (await _job_row(pool, marker))["status"] == "finished"
    assert (await _job_row(pool, job_id, timeout=0))["status"] == "queued"
    assert len(await _beliefs(pool, power)) == 1
