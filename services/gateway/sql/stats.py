"""Reading the stats aggregates kept by the stats service (``sensor_stats``, ``sensor_stats_daily``).

``read_stats`` is the whole read path of ``GET /sensors/<id>/stats`` in one statement (one snapshot, so an
answer never mixes two states of a bucket): without a window, one row per source from ``sensor_stats``;
with one, the days inside the window from ``sensor_stats_daily`` plus the beliefs of the partial days at
its edges, every range bounded by constants so TimescaleDB reads only the chunks of the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row

from shared.stats_buckets import BUCKET, plan_window


@dataclass(frozen=True)
class SourceStats:
    """The aggregates of one data source's beliefs on one sensor (over a window, or all time)."""

    source_id: int
    name: str
    type: str
    model: str | None
    version: str | None
    count: int
    sum: Decimal
    min: float
    max: float
    first_event_start: datetime
    last_event_start: datetime
    last_belief_time: datetime


_SOURCE_COLUMNS = "p.source_id, ds.name, ds.type, ds.model, ds.version"

SELECT_TOTALS = f"""
SELECT {_SOURCE_COLUMNS}, p.count, p.sum, p.min, p.max, p.first_event_start, p.last_event_start,
       p.last_belief_time
FROM sensor_stats p JOIN data_sources ds ON ds.id = p.source_id
WHERE p.sensor_id = %(sensor_id)s AND p.count > 0
ORDER BY p.source_id
"""

_EDGE = """
    SELECT source_id, count(*), sum(event_value::numeric), min(event_value), max(event_value),
           min(event_start), max(event_start), max(belief_time)
    FROM timed_beliefs
    WHERE sensor_id = %(sensor_id)s AND event_start >= %({lo})s AND event_start < %({hi})s
    GROUP BY source_id"""

SELECT_WINDOW = f"""
WITH parts (source_id, count, sum, min, max, first_event_start, last_event_start, last_belief_time) AS (
    SELECT source_id, count, sum, min, max, first_event_start, last_event_start, last_belief_time
    FROM sensor_stats_daily
    WHERE sensor_id = %(sensor_id)s AND bucket >= %(days_lo)s AND bucket < %(days_hi)s
    UNION ALL{_EDGE.format(lo="before_lo", hi="before_hi")}
    UNION ALL{_EDGE.format(lo="after_lo", hi="after_hi")}
)
SELECT {_SOURCE_COLUMNS}, sum(p.count)::bigint AS count, sum(p.sum) AS sum, min(p.min) AS min, max(p.max) AS max,
       min(p.first_event_start) AS first_event_start, max(p.last_event_start) AS last_event_start,
       max(p.last_belief_time) AS last_belief_time
FROM parts p JOIN data_sources ds ON ds.id = p.source_id
GROUP BY {_SOURCE_COLUMNS}
ORDER BY p.source_id
"""


async def read_stats(
    conn: AsyncConnection[Any], sensor_id: int, start: datetime | None = None, end: datetime | None = None
) -> list[SourceStats]:
    """Per data source, the aggregates of the beliefs with ``start <= event_start < end`` (bounds optional)."""
    async with conn.cursor(row_factory=class_row(SourceStats)) as cur:
        if start is None and end is None:
            await cur.execute(SELECT_TOTALS, {"sensor_id": sensor_id})
        else:
            plan = plan_window(start, end)
            (before_lo, before_hi), (after_lo, after_hi) = plan.edges
            await cur.execute(SELECT_WINDOW, {
                "sensor_id": sensor_id, "days_lo": plan.buckets[0], "days_hi": plan.buckets[1],
                "before_lo": before_lo, "before_hi": before_hi, "after_lo": after_lo, "after_hi": after_hi,
            })  # fmt: skip
        return await cur.fetchall()


@dataclass(frozen=True)
class StatusInputs:
    """What the status rules need to know of a sensor besides its latest events."""

    knowledge_horizon_par: dict[str, Any]
    flex_context: dict[str, Any]


SELECT_STATUS_INPUTS = """
SELECT s.knowledge_horizon_par, a.flex_context
FROM sensors s JOIN generic_assets a ON a.id = s.generic_asset_id
WHERE s.id = %(sensor_id)s
"""


async def status_inputs(conn: AsyncConnection[Any], sensor_id: int) -> StatusInputs | None:
    async with conn.cursor(row_factory=class_row(StatusInputs)) as cur:
        await cur.execute(SELECT_STATUS_INPUTS, {"sensor_id": sensor_id})
        return await cur.fetchone()


# Per source type, the latest day holding a belief formed by ``now`` (from the aggregates' first_belief_time),
# then the latest event among that day's beliefs formed by then (event_start bounded by constants, so
# TimescaleDB reads the one chunk). Both in one REPEATABLE READ transaction: one snapshot.
SELECT_LATEST_DAYS = """
SELECT ds.type, max(d.bucket) AS bucket
FROM sensor_stats_daily d JOIN data_sources ds ON ds.id = d.source_id
WHERE d.sensor_id = %(sensor_id)s AND d.first_belief_time <= %(now)s AND ds.type = ANY(%(types)s)
GROUP BY ds.type
"""

SELECT_LATEST_EVENT = """
SELECT max(tb.event_start)
FROM timed_beliefs tb JOIN data_sources ds ON ds.id = tb.source_id
WHERE tb.sensor_id = %(sensor_id)s AND tb.event_start >= %(lo)s AND tb.event_start < %(hi)s
  AND tb.belief_time <= %(now)s AND ds.type = %(type)s
"""


async def latest_by_source_type(
    conn: AsyncConnection[Any], sensor_id: int, now: datetime, types: tuple[str, ...]
) -> dict[str, datetime]:
    """Per source type, the start of the most recent event among the beliefs formed by ``now``."""
    latest: dict[str, datetime] = {}
    fresh = conn.info.transaction_status == TransactionStatus.IDLE  # else the caller's transaction decides
    async with conn.transaction():
        if fresh:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = await conn.execute(SELECT_LATEST_DAYS, {"sensor_id": sensor_id, "now": now, "types": list(types)})
        for source_type, day in await cur.fetchall():
            params = {"sensor_id": sensor_id, "lo": day, "hi": day + BUCKET, "now": now, "type": source_type}
            row = await (await conn.execute(SELECT_LATEST_EVENT, params)).fetchone()
            if row is not None and row[0] is not None:
                latest[str(source_type)] = row[0]
    return latest
