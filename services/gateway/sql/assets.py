"""Generic assets and their types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

UPSERT_ASSET_TYPE = """
INSERT INTO generic_asset_types (name) VALUES (%(name)s)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
"""

INSERT_ASSET = """
INSERT INTO generic_assets (name, generic_asset_type_id, account_id, parent_asset_id, latitude, longitude,
                            attributes, flex_context)
VALUES (%(name)s, %(type_id)s, %(account_id)s, %(parent_asset_id)s, %(latitude)s, %(longitude)s,
        %(attributes)s, %(flex_context)s)
RETURNING id
"""

SELECT_ASSET_ID = """
SELECT id FROM generic_assets WHERE name = %(name)s AND account_id IS NOT DISTINCT FROM %(account_id)s
ORDER BY id LIMIT 1
"""


async def asset_type_id(conn: AsyncConnection[Any], name: str) -> int:
    row = await (await conn.execute(UPSERT_ASSET_TYPE, {"name": name})).fetchone()
    assert row is not None
    return int(row[0])


async def asset_id(conn: AsyncConnection[Any], name: str, account_id: int | None) -> int | None:
    row = await (await conn.execute(SELECT_ASSET_ID, {"name": name, "account_id": account_id})).fetchone()
    return int(row[0]) if row else None


async def create_asset(
    conn: AsyncConnection[Any],
    *,
    name: str,
    asset_type: int | str,
    account_id: int | None,
    parent_asset_id: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    attributes: dict[str, Any] | None = None,
    flex_context: dict[str, Any] | None = None,
) -> int:
    """Create an asset; ``asset_type`` is a type id, or a type name (the type is created if new)."""
    type_id = asset_type if isinstance(asset_type, int) else await asset_type_id(conn, asset_type)
    params = {
        "name": name, "type_id": type_id, "account_id": account_id,
        "parent_asset_id": parent_asset_id, "latitude": latitude, "longitude": longitude,
        "attributes": Jsonb(attributes or {}), "flex_context": Jsonb(flex_context or {}),
    }  # fmt: skip
    row = await (await conn.execute(INSERT_ASSET, params)).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class AssetRow:
    """An asset with its type and what the permission rules need to know of its owner."""

    id: int
    name: str
    generic_asset_type_id: int
    generic_asset_type_name: str
    account_id: int | None  # None: a public asset
    consultancy_account_id: int | None
    parent_asset_id: int | None
    latitude: float | None
    longitude: float | None
    attributes: dict[str, Any]
    flex_context: dict[str, Any]
    sensors_to_show: list[Any]


_SELECT_ASSETS = """
SELECT a.id, a.name, a.generic_asset_type_id, t.name AS generic_asset_type_name, a.account_id,
       acc.consultancy_account_id, a.parent_asset_id, a.latitude, a.longitude, a.attributes, a.flex_context,
       a.sensors_to_show
FROM generic_assets a
JOIN generic_asset_types t ON t.id = a.generic_asset_type_id
LEFT JOIN accounts acc ON acc.id = a.account_id
"""

SELECT_ASSET = _SELECT_ASSETS + "WHERE a.id = %(id)s"

SELECT_ACCOUNT_ASSETS = (
    _SELECT_ASSETS
    + """
WHERE a.account_id IS NOT DISTINCT FROM %(account_id)s::integer OR (%(with_public)s AND a.account_id IS NULL)
ORDER BY a.id
"""
)


async def asset_by_id(conn: AsyncConnection[Any], id: int) -> AssetRow | None:
    async with conn.cursor(row_factory=class_row(AssetRow)) as cur:
        await cur.execute(SELECT_ASSET, {"id": id})
        return await cur.fetchone()


async def select_assets(conn: AsyncConnection[Any], account_id: int | None, with_public: bool) -> list[AssetRow]:
    """The assets of an account (``None``: the public assets), plus the public ones when asked; by id."""
    async with conn.cursor(row_factory=class_row(AssetRow)) as cur:
        await cur.execute(SELECT_ACCOUNT_ASSETS, {"account_id": account_id, "with_public": with_public})
        return await cur.fetchall()


SELECT_ALL_ASSETS = _SELECT_ASSETS + "ORDER BY a.id"


async def all_assets(conn: AsyncConnection[Any]) -> list[AssetRow]:
    async with conn.cursor(row_factory=class_row(AssetRow)) as cur:
        await cur.execute(SELECT_ALL_ASSETS)
        return await cur.fetchall()


SELECT_ASSET_TYPE_NAME = "SELECT name FROM generic_asset_types WHERE id = %(id)s"


async def asset_type_name(conn: AsyncConnection[Any], type_id: int) -> str | None:
    row = await (await conn.execute(SELECT_ASSET_TYPE_NAME, {"id": type_id})).fetchone()
    return str(row[0]) if row else None
