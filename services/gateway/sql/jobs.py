"""Scheduling jobs as the gateway sees them: de-duplication, creation, lookup and the stored schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

# Serialises identical triggers (same request hash), so two at once still share one job.
LOCK_HASH = "SELECT pg_advisory_xact_lock(hashtextextended(encode(%(hash)s::bytea, 'hex'), 0))"

SELECT_RECENT_JOB = """
SELECT id FROM schedule_jobs
WHERE request_hash = %(hash)s AND created_at > now() - %(ttl)s::interval
ORDER BY created_at DESC LIMIT 1
"""

# With the job's lock (``schedule_job_key``, migrations/0009), held until the commit: a scheduler that has the
# trigger before the row is committed waits for the commit on it.
INSERT_JOB = """
INSERT INTO schedule_jobs (id, sensor_id, status, request, request_hash, scheduler)
SELECT %(id)s, %(sensor_id)s, 'queued', %(request)s, %(hash)s, %(scheduler)s
FROM (SELECT pg_advisory_xact_lock(schedule_job_key(%(id)s))) AS held
"""


async def lock_request(conn: AsyncConnection[Any], request_hash: bytes) -> None:
    """Within the current transaction, wait for any other trigger with the same hash to finish."""
    await conn.execute(LOCK_HASH, {"hash": request_hash})


async def recent_job(conn: AsyncConnection[Any], request_hash: bytes, ttl: timedelta) -> UUID | None:
    """The job created for an identical request within ``ttl``, whatever its state."""
    row = await (await conn.execute(SELECT_RECENT_JOB, {"hash": request_hash, "ttl": ttl})).fetchone()
    return row[0] if row else None


async def create_job(
    conn: AsyncConnection[Any],
    *,
    job_id: UUID,
    sensor_id: int,
    request: dict[str, Any],
    request_hash: bytes,
    scheduler: str,
) -> None:
    params = {"id": job_id, "sensor_id": sensor_id, "request": Jsonb(request), "hash": request_hash,
              "scheduler": scheduler}  # fmt: skip
    await conn.execute(INSERT_JOB, params)


@dataclass(frozen=True)
class JobRow:
    id: UUID
    sensor_id: int
    status: str
    request: dict[str, Any]  # {"start", "end", "resolution", "prior", "body"} as stored by the trigger
    scheduler: str | None
    data_source_id: int | None
    error_class: str | None
    error_message: str | None
    fallback_job_id: UUID | None
    created_at: datetime
    finished_at: datetime | None
    belief_time: datetime | None  # of the stored schedule (set with ``finished``)


SELECT_JOB = """
SELECT id, sensor_id, status, request, scheduler, data_source_id, error_class, error_message, fallback_job_id,
       created_at, finished_at, belief_time
FROM schedule_jobs
WHERE id = %(id)s AND coalesce(finished_at, created_at) > now() - %(ttl)s::interval
"""


async def job_by_id(conn: AsyncConnection[Any], job_id: UUID, ttl: timedelta) -> JobRow | None:
    """The job, unless unknown or its result has expired (``ttl`` after it finished, or was created)."""
    return await read_job(await send_job(conn, job_id, ttl))


async def send_job(conn: AsyncConnection[Any], job_id: UUID, ttl: timedelta) -> AsyncCursor[JobRow]:
    """``job_by_id``'s query, sent (in pipeline mode, not waited for): ``read_job`` reads its answer."""
    return await conn.cursor(row_factory=class_row(JobRow)).execute(SELECT_JOB, {"id": job_id, "ttl": ttl})


async def read_job(cur: AsyncCursor[JobRow]) -> JobRow | None:
    async with cur:
        return await cur.fetchone()


# The most recent belief per event of one source (any belief time), the median row first; event_start is bounded
# by constants so a hypertable only opens the chunks of the window.
_SELECT_SCHEDULE = """
SELECT DISTINCT ON (event_start) event_start, event_value
FROM timed_beliefs
WHERE sensor_id = %(sensor_id)s AND source_id = %(source_id)s
  AND event_start >= %(lo)s AND event_start <= %(last)s{since}
ORDER BY event_start, belief_time DESC, abs(cumulative_probability - 0.5)
"""
SELECT_SCHEDULE = _SELECT_SCHEDULE.format(since="")
# The same, where every event of the window is known to have a belief at ``since`` or later (the job's own): older
# beliefs cannot be the most recent, so only the index entries of older jobs are passed over, not their rows.
SELECT_SCHEDULE_SINCE = _SELECT_SCHEDULE.format(since="\n  AND belief_time >= %(since)s")


def schedule_query(
    job: JobRow, sensor_id: int, lo: datetime, hi: datetime, resolution: timedelta
) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of ``schedule_values``."""
    since = schedule_read_since(job, sensor_id, lo, hi)
    params = {"sensor_id": sensor_id, "source_id": job.data_source_id, "lo": lo, "last": hi - resolution,
              "since": since}  # fmt: skip
    return (SELECT_SCHEDULE if since is None else SELECT_SCHEDULE_SINCE), params


async def schedule_values(
    conn: AsyncConnection[Any], job: JobRow, sensor_id: int, lo: datetime, hi: datetime, resolution: timedelta
) -> list[tuple[datetime, float]]:
    """The events of ``sensor_id`` by the job's data source that start at or after ``lo`` and end at or before
    ``hi``: per event, the most recent belief (FlexMeasures reads a schedule so), of whichever job."""
    query, params = schedule_query(job, sensor_id, lo, hi, resolution)
    cur = await conn.execute(query, params)
    return [(row[0], float(row[1])) for row in await cur.fetchall()]


def schedule_read_since(job: JobRow, sensor_id: int, lo: datetime, hi: datetime) -> datetime | None:
    """The belief time below which no belief can be the most recent in a read of ``[lo, hi)`` of ``sensor_id``: the
    job's own, when the sensor is one of the job's devices and the read lies within the job's window (ingest stores
    a finished job's value for every slot of it, at that belief time); None otherwise, e.g. for a read past the
    job's end, where older jobs' beliefs may be the most recent."""
    request = job.request
    devices = request.get("devices") or [job.sensor_id]
    start, end = request.get("start"), request.get("end")
    if job.belief_time is None or sensor_id not in devices or not isinstance(start, str) or not isinstance(end, str):
        return None
    return job.belief_time if datetime.fromisoformat(start) <= lo and hi <= datetime.fromisoformat(end) else None
