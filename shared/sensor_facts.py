"""Loading ``shared.flex.SensorFacts``: a sensor with its asset and the asset tree's merged flex-context.

Both the gateway (validating a trigger) and the scheduler (re-validating it when the job runs) need exactly the
same facts, so the one query lives here. The stored flex-context is merged from the root asset down to the
sensor's own asset, each level overriding its ancestors key by key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import dict_row

from shared import units
from shared.flex import SensorFacts

SELECT_FACTS = """
WITH RECURSIVE tree AS (
    SELECT s.id AS sensor_id, a.id AS asset_id, a.parent_asset_id, a.flex_context, 0 AS depth
    FROM sensors s JOIN generic_assets a ON a.id = s.generic_asset_id
    WHERE s.id = ANY(%(ids)s)
    UNION ALL
    SELECT t.sensor_id, p.id, p.parent_asset_id, p.flex_context, t.depth + 1
    FROM tree t JOIN generic_assets p ON p.id = t.parent_asset_id
    WHERE t.depth < 100
), merged AS (
    SELECT sensor_id, array_agg(flex_context ORDER BY depth DESC) AS contexts FROM tree GROUP BY sensor_id
)
SELECT s.id, s.unit, s.event_resolution, s.timezone, s.attributes, a.id AS asset_id,
       t.name AS asset_type, a.attributes AS asset_attributes, m.contexts
FROM sensors s
JOIN generic_assets a ON a.id = s.generic_asset_id
JOIN generic_asset_types t ON t.id = a.generic_asset_type_id
JOIN merged m ON m.sensor_id = s.id
WHERE s.id = ANY(%(ids)s)
"""


def merge_contexts(contexts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Root first: each later (more specific) flex-context overrides the earlier ones key by key."""
    merged: dict[str, Any] = {}
    for context in contexts:
        merged.update(context or {})
    return merged


async def load_facts(conn: AsyncConnection[Any], ids: Iterable[int]) -> dict[int, SensorFacts]:
    """The facts of every existing sensor among ``ids`` (unknown ids are simply absent)."""
    return await read_facts(await send_facts(conn, ids))


async def send_facts(conn: AsyncConnection[Any], ids: Iterable[int]) -> AsyncCursor[dict[str, Any]] | None:
    """``load_facts``'s query, sent (in pipeline mode, not waited for): ``read_facts`` reads its answer. None when
    no id can name a sensor."""
    wanted = sorted({i for i in ids if 0 <= i < 2**31})
    if not wanted:
        return None
    return await conn.cursor(row_factory=dict_row).execute(SELECT_FACTS, {"ids": wanted})


async def read_facts(cursor: AsyncCursor[dict[str, Any]] | None) -> dict[int, SensorFacts]:
    if cursor is None:
        return {}
    async with cursor:
        rows = await cursor.fetchall()
    return {
        row["id"]: SensorFacts(
            id=row["id"],
            unit=row["unit"],
            event_resolution=row["event_resolution"],
            timezone=row["timezone"],
            attributes=row["attributes"] or {},
            asset_id=row["asset_id"],
            asset_type=row["asset_type"],
            asset_attributes=row["asset_attributes"] or {},
            flex_context=merge_contexts(row["contexts"]),
        )  # fmt: skip
        for row in rows
    }


def consumption_stored_negative(facts: SensorFacts) -> bool:
    """The sign rule of stored schedules: on a power sensor, consumption is stored negative unless the sensor's
    (else its asset's) ``consumption_is_positive`` attribute is false; other units are stored as computed."""
    flag = facts.attributes.get("consumption_is_positive", facts.asset_attributes.get("consumption_is_positive"))
    return units.convertible(facts.unit, "MW") and (flag is None or bool(flag))
