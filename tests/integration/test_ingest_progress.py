"""How far ingest has stored, as the scheduler asks before a job reads its inputs
(``services/scheduler/ingest_wait.py``), against the real database and broker: ingest's progress recorded in
PostgreSQL answers, its committed Kafka offsets answer for what PostgreSQL has no record of, and asking Kafka is one
request per question, with a coordinator that no longer answers found again."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from psycopg_pool import AsyncConnectionPool
from pydantic import TypeAdapter

from services.ingest import handlers
from services.scheduler.ingest_wait import IngestBehind, IngestProgress
from shared import kafka
from shared.settings import Settings
from shared.topics import Topic, key_for


async def own_topic(settings: Settings) -> tuple[str, str]:
    """A topic of this test's own (its full name), and a consumer group name for it."""
    own = Topic(f"progress-test-{uuid.uuid4().hex[:8]}", TypeAdapter(bytes))
    await kafka.ensure_topics(settings, [own])
    return own.full_name(settings.topic_prefix), f"progress-{uuid.uuid4().hex[:6]}"


async def test_committed_offsets_ask_the_coordinator_once_and_again_when_it_stops_answering(
    settings: Settings, pool: AsyncConnectionPool
) -> None:
    topic, group = await own_topic(settings)
    async with kafka.open_producer(settings) as producer:
        sent = [await producer.send_and_wait(topic, b"x", key=key_for(7)) for _ in range(3)]
    partition = sent[0].partition
    async with kafka.open_consumer(settings, [], group) as consumer:
        consumer.assign([TopicPartition(topic, partition)])
        await consumer.commit({TopicPartition(topic, partition): sent[-1].offset + 1})

    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        asked = 0
        find = admin.find_coordinator

        async def counted(group_id: str, coordinator_type: int = 0) -> int:
            nonlocal asked
            asked += 1
            return int(await find(group_id, coordinator_type))

        admin.find_coordinator = counted
        progress = IngestProgress(
            pool, admin, f"{settings.topic_prefix}{group}", topic, asyncio.Event()
        )  # as open_consumer names it
        for _ in range(3):
            assert await progress.committed([partition]) == {partition: sent[-1].offset + 1}
        assert asked == 1

        progress._coordinator = 999  # a node that is not there (as after the coordinator moved)
        assert await progress.committed([partition]) == {partition: sent[-1].offset + 1}
        assert asked == 2
    finally:
        await admin.close()


def records(topic: str, partition: int, offsets: range) -> list[ConsumerRecord[bytes, bytes]]:
    """Records ingest finishes without a command (malformed: dead letters that ``ingested_commands`` never holds)."""
    return [ConsumerRecord(topic, partition, o, 0, 0, b"1", b"{", None, 0, 1, []) for o in offsets]


async def test_a_batch_records_how_far_it_took_its_partitions_in_its_own_transaction(
    pool: AsyncConnectionPool,
) -> None:
    topic = f"progress-{uuid.uuid4().hex[:8]}"
    progress = IngestProgress(pool, None, "unused", topic, asyncio.Event())  # no Kafka: PostgreSQL answers
    async with pool.connection() as conn:
        async with conn.transaction():
            results = await handlers.ingest_batch(conn, records(topic, 0, range(3)) + records(topic, 2, range(7, 9)),
                                                  max_values=10)  # fmt: skip
            assert len(results.dead) == 5
            assert await progress.recorded([0, 1, 2]) == {}  # not before the commit
        assert await progress.recorded([0, 1, 2]) == {0: 3, 2: 9}
        async with conn.transaction():  # a late batch of a replica that lost the partition: no step back
            await handlers.ingest_batch(conn, records(topic, 2, range(4, 5)), max_values=10)
    assert await progress.recorded([2]) == {2: 9}


async def test_a_job_waits_on_the_recorded_progress_and_on_kafka_only_for_what_it_does_not_cover(
    settings: Settings, pool: AsyncConnectionPool
) -> None:
    topic, group = await own_topic(settings)
    async with pool.connection() as conn, conn.transaction():
        await handlers.ingest_batch(conn, records(topic, 0, range(5)), max_values=10)
    async with kafka.open_consumer(settings, [], group) as consumer:  # stored before progress was recorded
        consumer.assign([TopicPartition(topic, 1)])
        await consumer.commit({TopicPartition(topic, 1): 4})
    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        progress = IngestProgress(pool, admin, f"{settings.topic_prefix}{group}", topic, asyncio.Event())
        asked = 0
        committed = progress.committed

        async def counted(partitions: list[int]) -> dict[int, int]:
            nonlocal asked
            asked += 1
            return await committed(partitions)

        progress.committed = counted  # type: ignore[method-assign]
        assert await progress.wait_for({0: 5}, timeout=1) < 0.5
        assert asked == 0  # PostgreSQL answered
        assert await progress.wait_for({0: 5, 1: 4}, timeout=1) < 0.5
        assert asked == 1
        with pytest.raises(IngestBehind, match="2 records behind"):
            await progress.wait_for({0: 6, 1: 5}, timeout=0.3)
    finally:
        await admin.close()
