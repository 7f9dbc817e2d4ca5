"""Background worker: keeps this gateway's sensor cache in step with changes made through any replica.

It follows ``flexstream.sensor-events.v1`` from the end (no consumer group: every gateway reads every event) and
drops each changed or deleted sensor from the cache, so that a PATCH or DELETE through one gateway reaches the
data routes of every gateway once the outbox relay has published it (``FLEXSTREAM_OUTBOX_INTERVAL``), not only
when the cache entry expires.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from shared import kafka
from shared.settings import Settings
from shared.topics import SENSOR_EVENTS

logger = logging.getLogger(__name__)


def evict(sensors: MutableMapping[int, Any], value: bytes | None) -> None:
    """Drop the sensor a ``SensorChanged`` value names (an undecodable value is logged and skipped)."""
    try:
        event = SENSOR_EVENTS.decode(value)
    except ValidationError as exc:
        logger.warning("skipping an undecodable sensor event: %s", exc)
        return
    sensors.pop(event.sensor_id, None)


@asynccontextmanager
async def evicting_changed_sensors(settings: Settings, sensors: MutableMapping[int, Any]) -> AsyncIterator[None]:
    """While open, every sensor event evicts its sensor from ``sensors``."""

    def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        evict(sensors, record.value)

    async with kafka.following(settings, [SENSOR_EVENTS], handle) as partitions:
        logger.info("following sensor events", extra={"partitions": len(partitions)})
        yield
