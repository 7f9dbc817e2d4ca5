"""Background worker: deletes ``ingested_commands`` rows and published ``outbox`` rows older than
``FLEXSTREAM_COMMAND_RETENTION``, every ``FLEXSTREAM_PRUNE_INTERVAL``.

Both tables only serve replays: ingest looks a replayed command up in ``ingested_commands`` to re-send its event,
and the outbox keeps a change until it is published. The retention must be longer than the topics' retention
(``settings.py`` refuses less than 8 days; the local broker keeps 7), so a record that can still be replayed
always finds its row. One pruner works at a time across gateway replicas; a database outage is logged and the
next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql import retention
from shared.retry import sleep_unless_set

logger = logging.getLogger(__name__)

BATCH = 10_000  # rows per DELETE statement (and transaction)


async def prune_once(pool: AsyncConnectionPool, keep: timedelta, now: datetime | None = None) -> tuple[int, int]:
    """Delete what is older than ``keep``; (commands, outbox rows) deleted. (0, 0) when another pruner runs."""
    before = (now or datetime.now(UTC)) - keep
    totals = [0, 0]
    for index, prune in enumerate((retention.prune_commands, retention.prune_outbox)):
        while True:
            async with pool.connection() as conn, conn.transaction():
                if not await retention.try_pruner_lock(conn):
                    return 0, 0
                deleted = await prune(conn, before, BATCH)
            totals[index] += deleted
            if deleted < BATCH:
                break
    if any(totals):
        logger.info("pruned %s ingested commands and %s outbox rows older than %s", *totals, before.isoformat())
    return totals[0], totals[1]


async def run(pool: AsyncConnectionPool, keep: timedelta, interval: timedelta, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await prune_once(pool, keep)
        except (psycopg.OperationalError, TimeoutError) as exc:
            logger.warning("pruning skipped, the database is unavailable: %s", exc)
        await sleep_unless_set(stop, interval.total_seconds())
