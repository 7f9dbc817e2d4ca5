"""Every query ingest runs. Beliefs go through a temporary staging table: COPY in, classify, one upsert."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.adapt import PyFormat
from psycopg.rows import dict_row

from services.ingest.copy_format import HEADER, TRAILER
from services.ingest.pg_arrays import Float8Array, Int4Array, TimestamptzArray
from shared import channels
from shared.beliefs import SensorInfo

# FOR KEY SHARE: a sensor cannot be deleted while a batch writes its beliefs (migrations/0004).
SELECT_SENSORS = """
SELECT id, unit, event_resolution, timezone, attributes
FROM sensors WHERE id = ANY(%(ids)b)
FOR KEY SHARE
"""


# The account owning each sensor's asset (None for a public asset), for the device topics' rule.
SELECT_SENSOR_ACCOUNTS = """
SELECT s.id, a.account_id FROM sensors s JOIN generic_assets a ON a.id = s.generic_asset_id
WHERE s.id = ANY(%(ids)b)
"""

SELECT_DONE_COMMANDS = "SELECT command_id, result FROM ingested_commands WHERE command_id = ANY(%(ids)b)"

SELECT_SOURCE_IDS = "SELECT id FROM data_sources WHERE id = ANY(%(ids)b)"

# A device's data source: known by its name alone (the rest of its identity is empty).
DEVICE_SOURCE = "type = 'device' AND user_id IS NULL AND model IS NULL AND version IS NULL AND attributes_hash IS NULL"

# The sources that commands name, as UPSERT_DEVICE_SOURCE finds them. A name not found here is created by that
# statement, in a round trip of its own.
SELECT_DEVICE_SOURCES = f"SELECT name, id FROM data_sources WHERE name = ANY(%(names)s) AND {DEVICE_SOURCE}"


@dataclass(frozen=True)
class BatchContext:
    """What a batch is checked against: the commands done before (their stored results), the sensors (locked against
    deletion), the owning account of the device topics' sensors, which of the data sources given by id exist, and
    the ids of those given by name that exist."""

    done: dict[UUID, dict[str, Any]]
    sensors: dict[int, SensorInfo]
    owners: dict[int, int | None]
    sources: set[int]
    stored: set[int] = field(default_factory=set)  # of the windows checked with the look-ups, those holding beliefs
    named_sources: dict[str, int] = field(default_factory=dict)


async def load_context(
    conn: AsyncConnection[Any],
    command_ids: Sequence[UUID],
    sensor_ids: Iterable[int],
    device_sensor_ids: Iterable[int],
    source_ids: Iterable[int],
    *,
    source_names: Iterable[str] = (),
    begin: bool = False,
    windows: Sequence[tuple[int, int, datetime, datetime]] = (),
) -> BatchContext:
    """The five look-ups a batch starts with, sent together in one round trip (pipeline mode), after ``BEGIN``
    with ``begin``; a look-up with nothing to look up is not sent. With ``windows``, the check of
    ``commands_over_stored_beliefs`` and its savepoint go last in the same round trip (``BatchContext.stored``)."""
    devices, sources, names = sorted(set(device_sensor_ids)), sorted(set(source_ids)), sorted(set(source_names))
    async with conn.cursor(row_factory=dict_row) as sensor_cur:
        async with conn.pipeline():  # leaving the block sends everything and reads every result
            if begin:
                await conn.execute("BEGIN")
            done_cur = await conn.execute(SELECT_DONE_COMMANDS, {"ids": list(command_ids)}) if command_ids else None
            await sensor_cur.execute(SELECT_SENSORS, {"ids": sorted(set(sensor_ids))})
            owner_cur = await conn.execute(SELECT_SENSOR_ACCOUNTS, {"ids": devices}) if devices else None
            source_cur = await conn.execute(SELECT_SOURCE_IDS, {"ids": sources}) if sources else None
            named_cur = await conn.execute(SELECT_DEVICE_SOURCES, {"names": names}) if names else None
            stored_cur = await _send_stored_windows_check(conn, windows) if windows else None
        return BatchContext(
            done={row[0]: row[1] for row in await done_cur.fetchall()} if done_cur else {},
            sensors={row["id"]: SensorInfo(**row) for row in await sensor_cur.fetchall()},
            owners={row[0]: row[1] for row in await owner_cur.fetchall()} if owner_cur else {},
            sources={row[0] for row in await source_cur.fetchall()} if source_cur else set(),
            stored={row[0] for row in await stored_cur.fetchall()} if stored_cur else set(),
            named_sources={row[0]: row[1] for row in await named_cur.fetchall()} if named_cur else {},
        )


# What a batch finished, in one statement (data-modifying CTEs run to completion whether or not the query reads
# them): the command results, as JSON texts (the events as encoded for Kafka) read as jsonb; how far the batch took
# its partitions, only forward (a replica that lost a partition in a rebalance may finish an older batch late); and
# the announcements, each payload once, at commit (``shared/channels.py``).
RECORD_FINISHED = """
WITH done AS (
    INSERT INTO ingested_commands (command_id, sensor_id, result)
    SELECT c, s, r::jsonb
    FROM unnest(%(command_ids)b::uuid[], %(sensor_ids)b::integer[], %(results)b::text[]) AS t (c, s, r)
    ON CONFLICT (command_id) DO NOTHING
), progress AS (
    INSERT INTO ingest_progress (topic, partition, next_offset)
    SELECT * FROM unnest(%(topics)s::text[], %(partitions)s::integer[], %(offsets)s::bigint[])
    ON CONFLICT (topic, partition) DO UPDATE
    SET next_offset = GREATEST(ingest_progress.next_offset, EXCLUDED.next_offset)
)
SELECT pg_notify(%(channel)s, payload) FROM unnest(%(payloads)b::text[]) AS payload
"""

Progress = Sequence[tuple[str, int, int]]  # (topic, partition, the offset after the last record finished)


# A small batch's beliefs bound for empty windows go in the round trip of the COMMIT (``record_done_commands``):
# two round trips fewer than a COPY, which costs the server less per row and so takes the larger batches.
INSERT_BELIEFS = """
INSERT INTO timed_beliefs (sensor_id, event_start, source_id, belief_time, cumulative_probability, event_value)
SELECT sensor_id, event_start, source_id, belief_time, 0.5, event_value
FROM unnest(%(sensor_ids)b::integer[], %(event_starts)b::timestamptz[], %(source_ids)b::integer[],
            %(belief_times)b::timestamptz[], %(values)b::double precision[])
     AS t (sensor_id, event_start, source_id, belief_time, event_value)
