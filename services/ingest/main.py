"""The ingest consumer loop: take what has arrived, write it in one transaction, send its events, commit offsets
(``offset_commits.py``).

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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter, Histogram
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.ingest.handlers import RECORD_ERRORS, Results, ingest_batch, next_offsets, record_unstorable
from services.ingest.offset_commits import OffsetCommits
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
BATCH_SECONDS = Histogram("flexstream_ingest_batch_seconds", "Time to write one batch (DB transaction)")

MAX_ATTEMPTS = 8
FINAL_COMMIT_WAIT = 5.0  # seconds for the last offset commit at shutdown
SCHEDULES_GROUP_SUFFIX = "-schedules"  # computed schedules have a consumer group of their own
T = TypeVar("T")


async def write_with_retry(pool: AsyncConnectionPool, records: list[Any], settings: IngestSettings) -> Results:
    """One transaction for the batch (``with_retry``), its ``BEGIN`` and ``COMMIT`` sent by ``ingest_batch``
    beside its first and last statements."""
    trust = topic_trust(settings)
    return await with_retry(
        pool,
        lambda conn: ingest_batch(conn, records, max_values=settings.ingest_max_values, topics=trust),
        own_transaction=True,
    )


def topic_trust(settings: IngestSettings) -> TopicTrust:
    return TopicTrust(settings.topic_prefix, settings.allow_data_overwrite)


def subscription(settings: IngestSettings) -> str:
    """The gateway's command topic and every account's device topic (those ingest may read: see
    ``shared/kafka_grants.py``), as one pattern, so that an account's new device topic is picked up while running."""
    device = DEVICE_DATA.pattern(settings.topic_prefix).pattern.strip("^$")
    return f"^(?:{re.escape(SENSOR_DATA.full_name(settings.topic_prefix))}|{device})$"


async def with_retry(
    pool: AsyncConnectionPool, work: Callable[[AsyncConnection[Any]], Awaitable[T]], *, own_transaction: bool = False
) -> T:
    """Run ``work`` in one transaction (with ``own_transaction``, one that ``work`` begins and commits itself:
    ``db.own_transaction``); a transient database failure is retried (``shared/retry.py``), at most
    ``MAX_ATTEMPTS`` times, 0.2 s first, doubled up to 10 s apart; then the error is raised."""
    retry = retrying(
        on=(psycopg.OperationalError,), first_wait=0.2, max_wait=10, attempts=MAX_ATTEMPTS, what="database write",
        logger=logger, on_retry=RETRIES.inc,
    )  # fmt: skip
    async for attempt in retry:
        with attempt:
            if own_transaction:
                async with db.own_transaction(pool) as conn:
                    return await work(conn)
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
            return first + second
        logger.exception("record refused by the database; dead-lettering it", extra={"offset": records[0].offset})
        return await _record_unstorable(pool, records[0], exc, settings)


async def _record_unstorable(
    pool: AsyncConnectionPool, record: Any, error: BaseException, settings: IngestSettings
) -> Results:
    return await with_retry(pool, lambda conn: record_unstorable(conn, record, error, topic_trust(settings)))


async def publish(producer: AIOKafkaProducer, settings: IngestSettings, results: Results) -> None:
    """Send every event of the batch and wait until the broker has them all."""
    sends = [
        await producer.send(INGESTED.full_name(settings.topic_prefix), results.payload(e), key=key_for(e.sensor_id))
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
    producer: AIOKafkaProducer,
    settings: IngestSettings,
    results: Results,
    records: list[ConsumerRecord[bytes, bytes]],
    commits: OffsetCommits,
) -> None:
    """After a batch's database commit: its events, then (once the broker has them all) its offsets are ready to
    be committed (``offset_commits.py``)."""
    await publish(producer, settings, results)
    commits.ready(next_offsets(records))


@dataclass
class Batch:
    """Records one lane writes in one transaction, and the partitions it holds until that transaction ends."""

    records: list[ConsumerRecord[bytes, bytes]]
    partitions: set[TopicPartition]


