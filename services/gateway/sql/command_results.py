"""What ingest recorded for commands it finished (``shared/command_results.py``): read by waiting writes."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

SELECT_RESULTS = "SELECT command_id, result FROM ingested_commands WHERE command_id = ANY(%(ids)s)"


async def results(conn: AsyncConnection[Any], command_ids: Collection[UUID]) -> dict[UUID, dict[str, Any]]:
    """The stored result of each of ``command_ids`` that ingest has finished (the others are left out)."""
    cursor = await conn.execute(SELECT_RESULTS, {"ids": list(command_ids)})
    return {command_id: result for command_id, result in await cursor.fetchall()}