"""


@dataclass(frozen=True)
class BeliefArrays:
    """Beliefs for ``INSERT_BELIEFS``, a column each."""

    sensor_ids: Int4Array
    event_starts: TimestamptzArray
    source_ids: Int4Array
    belief_times: TimestamptzArray
    values: Float8Array


async def record_done_commands(
    conn: AsyncConnection[Any],
    results: Sequence[tuple[UUID, int, str]],
    *,
    commit: bool = False,
    announce: Sequence[str] = (),
    beliefs: BeliefArrays | None = None,
    progress: Progress = (),
) -> None:
    """Remember what each command produced (its result as JSON text), so a replay (after a crash before the offset
    commit) re-sends it, record the batch's ``progress`` and ``announce`` the finished commands on
    ``channels.INGESTED`` (``RECORD_FINISHED``); with ``commit``, ``COMMIT`` goes in the same round trip (pipeline
    mode), and ``beliefs``, inserted first, after the savepoint ``before_copy``. Those may meet a concurrent
    writer's rows (``UniqueViolation``): nothing after them has run, and the caller rolls back to that savepoint
    (``rollback_to_before_copy``)."""
    # After a failed statement the rest of a pipeline is skipped, but psycopg would count a statement it meant to
    # prepare there as prepared: so what follows a statement that may fail is never prepared.
    after_failure = False if beliefs is not None else None
    # binary parameters (%b): arrays as text are escaped element by element (a quarter of ingest's CPU)
    params = {
        "command_ids": [c for c, _, _ in results], "sensor_ids": [s for _, s, _ in results],
        "results": [r for _, _, r in results], "topics": [t for t, _, _ in progress],
        "partitions": [p for _, p, _ in progress], "offsets": [o for _, _, o in progress],
        "channel": channels.INGESTED, "payloads": list(announce),
    }  # fmt: skip
    async with conn.pipeline() if commit or beliefs else contextlib.nullcontext():
        if beliefs is not None:  # the round's compared writes, made since the check's savepoint, stay on a failure
            await conn.execute(SAVEPOINT_BEFORE_COPY)
            await conn.execute(INSERT_BELIEFS, {f.name: getattr(beliefs, f.name) for f in fields(beliefs)})
        await conn.execute(RECORD_FINISHED, params, prepare=after_failure)
        if commit:
            await conn.execute("COMMIT", prepare=after_failure)


UPSERT_DEVICE_SOURCE = f"""
WITH found AS (
    SELECT id FROM data_sources WHERE name = %(name)s AND {DEVICE_SOURCE}
), created AS (
    INSERT INTO data_sources (name, type) SELECT %(name)s, 'device' WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT ON CONSTRAINT data_sources_identity_key DO UPDATE SET type = data_sources.type
    RETURNING id
)
SELECT id FROM found UNION ALL SELECT id FROM created
"""


async def device_source_id(conn: AsyncConnection[Any], name: str) -> int:
    """The data source a device names itself by (type ``device``), created on first use."""
    cur = await conn.execute(UPSERT_DEVICE_SOURCE, {"name": name})
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS staging_beliefs (
    command_idx    integer NOT NULL,
    sensor_id      integer NOT NULL,
    event_start    timestamptz NOT NULL,
    source_id      integer NOT NULL,
    belief_time    timestamptz NOT NULL,
    event_value    double precision NOT NULL,
    resolution     interval NOT NULL,
    previous_value double precision,   -- latest earlier belief of the same source and class
    stored_value   double precision    -- a stored belief with exactly this key
) ON COMMIT DELETE ROWS
"""