class Intake:
    """Records read from Kafka but not yet written, shared by the process's lanes. A reader task fills it while
    transactions run, so a lane's next batch is whatever arrived meanwhile (group commit) and an idle write waits on
    no timer.

    A lane takes the waiting records of the partitions no other lane holds, and holds those partitions until its
    transaction ends, so each partition is written in order, one batch at a time. A lane takes every free
    partition, waiting records or not: under a steady load one lane writes while the next batch gathers, and
    batches grow (every transaction, round trip and event send has a fixed cost). When at least ``split_at``
    records wait and another lane is free (a backlog: a burst, or catching up), the lane takes whole partitions
    holding about half of them and leaves the rest to the other lane, so that one lane's transaction runs while the
    other decodes and encodes.

    aiokafka fetches a partition again only once its buffered records are taken, so without a reader of its own
    the consumer would sit idle during every transaction. A batch holds at most ``batch_max`` records and
    ``batch_bytes`` bytes of values (but always at least one record); the reader pauses while ``lanes`` batches
    wait."""

    def __init__(
        self, consumer: AIOKafkaConsumer, batch_max: int, batch_bytes: int, *, lanes: int = 1, split_at: int = 0
    ) -> None:
        self.consumer = consumer
        self.batch_max = batch_max
        self.batch_bytes = batch_bytes
        self.lanes = lanes
        self.split_at = split_at
        self.waiting: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        self.waiting_records = 0
        self.waiting_bytes = 0
        self.held: set[TopicPartition] = set()
        self.writing = 0  # batches taken and not yet released
        self._changed = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def _full(self) -> bool:
        return (
            self.waiting_records >= self.lanes * self.batch_max or self.waiting_bytes >= self.lanes * self.batch_bytes
        )

    async def read(self) -> None:
        """Take what the broker has, as it arrives, as long as less than ``lanes`` batches are waiting."""
        while True:
            await self._room.wait()
            self.add(await self.consumer.getmany(timeout_ms=500, max_records=self.batch_max))

    def add(self, fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for tp, records in fetched.items():
            if records:
                self.waiting.setdefault(tp, []).extend(records)
                self._count(records, +1)
                self._changed.set()

    async def take(self, timeout: float) -> Batch:
        """The next batch (see the class); waits at most ``timeout`` seconds for one, else an empty batch."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (batch := self._claim()) is None:
            if (left := deadline - loop.time()) <= 0:
                return Batch([], set())
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return batch

    def release(self, batch: Batch) -> None:
        """The batch's transaction has ended: its partitions are free for the next batch, any lane's."""
        self.held -= batch.partitions
        self.writing -= 1
        self._changed.set()

    def _claim(self) -> Batch | None:
        assigned = self.consumer.assignment()
        for tp in [tp for tp in self.waiting if tp not in assigned]:
            # A rebalance moved the partition away: its new owner reads these records again from the committed
            # offset, and writing them here as well would race it and could send a second, different event.
            self._count(self.waiting.pop(tp), -1)
        free = {tp: records for tp, records in self.waiting.items() if records and tp not in self.held}
        if not free:
            return None
        total = sum(map(len, free.values()))
        if total >= self.split_at > 0 and self.lanes - self.writing > 1 and len(free) > 1:
            partitions = half_of(free)
        else:
            partitions = (set(assigned) | set(free)) - self.held
        queue = [record for tp in sorted(partitions) for record in free.get(tp, [])]
        records = queue[: batch_end([len(r.value or b"") for r in queue], self.batch_max, self.batch_bytes)]
        taken: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            taken[tp] = taken.get(tp, 0) + 1
        for tp, count in taken.items():
            del self.waiting[tp][:count]
            if not self.waiting[tp]:
                del self.waiting[tp]
        self._count(records, -1)
        self.held |= partitions
        self.writing += 1
        return Batch(records, partitions)

    def _count(self, records: list[ConsumerRecord[bytes, bytes]], sign: int) -> None:
        self.waiting_records += sign * len(records)
        self.waiting_bytes += sign * sum(len(r.value or b"") for r in records)
        if self._full():
            self._room.clear()
        else:
            self._room.set()


def half_of(waiting: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> set[TopicPartition]:
    """Whole partitions, the fullest first, until they hold at least half of the waiting records."""
    total = sum(map(len, waiting.values()))
    chosen: set[TopicPartition] = set()
    taken = 0
    for tp, records in sorted(waiting.items(), key=lambda item: -len(item[1])):
        if taken * 2 >= total:
            break
        chosen.add(tp)
        taken += len(records)
    return chosen


def batch_end(sizes: list[int], max_records: int, max_bytes: int) -> int:
    """How many of the waiting records (of these value sizes) the next batch takes: at most ``max_records``, and
    records until ``max_bytes`` is reached (the record that reaches it included, so a batch has at least one)."""
    total = 0
    for count, size in enumerate(sizes[:max_records], 1):
        total += size
        if total >= max_bytes:
            return count
    return min(len(sizes), max_records)


class FirstAssignment(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's base class is untyped
    """Set once the group has given the process's consumer partitions (possibly none) for the first time: work
    read before that would be moved again by the rebalance of its own join. Before a rebalance takes partitions
    away, their ready offsets are committed (``commits``, once the consumer runs), so their next owner replays
    only what was in flight."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.commits: OffsetCommits | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self.commits is not None:
            await self.commits.commit(only=revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.done.set()


async def run(settings: IngestSettings, stop: asyncio.Event) -> None:
    await kafka.ensure_topics(settings)
    async with (
        db.open_pool(settings, name="ingest") as pool,
        kafka.open_producer(settings) as producer,
        kafka.open_consumer(settings, [SCHEDULES], f"{settings.ingest_group}{SCHEDULES_GROUP_SUFFIX}") as schedules,
    ):
        assigned = FirstAssignment()
        checks = {
            "kafka": lambda: kafka.ping(settings),
            "db": lambda: db.ping(pool),
            "assignment": lambda: _is_set(assigned.done),
        }  # healthy once the group has given this process its partitions (possibly none)
        server = asyncio.create_task(
            health.serve(health.health_app("ingest", checks), settings.health_host, settings.health_port, stop)
        )
        schedule_loop = asyncio.create_task(store_schedules_until(schedules, pool, stop))
        logger.info(
            "ingest consuming",
            extra={"pattern": subscription(settings), "group": settings.ingest_group, "lanes": settings.ingest_lanes},
        )
        freeze_startup_objects()
        try:
            await consume(pool, producer, settings, stop, assigned)
        finally:
            stop.set()
            await schedule_loop
            await server


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def consume(
    pool: AsyncConnectionPool,
    producer: AIOKafkaProducer,
    settings: IngestSettings,
    stop: asyncio.Event,
    listener: FirstAssignment,
) -> None:
    """The process's consumer of the ingest group, its reader, and ``ingest_lanes`` write loops (lanes) that share
    what it reads (``Intake``)."""
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
        intake = Intake(
            consumer, settings.ingest_batch_max, settings.ingest_batch_bytes,
            lanes=settings.ingest_lanes, split_at=settings.ingest_split_records,
        )  # fmt: skip
        commits = listener.commits = OffsetCommits(consumer)
        committing = asyncio.create_task(commits.every(settings.ingest_commit_interval_ms / 1000))
        reader = asyncio.create_task(intake.read())
        finishes = FinishOrder()
        lanes = [
            asyncio.create_task(lane(commits, intake, reader, finishes, pool, producer, settings, stop))
            for _ in range(settings.ingest_lanes)
        ]
        try:
            await asyncio.gather(*lanes)
        finally:
            stop.set()
            reader.cancel()
            committing.cancel()
            await asyncio.gather(reader, committing, *lanes, return_exceptions=True)
            with contextlib.suppress(TimeoutError):  # a broker that is away: the restart replays a little more
                async with asyncio.timeout(FINAL_COMMIT_WAIT):
                    await commits.commit()  # what the lanes finished


class FinishOrder:
    """Batches' events go out and their offsets become ready one batch after the other, in the order their
    transactions ended, whichever lane wrote them: so a partition's events keep its order and its offsets only
    move forward."""

    def __init__(self) -> None:
        self.last: asyncio.Task[None] | None = None

    def then(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        previous = self.last

        async def after_previous() -> None:
            if previous is not None:
                try:
                    await asyncio.shield(previous)  # its failure fails this one too (and reaches both lanes)
                except BaseException:
                    work.close()  # never started
                    raise
            await work

        self.last = asyncio.create_task(after_previous())
        return self.last


async def lane(
    commits: OffsetCommits,
    intake: Intake,
    reader: asyncio.Task[None],
    finishes: FinishOrder,
    pool: AsyncConnectionPool,
    producer: AIOKafkaProducer,
    settings: IngestSettings,
    stop: asyncio.Event,
) -> None:
    """One write loop: take a batch, write it in one transaction, leave its events and offsets to ``finishes``."""
    finishing: asyncio.Task[None] | None = None
    try:
        while not stop.is_set():
            if reader.done():  # the reader failed (e.g. the broker went away): let the process exit
                reader.result()
            batch = await intake.take(timeout=0.5)
            if not batch.records:
                continue
            try:
                records = batch.records
                RECORDS.inc(len(records))
                started = time.perf_counter()
                results = await write_batch(pool, records, settings)
                BATCH_SECONDS.observe(time.perf_counter() - started)
                BELIEFS.inc(sum(e.rows_written + e.rows_replaced for e in results.ingested if e.outcome != "deleted"))
                # The events are sent and the offsets committed while the next batch is written; this lane's batch
                # after waits for that, so no lane runs ahead of its broker.
                if finishing is not None:
                    await finishing
                finishing = finishes.then(finish(producer, settings, results, records, commits))
                logger.debug("batch done", extra={"records": len(records), "ingested": len(results.ingested)})
            finally:
                intake.release(batch)
        if finishing is not None:
            await finishing
    finally:
        stop.set()
        if finishing is not None:
            await asyncio.gather(finishing, return_exceptions=True)


async def store_schedules_until(consumer: AIOKafkaConsumer, pool: AsyncConnectionPool, stop: asyncio.Event) -> None:
    """Store computed schedules as they come (their own consumer: no batching delay), offsets committed after the
    database commit. A failure stops the service, uncommitted, like a failure of the data loop."""
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            schedules = decode_schedules([record for part in batches.values() for record in part])
            if schedules:
                SCHEDULES_STORED.inc(len(schedules))
                await with_retry(pool, partial(store_schedules, messages=schedules), own_transaction=True)
            if batches:
                await consumer.commit()
    finally:
        stop.set()


def main() -> None:
    run_until_signal("ingest", run, IngestSettings())
