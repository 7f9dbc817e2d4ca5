"""The database round trips of a scheduling job's steps, counted in libpq's protocol trace against the real
database and broker: the gateway queuing a trigger, the scheduler claiming the job, ingest storing the schedule."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from psycopg_pool import AsyncConnectionPool

from services.gateway.routes import schedules
from services.gateway.sql import jobs, sensors
from services.gateway.workers.data_offsets import open_data_offsets
from services.ingest.schedules import store_schedules
from services.scheduler import sql as scheduler_sql
from services.scheduler import worker
from shared import db, kafka
from shared.messages import ScheduleComputed, TriggerSchedule
from shared.settings import GatewaySettings, SchedulerSettings, Settings
from tests.integration.conftest import Factory
from tests.integration.libpq_trace import round_trips, traced
from tests.integration.test_schedule_storing import START as QUEUED_START
from tests.integration.test_schedule_storing import queued_job

START = datetime(2026, 3, 2, tzinfo=UTC)
M15 = timedelta(minutes=15)


async def _status(pool: AsyncConnectionPool, job_id: uuid.UUID) -> str:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT status FROM schedule_jobs WHERE id = %s", (job_id,))).fetchone()
    assert row is not None
    return str(row[0])


async def test_storing_a_schedule_takes_one_round_trip(factory: Factory, pool: AsyncConnectionPool) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    job_id = await queued_job(pool, sensor)
    message = ScheduleComputed(
        job_id=job_id, sensor_id=sensor, status="finished", start=START, resolution=M15, values=[1.0, 2.0, 3.0],
        unit="kW", belief_time=START - timedelta(hours=1), scheduler="StorageScheduler",
    )  # fmt: skip
    written: list[int] = []

    async def store() -> None:
        written.append(await store_schedules(conn, [message]))

    async with db.own_transaction(pool) as conn:
        trace = await traced(conn, store)
    assert round_trips(trace) == 1, trace
    assert written == [3]
    assert await _status(pool, job_id) == "finished"


async def test_claiming_a_job_takes_two_round_trips(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    job_id = await queued_job(pool, sensor)
    trigger = TriggerSchedule(job_id=job_id, sensor_id=sensor, start=START, duration=timedelta(hours=1))
    async with AsyncConnectionPool(settings.database_url.get_secret_value(), min_size=1, max_size=1, open=False) as one:
        async with one.connection() as conn:
            pass  # the pool's only connection: the claim gets it again, with the trace on
        ctx = worker.Context(SchedulerSettings(**settings.model_dump()), one, cast(Any, None), cast(Any, None))
        claimed: list[object] = []

        async def claim() -> None:
            claimed.append(await worker._claim(ctx, trigger))

        trace = await traced(conn, claim)
    assert claimed and claimed[0] is not None
    assert round_trips(trace) == 2, trace
    assert await _status(pool, job_id) == "started"


async def test_reading_a_finished_schedule_takes_two_round_trips(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool
) -> None:
    """The job and the sensor's facts in one, the schedule's values in the other."""
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    job_id = await queued_job(pool, sensor)
    message = ScheduleComputed(
        job_id=job_id, sensor_id=sensor, status="finished", start=QUEUED_START, resolution=M15,
        values=[1.0, 2.0, 3.0], unit="kW", belief_time=QUEUED_START - timedelta(hours=1), scheduler="StorageScheduler",
    )  # fmt: skip
    async with db.own_transaction(pool) as conn:
        await store_schedules(conn, [message])
    async with AsyncConnectionPool(settings.database_url.get_secret_value(), min_size=1, max_size=1, open=False) as one:
        async with one.connection() as conn:
            row = await sensors.sensor_by_id(conn, sensor)  # and the pool's only connection, traced below
        assert row is not None
        state = {"settings": GatewaySettings(**settings.model_dump()), "pool": one}
        request = cast(Any, SimpleNamespace(state=state))
        answers: list[Any] = []

        async def read() -> None:
            answers.append(await schedules._read_schedule(request, row, job_id, str(job_id), timedelta(hours=1)))

        trace = await traced(conn, read)
    assert round_trips(trace) == 2, trace
    assert json.loads(answers[0].body)["values"] == [-1.0, -2.0, -3.0]  # consumption stored negative, read positive


async def test_a_trigger_reads_its_sensor_and_the_facts_it_names_in_one_round_trip_after_its_begin(
    factory: Factory, pool: AsyncConnectionPool
) -> None:
    """The sensor in the path and the facts of it and of the price sensor its flex-context names, after the
    transaction's ``BEGIN`` (psycopg's own, in a round trip of its own): two round trips, three before."""
    asset = await factory.asset(await factory.account())
    sensor, prices = await factory.sensor(asset, unit="kW"), await factory.sensor(asset, unit="EUR/MWh")
    body = {"flex-context": {"consumption-price": {"sensor": prices}}}
    request = cast(Any, SimpleNamespace(path_params={"id": str(sensor)}))
    read: list[Any] = []
    async with pool.connection() as conn:

        async def trigger_reads() -> None:
            read.append(await schedules._sensor_and_facts(conn, request, body))

        trace = await traced(conn, trigger_reads)
    assert round_trips(trace) == 2, trace
    row, own, referenced = read[0]
    assert row.id == own.id == sensor and set(referenced) == {prices}


async def test_a_claim_waits_for_the_commit_of_the_job_row_it_arrived_before(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trigger reaches the scheduler while the gateway's transaction, which inserted the job's row, waits for
    the broker: the claim waits on the job's lock for that commit and finds the row at its first read, without
    polling (which, from 1 ms doubling, overshoots the commit)."""
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    job_id = uuid.uuid4()
    trigger = TriggerSchedule(job_id=job_id, sensor_id=sensor, start=START, duration=timedelta(hours=1))
    ctx = worker.Context(SchedulerSettings(**settings.model_dump()), pool, cast(Any, None), cast(Any, None))
    reads, lock_job = 0, scheduler_sql.lock_job

    async def counted(conn: Any, job: uuid.UUID) -> Any:
        nonlocal reads
        reads += 1
        return await lock_job(conn, job)

    monkeypatch.setattr(scheduler_sql, "lock_job", counted)
    async with pool.connection() as gateway, gateway.transaction():
        await jobs.create_job(
            gateway, job_id=job_id, sensor_id=sensor, request={"start": START.isoformat()},
            request_hash=job_id.bytes, scheduler="StorageScheduler",
        )  # fmt: skip
        claiming = asyncio.create_task(worker._claim(ctx, trigger))
        await asyncio.sleep(0.3)  # the broker's acknowledgement, slow
        assert not claiming.done()
    claimed = await asyncio.wait_for(claiming, 5)
    assert claimed is not None and reads == 1
    assert await _status(pool, job_id) == "started"