COPY_STAGING = (
    "COPY staging_beliefs (command_idx, sensor_id, event_start, source_id, belief_time, event_value, resolution)"
    " FROM STDIN (FORMAT BINARY)"
)

# Unchanged-belief suppression and replacement detection (FlexMeasures' rules, see docs/api.md). Ex-ante (horizon
# > 0) and ex-post beliefs are compared only within their own class; the horizon of a default sensor is event end
# - belief time. The stored beliefs are read for the round's sensors per span of nearby commands (``window_spans``),
# each span with its constant bounds (so TimescaleDB skips the chunks outside it: a round with commands in 1995 and
# 2045 reads the chunks of those two spans, not every chunk in between), and joined to the staged rows: no index
# probe per row. Within a round, staged rows are unique per (sensor, event start) (handlers.plan_rounds), which is
# the join key back. The latest stored belief at or before the new belief time is the "previous" one; when its
# belief time is the new one's, it is the stored row with exactly this key (a replacement when the value differs).
CLASSIFY_STAGING = """
UPDATE staging_beliefs st
SET previous_value = p.event_value,
    stored_value = CASE WHEN p.belief_time = st.belief_time THEN p.event_value END
FROM ({spans}) p
WHERE st.sensor_id = p.sensor_id AND st.event_start = p.event_start
"""

