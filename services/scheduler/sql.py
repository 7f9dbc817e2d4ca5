"""Every query the scheduler runs: the job life cycle and the input series.

Jobs move ``queued → started → finished | failed``. The worker marks ``started`` and ``failed``; ``finished`` is
marked by ingest in the transaction that stores the schedule's beliefs (``services/ingest/schedules.py``), so a
finished job always has its values. Every series query bounds ``event_start`` by constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class JobState:
    status: str
    created_at: datetime
    scheduler: str | None
    error_class: str | None
    error_message: str | None
    fallback_job_id: UUID | None
    request: dict[str, Any]


# Waits while the gateway that inserts the job holds its lock (until that commits; migrations/0009). A statement
# of its own: the row read after it must be read with a snapshot taken after the wait.
LOCK_JOB_KEY = "SELECT pg_advisory_xact_lock(schedule_job_key(%(id)s))"

SELECT_JOB_FOR_UPDATE = """
SELECT status, created_at, scheduler, error_class, error_message, fallback_job_id, request
FROM schedule_jobs WHERE id = %(id)s FOR UPDATE
"""

# The commit of a "started" mark is not waited for on disk: losing it in a crash only shows the job as queued until
# its trigger, uncommitted until the job's outcome is durable, runs it again; the outcome's own commit (ingest's, or
# a failure's) is flushed and takes this one with it.
SET_STARTED_COMMIT_UNFLUSHED = "SET LOCAL synchronous_commit = off"

MARK_STARTED = """
UPDATE schedule_jobs SET status = 'started', started_at = now(), attempts = attempts + 1, scheduler = %(scheduler)s
WHERE id = %(id)s
"""

MARK_FAILED = """
UPDATE schedule_jobs
SET status = 'failed', finished_at = now(), error_class = %(error_class)s, error_message = %(error)s,
    fallback_job_id = %(fallback_job_id)s, belief_time = %(belief_time)s
WHERE id = %(id)s AND status <> 'finished'
"""

INSERT_FALLBACK_JOB = """
INSERT INTO schedule_jobs (id, sensor_id, status, request, scheduler, started_at, attempts, fallback_of)
SELECT %(fallback_id)s, sensor_id, 'started', request, %(scheduler)s, now(), 1, id
FROM schedule_jobs WHERE id = %(id)s
"""

SELECT_STATUS = "SELECT status FROM schedule_jobs WHERE id = %(id)s"


async def lock_job(conn: AsyncConnection[Any], job_id: UUID) -> JobState | None:
    """The job, locked until the end of the transaction, once the gateway's transaction creating it has ended;
    None when no such row (yet: a row inserted by a transaction that had not taken the lock yet either)."""
    await conn.execute(LOCK_JOB_KEY, {"id": job_id})
    async with conn.cursor(row_factory=class_row(JobState)) as cur:
        await cur.execute(SELECT_JOB_FOR_UPDATE, {"id": job_id})
        return await cur.fetchone()


async def mark_started(conn: AsyncConnection[Any], job_id: UUID, scheduler: str | None) -> None:
    """Mark the job started, in a transaction whose commit does not wait for the disk."""
    await conn.execute(SET_STARTED_COMMIT_UNFLUSHED)
    await conn.execute(MARK_STARTED, {"id": job_id, "scheduler": scheduler})


async def mark_failed(
    conn: AsyncConnection[Any],
    job_id: UUID,
    error_class: str,
    error: str,
    *,
    belief_time: datetime | None = None,
    fallback_job_id: UUID | None = None,
) -> None:
    params = {"id": job_id, "error_class": error_class, "error": error, "fallback_job_id": fallback_job_id,
              "belief_time": belief_time}  # fmt: skip
    await conn.execute(MARK_FAILED, params)


async def create_fallback_job(conn: AsyncConnection[Any], job_id: UUID, fallback_id: UUID, scheduler: str) -> None:
    """A job row for the fallback schedule (started), with the failed job's request."""
    await conn.execute(INSERT_FALLBACK_JOB, {"id": job_id, "fallback_id": fallback_id, "scheduler": scheduler})


