"""Pruning what is only kept for replays: ``ingested_commands`` rows and published ``outbox`` rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

# Oldest first, a bounded batch per statement, so a large backlog never holds long locks.
PRUNE_COMMANDS = """
DELETE FROM ingested_commands WHERE command_id IN (
    SELECT command_id FROM ingested_commands WHERE ingested_at < %(before)s ORDER BY ingested_at LIMIT %(limit)s
)
"""

# Unpublished rows stay, however old: the relay has not delivered them yet.
PRUNE_OUTBOX = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox WHERE published_at < %(before)s ORDER BY id LIMIT %(limit)s
)
"""

# One pruner at a time across gateway replicas (transaction-scoped).
TRY_PRUNER_LOCK = "SELECT pg_try_advisory_xact_lock(%(lock)s)"
PRUNER_LOCK_ID = 0x5072756E6572  # "Pruner"


async def try_pruner_lock(conn: AsyncConnection[Any]) -> bool:
    row = await (await conn.execute(TRY_PRUNER_LOCK, {"lock": PRUNER_LOCK_ID})).fetchone()
    return bool(row and row[0])


async def prune_commands(conn: AsyncConnection[Any], before: datetime, limit: int) -> int:
    return (await conn.execute(PRUNE_COMMANDS, {"before": before, "limit": limit})).rowcount


async def prune_outbox(conn: AsyncConnection[Any], before: datetime, limit: int) -> int:
    return (await conn.execute(PRUNE_OUTBOX, {"before": before, "limit": limit})).rowcount