CLASSIFY_SPAN = """(
    SELECT DISTINCT ON (s.sensor_id, s.event_start) s.sensor_id, s.event_start, tb.belief_time, tb.event_value
    FROM staging_beliefs s
    JOIN timed_beliefs tb
      ON tb.sensor_id = s.sensor_id AND tb.event_start = s.event_start AND tb.source_id = s.source_id
     AND tb.belief_time <= s.belief_time
     AND (tb.belief_time < s.event_start + s.resolution) = (s.belief_time < s.event_start + s.resolution)
    WHERE tb.sensor_id = ANY(%(sensor_ids)s) AND tb.event_start >= {lo} AND tb.event_start <= {hi}
      AND s.event_start >= {lo} AND s.event_start <= {hi} AND tb.cumulative_probability = 0.5
    ORDER BY s.sensor_id, s.event_start, tb.belief_time DESC
)"""

STAGED_WINDOWS = "SELECT command_idx, sensor_id, min(event_start), max(event_start) FROM staging_beliefs GROUP BY 1, 2"


def classify_query(
    spans: Sequence[Sequence[tuple[int, int, datetime, datetime]]],
) -> tuple[sql.Composed, dict[str, Any]]:
    """The classification (one statement) over ``spans`` of staged windows; parameters without the sensor ids."""
    parts = []
    params: dict[str, Any] = {}
    for k, span in enumerate(spans):
        parts.append(sql.SQL(CLASSIFY_SPAN).format(lo=sql.Placeholder(f"lo{k}"), hi=sql.Placeholder(f"hi{k}")))
        params |= {f"lo{k}": min(w[2] for w in span), f"hi{k}": max(w[3] for w in span)}
    return sql.SQL(CLASSIFY_STAGING).format(spans=sql.SQL(" UNION ALL ").join(parts)), params


# Which commands (index, sensor, first and last event start) land where beliefs are stored already. The
# windows come in as arrays, which no chunk can be excluded by; so they are grouped into spans of nearby
# windows (``window_spans``) and each span's query also carries its bounds: planned with their values (the pools'
# ``PLAN_CACHE_MODE``, ``shared/db.py``), TimescaleDB plans it over the chunks of that span only, and the cost
# stays flat however many chunks the table holds.
# Each window is one index probe that stops at the first belief found (LATERAL ... LIMIT 1 keeps it a nested
# loop): written as a semi-join (EXISTS), batches of many windows got a plan that hashes every belief of the
# span, so the check cost as much as the span held (docs/performance.md, finding 13).
SELECT_STORED_WINDOWS = """
SELECT w.idx
FROM unnest({idx}::integer[], {sensor_ids}::integer[], {firsts}::timestamptz[], {lasts}::timestamptz[])
     AS w(idx, sensor_id, first, last)
CROSS JOIN LATERAL (
    SELECT 1 FROM timed_beliefs tb
    WHERE tb.sensor_id = w.sensor_id AND tb.event_start >= w.first AND tb.event_start <= w.last
      AND tb.event_start >= {lo}::timestamptz AND tb.event_start <= {hi}::timestamptz
    LIMIT 1
) AS stored
"""

SPAN_GAP = timedelta(days=30)  # the hypertable's chunk interval (migrations/0002): closer windows share a span


def window_spans(
    windows: Sequence[tuple[int, int, datetime, datetime]], gap: timedelta = SPAN_GAP
) -> list[list[tuple[int, int, datetime, datetime]]]:
    """The windows grouped by time: sorted by first event start, a window joins the current span when it begins
    less than ``gap`` after the span's end."""
    spans: list[list[tuple[int, int, datetime, datetime]]] = []
    end: datetime | None = None
    for w in sorted(windows, key=lambda w: w[2]):
        if end is None or w[2] - end >= gap:
            spans.append([])
            end = w[3]
        spans[-1].append(w)
        end = max(end, w[3])
    return spans


