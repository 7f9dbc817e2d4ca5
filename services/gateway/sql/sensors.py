"""Sensors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

INSERT_SENSOR = """
INSERT INTO sensors (name, unit, timezone, event_resolution, attributes, generic_asset_id)
VALUES (%(name)s, %(unit)s, %(timezone)s, %(event_resolution)s, %(attributes)s, %(generic_asset_id)s)
RETURNING id
"""

SELECT_SENSOR_ID = "SELECT id FROM sensors WHERE name = %(name)s AND generic_asset_id = %(generic_asset_id)s"


async def sensor_id(conn: AsyncConnection[Any], name: str, generic_asset_id: int) -> int | None:
    row = await (await conn.execute(SELECT_SENSOR_ID, {"name": name, "generic_asset_id": generic_asset_id})).fetchone()
    return int(row[0]) if row else None


async def create_sensor(
    conn: AsyncConnection[Any],
    *,
    name: str,
    unit: str,
    event_resolution: timedelta,
    generic_asset_id: int,
    timezone: str = "UTC",
    attributes: dict[str, Any] | None = None,
) -> int:
    params = {
        "name": name, "unit": unit, "timezone": timezone, "event_resolution": event_resolution,
        "attributes": Jsonb(attributes or {}), "generic_asset_id": generic_asset_id,
    }  # fmt: skip
    row = await (await conn.execute(INSERT_SENSOR, params)).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class SensorRow:
    """A sensor with what the permission rules need to know of its owner."""

    id: int
    name: str
    unit: str
    timezone: str
    event_resolution: timedelta
    attributes: dict[str, Any]
    generic_asset_id: int
    knowledge_horizon_fnc: str
    account_id: int | None  # the asset's account; None for a public asset
    consultancy_account_id: int | None
    asset_name: str


SELECT_SENSOR = """
SELECT s.id, s.name, s.unit, s.timezone, s.event_resolution, s.attributes, s.generic_asset_id,
       s.knowledge_horizon_fnc, a.account_id, acc.consultancy_account_id, a.name AS asset_name
FROM sensors s
JOIN generic_assets a ON a.id = s.generic_asset_id
LEFT JOIN accounts acc ON acc.id = a.account_id
WHERE s.id = %(id)s
"""


async def sensor_by_id(conn: AsyncConnection[Any], id: int) -> SensorRow | None:
    async with conn.cursor(row_factory=class_row(SensorRow)) as cur:
        await cur.execute(SELECT_SENSOR, {"id": id})
        return await cur.fetchone()
