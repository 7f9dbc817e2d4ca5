"""GET schedules/<job> shows, per event, the most recent belief of the job's data source, whichever job stored it
(FlexMeasures reads a schedule so), and reads no rows of the older schedules of the same window: a sensor that is
scheduled again and again keeps every schedule, and the read must not slow down with their number."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql import jobs
from shared import kafka
from shared.messages import ScheduleComputed
from shared.settings import Settings
from shared.topics import SCHEDULES, key_for
from tests.integration.conftest import Factory, Service, UserHandle

START = datetime(2026, 3, 2, tzinfo=UTC)
M15 = timedelta(minutes=15)
BELIEF0 = datetime(2026, 3, 1, tzinfo=UTC)


async def _stored_job(
    settings: Settings, pool: AsyncConnectionPool, sensor: int, start: datetime, values: list[float], version: int
) -> uuid.UUID:
    """A job of ``sensor`` over ``len(values)`` slots from ``start``, its schedule stored by the real ingest with
    belief time ``BELIEF0 + version`` minutes (later versions are more recent). ``values`` as a GET shows them: a
    power sensor stores consumption negative, so the message carries them negated."""
    job_id = uuid.uuid4()
    end = start + len(values) * M15
    request = {"start": start.isoformat(), "end": end.isoformat(), "resolution": M15.total_seconds(), "prior": None,
               "body": {}}  # fmt: skip
    async with pool.connection() as conn:
        await jobs.create_job(
            conn, job_id=job_id, sensor_id=sensor, request=request, request_hash=job_id.bytes,
            scheduler="StorageScheduler",
        )  # fmt: skip
    message = ScheduleComputed(
        job_id=job_id, sensor_id=sensor, status="finished", start=start, resolution=M15, values=[-v for v in values],
        unit="kW",
        belief_time=BELIEF0 + timedelta(minutes=version), scheduler="StorageScheduler",
    )  # fmt: skip
    async with kafka.open_producer(settings) as producer:
        topic = SCHEDULES.full_name(settings.topic_prefix)
        await producer.send_and_wait(topic, SCHEDULES.encode(message), key=key_for(sensor))
    await _finished(pool, job_id)
    return job_id


async def _finished(pool: AsyncConnectionPool, job_id: uuid.UUID, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT status FROM schedule_jobs WHERE id = %s", (job_id,))).fetchone()
        if row is not None and row[0] == "finished":
            return
        assert time.monotonic() < deadline, f"job {job_id} not finished by ingest within {timeout} s"
        await asyncio.sleep(0.05)


def _values(http: httpx.Client, user: UserHandle, sensor: int, job: uuid.UUID, duration: str) -> list[float]:
    response = http.get(
        f"/api/v3_0/sensors/{sensor}/schedules/{job}", params={"duration": duration}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return [float(v) for v in response.json()["values"]]


async def test_a_read_shows_the_most_recent_schedule_per_event_within_and_past_the_jobs_window(
    settings: Settings, ingest: Service, http: httpx.Client, factory: Factory, pool: AsyncConnectionPool
) -> None:
    account = await factory.account()
    user = await factory.user(account)
    sensor = await factory.sensor(await factory.asset(account), unit="kW")
    # A: 12 h of 1.0; B (newer): 12 h of 2.0 from hour 6; C (newest): 6 h of 3.0 from the start.
    a = await _stored_job(settings, pool, sensor, START, [1.0] * 48, version=1)
    b = await _stored_job(settings, pool, sensor, START + timedelta(hours=6), [2.0] * 48, version=2)
    assert _values(http, user, sensor, a, "PT12H") == [1.0] * 24 + [2.0] * 24  # B overwrote A's second half
    c = await _stored_job(settings, pool, sensor, START, [3.0] * 24, version=3)

    assert _values(http, user, sensor, a, "PT12H") == [3.0] * 24 + [2.0] * 24
    assert _values(http, user, sensor, b, "PT12H") == [2.0] * 48
    assert _values(http, user, sensor, c, "PT6H") == [3.0] * 24
    # past C's end: whatever is most recent there (B's), as FlexMeasures reads a longer duration
    assert _values(http, user, sensor, c, "PT12H") == [3.0] * 24 + [2.0] * 24


def _scanned_rows(node: dict[str, Any]) -> int:
    """Rows that the scans of a plan (EXPLAIN ANALYZE, JSON) passed on: what was read from the table's heap."""
    own = int(node["Actual Rows"] * node["Actual Loops"]) if "Relation Name" in node else 0
    return own + sum(_scanned_rows(child) for child in node.get("Plans", []))


async def test_reading_a_schedule_passes_over_the_rows_of_older_schedules_of_its_window(
    settings: Settings, ingest: Service, factory: Factory, pool: AsyncConnectionPool
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()), unit="kW")
    versions = 12
    ids = [await _stored_job(settings, pool, sensor, START, [float(v)] * 48, version=v) for v in range(versions)]
    async with pool.connection() as conn:
        job = await jobs.job_by_id(conn, ids[-1], timedelta(days=1))
        assert job is not None and job.belief_time is not None
        query, params = jobs.schedule_query(job, sensor, START, START + timedelta(hours=12), M15)
        cur = await conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params)
        row = await cur.fetchone()
        assert row is not None
        plan = row[0][0]["Plan"]
        values = await jobs.schedule_values(conn, job, sensor, START, START + timedelta(hours=12), M15)
        everything = await conn.execute(jobs.SELECT_SCHEDULE, params)
        assert values == [(r[0], float(r[1])) for r in await everything.fetchall()]
    assert [v for _, v in values] == [-float(versions - 1)] * 48  # as stored
    assert _scanned_rows(plan) == 48, f"the read passed on {_scanned_rows(plan)} rows of {versions} schedules"
