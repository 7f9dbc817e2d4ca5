"""The transactional outbox: rows written with a metadata change, published by ``workers/outbox_relay.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

INSERT_OUTBOX = "INSERT INTO outbox (topic, key, value) VALUES (%(topic)s, %(key)s, %(value)s)"

# Oldest first. SKIP LOCKED lets another replica's relay pass over rows this one is publishing.
SELECT_UNPUBLISHED = """
SELECT id, topic, key, value FROM outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""

MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY(%(ids)s)"

# One relay at a time across replicas (transaction-scoped), so rows reach Kafka in id order.
TRY_DRAINER_LOCK = "SELECT pg_try_advisory_xact_lock(%(lock)s)"
DRAINER_LOCK_ID = 0x4F7574626F78  # "Outbox"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    key: bytes | None
    value: bytes


async def enqueue(conn: AsyncConnection[Any], topic: str, key: bytes | None, value: bytes) -> None:
    """Add a message; it is published only if the caller's transaction commits."""
    await conn.execute(INSERT_OUTBOX, {"topic": topic, "key": key, "value": value})


async def try_relay_lock(conn: AsyncConnection[Any]) -> bool:
    row = await (await conn.execute(TRY_DRAINER_LOCK, {"lock": DRAINER_LOCK_ID})).fetchone()
    return bool(row and row[0])


async def lock_unpublished(conn: AsyncConnection[Any], limit: int) -> list[OutboxRow]:
    async with conn.cursor(row_factory=class_row(OutboxRow)) as cur:
        await cur.execute(SELECT_UNPUBLISHED, {"limit": limit})
        return await cur.fetchall()


async def mark_published(conn: AsyncConnection[Any], ids: list[int]) -> None:
    await conn.execute(MARK_PUBLISHED, {"ids": ids})
