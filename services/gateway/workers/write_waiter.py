"""Read-your-writes: wait for ingest to finish a command the gateway produced.

A request registers its command id with ``expect`` *before* producing the command; the future is resolved by
whichever of two reports on that command comes first:

- PostgreSQL's announcement on ``shared.channels.INGESTED``, delivered when ingest's transaction that stored the
  command commits (the gateway's listener, ``listener.py``, hands it to ``Waiter.notified``): one Kafka trip
  fewer than the event;
- the event on the *ingested* topic, or the command's dead letter (never announced): one consumer per gateway
  process reads every partition of both topics, without a consumer group, from the end (positioned before the
  gateway serves its first request). This alone answers while the listener's connection is down.

Reports nobody waits for are skipped, so several gateway replicas can run side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter
from pydantic import ValidationError

from shared import channels, kafka
from shared.messages import BeliefsIngested, DeadLetter
from shared.settings import Settings
from shared.topics import INGESTED, SENSOR_DATA_DLQ, Topic

logger = logging.getLogger(__name__)

Outcome = BeliefsIngested | DeadLetter
WATCHED: tuple[Topic[Any], ...] = (INGESTED, SENSOR_DATA_DLQ)


ANSWERED = Counter(
    "flexstream_gateway_write_reports_total",
    "Waiting writes answered, by the report that came first: PostgreSQL's announcement or Kafka's event",
    ["via"],
)


class Waiter:
    """Futures keyed by command id, resolved by ``resolve``: from the consumer loop, or from PostgreSQL's
    announcements (``notified``; a subscriber of the gateway's listener)."""

    channel = channels.INGESTED

    def __init__(self) -> None:
        self._pending: dict[UUID, asyncio.Future[Outcome]] = {}

    def expect(self, command_id: UUID) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        return future

    def forget(self, command_id: UUID) -> None:
        self._pending.pop(command_id, None)

    def resolve(self, outcome: Outcome, via: str = "kafka") -> None:
        if outcome.command_id is None:
            return
        future = self._pending.pop(outcome.command_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)
            ANSWERED.labels(via).inc()

    def notified(self, payload: str) -> None:
        """An announcement of a stored command (its ``BeliefsIngested``, as on Kafka)."""
        try:
            event = INGESTED.decode(payload.encode())
        except ValidationError as exc:
            logger.warning("skipping an undecodable announcement on %s: %s", self.channel, exc)
            return
        self.resolve(event, via="postgresql")

    def up(self) -> None:
        """Nothing to do: the Kafka reports answer without the announcements."""

    def lost(self) -> None:
        """Nothing to do: the Kafka reports answer without the announcements."""


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