def stored_windows_query(
    spans: Sequence[Sequence[tuple[int, int, datetime, datetime]]],
) -> tuple[sql.Composed, dict[str, Any]]:
    """One statement (a UNION ALL of one query per span) and its parameters."""
    parts: list[sql.Composed] = []
    params: dict[str, Any] = {}
    for k, span in enumerate(spans):
        names = {
            f: sql.Placeholder(f"{f}{k}", PyFormat.BINARY) for f in ("idx", "sensor_ids", "firsts", "lasts", "lo", "hi")
        }
        parts.append(sql.SQL(SELECT_STORED_WINDOWS).format(**names))
        params |= {
            f"idx{k}": [w[0] for w in span], f"sensor_ids{k}": [w[1] for w in span],
            f"firsts{k}": [w[2] for w in span], f"lasts{k}": [w[3] for w in span],
            f"lo{k}": min(w[2] for w in span), f"hi{k}": max(w[3] for w in span),
        }  # fmt: skip
    return sql.SQL("UNION ALL").join(parts), params


COPY_BELIEFS = (
    "COPY timed_beliefs (sensor_id, event_start, source_id, belief_time, cumulative_probability, event_value)"
    " FROM STDIN (FORMAT BINARY)"
)


# Set in the same round trip as the check (an open savepoint costs nothing; COMMIT ends it): a COPY that meets a
# concurrent writer's rows rolls back to it and the commands go the comparing way.
SAVEPOINT_BEFORE_COPY = "SAVEPOINT before_copy"
ROLLBACK_TO_BEFORE_COPY = "ROLLBACK TO SAVEPOINT before_copy"


async def commands_over_stored_beliefs(
    conn: AsyncConnection[Any], windows: Sequence[tuple[int, int, datetime, datetime]]
) -> set[int]:
    """The indexes of the (index, sensor id, first, last event start) windows that hold stored beliefs; sets the
    savepoint ``before_copy`` (``rollback_to_before_copy``) in the same round trip."""
    if not windows:
        return set()
    async with conn.pipeline():
        cur = await _send_stored_windows_check(conn, windows)
    return {row[0] for row in await cur.fetchall()}


async def _send_stored_windows_check(
    conn: AsyncConnection[Any], windows: Sequence[tuple[int, int, datetime, datetime]]
) -> AsyncCursor[Any]:
    """Queue the check and the savepoint in the open pipeline; the check's rows are read once it is sent."""
    query, params = stored_windows_query(window_spans(windows))
    cur = await conn.execute(query, params)
    await conn.execute(SAVEPOINT_BEFORE_COPY)
    return cur


async def rollback_to_before_copy(conn: AsyncConnection[Any]) -> None:
    await conn.execute(ROLLBACK_TO_BEFORE_COPY)


async def set_savepoint_before_copy(conn: AsyncConnection[Any]) -> None:
    """Set ``before_copy`` again, after writes made since the check set it (a rollback to it keeps them)."""
    await conn.execute(SAVEPOINT_BEFORE_COPY)


COPY_BLOCK = 1 << 20


def copy_blocks(chunks: Iterable[bytes], size: int = COPY_BLOCK) -> Iterator[bytes]:
    """The binary COPY stream (header, ``chunks``, trailer) in blocks of about ``size`` bytes: each write to the
    COPY is a round of psycopg's wait machinery, so a batch's commands go in a few writes, not one each."""
    block = [HEADER]
    length = len(HEADER)
    for chunk in chunks:
        if length + len(chunk) > size and length:
            yield b"".join(block)
            block, length = [], 0
        block.append(chunk)
        length += len(chunk)
    block.append(TRAILER)
    yield b"".join(block)


async def copy_beliefs(conn: AsyncConnection[Any], chunks: Iterable[bytes]) -> None:
    """COPY binary rows (``copy_format.belief_rows``) straight into ``timed_beliefs``."""
    async with conn.cursor() as cur, cur.copy(COPY_BELIEFS) as copy:
        for block in copy_blocks(chunks):
            await copy.write(block)


