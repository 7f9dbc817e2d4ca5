"""Storing computed schedules as beliefs: ingest stays the one writer of beliefs.

A finished ``ScheduleComputed`` becomes one belief per slot of each device's power sensor (the one device, or every
device of an asset-level job) and, when it carries a state-of-charge trajectory, one per instant of the
state-of-charge sensor, under the scheduler's data source, with the job's belief time; the job is marked finished
**in the same transaction**, so a job that reads as finished always has every device's values. Failed outcomes were
recorded by the scheduler; they are not stored here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from aiokafka.structs import ConsumerRecord
from psycopg import AsyncConnection, AsyncCursor
from pydantic import ValidationError

from services.ingest import sql
from shared.messages import DeviceSchedule, ScheduleComputed
from shared.topics import SCHEDULES

logger = logging.getLogger(__name__)

# FlexMeasures' scheduler data sources: model → version (name "Seita", type "scheduler").
SOURCE_VERSIONS = {"StorageScheduler": "5", "StorageFallbackScheduler": "2", "ProcessScheduler": "1"}


def decode_schedules(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[ScheduleComputed]:
    """The finished schedules among ``records`` (a malformed record is logged and skipped)."""
    out = []
    for record in records:
        try:
            message = SCHEDULES.decode(record.value)
        except ValidationError as exc:
            logger.warning("malformed schedule at offset %s: %s", record.offset, exc.errors()[:3])
            continue
        if message.status == "finished" and message.start is not None and message.belief_time is not None:
            out.append(message)
    return out


def event_starts(start: datetime, step: timedelta, count: int) -> list[datetime]:
    return [start + i * step for i in range(count)]


async def store_schedules(conn: AsyncConnection[Any], messages: Sequence[ScheduleComputed]) -> int:
    """Store every schedule and mark its job finished, in one transaction that this sends itself (``BEGIN`` and
    ``COMMIT`` in the pipeline, on a connection in autocommit mode: ``db.own_transaction``). One round trip: the
    data sources (created on first use), every belief and job mark naming its source by model and version, and
    ``COMMIT``. Returns rows written."""
    writes: list[AsyncCursor[Any]] = []
    async with conn.pipeline():
        await conn.execute("BEGIN")
        sources = {
            model: (model, SOURCE_VERSIONS.get(model, "1"))
            for model in sorted({message.scheduler or "StorageScheduler" for message in messages})
        }
        for model, version in sources.values():
            await sql.ensure_scheduler_source(conn, model, version)
        for message in messages:
            model = message.scheduler or "StorageScheduler"
            assert message.start is not None and message.belief_time is not None
            step = message.resolution or timedelta(0)
            for device in _device_schedules(message):
                writes.append(await sql.store_schedule_beliefs(
                    conn, device.sensor_id, sources[model], message.belief_time,
                    event_starts(message.start, step, len(device.values)), device.values,
                ))  # fmt: skip
                if device.soc_sensor_id is not None and device.soc_values:
                    writes.append(await sql.store_schedule_beliefs(
                        conn, device.soc_sensor_id, sources[model], message.belief_time,
                        event_starts(message.soc_start or message.start, step, len(device.soc_values)),
                        device.soc_values,
                    ))  # fmt: skip
            await sql.mark_job_finished(
                conn, message.job_id, sources[model], message.belief_time, scheduler=model,
                time_limit_hit=message.time_limit_hit,
            )  # fmt: skip
        await conn.execute("COMMIT")
    return sum(cur.rowcount for cur in writes)


def _device_schedules(message: ScheduleComputed) -> list[DeviceSchedule]:
    """Every device schedule of a message: an asset-level job's list, else the one device of the top-level fields."""
    if message.devices:
        return list(message.devices)
    return [DeviceSchedule(
        sensor_id=message.sensor_id, values=message.values, unit=message.unit or "",
        consumption_positive=message.consumption_positive, soc_sensor_id=message.soc_sensor_id,
        soc_values=message.soc_values, soc_unit=message.soc_unit,
    )]  # fmt: skip
