"""How far a consumer group has committed, as the scheduler asks before a job reads its inputs
(``services/scheduler/ingest_wait.py``), against the real broker: one request per question, and a coordinator that
no longer answers is found again."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.structs import TopicPartition
from pydantic import TypeAdapter

from services.scheduler.ingest_wait import IngestProgress
from shared import kafka
from shared.settings import Settings
from shared.topics import Topic, key_for


async def test_committed_offsets_ask_the_coordinator_once_and_again_when_it_stops_answering(
    settings: Settings,
) -> None:
    own = Topic(f"progress-test-{uuid.uuid4().hex[:8]}", TypeAdapter(bytes))
    await kafka.ensure_topics(settings, [own])
    topic, group = own.full_name(settings.topic_prefix), f"progress-{uuid.uuid4().hex[:6]}"
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
            admin, f"{settings.topic_prefix}{group}", topic, asyncio.Event()
        )  # as open_consumer names it
        for _ in range(3):
            assert await progress.committed([partition]) == {partition: sent[-1].offset + 1}
        assert asked == 1

        progress._coordinator = 999  # a node that is not there (as after the coordinator moved)
        assert await progress.committed([partition]) == {partition: sent[-1].offset + 1}
        assert asked == 2
    finally:
        await admin.close()
