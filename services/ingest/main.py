"""The ingest consumer loop: take what has arrived, write it in one transaction, send its events, commit offsets.

Failures are sorted in one place: a message that can never succeed goes to the DLQ (inside
``handlers.ingest_batch``); a transient database or broker failure is retried with backoff and, if it
persists, the process exits without committing so that a restart replays the batch; anything else is a
bug and crashes the process (also uncommitted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter, Histogram
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.ingest.handlers import RECORD_ERRORS, Results, ingest_batch, record_unstorable
from services.ingest.schedules import decode_schedules, store_schedules
from services.ingest.trust import TopicTrust
from shared import db, health, kafka
from shared.retry import retrying
from shared.service import freeze_startup_objects, run_until_signal
from shared.settings import IngestSettings
from shared.topics import DEVICE_DATA, INGESTED, SCHEDULES, SENSOR_DATA, SENSOR_DATA_DLQ, key_for

logger = logging.getLogger(__name__)

RECORDS = Counter("flexstream_ingest_records_total", "Sensor-data records consumed")
BELIEFS = Counter("flexstream_ingest_beliefs_written_total", "Belief rows inserted or replaced")
DEAD = Counter("flexstream_ingest_dead_letters_total", "Records sent to the DLQ", ["reason"])
RETRIES = Counter("flexstream_ingest_retries_total", "Transient failures retried")
SCHEDULES_STORED = Counter("flexstream_ingest_schedules_total", "Computed schedules stored as beliefs")
COMMITS_REFUSED = Counter(
    "flexstream_ingest_commits_refused_total", "Offset commits the broker refused because the group was rebalancing"
)
BATCH_SECONDS = Histogram("flexstream_ingest_batch_seconds", "Time to write one batch (DB transaction)")

MAX_ATTEMPTS = 8
SCHEDULES_GROUP_SUFFIX = "-schedules"  # computed schedules have a consumer group of their own
T = TypeVar("T")


async def write_with_retry(pool: AsyncConnectionPool, records: list[Any], settings: IngestSettings) -> Results:
    """One transaction for the batch (``with_retry``)."""
    trust = topic_trust(settings)
    return await with_retry(
        pool, lambda conn: ingest_batch(conn, records, max_values=settings.ingest_max_values, topics=trust)
    )


def topic_trust(settings: IngestSettings) -> TopicTrust:
    return TopicTrust(settings.topic_prefix, settings.allow_data_overwrite)


def subscription(settings: IngestSettings) -> str:
    """The gateway's command topic and every account's device topic (those ingest may read: see
    ``shared/kafka_grants.py``), as one pattern, so that an account's new device topic is picked up while running."""
    device = DEVICE_DATA.pattern(settings.topic_prefix).pattern.strip("^$")
    return f"^(?:{re.escape(SENSOR_DATA.full_name(settings.topic_prefix))}|{device})$"


