"""Read-your-writes: wait for ingest to finish a command the gateway produced.

One consumer per gateway process reads every partition of the *ingested* and *dead-letter* topics, without a
consumer group, from the end (positioned before the gateway serves its first request). A request registers
its command id with ``expect`` *before* producing the command; the consumer resolves the future when ingest
reports on that command. Events nobody waits for are skipped, so several gateway replicas can run side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from shared import kafka
from shared.messages import BeliefsIngested, DeadLetter
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


@asynccontextmanager
async def open_waiter(settings: Settings) -> AsyncIterator[Waiter]:
    """A started ``Waiter`` whose consumer already sits at the end of every watched partition."""
    waiter = Waiter()

    def resolve(record: ConsumerRecord[bytes, bytes]) -> None:
        outcome = decode(record.topic, record.value, settings.topic_prefix)
        if outcome is not None:
            waiter.resolve(outcome)

    async with kafka.following(settings, WATCHED, resolve) as partitions:
        logger.info("waiting for ingested events", extra={"partitions": len(partitions)})
        yield waiter
