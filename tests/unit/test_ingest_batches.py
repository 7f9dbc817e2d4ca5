"""How much of what ingest has read goes into one database transaction (``services/ingest/main.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition

from services.ingest.main import Batch, FinishOrder, Intake, batch_end


def test_a_batch_takes_everything_waiting_below_both_limits() -> None:
    assert batch_end([100, 200, 300], max_records=10, max_bytes=10_000) == 3
    assert batch_end([], max_records=10, max_bytes=10_000) == 0


def test_a_batch_stops_at_the_record_limit() -> None:
    assert batch_end([1] * 50, max_records=20, max_bytes=10_000) == 20


def test_a_batch_stops_at_the_record_that_reaches_the_byte_limit() -> None:
    assert batch_end([400, 400, 400, 400], max_records=10, max_bytes=1000) == 3
    assert batch_end([400, 600, 400], max_records=10, max_bytes=1000) == 2


def test_a_record_larger_than_the_byte_limit_is_a_batch_of_its_own() -> None:
    assert batch_end([5000, 10], max_records=10, max_bytes=1000) == 1


class Assigned:
    """What ``Intake`` asks of its consumer here: the partitions it is assigned (records come through ``add``)."""

    def __init__(self, *partitions: int) -> None:
        self.partitions = {TopicPartition("t", p) for p in partitions}

    def assignment(self) -> set[TopicPartition]:
        return self.partitions


def intake(consumer: Assigned, **options: Any) -> Intake:
    return Intake(consumer, 100, 1_000_000, **options)  # only assignment() is used (AIOKafkaConsumer is untyped)


def records(partition: int, *offsets: int) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    return {
        TopicPartition("t", partition): [
            ConsumerRecord("t", partition, o, 0, 0, None, b"{}", None, 0, 2, []) for o in offsets
        ]
    }


def taken(batch: Batch) -> list[tuple[int, int]]:
    return sorted((r.partition, r.offset) for r in batch.records)


async def test_records_of_a_partition_moved_away_are_dropped() -> None:
    consumer = Assigned(0, 1, 2)
    waiting = intake(consumer)
    for fetched in (records(0, 1, 2), records(1, 7), records(2, 3)):
        waiting.add(fetched)
    consumer.partitions.discard(TopicPartition("t", 1))
    batch = await waiting.take(timeout=0)
    assert taken(batch) == [(0, 1), (0, 2), (2, 3)]
    assert waiting.waiting_records == 0


async def test_a_lone_lane_takes_everything_and_holds_every_partition() -> None:
    """Under a steady load the records of the next batch gather while one lane writes: the other lane finds no
    free partition, even one that had nothing waiting when the batch was taken."""
    waiting = intake(Assigned(0, 1, 2, 3), lanes=2, split_at=50)
    waiting.add(records(0, 1, 2) | records(2, 5))
    first = await waiting.take(timeout=0)
    assert taken(first) == [(0, 1), (0, 2), (2, 5)]
    assert first.partitions == {TopicPartition("t", p) for p in range(4)}
    waiting.add(records(1, 9) | records(0, 3))
    assert (await waiting.take(timeout=0.01)).records == []
    waiting.release(first)
    assert taken(await waiting.take(timeout=0)) == [(0, 3), (1, 9)]


async def test_a_backlog_is_split_by_whole_partitions_and_each_keeps_its_order() -> None:
    waiting = intake(Assigned(0, 1, 2, 3), lanes=2, split_at=50)
    waiting.add(records(0, *range(40)) | records(1, *range(30)) | records(2, *range(20)) | records(3, *range(10)))
    first = await waiting.take(timeout=0)
    assert first.partitions == {TopicPartition("t", 0), TopicPartition("t", 1)}  # 70 of 100, the fullest first
    second = await waiting.take(timeout=0)
    assert second.partitions == {TopicPartition("t", 2), TopicPartition("t", 3)}
    assert [r.offset for r in second.records if r.partition == 2] == list(range(20))
    waiting.add(records(0, 40) | records(2, 20))
    assert (await waiting.take(timeout=0.01)).records == []  # both lanes write: every partition is held
    waiting.release(second)
    assert taken(await waiting.take(timeout=0)) == [(2, 20)]


async def test_a_batch_stops_at_its_limit_and_the_rest_waits_in_order() -> None:
    waiting = intake(Assigned(0))
    waiting.add(records(0, *range(250)))
    batches = []
    for _ in range(3):
        batch = await waiting.take(timeout=0)
        batches.append([r.offset for r in batch.records])
        waiting.release(batch)
    assert batches == [list(range(100)), list(range(100, 200)), list(range(200, 250))]


async def test_nothing_waiting_is_an_empty_batch_after_the_timeout() -> None:
    batch = await intake(Assigned(0)).take(timeout=0.01)
    assert batch.records == [] and batch.partitions == set()


async def test_finishes_go_out_in_the_order_of_their_transactions_and_a_failure_stops_the_rest() -> None:
    done: list[str] = []
    finishes = FinishOrder()
    gate = asyncio.Event()

    async def finish(name: str, *, after: asyncio.Event | None = None, fail: bool = False) -> None:
        if after is not None:
            await after.wait()
        if fail:
            raise RuntimeError(f"{name} could not be sent")
        done.append(name)

    finishes.then(finish("first", after=gate))
    second = finishes.then(finish("second"))
    await asyncio.sleep(0.01)
    assert done == []  # the second waits for the first, although it could go at once
    gate.set()
    await second
    assert done == ["first", "second"]
    failing = finishes.then(finish("third", fail=True))
    after = finishes.then(finish("fourth"))
    with pytest.raises(RuntimeError, match="third"):
        await after
    with pytest.raises(RuntimeError, match="third"):
        await failing
    assert done == ["first", "second"]
