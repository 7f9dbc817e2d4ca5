"""Generic assets and their types."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
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
    asset_type: str,
    account_id: int | None,
    parent_asset_id: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    attributes: dict[str, Any] | None = None,
    flex_context: dict[str, Any] | None = None,
) -> int:
    params = {
        "name": name, "type_id": await asset_type_id(conn, asset_type), "account_id": account_id,
        "parent_asset_id": parent_asset_id, "latitude": latitude, "longitude": longitude,
        "attributes": Jsonb(attributes or {}), "flex_context": Jsonb(flex_context or {}),
    }  # fmt: skip
    row = await (await conn.execute(INSERT_ASSET, params)).fetchone()
    assert row is not None
    return int(row[0])