async def test_queuing_a_forced_trigger_takes_one_round_trip_beside_the_broker(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    gateway_settings = GatewaySettings(**settings.model_dump())
    async with kafka.open_producer(settings) as producer, open_data_offsets(gateway_settings, producer) as offsets:
        state = {"settings": gateway_settings, "producer": producer, "data_offsets": offsets}
        request = cast(Any, SimpleNamespace(state=state))
        ends: asyncio.Future[dict[int, int]] = asyncio.get_running_loop().create_future()
        ends.set_result({})  # asked for while the trigger read its sensor (``DataOffsets.ahead``)

        def new_job(job_id: uuid.UUID, offsets: dict[int, int]) -> tuple[TriggerSchedule, dict[str, Any], str]:
            trigger = TriggerSchedule(job_id=job_id, sensor_id=sensor, start=START, duration=timedelta(hours=1))
            return trigger, {"start": START.isoformat()}, "StorageScheduler"

        queued: list[tuple[uuid.UUID, bool]] = []
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")  # the request's transaction is open (its sensor was read)

            async def queue() -> None:
                queued.append(await schedules._queue_job(conn, request, b"digest", force=True, ends=ends,
                                                         sensor_ids={sensor}, new_job=new_job))  # fmt: skip

            trace = await traced(conn, queue)
    assert round_trips(trace) == 1, trace
    ((job_id, created),) = queued
    # Committed with its trigger on the topic: a scheduler that an earlier test of the session started may have
    # claimed it already, so any status a job can reach counts; a row that was never committed does not.
    assert created and await _status(pool, job_id) in {"queued", "started", "finished", "failed"}


async def test_a_jobs_inputs_take_two_round_trips_however_many_series(
    settings: Settings, factory: Factory, pool: AsyncConnectionPool
) -> None:
    asset = await factory.asset(await factory.account())
    battery = await factory.sensor(asset, unit="kW")
    buy = await factory.sensor(asset, unit="EUR/MWh", resolution=timedelta(hours=1))
    sell = await factory.sensor(asset, unit="EUR/MWh", resolution=timedelta(hours=1))
    device = await factory.sensor(asset, unit="kW")
    context = {"consumption-price": {"sensor": buy}, "production-price": {"sensor": sell},
               "inflexible-device-sensors": [device]}  # fmt: skip
    model = {"soc-at-start": 10, "soc-unit": "kWh", "soc-min": 0, "soc-max": 100, "power-capacity": "20 kW"}
    body = {"start": START.isoformat(), "duration": "PT4H", "flex-model": model, "flex-context": context}
    trigger = TriggerSchedule(
        job_id=uuid.uuid4(), sensor_id=battery, start=START, duration=timedelta(hours=4), flex_model=model,
        flex_context=context, body=body,
    )  # fmt: skip
    async with AsyncConnectionPool(settings.database_url.get_secret_value(), min_size=1, max_size=1, open=False) as one:
        async with one.connection() as conn:
            pass  # the pool's only connection, traced while the job loads its inputs
        ctx = worker.Context(SchedulerSettings(**settings.model_dump()), one, cast(Any, None), cast(Any, None))
        inputs: list[worker.Inputs] = []

        async def load() -> None:
            inputs.append(await worker._inputs(ctx, trigger))

        trace = await traced(conn, load)
    assert {need.sensor_id for need in inputs[0].series} == {buy, sell, device}
    assert round_trips(trace) == 2, trace  # the sensors' facts, then the three series
