"""Sensors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
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


async def send_sensor(conn: AsyncConnection[Any], id: int) -> AsyncCursor[SensorRow]:
    """``sensor_by_id``'s query, sent (in pipeline mode, not waited for): ``read_sensor`` reads its answer."""
    return await conn.cursor(row_factory=class_row(SensorRow)).execute(SELECT_SENSOR, {"id": id})


async def read_sensor(cursor: AsyncCursor[SensorRow]) -> SensorRow | None:
    async with cursor:
        return await cursor.fetchone()


SELECT_SENSOR_FOR_UPDATE = SELECT_SENSOR + "FOR UPDATE OF s\n"


async def sensor_for_update(conn: AsyncConnection[Any], id: int) -> SensorRow | None:
    """The sensor, row-locked until the transaction ends (so concurrent PATCHes do not overwrite each other)."""
    async with conn.cursor(row_factory=class_row(SensorRow)) as cur:
        await cur.execute(SELECT_SENSOR_FOR_UPDATE, {"id": id})
        return await cur.fetchone()


UPDATE_SENSOR = """
UPDATE sensors SET name = %(name)s, unit = %(unit)s, timezone = %(timezone)s,
                   event_resolution = %(event_resolution)s, attributes = %(attributes)s
WHERE id = %(id)s
"""


async def update_sensor(
    conn: AsyncConnection[Any],
    id: int,
    *,
    name: str,
    unit: str,
    timezone: str,
    event_resolution: timedelta,
    attributes: dict[str, Any],
) -> None:
    params = {"id": id, "name": name, "unit": unit, "timezone": timezone, "event_resolution": event_resolution,
              "attributes": Jsonb(attributes)}  # fmt: skip
    await conn.execute(UPDATE_SENSOR, params)


# Jobs and stats go with it (ON DELETE CASCADE), beliefs through a trigger (migrations/0004).
DELETE_SENSOR = "DELETE FROM sensors WHERE id = %(id)s"


async def delete_sensor(conn: AsyncConnection[Any], id: int) -> None:
    await conn.execute(DELETE_SENSOR, {"id": id})


# Sensor selection of GET /sensors (see docs/api.md): asset mode (the asset and all its descendants) or account
# mode (the account, plus its consultancy clients when asked), optionally OR public assets; then any
# filter term in sensor, asset or account name (case-insensitive substring); then exact unit.
_LIST_FROM_WHERE = """
FROM sensors s
JOIN generic_assets a ON a.id = s.generic_asset_id
LEFT JOIN accounts acc ON acc.id = a.account_id
WHERE (
        (%(asset_id)s::integer IS NOT NULL AND s.generic_asset_id IN (SELECT id FROM tree))
     OR (%(asset_id)s::integer IS NULL AND a.account_id = %(account_id)s::integer)
     OR (%(asset_id)s::integer IS NULL AND %(with_clients)s AND acc.consultancy_account_id = %(account_id)s::integer)
     OR (%(with_public)s AND a.account_id IS NULL)
  )
  AND (cardinality(%(patterns)s::text[]) = 0
       OR s.name ILIKE ANY (%(patterns)s::text[])
       OR a.name ILIKE ANY (%(patterns)s::text[])
       OR acc.name ILIKE ANY (%(patterns)s::text[]))
  AND (%(unit)s::text IS NULL OR s.unit = %(unit)s::text)
"""

_TREE = """
WITH RECURSIVE tree AS (
    SELECT id FROM generic_assets WHERE id = %(asset_id)s::integer
    UNION
    SELECT child.id FROM generic_assets child JOIN tree ON child.parent_asset_id = tree.id
)
"""

SELECT_SENSORS = (
    _TREE
    + """
SELECT s.id, s.name, s.unit, s.timezone, s.event_resolution, s.attributes, s.generic_asset_id,
       s.knowledge_horizon_fnc, a.account_id, acc.consultancy_account_id, a.name AS asset_name
"""
    + _LIST_FROM_WHERE
    + "ORDER BY s.id LIMIT %(limit)s OFFSET %(offset)s\n"
)

COUNT_SENSORS = _TREE + "SELECT count(*)\n" + _LIST_FROM_WHERE


@dataclass(frozen=True)
class SensorSelection:
    """Which sensors ``GET /sensors`` considers; ``asset_id`` (with descendants) wins over ``account_id``."""

    account_id: int | None = None
    asset_id: int | None = None
    with_clients: bool = False
    with_public: bool = False
    terms: tuple[str, ...] = ()
    unit: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "asset_id": self.asset_id, "with_clients": self.with_clients,
            "with_public": self.with_public, "patterns": [f"%{_escape_like(term)}%" for term in self.terms],
            "unit": self.unit,
        }  # fmt: skip


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def select_sensors(
    conn: AsyncConnection[Any], selection: SensorSelection, limit: int | None = None, offset: int = 0
) -> list[SensorRow]:
    """The selected sensors in ascending id order, optionally one page of them."""
    async with conn.cursor(row_factory=class_row(SensorRow)) as cur:
        await cur.execute(SELECT_SENSORS, {**selection.params(), "limit": limit, "offset": offset})
        return await cur.fetchall()


async def count_sensors(conn: AsyncConnection[Any], selection: SensorSelection) -> int:
    row = await (await conn.execute(COUNT_SENSORS, selection.params())).fetchone()
    return int(row[0]) if row else 0


SELECT_ALL_SENSORS = SELECT_SENSOR.replace("WHERE s.id = %(id)s", "ORDER BY s.id")


async def all_sensors(conn: AsyncConnection[Any]) -> list[SensorRow]:
    async with conn.cursor(row_factory=class_row(SensorRow)) as cur:
        await cur.execute(SELECT_ALL_SENSORS)
        return await cur.fetchall()
