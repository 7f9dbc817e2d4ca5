"""Scheduling jobs as the gateway sees them: de-duplication, creation, lookup and the stored schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

# Serialises identical triggers (same request hash), so two at once still share one job.
LOCK_HASH = "SELECT pg_advisory_xact_lock(hashtextextended(encode(%(hash)s::bytea, 'hex'), 0))"

SELECT_RECENT_JOB = """
SELECT id FROM schedule_jobs
WHERE request_hash = %(hash)s AND created_at > now() - %(ttl)s::interval
ORDER BY created_at DESC LIMIT 1
"""

INSERT_JOB = """
INSERT INTO schedule_jobs (id, sensor_id, status, request, request_hash, scheduler)
VALUES (%(id)s, %(sensor_id)s, 'queued', %(request)s, %(hash)s, %(scheduler)s)
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


SELECT_JOB = """
SELECT id, sensor_id, status, request, scheduler, data_source_id, error_class, error_message, fallback_job_id,
       created_at, finished_at
FROM schedule_jobs
WHERE id = %(id)s AND coalesce(finished_at, created_at) > now() - %(ttl)s::interval
"""


async def job_by_id(conn: AsyncConnection[Any], job_id: UUID, ttl: timedelta) -> JobRow | None:
    """The job, unless unknown or its result has expired (``ttl`` after it finished, or was created)."""
    async with conn.cursor(row_factory=class_row(JobRow)) as cur:
        await cur.execute(SELECT_JOB, {"id": job_id, "ttl": ttl})
        return await cur.fetchone()


# The most recent belief per event of one source (any belief time), the median row first; event_start is bounded
# by constants so a hypertable only opens the chunks of the window.
SELECT_SCHEDULE = """
SELECT DISTINCT ON (event_start) event_start, event_value
FROM timed_beliefs
WHERE sensor_id = %(sensor_id)s AND source_id = %(source_id)s
  AND event_start >= %(lo)s AND event_start <= %(last)s
ORDER BY event_start, belief_time DESC, abs(cumulative_probability - 0.5)
"""


async def schedule_values(
    conn: AsyncConnection[Any], sensor_id: int, source_id: int, lo: datetime, hi: datetime, resolution: timedelta
) -> list[tuple[datetime, float]]:
    """Events of ``sensor_id`` by ``source_id`` starting at or after ``lo`` and ending at or before ``hi``."""
    params = {"sensor_id": sensor_id, "source_id": source_id, "lo": lo, "last": hi - resolution}
    cur = await conn.execute(SELECT_SCHEDULE, params)
    return [(row[0], float(row[1])) for row in await cur.fetchall()]
