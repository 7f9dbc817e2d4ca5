"""Beliefs and data sources as the data routes read them. Resampling happens here, in SQL.

Selection (model.md §6): filters (window, prior, horizon, source) → the most recent belief per event and
source (its probability rows collapsed to the median) → one value per event: the source with the highest
version, then the latest belief time, then the lowest source id. Then the values land on the output grid:
``exact`` (same step: value of the event starting at the slot), ``downsample`` (mean of the events in the
slot), ``upsample`` (each event's value copied into the slots it covers). The belief horizon of a default
(ex-post) sensor is event start + resolution - belief time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from services.gateway.readings import Mode, ReadPlan

SELECT_HAS_TIMESCALE = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"


async def has_timescale(conn: AsyncConnection[Any]) -> bool:
    row = await (await conn.execute(SELECT_HAS_TIMESCALE)).fetchone()
    return bool(row and row[0])


UPSERT_USER_SOURCE = """
WITH found AS (
    SELECT id FROM data_sources WHERE user_id = %(user_id)s
), created AS (
    INSERT INTO data_sources (name, type, user_id)
    SELECT u.username, 'user', u.id FROM users u
    WHERE u.id = %(user_id)s AND NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT id FROM found UNION ALL SELECT id FROM created
"""


async def user_source_id(conn: AsyncConnection[Any], user_id: int) -> int:
    """The data source of type ``user`` of this user, created on first use (model.md §4)."""
    for _ in range(2):  # a concurrent first post of the same user may win the insert: then read theirs
        row = await (await conn.execute(UPSERT_USER_SOURCE, {"user_id": user_id})).fetchone()
        if row is not None:
            return int(row[0])
    raise LookupError(f"no data source for user {user_id}")


SELECT_SOURCE_EXISTS = "SELECT EXISTS (SELECT 1 FROM data_sources WHERE id = %(id)s)"


async def source_exists(conn: AsyncConnection[Any], source_id: int) -> bool:
    row = await (await conn.execute(SELECT_SOURCE_EXISTS, {"id": source_id})).fetchone()
    return bool(row and row[0])


SELECT_SERIES = """
WITH candidates AS (
    SELECT event_start, source_id, belief_time, cumulative_probability, event_value
    FROM timed_beliefs
    WHERE sensor_id = %(sensor_id)s AND event_start >= %(lo)s AND event_start <= %(hi)s
      AND (%(prior)s::timestamptz IS NULL OR belief_time <= %(prior)s::timestamptz)
      AND (%(min_horizon)s::interval IS NULL
           OR event_start + %(resolution)s::interval - belief_time >= %(min_horizon)s::interval)
      AND (%(max_horizon)s::interval IS NULL
           OR event_start + %(resolution)s::interval - belief_time <= %(max_horizon)s::interval)
      AND (%(source_id)s::integer IS NULL OR source_id = %(source_id)s::integer)
), latest AS (
    SELECT DISTINCT ON (event_start, source_id) event_start, source_id, belief_time
    FROM candidates ORDER BY event_start, source_id, belief_time DESC
), medians AS (
    SELECT c.event_start, c.source_id, c.belief_time,
           coalesce(avg(c.event_value) FILTER (WHERE c.cumulative_probability = 0.5), avg(c.event_value))
               AS event_value
    FROM candidates c JOIN latest USING (event_start, source_id, belief_time)
    GROUP BY c.event_start, c.source_id, c.belief_time
), chosen AS (
    SELECT DISTINCT ON (m.event_start) m.event_start, m.event_value
    FROM medians m JOIN data_sources ds ON ds.id = m.source_id
    ORDER BY m.event_start,
             ARRAY(SELECT part::integer FROM unnest(string_to_array(coalesce(ds.version, ''), '.')) AS part
                   WHERE part ~ '^[0-9]+$' AND length(part) < 10) DESC,
             m.belief_time DESC, m.source_id
), grid AS (
    SELECT slot FROM generate_series(
        %(start)s::timestamptz, %(end)s::timestamptz - interval '1 microsecond', %(step)s::interval) AS slot
), {resampled}
SELECT g.slot, r.event_value, (SELECT count(*) FROM chosen) > 0 AS found
FROM grid g LEFT JOIN resampled r ON r.slot = g.slot {fully_inside}
ORDER BY g.slot
"""

EXACT = "resampled AS (SELECT event_start AS slot, event_value FROM chosen)"

DOWNSAMPLE = """resampled AS (
    SELECT {bucket}(%(step)s::interval, event_start, %(start)s::timestamptz) AS slot, avg(event_value) AS event_value
    FROM chosen GROUP BY 1
)"""

# Each event covers the grid slots from the first one at or after its start up to its end.
UPSAMPLE = """resampled AS (
    SELECT DISTINCT ON (slot) slot, event_value FROM (
        SELECT s.slot, c.event_start, c.event_value
        FROM chosen c, generate_series(
            %(start)s::timestamptz + ceil(extract(epoch FROM c.event_start - %(start)s::timestamptz)
                                           / extract(epoch FROM %(step)s::interval)) * %(step)s::interval,
            c.event_start + %(resolution)s::interval - interval '1 microsecond',
            %(step)s::interval) AS s(slot)
    ) covered
    ORDER BY slot, event_start DESC
)"""

_RESAMPLED = {"exact": EXACT, "downsample": DOWNSAMPLE, "upsample": UPSAMPLE}
# When resampling, only slots that lie fully inside [start, end] carry a value (api.md §4.2 step 3).
_FULLY_INSIDE = "AND g.slot + %(step)s::interval <= %(end)s::timestamptz"


def series_query(mode: Mode, timescale: bool) -> sql.Composed:
    bucket = sql.Identifier("time_bucket" if timescale else "date_bin")
    resampled = sql.SQL(_RESAMPLED[mode]).format(bucket=bucket) if mode == "downsample" else sql.SQL(_RESAMPLED[mode])
    return sql.SQL(SELECT_SERIES).format(
        resampled=resampled, fully_inside=sql.SQL(_FULLY_INSIDE if mode != "exact" else "")
    )


async def read_series(
    conn: AsyncConnection[Any], plan: ReadPlan, *, timescale: bool
) -> tuple[list[tuple[datetime, float | None]], bool]:
    """One (slot, value or None) per grid slot, and whether any belief matched at all."""
    cur = await conn.execute(series_query(plan.mode, timescale), plan.params())
    rows = await cur.fetchall()
    return [(row[0], row[1]) for row in rows], bool(rows and rows[0][2])
