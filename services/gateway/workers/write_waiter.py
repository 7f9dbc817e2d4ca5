"""Read-your-writes: wait for ingest to finish a command the gateway produced.

One consumer per gateway process reads every partition of the *ingested* and *dead-letter* topics, without a
consumer group, from the end (positioned before the gateway serves its first request). A request registers
its command id with ``expect`` *before* producing the command; the consumer resolves the future when ingest
reports on that command. Events nobody waits for are skipped, so several gateway replicas can run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared import kafka
from shared.messages import BeliefsIngested, DeadLetter
from shared.retry import retrying
from shared.settings import Settings
from shared.topics import INGESTED, SENSOR_DATA_DLQ, Topic

logger = logging.getLogger(__name__)

Outcome = BeliefsIngested | DeadLetter
WATCHED: tuple[Topic[Any], ...] = (INGESTED, SENSOR_DATA_DLQ)


class Waiter:
    """Futures keyed by command id, resolved by ``resolve`` (called by the consumer loop)."""

    def __init__(self) -> None:
        self._pending: dict[UUID, asyncio.Future[Outcome]] = {}

    def expect(self, command_id: UUID) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        return future

    def forget(self, command_id: UUID) -> None:
        self._pending.pop(command_id, None)

    def resolve(self, outcome: Outcome) -> None:
        if outcome.command_id is None:
            return
        future = self._pending.pop(outcome.command_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)


def decode(topic: str, value: bytes | None, prefix: str) -> Outcome | None:
    try:
        if topic == INGESTED.full_name(prefix):
            return INGESTED.decode(value)
        if topic == SENSOR_DATA_DLQ.full_name(prefix):
            return SENSOR_DATA_DLQ.decode(value)
    except ValidationError as exc:
        logger.warning("skipping an undecodable record on %s: %s", topic, exc)
    return None


async def _consume(consumer: AIOKafkaConsumer, waiter: Waiter, prefix: str) -> None:
    while True:
        # the broker comes back by itself; meanwhile waiting requests time out into a 202
        retry = retrying(on=(KafkaError,), first_wait=0.5, max_wait=5, what="ingested-event fetch", logger=logger)
        async for attempt in retry:
            with attempt:
                batches = await consumer.getmany(timeout_ms=500)
        for partition, records in batches.items():
            for record in records:
                outcome = decode(partition.topic, record.value, prefix)
                if outcome is not None:
                    waiter.resolve(outcome)


@asynccontextmanager
async def open_waiter(settings: Settings) -> AsyncIterator[Waiter]:
    """A started ``Waiter`` whose consumer already sits at the end of every watched partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    waiter = Waiter()
    task: asyncio.Task[None] | None = None
    try:
        consumer.subscribe(topics=sorted(topic.full_name(settings.topic_prefix) for topic in WATCHED))
        partitions = await kafka.position_at_end(consumer)
        logger.info("waiting for ingested events", extra={"partitions": len(partitions)})
        task = asyncio.create_task(_consume(consumer, waiter, settings.topic_prefix))
        yield waiter
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()