# Per staged command. A row is written when its value differs from the previous belief (or there is none);
# a written row with a stored value under exactly its key is a replacement (that stored row is its previous
# belief, so the values differ), every other written row is new.
SUMMARISE_STAGING = """
SELECT command_idx,
       count(*) FILTER (WHERE stored_value IS NOT NULL AND stored_value <> event_value) AS replacements,
       count(*) FILTER (WHERE previous_value = event_value) AS unchanged,
       count(*) FILTER (WHERE previous_value IS DISTINCT FROM event_value AND stored_value IS NULL) AS inserts,
       min(event_value) FILTER (WHERE previous_value IS DISTINCT FROM event_value),
       max(event_value) FILTER (WHERE previous_value IS DISTINCT FROM event_value),
       sum(event_value) FILTER (WHERE previous_value IS DISTINCT FROM event_value),
       min(event_start) FILTER (WHERE previous_value IS DISTINCT FROM event_value),
       max(event_start + resolution) FILTER (WHERE previous_value IS DISTINCT FROM event_value)
FROM staging_beliefs GROUP BY command_idx
"""

WRITE_STAGING = """
INSERT INTO timed_beliefs AS tb (sensor_id, event_start, source_id, belief_time, event_value)
SELECT sensor_id, event_start, source_id, belief_time, event_value FROM staging_beliefs
WHERE previous_value IS DISTINCT FROM event_value AND command_idx <> ALL(%(rejected)s)
ON CONFLICT (sensor_id, event_start, source_id, belief_time, cumulative_probability)
DO UPDATE SET event_value = EXCLUDED.event_value
"""


@dataclass(frozen=True)
class Staged:
    """What one staged command would change: the counts, and a summary of the rows it would write."""

    replacements: int
    unchanged: int
    inserts: int
    min: float | None
    max: float | None
    sum: float | None
    first_start: datetime | None
    last_end: datetime | None


async def stage(conn: AsyncConnection[Any], chunks: Iterable[bytes]) -> None:
    """COPY binary rows (``copy_format.staging_rows``) into the session's staging table."""
    await conn.execute(CREATE_STAGING)
    async with conn.cursor() as cur, cur.copy(COPY_STAGING) as copy:
        for block in copy_blocks(chunks):
            await copy.write(block)


async def classify(
    conn: AsyncConnection[Any], sensor_ids: Sequence[int], first: datetime, last: datetime
) -> dict[int, Staged]:
    """Compare the staged rows with what is stored. ``first``/``last`` bound the staged event starts; the
    comparison itself runs per span of the staged commands' windows (read from the staging table)."""
    await conn.execute("ANALYZE staging_beliefs")  # a temp table has no statistics: show the planner its size
    cur = await conn.execute(STAGED_WINDOWS)
    windows = [(int(r[0]), int(r[1]), r[2], r[3]) for r in await cur.fetchall()]
    if windows:
        query, params = classify_query(window_spans(windows))
        await conn.execute(query, {"sensor_ids": list(sensor_ids), **params})
    cur = await conn.execute(SUMMARISE_STAGING)
    return {row[0]: Staged(*row[1:]) for row in await cur.fetchall()}


async def write(conn: AsyncConnection[Any], rejected: Sequence[int]) -> None:
    """Insert (or, where a command may replace, overwrite) every staged row that changes something."""
    await conn.execute(WRITE_STAGING, {"rejected": list(rejected)})
    await conn.execute("TRUNCATE staging_beliefs")


DELETE_SENSOR_BELIEFS = "DELETE FROM timed_beliefs WHERE sensor_id = %(sensor_id)s"
DELETE_SENSOR_STATS = "DELETE FROM sensor_stats WHERE sensor_id = %(sensor_id)s"
DELETE_SENSOR_STATS_DAILY = "DELETE FROM sensor_stats_daily WHERE sensor_id = %(sensor_id)s"


async def delete_beliefs(conn: AsyncConnection[Any], sensor_id: int) -> int:
    cur = await conn.execute(DELETE_SENSOR_BELIEFS, {"sensor_id": sensor_id})
    await conn.execute(DELETE_SENSOR_STATS, {"sensor_id": sensor_id})  # the stats agree at once
    await conn.execute(DELETE_SENSOR_STATS_DAILY, {"sensor_id": sensor_id})
    return cur.rowcount


# --- schedules (flexstream.schedules.v1) --------------------------------------------------------------------

