"""Schedules back to devices: every computed schedule also goes to its account's device schedules topic,
``flexstream.devices.<account>.schedules.v1``, where the account has one (``flexstream add-device-credential``
creates it). A device may read that topic and no other (docs/architecture.md, "Trust boundary"), so it acts on its
own account's schedules without HTTP, and sees no other account's."""

from __future__ import annotations

import time

from aiokafka.admin import AIOKafkaAdminClient
from psycopg_pool import AsyncConnectionPool

from services.scheduler import sql
from shared.messages import ScheduleComputed
from shared.topics import DEVICE_SCHEDULES

TOPICS_MAX_AGE = 5.0  # seconds a listing of the broker's topics is reused


class DeviceSchedules:
    """Which device schedules topic (if any) a sensor's schedules also go to."""

    def __init__(self, admin: AIOKafkaAdminClient, pool: AsyncConnectionPool, topic_prefix: str) -> None:
        self._admin = admin
        self._pool = pool
        self._prefix = topic_prefix
        self._topics: set[str] = set()
        self._listed_at = -TOPICS_MAX_AGE

    async def topic_for(self, sensor_id: int) -> str | None:
        """The full name of the device schedules topic of the sensor's account; None when the sensor has no account
        (a public asset's) or its account has no device topics. A topic created meanwhile is seen within
        ``TOPICS_MAX_AGE`` seconds."""
        async with self._pool.connection() as conn:
            account = await sql.sensor_account(conn, sensor_id)
        if account is None:
            return None
        name = DEVICE_SCHEDULES.for_account(account).full_name(self._prefix)
        if name not in self._topics and time.monotonic() - self._listed_at > TOPICS_MAX_AGE:
            self._topics = set(await self._admin.list_topics())  # the broker lists only those the scheduler may see
            self._listed_at = time.monotonic()
        return name if name in self._topics else None


def restricted_to(message: ScheduleComputed, sensor_ids: list[int]) -> ScheduleComputed:
    """The message as one account's devices may see it: a single-device message as it is; an asset-level one with
    only the devices in ``sensor_ids`` (in their order), the first of them in the top-level fields."""
    if not message.devices:
        return message
    devices = [d for d in message.devices if d.sensor_id in sensor_ids]
    first = devices[0]
    return message.model_copy(update={
        "devices": devices, "sensor_id": first.sensor_id, "values": first.values, "unit": first.unit,
        "consumption_positive": first.consumption_positive, "soc_sensor_id": first.soc_sensor_id,
        "soc_values": first.soc_values, "soc_unit": first.soc_unit,
        "soc_start": message.soc_start if first.soc_sensor_id is not None else None,
    })  # fmt: skip
