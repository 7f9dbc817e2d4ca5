"""The stats service's SQL: recompute buckets from ``timed_beliefs`` and keep the per-source totals equal
to the sum of their buckets. Every statement bounds ``event_start`` by constants, so TimescaleDB reads only
the chunks of the span (the cost of an update does not grow with the table)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection

from shared.stats_buckets import Span

# FOR KEY SHARE: a sensor cannot be deleted while its aggregates are written (the foreign keys of the
# aggregate tables would refuse rows of a deleted sensor); rows of a sensor already gone are not written.
# The advisory lock serialises writers of one sensor's aggregates (two consumers during a rebalance, or two
# stats apps): the later one waits, then its statements read the rows the earlier one saw or newer ones,
# so an older snapshot never overwrites a newer bucket.
LOCK_SENSORS = """
SELECT id, pg_advisory_xact_lock(%(namespace)s, id) FROM sensors
WHERE id = ANY(%(ids)s) ORDER BY id FOR KEY SHARE
"""
LOCK_NAMESPACE = 0x5354  # "ST": the stats service's advisory locks


async def lock_sensors(conn: AsyncConnection[Any], ids: Iterable[int]) -> set[int]:
    """The sensors among ``ids`` that still exist, locked against deletion until the transaction ends."""
    cur = await conn.execute(LOCK_SENSORS, {"ids": sorted(set(ids)), "namespace": LOCK_NAMESPACE})
    return {int(row[0]) for row in await cur.fetchall()}


CLEAR_SENSOR = """
WITH days AS (DELETE FROM sensor_stats_daily WHERE sensor_id = %(sensor_id)s)
DELETE FROM sensor_stats WHERE sensor_id = %(sensor_id)s
"""


async def clear_sensor(conn: AsyncConnection[Any], sensor_id: int) -> None:
    await conn.execute(CLEAR_SENSOR, {"sensor_id": sensor_id})


# One statement: the fresh aggregates of every (source, day) in the span, upserted, and the days of the
# span that no longer hold any belief deleted. Running it twice gives the same rows.
RECOMPUTE_BUCKETS = """
WITH fresh AS (
    SELECT source_id, date_bin(interval '1 day', event_start, timestamptz 'epoch') AS bucket,
           count(*) AS count, sum(event_value::numeric) AS sum, min(event_value) AS min, max(event_value) AS max,
           min(event_start) AS first_event_start, max(event_start) AS last_event_start,
           min(belief_time) AS first_belief_time, max(belief_time) AS last_belief_time
    FROM timed_beliefs
    WHERE sensor_id = %(sensor_id)s AND event_start >= %(lo)s AND event_start < %(hi)s
    GROUP BY 1, 2
), gone AS (
    DELETE FROM sensor_stats_daily d
    WHERE d.sensor_id = %(sensor_id)s AND d.bucket >= %(lo)s AND d.bucket < %(hi)s
      AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.source_id = d.source_id AND f.bucket = d.bucket)
)
INSERT INTO sensor_stats_daily AS d (
    sensor_id, source_id, bucket, count, sum, min, max, first_event_start, last_event_start,
    first_belief_time, last_belief_time)
SELECT %(sensor_id)s, source_id, bucket, count, sum, min, max, first_event_start, last_event_start,
       first_belief_time, last_belief_time
FROM fresh
ON CONFLICT (sensor_id, bucket, source_id) DO UPDATE SET
    count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
    first_event_start = EXCLUDED.first_event_start, last_event_start = EXCLUDED.last_event_start,
    first_belief_time = EXCLUDED.first_belief_time, last_belief_time = EXCLUDED.last_belief_time
"""


async def recompute_buckets(conn: AsyncConnection[Any], sensor_id: int, span: Span) -> None:
    await conn.execute(RECOMPUTE_BUCKETS, {"sensor_id": sensor_id, "lo": span[0], "hi": span[1]})


# The per-source totals of one sensor from its buckets (one row per source and day, never the beliefs).
RECOMPUTE_TOTALS = """
WITH fresh AS (
    SELECT source_id, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
           min(first_event_start) AS first_event_start, max(last_event_start) AS last_event_start,
           min(first_belief_time) AS first_belief_time, max(last_belief_time) AS last_belief_time
    FROM sensor_stats_daily WHERE sensor_id = %(sensor_id)s
    GROUP BY source_id
), gone AS (
    DELETE FROM sensor_stats s
    WHERE s.sensor_id = %(sensor_id)s AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.source_id = s.source_id)
)
INSERT INTO sensor_stats AS s (
    sensor_id, source_id, count, sum, min, max, first_event_start, last_event_start,
    first_belief_time, last_belief_time, updated_at)
SELECT %(sensor_id)s, source_id, count, sum, min, max, first_event_start, last_event_start,
       first_belief_time, last_belief_time, now()
FROM fresh
ON CONFLICT (sensor_id, source_id) DO UPDATE SET
    count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
    first_event_start = EXCLUDED.first_event_start, last_event_start = EXCLUDED.last_event_start,
    first_belief_time = EXCLUDED.first_belief_time, last_belief_time = EXCLUDED.last_belief_time,
    updated_at = EXCLUDED.updated_at
"""


async def recompute_totals(conn: AsyncConnection[Any], sensor_id: int) -> None:
    await conn.execute(RECOMPUTE_TOTALS, {"sensor_id": sensor_id})