# A scheduler's data source (name ``Seita``, type ``scheduler``) by its identity (``data_sources_identity_key``:
# at most one row): the statements after ``ensure_scheduler_source`` in the same transaction name it by this, so
# none waits for its id.
SCHEDULER_SOURCE = """name = 'Seita' AND user_id IS NULL AND model = %(model)s AND version = %(version)s
      AND attributes_hash IS NULL"""
SCHEDULER_SOURCE_ID = f"(SELECT id FROM data_sources WHERE {SCHEDULER_SOURCE})"

UPSERT_SCHEDULER_SOURCE = f"""
WITH found AS (
    SELECT id FROM data_sources WHERE {SCHEDULER_SOURCE}
), created AS (
    INSERT INTO data_sources (name, type, model, version)
    SELECT 'Seita', 'scheduler', %(model)s, %(version)s WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT ON CONSTRAINT data_sources_identity_key DO UPDATE SET type = data_sources.type
    RETURNING id
)
SELECT id FROM found UNION ALL SELECT id FROM created
"""


async def ensure_scheduler_source(conn: AsyncConnection[Any], model: str, version: str) -> None:
    """The scheduler's data source, created on first use (in pipeline mode only sent: nothing waits for it)."""
    await conn.execute(UPSERT_SCHEDULER_SOURCE, {"model": model, "version": version})


# A re-run of the same job (same belief time) overwrites its own beliefs; FOR KEY SHARE keeps the sensor alive.
# The arrays go as binary parameters (%b): as text, PostgreSQL parsed every timestamp and number of a week's schedule
# (docs/performance.md, finding 28).
UPSERT_SCHEDULE_BELIEFS = f"""
INSERT INTO timed_beliefs (sensor_id, event_start, source_id, belief_time, cumulative_probability, event_value)
SELECT s.id, t.event_start, {SCHEDULER_SOURCE_ID}, %(belief_time)s, 0.5, t.event_value
FROM (SELECT id FROM sensors WHERE id = %(sensor_id)s FOR KEY SHARE) s,
     unnest(%(starts)b::timestamptz[], %(values)b::double precision[]) AS t (event_start, event_value)
ON CONFLICT (sensor_id, event_start, source_id, belief_time, cumulative_probability)
DO UPDATE SET event_value = EXCLUDED.event_value
"""


async def store_schedule_beliefs(
    conn: AsyncConnection[Any],
    sensor_id: int,
    source: tuple[str, str],
    belief_time: datetime,
    starts: Sequence[datetime],
    values: Sequence[float],
) -> AsyncCursor[Any]:
    """Store one belief per event, from the scheduler ``source`` (model, version: ``ensure_scheduler_source``). In
    pipeline mode the statement is only sent: once the pipeline has synced, the cursor's ``rowcount`` gives the
    rows written (0 when the sensor no longer exists)."""
    params = {"sensor_id": sensor_id, "model": source[0], "version": source[1], "belief_time": belief_time,
              "starts": list(starts), "values": list(values)}  # fmt: skip
    return await conn.execute(UPSERT_SCHEDULE_BELIEFS, params)


MARK_JOB_FINISHED = f"""
UPDATE schedule_jobs
SET status = 'finished', finished_at = now(), data_source_id = {SCHEDULER_SOURCE_ID}, belief_time = %(belief_time)s,
    time_limit_hit = %(time_limit_hit)s, scheduler = %(scheduler)s, error_class = NULL, error_message = NULL
WHERE id = %(job_id)s AND status <> 'finished'
"""


async def mark_job_finished(
    conn: AsyncConnection[Any],
    job_id: UUID,
    source: tuple[str, str],
    belief_time: datetime,
    *,
    scheduler: str,
    time_limit_hit: bool,
) -> None:
    params = {"job_id": job_id, "model": source[0], "version": source[1], "belief_time": belief_time,
              "scheduler": scheduler, "time_limit_hit": time_limit_hit}  # fmt: skip
    await conn.execute(MARK_JOB_FINISHED, params)
