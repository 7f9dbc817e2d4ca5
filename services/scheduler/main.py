"""The scheduler's consumer loop.

Not built yet: the storage scheduler itself (problem construction from prices and constraints, the
highspy LP, job status, publishing ``ScheduleComputed``) is the subject of a later issue. For now the
service consumes ``flexstream.schedule-triggers.v1``, validates each message against the shared model,
logs it and commits, so the topic, the consumer group and the service's health and metrics are real.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter
from pydantic import ValidationError

from shared import db, health, kafka
from shared.service import run_until_signal
from shared.settings import SchedulerSettings
from shared.topics import SCHEDULE_TRIGGERS

logger = logging.getLogger(__name__)

TRIGGERS = Counter("flexstream_scheduler_triggers_total", "Schedule triggers received", ["valid"])


async def run(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    await kafka.ensure_topics(settings)
    async with (
        db.open_pool(settings, name="scheduler") as pool,
        kafka.open_consumer(settings, [SCHEDULE_TRIGGERS], settings.scheduler_group) as consumer,
    ):
        checks = {"kafka": lambda: kafka.ping(settings), "db": lambda: db.ping(pool)}
        server = asyncio.create_task(
            health.serve(health.health_app("scheduler", checks), settings.health_host, settings.health_port, stop)
        )
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        try:
                            trigger = SCHEDULE_TRIGGERS.decode(record.value)
                        except ValidationError as exc:
                            TRIGGERS.labels("false").inc()
                            logger.warning("invalid schedule trigger at offset %s: %s", record.offset, exc.errors()[:3])
                            continue
                        TRIGGERS.labels("true").inc()
                        logger.info(
                            "received schedule trigger (scheduling not implemented yet)",
                            extra={"job_id": str(trigger.job_id), "sensor_id": trigger.sensor_id,
                                   "partition": record.partition, "offset": record.offset},
                        )  # fmt: skip
                if batches:
                    await consumer.commit()
        finally:
            stop.set()
            await server


def main() -> None:
    run_until_signal("scheduler", run, SchedulerSettings())
