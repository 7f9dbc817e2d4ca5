"""Ingest's offset commits on the real broker (``services/ingest/offset_commits.py``): a commit racing a rebalance
of its group is refused (aiokafka raises ``CommitFailedError``), and ingest must carry on rather than exit, since the
batches are already stored and their events sent (the partition's next owner reads the records again and finds
their commands done); ready offsets only move forward, and only those of assigned partitions are committed."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.structs import ConsumerRecord, TopicPartition

from services.ingest.handlers import next_offsets
from services.ingest.offset_commits import COMMITS_REFUSED, OffsetCommits
from shared import kafka
from shared.settings import IngestSettings, Settings
from shared.topics import SENSOR_DATA

ATTEMPTS = 5  # rebalances to try for a refused commit


async def test_an_offset_commit_refused_by_a_rebalance_does_not_stop_ingest(settings: Settings) -> None:
    prefix = f"{settings.topic_prefix}rebalance{uuid.uuid4().hex[:4]}."
    own = IngestSettings(**{**settings.model_dump(), "topic_prefix": prefix})
    await kafka.ensure_topics(own, [SENSOR_DATA])
    group = "flexstream-ingest-rebalance"
    topic = SENSOR_DATA.full_name(own.topic_prefix)
    refused_before = COMMITS_REFUSED._value.get()
    async with kafka.open_producer(own) as producer:
        partitions = len(await producer.partitions_for(topic))
        for key in range(4 * partitions):  # a record on every partition (almost surely)
            await producer.send_and_wait(topic, b"{}", key=str(key).encode())
        async with kafka.open_consumer(own, [SENSOR_DATA], group) as first:
            records: list[ConsumerRecord[bytes, bytes]] = []
            while len({r.partition for r in records}) < partitions:
                batches = await first.getmany(timeout_ms=500)
                records.extend(r for part in batches.values() for r in part)
            commits, offsets = 0, OffsetCommits(first)

            async def commit_like_a_busy_lane(joined: asyncio.Event) -> int:
                done = 0
                while not joined.is_set():
                    offsets.ready(next_offsets(records))
                    await offsets.commit()
                    done += 1
                    await asyncio.sleep(0)
                return done

            # A commit is refused only when it reaches the broker while the group rebalances; whether one of the
            # loop's commits falls into that window is up to timing, so another consumer joins again (a new
            # rebalance) until one was refused, at most ATTEMPTS times.
            for _ in range(ATTEMPTS):
                joined = asyncio.Event()
                committing = asyncio.create_task(commit_like_a_busy_lane(joined))
                async with kafka.open_consumer(own, [SENSOR_DATA], group) as second:  # returns once it has partitions
                    joined.set()
                    commits += await committing  # raised, before the fix, at the first refused commit
                    assert second.assignment()
                if COMMITS_REFUSED._value.get() > refused_before:
                    break
    assert commits > 0
    assert COMMITS_REFUSED._value.get() > refused_before, "no commit raced a rebalance; the test proved nothing"


async def test_ready_offsets_are_committed_forward_only_and_for_the_partitions_asked(settings: Settings) -> None:
    prefix = f"{settings.topic_prefix}commits{uuid.uuid4().hex[:4]}."
    own = IngestSettings(**{**settings.model_dump(), "topic_prefix": prefix})
    await kafka.ensure_topics(own, [SENSOR_DATA])
    topic = SENSOR_DATA.full_name(own.topic_prefix)
    first, second = TopicPartition(topic, 0), TopicPartition(topic, 1)
    async with kafka.open_consumer(own, [], "flexstream-ingest-commits") as consumer:
        consumer.assign([first, second])
        commits = OffsetCommits(consumer)
        commits.ready({first: 7, second: 3})
        commits.ready({first: 5})  # a smaller offset never takes a partition back
        await commits.commit(only={second})
        assert (await consumer.committed(first), await consumer.committed(second)) == (None, 3)
        await commits.commit()
        assert (await consumer.committed(first), await consumer.committed(second)) == (7, 3)
        commits.ready({TopicPartition(topic, 2): 9})  # not assigned (taken away meanwhile): dropped
        await commits.commit()
        assert await consumer.committed(TopicPartition(topic, 2)) is None
