"""Generic assets and their types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from shared.sensor_facts import merge_contexts

UPSERT_ASSET_TYPE = """
INSERT INTO generic_asset_types (name) VALUES (%(name)s)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
"""

INSERT_ASSET = """
INSERT INTO generic_assets (name, generic_asset_type_id, account_id, parent_asset_id, latitude, longitude,
                            attributes, flex_context, sensors_to_show)
VALUES (%(name)s, %(type_id)s, %(account_id)s, %(parent_asset_id)s, %(latitude)s, %(longitude)s,
        %(attributes)s, %(flex_context)s, %(sensors_to_show)s)
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
    sensors_to_show: list[Any] | None = None,
) -> int:
    """Create an asset; ``asset_type`` is a type id, or a type name (the type is created if new)."""
    type_id = asset_type if isinstance(asset_type, int) else await asset_type_id(conn, asset_type)
    params = {
        "name": name, "type_id": type_id, "account_id": account_id,
        "parent_asset_id": parent_asset_id, "latitude": latitude, "longitude": longitude,
        "attributes": Jsonb(attributes or {}), "flex_context": Jsonb(flex_context or {}),
        "sensors_to_show": Jsonb(sensors_to_show or []),
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


# --- what asset bodies show besides the asset's own columns: owner, child assets, sensors ----------------


@dataclass(frozen=True)
class AssetRelations:
    """The owning account's name (None: public), the direct children and the asset's own sensors, by id."""

    id: int
    owner_name: str | None
    child_assets: list[dict[str, Any]]  # {"id", "name", "account_id", "generic_asset_type": {"id", "name"}}
    sensors: list[dict[str, Any]]  # {"id", "name"}


SELECT_ASSET_RELATIONS = """
SELECT a.id, acc.name AS owner_name,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'id', c.id, 'name', c.name, 'account_id', c.account_id,
                        'generic_asset_type', jsonb_build_object('id', ct.id, 'name', ct.name)) ORDER BY c.id)
                 FROM generic_assets c JOIN generic_asset_types ct ON ct.id = c.generic_asset_type_id
                 WHERE c.parent_asset_id = a.id), '[]'::jsonb) AS child_assets,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name) ORDER BY s.id)
                 FROM sensors s WHERE s.generic_asset_id = a.id), '[]'::jsonb) AS sensors
FROM generic_assets a LEFT JOIN accounts acc ON acc.id = a.account_id
WHERE a.id = ANY(%(ids)s::integer[])
"""


async def asset_relations(conn: AsyncConnection[Any], ids: list[int]) -> dict[int, AssetRelations]:
    async with conn.cursor(row_factory=class_row(AssetRelations)) as cur:
        await cur.execute(SELECT_ASSET_RELATIONS, {"ids": ids})
        return {row.id: row for row in await cur.fetchall()}


# --- changing and deleting assets ------------------------------------------------------------------------

SELECT_ASSET_FOR_UPDATE = "SELECT id FROM generic_assets WHERE id = %(id)s FOR UPDATE"


async def lock_asset(conn: AsyncConnection[Any], id: int) -> bool:
    """Lock the asset's row for this transaction; False when it is gone."""
    return await (await conn.execute(SELECT_ASSET_FOR_UPDATE, {"id": id})).fetchone() is not None


UPDATABLE_COLUMNS = (
    "name", "generic_asset_type_id", "parent_asset_id", "latitude", "longitude", "attributes", "flex_context",
    "sensors_to_show",
)  # fmt: skip
_JSON_COLUMNS = {"attributes", "flex_context", "sensors_to_show"}


async def update_asset(conn: AsyncConnection[Any], id: int, changes: dict[str, Any]) -> None:
    """Set the given columns (keys of ``UPDATABLE_COLUMNS``) of one asset."""
    if not changes:
        return
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)) for column in changes
    )
    params = {column: Jsonb(value) if column in _JSON_COLUMNS else value for column, value in changes.items()}
    await conn.execute(
        sql.SQL("UPDATE generic_assets SET {} WHERE id = {}").format(assignments, sql.Placeholder("id")),
        {**params, "id": id},
    )


SELECT_SUBTREE = """
WITH RECURSIVE tree AS (
    SELECT id FROM generic_assets WHERE id = %(id)s
    UNION ALL
    SELECT c.id FROM generic_assets c JOIN tree t ON c.parent_asset_id = t.id
)
SELECT id FROM tree
"""


async def subtree_ids(conn: AsyncConnection[Any], id: int) -> list[int]:
    """The asset and all its descendants."""
    return [int(row[0]) for row in await (await conn.execute(SELECT_SUBTREE, {"id": id})).fetchall()]


SELECT_SUBTREE_SENSORS = """
WITH RECURSIVE tree AS (
    SELECT id FROM generic_assets WHERE id = %(id)s
    UNION ALL
    SELECT c.id FROM generic_assets c JOIN tree t ON c.parent_asset_id = t.id
)
SELECT s.id FROM sensors s JOIN tree t ON s.generic_asset_id = t.id ORDER BY s.id
"""


async def subtree_sensor_ids(conn: AsyncConnection[Any], id: int) -> list[int]:
    """The sensors of the asset and of all its descendants (deleting the asset deletes them)."""
    return [int(row[0]) for row in await (await conn.execute(SELECT_SUBTREE_SENSORS, {"id": id})).fetchall()]


DELETE_ASSET = "DELETE FROM generic_assets WHERE id = %(id)s"


async def delete_asset(conn: AsyncConnection[Any], id: int) -> None:
    """Delete the asset; its descendants, their sensors and (by trigger) those sensors' beliefs go with it."""
    await conn.execute(DELETE_ASSET, {"id": id})


@dataclass(frozen=True)
class AssetTypeRow:
    id: int
    name: str
    description: str | None


SELECT_ASSET_TYPES = "SELECT id, name, description FROM generic_asset_types ORDER BY id"


async def asset_types(conn: AsyncConnection[Any]) -> list[AssetTypeRow]:
    async with conn.cursor(row_factory=class_row(AssetTypeRow)) as cur:
        await cur.execute(SELECT_ASSET_TYPES)
        return await cur.fetchall()


SELECT_ANCESTOR_CONTEXTS = """
WITH RECURSIVE up AS (
    SELECT id, parent_asset_id, flex_context, 0 AS depth FROM generic_assets WHERE id = %(id)s
    UNION ALL
    SELECT p.id, p.parent_asset_id, p.flex_context, u.depth + 1
    FROM up u JOIN generic_assets p ON p.id = u.parent_asset_id
    WHERE u.depth < 100
)
SELECT flex_context FROM up ORDER BY depth DESC
"""


async def merged_flex_context(conn: AsyncConnection[Any], id: int) -> dict[str, Any]:
    """The asset's flex-context merged over its ancestors' (root first, the asset's own keys last)."""
    rows = await (await conn.execute(SELECT_ANCESTOR_CONTEXTS, {"id": id})).fetchall()
    return merge_contexts(row[0] for row in rows)
