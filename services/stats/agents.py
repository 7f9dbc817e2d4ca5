"""The stats agent: decode a batch of ``BeliefsIngested`` events, plan the work (``aggregates.plan``) and
store it in one transaction. Faust acknowledges a batch only after this returns, so a crash replays it;
the recomputation is idempotent, so the replay changes nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence

import mode
import psycopg
from faust import App, StreamT, TopicT
from prometheus_client import Counter, Histogram
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from services.stats import aggregates, sql
from shared import db
from shared.messages import BeliefsIngested
from shared.retry import retrying
from shared.settings import StatsSettings
from shared.topics import INGESTED

logger = logging.getLogger(__name__)

EVENTS = Counter("flexstream_stats_ingested_events_total", "BeliefsIngested events received", ["valid"])
BATCH_SECONDS = Histogram("flexstream_stats_batch_seconds", "Time to store the aggregates of one batch")
RETRIES = Counter("flexstream_stats_retries_total", "Transient database failures retried")
MAX_ATTEMPTS = 8


def decode(values: Sequence[bytes]) -> list[BeliefsIngested]:
    events = []
    for value in values:
        try:
            events.append(INGESTED.decode(value))
        except ValidationError as exc:
            EVENTS.labels("false").inc()
            logger.warning("invalid ingested event skipped: %s", exc.errors()[:3])
            continue
        EVENTS.labels("true").inc()
    return events


async def store(pool: AsyncConnectionPool, events: Sequence[BeliefsIngested]) -> None:
    """Apply a batch to the aggregates in one transaction (sensors deleted meanwhile are skipped)."""
    work = aggregates.plan(events)
    if not work:
        return
    async with pool.connection() as conn, conn.transaction():
        present = await sql.lock_sensors(conn, work)
        for sensor_id in sorted(present):
            item = work[sensor_id]
            if item.clear:
                await sql.clear_sensor(conn, sensor_id)
            for span in item.spans:
                await sql.recompute_buckets(conn, sensor_id, span)
            await sql.recompute_totals(conn, sensor_id)


async def store_with_retry(pool: AsyncConnectionPool, events: Sequence[BeliefsIngested]) -> None:
    """``store``; a transient database failure is retried (``shared/retry.py``) at most ``MAX_ATTEMPTS`` times,
    0.2 s first, doubled up to 10 s apart. Then the error is raised and the worker stops unacknowledged, so
    its restart replays the batch."""
    retry = retrying(
        on=(psycopg.OperationalError,), first_wait=0.2, max_wait=10, attempts=MAX_ATTEMPTS,
        what="stats aggregate update", logger=logger, on_retry=RETRIES.inc,
    )  # fmt: skip
    async for attempt in retry:
        with attempt:
            await store(pool, events)


def register(app: App, topic: TopicT, settings: StatsSettings) -> None:
    # CrashingSupervisor: an unexpected error stops the worker uncommitted (the restart replays the batch)
    # instead of restarting the agent past events it had taken.
    @app.agent(topic, supervisor_strategy=mode.CrashingSupervisor)
    async def aggregate(stream: StreamT[bytes]) -> AsyncIterator[int]:
        async with db.open_pool(settings, name="flexstream-stats") as pool:
            async for values in stream.take(settings.stats_batch_max, within=settings.stats_batch_wait):
                started = time.perf_counter()
                events = decode(values)
                await store_with_retry(pool, events)
                BATCH_SECONDS.observe(time.perf_counter() - started)
                yield len(events)
