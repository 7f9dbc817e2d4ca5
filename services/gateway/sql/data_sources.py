"""Data sources: the one of each API user (created on first use) and whether a source id exists."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

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
    """The data source of type ``user`` of this user, created on first use (as FlexMeasures does for API posts)."""
    for _ in range(2):  # a concurrent first post of the same user may win the insert: then read theirs
        row = await (await conn.execute(UPSERT_USER_SOURCE, {"user_id": user_id})).fetchone()
        if row is not None:
            return int(row[0])
    raise LookupError(f"no data source for user {user_id}")


SELECT_SOURCE_EXISTS = "SELECT EXISTS (SELECT 1 FROM data_sources WHERE id = %(id)s)"


async def source_exists(conn: AsyncConnection[Any], source_id: int) -> bool:
    row = await (await conn.execute(SELECT_SOURCE_EXISTS, {"id": source_id})).fetchone()
    return bool(row and row[0])
