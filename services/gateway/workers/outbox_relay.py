"""The outbox relay: publishes outbox rows to Kafka in id order, marking them published only once the
broker acknowledged them. Kafka or the database down: retry with capped exponential backoff
(``shared/retry.py``), never drop.

Several gateway replicas may run a relay. Rows are locked with ``FOR UPDATE SKIP LOCKED`` and a
transaction-scoped advisory lock lets one relay at a time work, so a later change of a sensor can never
overtake an earlier one on the (compacted) topic. A crash after the broker acked but before the commit
publishes those rows again: consumers see at-least-once delivery, keyed by sensor id.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql import outbox
from shared.retry import retrying, sleep_unless_set

logger = logging.getLogger(__name__)

BATCH = 500
MAX_BACKOFF = timedelta(seconds=30)
TRANSIENT = (TimeoutError, KafkaError, OSError, psycopg.OperationalError)


async def drain_once(pool: AsyncConnectionPool, producer: AIOKafkaProducer, batch: int = BATCH) -> int:
    """Publish up to ``batch`` unpublished rows; returns how many were published (0: none, or another relay)."""
    async with pool.connection() as conn, conn.transaction():
        if not await outbox.try_relay_lock(conn):
            return 0
        rows = await outbox.lock_unpublished(conn, batch)
        if not rows:
            return 0
        pending: list[asyncio.Future[Any]] = []
        for row in rows:  # send() only enqueues, in order; the futures resolve when the broker acked
            pending.append(await producer.send(row.topic, row.value, key=row.key))
        await asyncio.gather(*pending)
        await outbox.mark_published(conn, [row.id for row in rows])
    logger.info("published %s outbox rows (ids %s-%s)", len(rows), rows[0].id, rows[-1].id)
    return len(rows)


async def run(pool: AsyncConnectionPool, producer: AIOKafkaProducer, interval: timedelta, stop: asyncio.Event) -> None:
    """Drain until ``stop`` is set: straight on while there is a backlog, else every ``interval``."""
    while not stop.is_set():
        published = 0
        retry = retrying(
            on=TRANSIENT, first_wait=2 * interval.total_seconds(), max_wait=MAX_BACKOFF.total_seconds(),
            what="outbox publish", logger=logger, stop=stop,
        )  # fmt: skip
        try:
            async for attempt in retry:
                with attempt:
                    published = await drain_once(pool, producer)
        except TRANSIENT:
            return  # stopped while the broker or the database was away: the rows stay for the next relay
        if published < BATCH:
            await sleep_unless_set(stop, interval.total_seconds())
