"""A scheduling job reads its inputs while its claim runs (``services/scheduler/worker.py``): the claim only marks the
job started, and a claim can wait on the gateway's commit of the job row. Against the real database and broker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql import jobs
from services.scheduler import worker
from services.scheduler.ingest_wait import IngestProgress
from shared import kafka
from shared.errors import FlexRejected
from shared.messages import TriggerSchedule
from shared.settings import SchedulerSettings, Settings
from tests.integration.conftest import Factory

START = datetime(2026, 3, 2, tzinfo=UTC)


async def _job(pool: AsyncConnectionPool, job_id: uuid.UUID) -> tuple[str, str | None]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT status, error_message FROM schedule_jobs WHERE id = %s", (job_id,))
        row = await cur.fetchone()
    assert row is not None
    return str(row[0]), row[1]


async def _create(conn: Any, job_id: uuid.UUID, sensor: int) -> None:
    await jobs.create_job(
        conn, job_id=job_id, sensor_id=sensor, request={"start": START.isoformat()}, request_hash=job_id.bytes,
        scheduler="StorageScheduler",
    )  # fmt: skip


async def test_a_job_loads_its_inputs_while_its_claim_waits_for_the_job_row(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    job_id = uuid.uuid4()
    trigger = TriggerSchedule(job_id=job_id, sensor_id=sensor, start=START, duration=timedelta(hours=1))
    loading = asyncio.Event()

    async def inputs(ctx: worker.Context, trigger: TriggerSchedule) -> worker.Inputs:
        loading.set()
        raise FlexRejected("the inputs of this test")

    monkeypatch.setattr(worker, "_inputs", inputs)
    progress = IngestProgress(pool, None, "unused", "unused", asyncio.Event())  # nothing to wait for: no offsets
    async with kafka.open_producer(settings) as producer:
        ctx = worker.Context(SchedulerSettings(**settings.model_dump()), pool, producer, progress)
        async with pool.connection() as gateway, gateway.transaction():
            await _create(gateway, job_id, sensor)
            running = asyncio.create_task(worker.run_job(ctx, trigger))
            await asyncio.wait_for(loading.wait(), 5)  # while the claim waits for this transaction's commit
            assert not running.done()
        await asyncio.wait_for(running, 10)
    status, error = await _job(pool, job_id)
    assert status == "failed" and error is not None and "the inputs of this test" in error


async def test_the_inputs_of_a_job_found_finished_are_set_aside(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redelivered trigger of a finished job: its inputs, still loading, are cancelled and nothing is written."""
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    job_id = uuid.uuid4()
    async with pool.connection() as conn:
        await _create(conn, job_id, sensor)
        await conn.execute("UPDATE schedule_jobs SET status = 'finished', finished_at = now() WHERE id = %s", (job_id,))
    trigger = TriggerSchedule(job_id=job_id, sensor_id=sensor, start=START, duration=timedelta(hours=1))
    loading, cancelled = asyncio.Event(), asyncio.Event()

    async def inputs(ctx: worker.Context, trigger: TriggerSchedule) -> worker.Inputs:
        loading.set()
        try:
            await asyncio.Event().wait()  # slower than any claim
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    monkeypatch.setattr(worker, "_inputs", inputs)
    progress = IngestProgress(pool, None, "unused", "unused", asyncio.Event())
    ctx = worker.Context(SchedulerSettings(**settings.model_dump()), pool, cast(Any, None), progress)
    await asyncio.wait_for(worker.run_job(ctx, trigger), 10)  # nothing is published: no producer is needed
    assert loading.is_set() and cancelled.is_set()
    assert await _job(pool, job_id) == ("finished", None)
