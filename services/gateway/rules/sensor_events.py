"""``SensorChanged`` events, written to the outbox in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any, Literal

from psycopg import AsyncConnection

from services.gateway.sql import outbox
from services.gateway.sql.sensors import SensorRow
from shared.messages import SensorChanged, SensorSnapshot
from shared.topics import SENSOR_EVENTS, key_for

Change = Literal["created", "updated", "deleted"]


def snapshot(row: SensorRow) -> SensorSnapshot:
    return SensorSnapshot(
        id=row.id, name=row.name, unit=row.unit, timezone=row.timezone, event_resolution=row.event_resolution,
        generic_asset_id=row.generic_asset_id, attributes=row.attributes,
    )  # fmt: skip


def event_for(change: Change, sensor_id: int, row: SensorRow | None) -> SensorChanged:
    """``row`` is the sensor after the change (None when deleted)."""
    after = snapshot(row) if row is not None and change != "deleted" else None
    return SensorChanged(change=change, sensor_id=sensor_id, sensor=after)


async def record(conn: AsyncConnection[Any], topic_prefix: str, event: SensorChanged) -> None:
    await outbox.enqueue(
        conn, SENSOR_EVENTS.full_name(topic_prefix), key_for(event.sensor_id), SENSOR_EVENTS.encode(event)
    )
