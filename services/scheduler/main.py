"""The scheduler's consumer loop: one job per ``TriggerSchedule``, the offset committed once its outcome is durable.

A consumer group on ``flexstream.schedule-triggers.v1`` (scale-out by partition). The partitions a process owns
run side by side (a task per partition), each one record at a time, in order; a record's offset is committed only after
``worker.run_job`` returned (the outcome is in the database or on ``flexstream.schedules.v1``), so a scheduler
that dies mid-job leaves its trigger uncommitted and the partition's next owner (a restarted process, or another
replica after the rebalance) runs the job again.
A database or broker failure crashes the process, uncommitted, for the same reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import Counter
from pydantic import ValidationError

from services.scheduler.device_schedules import DeviceSchedules
from services.scheduler.ingest_wait import IngestProgress, Stopping
from services.scheduler.worker import Context, run_job
from shared import db, health, kafka, units
from shared.service import run_until_signal
from shared.settings import SchedulerSettings
from shared.topics import SCHEDULE_TRIGGERS, SENSOR_DATA

logger = logging.getLogger(__name__)

BACKLOG = 100  # records waiting in one partition's queue before that partition is paused
TRIGGERS = Counter("flexstream_scheduler_triggers_total", "Schedule triggers received", ["valid"])


async def run(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    await kafka.ensure_topics(settings)
    await asyncio.to_thread(units.registry)  # the unit registry takes seconds to build: not in the first job
    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        async with (
            db.open_pool(settings, name="scheduler") as pool,
            kafka.open_producer(settings, linger_ms=0) as producer,  # one message per job: send at once
            kafka.open_consumer(
                settings, [SCHEDULE_TRIGGERS], settings.scheduler_group, max_poll_records=50
            ) as consumer,
        ):
            ingest = IngestProgress(pool, admin, f"{settings.topic_prefix}{settings.ingest_group}",
                                    SENSOR_DATA.full_name(settings.topic_prefix), stop)  # fmt: skip
            ctx = Context(settings, pool, producer, ingest, DeviceSchedules(admin, pool, settings.topic_prefix))
            checks = {"kafka": lambda: kafka.ping(settings), "db": lambda: db.ping(pool)}
            server = asyncio.create_task(
                health.serve(health.health_app("scheduler", checks), settings.health_host, settings.health_port, stop)
            )
            logger.info("scheduler consuming", extra={"group": settings.scheduler_group})
            try:
                await consume(consumer, ctx, stop)
            finally:
                stop.set()
                await server
    finally:
        await admin.close()


async def consume(consumer: AIOKafkaConsumer, ctx: Context, stop: asyncio.Event) -> None:
    """Partitions run side by side, each in order: records go to a queue per partition, worked off by that
    partition's task. A partition whose queue is long is paused until it shrank (fetching never waits otherwise).
    A failed partition task stops the service (after the others finish their job in hand); nothing it did not
    finish is committed."""
    queues: dict[TopicPartition, asyncio.Queue[Any]] = {}
    tasks: dict[TopicPartition, asyncio.Task[None]] = {}
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            for tp, records in batches.items():
                if tp not in queues:
                    queues[tp] = asyncio.Queue()
                    tasks[tp] = asyncio.create_task(run_partition(consumer, ctx, tp, queues[tp], stop))
                for record in records:
                    queues[tp].put_nowait(record)
            paused = consumer.paused()
            for tp, queue in queues.items():
                if queue.qsize() >= BACKLOG and tp not in paused:
                    consumer.pause(tp)
                elif queue.qsize() < BACKLOG // 2 and tp in paused and tp in consumer.assignment():
                    consumer.resume(tp)
            for task in tasks.values():
                if task.done():
                    task.result()  # a failure ends the loop (and the service)
    finally:
        stop.set()
        if tasks:
            await asyncio.wait(tasks.values())


async def run_partition(
    consumer: AIOKafkaConsumer, ctx: Context, tp: TopicPartition, queue: asyncio.Queue[Any], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            record = await asyncio.wait_for(queue.get(), timeout=0.2)
        except TimeoutError:
            continue
        if stop.is_set():
            return  # the rest stays uncommitted and is delivered again
        try:
            await handle(ctx, record.value, record.offset)
        except Stopping:
            return  # the job stays started; its trigger is delivered again
        await commit(consumer, tp, record.offset + 1)


async def commit(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
    """Commit one partition's offset. After a rebalance took the partition away the commit fails: the new owner
    then runs the job again, which is harmless (the same schedule is stored once more)."""
    try:
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    except (CommitFailedError, IllegalStateError) as exc:
        logger.warning("offset commit refused (partition reassigned?): %s", exc, extra={"partition": tp.partition})


async def handle(ctx: Context, value: bytes | None, offset: int) -> None:
    try:
        trigger = SCHEDULE_TRIGGERS.decode(value)
    except ValidationError as exc:
        TRIGGERS.labels("false").inc()
        logger.warning("invalid schedule trigger at offset %s: %s", offset, exc.errors()[:3])
        return
    TRIGGERS.labels("true").inc()
    await run_job(ctx, trigger)


def main() -> None:
    run_until_signal("scheduler", run, SchedulerSettings())