async def with_retry(pool: AsyncConnectionPool, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction; a transient database failure is retried (``shared/retry.py``), at most
    ``MAX_ATTEMPTS`` times, 0.2 s first, doubled up to 10 s apart; then the error is raised."""
    retry = retrying(
        on=(psycopg.OperationalError,), first_wait=0.2, max_wait=10, attempts=MAX_ATTEMPTS, what="database write",
        logger=logger, on_retry=RETRIES.inc,
    )  # fmt: skip
    async for attempt in retry:
        with attempt:
            async with pool.connection() as conn, conn.transaction():
                return await work(conn)
    raise AssertionError("unreachable: the last failure is raised")


async def write_batch(pool: AsyncConnectionPool, records: list[Any], settings: IngestSettings) -> Results:
    """``write_with_retry``, except that a batch the database refuses for its data (``RECORD_ERRORS``) is halved
    until the record at fault is alone; that record is dead-lettered (``unstorable``) and the rest is written, in
    order, so one bad record never stops its partition. Transient failures still propagate (the restart replays)."""
    try:
        return await write_with_retry(pool, records, settings)
    except RECORD_ERRORS as exc:
        if len(records) > 1:
            half = len(records) // 2
            first = await write_batch(pool, records[:half], settings)
            second = await write_batch(pool, records[half:], settings)
            return Results(ingested=first.ingested + second.ingested, dead=first.dead + second.dead)
        logger.exception("record refused by the database; dead-lettering it", extra={"offset": records[0].offset})
        return await _record_unstorable(pool, records[0], exc, settings)


async def _record_unstorable(
    pool: AsyncConnectionPool, record: Any, error: BaseException, settings: IngestSettings
) -> Results:
    return await with_retry(pool, lambda conn: record_unstorable(conn, record, error, topic_trust(settings)))


async def publish(producer: AIOKafkaProducer, settings: IngestSettings, results: Results) -> None:
    """Send every event of the batch and wait until the broker has them all."""
    sends = [
        await producer.send(INGESTED.full_name(settings.topic_prefix), INGESTED.encode(e), key=key_for(e.sensor_id))
        for e in results.ingested
    ]
    for letter in results.dead:
        DEAD.labels(letter.reason).inc()
        logger.warning(
            "dead letter: %s",
            letter.detail,
            extra={"reason": letter.reason, "topic": letter.topic, "partition": letter.partition,
                   "offset": letter.offset, "sensor_id": letter.sensor_id, "command_id": str(letter.command_id)},
        )  # fmt: skip
        key = key_for(letter.sensor_id) if letter.sensor_id is not None else None
        dlq = SENSOR_DATA_DLQ.full_name(settings.topic_prefix)
        sends.append(await producer.send(dlq, SENSOR_DATA_DLQ.encode(letter), key=key))
    await asyncio.gather(*sends)


async def finish(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    settings: IngestSettings,
    results: Results,
    records: list[ConsumerRecord[bytes, bytes]],
) -> None:
    """After a batch's database commit: its events, then (once the broker has them all) its offsets, only for the
    partitions still assigned; a partition taken away by a rebalance meanwhile is replayed by its new owner, which
    finds the commands done and sends their events again (idempotent).

    A commit that races a rebalance is refused by the broker (``CommitFailedError``). That loses nothing: the
    batch is stored and its events sent, so whoever owns the partitions next reads these records again and
    finds them done. The consumer rejoins the group by itself; the lane goes on."""
    await publish(producer, settings, results)
    assigned = consumer.assignment()
    offsets = {tp: o for tp, o in next_offsets(records).items() if tp in assigned}
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except CommitFailedError:
        COMMITS_REFUSED.inc()
        logger.warning(
            "offsets not committed: the group was rebalancing; the partitions' next owner replays these records",
            extra={"partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in offsets)},
        )


class Intake:
    """Records read from Kafka but not yet written: a reader task fills it while the writer's transaction runs,
    so the next batch is whatever arrived meanwhile (group commit) and an idle write waits on no timer.

    aiokafka fetches a partition again only once its buffered records are taken, so without a reader of its
    own the consumer would sit idle during every transaction and batches would stay as small as one fetch. A batch
    holds at most ``batch_max`` records and ``batch_bytes`` bytes of values (but always at least one record)."""

    def __init__(self, consumer: AIOKafkaConsumer, batch_max: int, batch_bytes: int) -> None:
        self.consumer = consumer
        self.batch_max = batch_max
        self.batch_bytes = batch_bytes
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self.waiting_bytes = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def _full(self) -> bool:
        return len(self.records) >= self.batch_max or self.waiting_bytes >= self.batch_bytes

    async def read(self) -> None:
        """Take what the broker has, as it arrives, as long as less than one batch is waiting."""
        while True:
            await self._room.wait()
            batches = await self.consumer.getmany(timeout_ms=500, max_records=self.batch_max)
            for part in batches.values():
                self.records.extend(part)
                self.waiting_bytes += sum(len(record.value or b"") for record in part)
            if self.records:
                self._arrived.set()
            if self._full():
                self._room.clear()

    async def take(self, timeout: float) -> list[ConsumerRecord[bytes, bytes]]:
        """Everything waiting (up to one batch) at once; waits at most ``timeout`` seconds for the first."""
        if not self.records:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        end = batch_end([len(record.value or b"") for record in self.records], self.batch_max, self.batch_bytes)
        batch, self.records = self.records[:end], self.records[end:]
        self.waiting_bytes -= sum(len(record.value or b"") for record in batch)
        if not self._full():
            self._room.set()
        return batch


def batch_end(sizes: list[int], max_records: int, max_bytes: int) -> int:
    """How many of the waiting records (of these value sizes) the next batch takes: at most ``max_records``, and
    records until ``max_bytes`` is reached (the record that reaches it included, so a batch has at least one)."""
    total = 0
    for count, size in enumerate(sizes[:max_records], 1):
        total += size
        if total >= max_bytes:
            return count
    return min(len(sizes), max_records)


def still_assigned(
    records: list[ConsumerRecord[bytes, bytes]], assigned: set[TopicPartition]
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records whose partition this consumer still owns. Records read before a rebalance moved their partition
    to another consumer (another lane, another replica) are dropped unwritten: the new owner reads them again from
    the committed offset, and writing them here as well would race it and could send a second, different event."""
    return [record for record in records if TopicPartition(record.topic, record.partition) in assigned]


class FirstAssignment(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's base class is untyped
    """Set once the group has given its consumer partitions (possibly none) for the first time. A process's lanes
    join one by one, and each join rebalances the group; when the last lane has its first assignment, every
    earlier lane has been through that rebalance too, so the partitions are spread over all lanes."""

    def __init__(self) -> None:
        self.done = asyncio.Event()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.done.set()


def next_offsets(records: list[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    """The offsets to commit once ``records`` are stored: one past the last record of each partition."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


async def run(settings: IngestSettings, stop: asyncio.Event) -> None:
    await kafka.ensure_topics(settings)
    async with (
        db.open_pool(settings, name="ingest") as pool,
        kafka.open_producer(settings) as producer,
        kafka.open_consumer(settings, [SCHEDULES], f"{settings.ingest_group}{SCHEDULES_GROUP_SUFFIX}") as schedules,
    ):
        joined = [FirstAssignment() for _ in range(settings.ingest_lanes)]
        checks = {
            "kafka": lambda: kafka.ping(settings),
            "db": lambda: db.ping(pool),
            "lanes": lambda: _all_set([listener.done for listener in joined]),
        }  # healthy once every lane has partitions: work taken before that is moved again within seconds
        server = asyncio.create_task(
            health.serve(health.health_app("ingest", checks), settings.health_host, settings.health_port, stop)
        )
        schedule_loop = asyncio.create_task(store_schedules_until(schedules, pool, stop))
        logger.info(
            "ingest consuming",
            extra={"pattern": subscription(settings), "group": settings.ingest_group, "lanes": settings.ingest_lanes},
        )
        freeze_startup_objects()
        lanes = [asyncio.create_task(lane(pool, producer, settings, stop, listener)) for listener in joined]
        try:
            await asyncio.gather(*lanes)
        finally:
            stop.set()
            await asyncio.gather(*lanes, return_exceptions=True)
            await schedule_loop
            await server


async def _all_set(events: list[asyncio.Event]) -> bool:
    return all(event.is_set() for event in events)


async def lane(
    pool: AsyncConnectionPool,
    producer: AIOKafkaProducer,
    settings: IngestSettings,
    stop: asyncio.Event,
    listener: FirstAssignment,
) -> None:
    """One consumer of the ingest group and its write loop. The lanes of a process share the partitions between
    them as the group assigns them (a partition belongs to one lane at a time, so a sensor's commands stay in
    order), and one lane's database transaction runs while another decodes, encodes or waits on the broker."""
    async with kafka.open_consumer(
        settings,
        [],
        settings.ingest_group,
        pattern=subscription(settings),
        listener=listener,
        metadata_max_age_ms=settings.ingest_topic_refresh_ms,
        max_poll_records=settings.ingest_batch_max,
        fetch_min_bytes=settings.ingest_fetch_min_bytes,
        fetch_max_wait_ms=settings.ingest_fetch_wait_ms,
    ) as consumer:
        intake = Intake(consumer, settings.ingest_batch_max, settings.ingest_batch_bytes)
        reader = asyncio.create_task(intake.read())
        finishing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                if reader.done():  # the reader failed (e.g. the broker went away): let the process exit
                    reader.result()
                records = still_assigned(await intake.take(timeout=0.5), consumer.assignment())
                if not records:
                    continue
                RECORDS.inc(len(records))
                started = time.perf_counter()
                results = await write_batch(pool, records, settings)
                BATCH_SECONDS.observe(time.perf_counter() - started)
                BELIEFS.inc(sum(e.rows_written + e.rows_replaced for e in results.ingested if e.outcome != "deleted"))
                # The events are sent and the offsets committed while the next batch is written; the batch after
                # waits for that, so events go out in order and offsets only move forward.
                if finishing is not None:
                    await finishing
                finishing = asyncio.create_task(finish(consumer, producer, settings, results, records))
                logger.debug("batch done", extra={"records": len(records), "ingested": len(results.ingested)})
            if finishing is not None:
                await finishing
        finally:
            stop.set()
            reader.cancel()
            await asyncio.gather(reader, *([finishing] if finishing else []), return_exceptions=True)


async def store_schedules_until(consumer: AIOKafkaConsumer, pool: AsyncConnectionPool, stop: asyncio.Event) -> None:
    """Store computed schedules as they come (their own consumer: no batching delay), offsets committed after the
    database commit. A failure stops the service, uncommitted, like a failure of the data loop."""
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            schedules = decode_schedules([record for part in batches.values() for record in part])
            if schedules:
                SCHEDULES_STORED.inc(len(schedules))
                await with_retry(pool, partial(store_schedules, messages=schedules))
            if batches:
                await consumer.commit()
    finally:
        stop.set()


def main() -> None:
    run_until_signal("ingest", run, IngestSettings())