async def job_status(conn: AsyncConnection[Any], job_id: UUID) -> str | None:
    row = await (await conn.execute(SELECT_STATUS, {"id": job_id})).fetchone()
    return str(row[0]) if row else None


# --- input series -------------------------------------------------------------------------------------------
#
# "As known at" belief time b, selected as data GETs select (docs/api.md, "Reads"): the most recent belief per
# (event, source) with belief time ≤ b (its median probability row), then one value per event: the source with the
# highest version, then the latest belief time, then the lowest source id.

SELECT_SERIES = """
WITH latest AS (
    SELECT DISTINCT ON (event_start, source_id) event_start, source_id, belief_time, event_value
    FROM timed_beliefs
    WHERE sensor_id = %(sensor_id)s AND event_start >= %(lo)s AND event_start < %(hi)s
      AND belief_time <= %(belief_time)s
    ORDER BY event_start, source_id, belief_time DESC, abs(cumulative_probability - 0.5)
), ranks AS MATERIALIZED (
    SELECT ds.id AS source_id,
           ARRAY(SELECT part::integer FROM unnest(string_to_array(coalesce(ds.version, ''), '.')) AS part
                 WHERE part ~ '^[0-9]+$' AND length(part) < 10) AS version
    FROM data_sources ds WHERE ds.id IN (SELECT DISTINCT source_id FROM latest)
)
SELECT DISTINCT ON (l.event_start) l.event_start, l.event_value
FROM latest l JOIN ranks r USING (source_id)
ORDER BY l.event_start, r.version DESC, l.belief_time DESC, l.source_id
"""


@dataclass(frozen=True)
class SeriesWindow:
    sensor_id: int
    lo: datetime
    hi: datetime


async def series(
    conn: AsyncConnection[Any], windows: list[SeriesWindow], belief_time: datetime
) -> list[list[tuple[datetime, float]]]:
    """Per window, one value per event of its sensor starting in ``[lo, hi)``, as known at ``belief_time``: all
    queries in one round trip (pipeline mode)."""
    async with conn.pipeline():
        cursors = [
            await conn.execute(
                SELECT_SERIES, {"sensor_id": w.sensor_id, "lo": w.lo, "hi": w.hi, "belief_time": belief_time}
            )  # fmt: skip
            for w in windows
        ]
    return [[(row[0], float(row[1])) for row in await cur.fetchall()] for cur in cursors]


def window_for(start: datetime, end: datetime, resolution: timedelta, step: timedelta) -> tuple[datetime, datetime]:
    """The event starts that can touch ``[start, end]``: events of length ``resolution`` starting up to one
    event before ``start``, through one step after ``end`` (the last instant)."""
    return start - resolution, end + step + timedelta(microseconds=1)


SELECT_SENSOR_ACCOUNT = """
SELECT a.account_id FROM sensors s JOIN generic_assets a ON a.id = s.generic_asset_id WHERE s.id = %(id)s
"""


async def sensor_account(conn: AsyncConnection[Any], sensor_id: int) -> int | None:
    """The account owning the sensor's asset (None for a public asset or a deleted sensor)."""
    row = await (await conn.execute(SELECT_SENSOR_ACCOUNT, {"id": sensor_id})).fetchone()
    return None if row is None else row[0]


# Written by ingest in the transaction that stored those records (``migrations/0008_ingest_progress.sql``).
SELECT_INGEST_PROGRESS = """
SELECT partition, next_offset FROM ingest_progress WHERE topic = %(topic)s AND partition = ANY(%(partitions)s)
"""


async def ingest_progress(conn: AsyncConnection[Any], topic: str, partitions: list[int]) -> dict[int, int]:
    """Partition → the offset after the last record of ``topic`` that ingest has finished (recorded ones only)."""
    cursor = await conn.execute(SELECT_INGEST_PROGRESS, {"topic": topic, "partitions": partitions})
    return {partition: offset for partition, offset in await cursor.fetchall()}
