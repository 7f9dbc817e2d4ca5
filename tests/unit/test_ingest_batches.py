"""How much of what ingest has read goes into one database transaction (``services/ingest/main.py``)."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord, TopicPartition

from services.ingest.main import batch_end, still_assigned


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


def test_records_of_a_partition_moved_away_are_dropped() -> None:
    def record(partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("t", partition, offset, 0, 0, None, b"{}", None, 0, 2, [])

    waiting = [record(0, 1), record(1, 7), record(0, 2), record(2, 3)]
    kept = still_assigned(waiting, {TopicPartition("t", 0), TopicPartition("t", 2)})
    assert [(r.partition, r.offset) for r in kept] == [(0, 1), (0, 2), (2, 3)]
    assert still_assigned(waiting, set()) == []
