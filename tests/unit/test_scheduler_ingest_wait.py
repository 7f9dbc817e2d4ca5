"""Which sensor-data partitions a job still waits for (services/scheduler/ingest_wait.py)."""

from __future__ import annotations

from services.scheduler.ingest_wait import behind
from shared.kafka import partition_for


def test_nothing_lags_when_committed_offsets_reach_the_marks() -> None:
    assert behind({0: 5, 2: 7}, {0: 5, 2: 9, 3: 1}) == {}


def test_a_partition_without_a_committed_offset_lags_by_its_whole_mark() -> None:
    assert behind({1: 3}, {}) == {1: 3}
    assert behind({1: 3}, {1: -1}) == {1: 3}
    assert behind({0: 5, 1: 3}, {0: 4, 1: 3}) == {0: 1}


def test_partition_for_matches_the_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    from shared.topics import key_for

    for sensor_id in range(200):
        expected = DefaultPartitioner()(key_for(sensor_id), [0, 1, 2, 3], [0, 1, 2, 3])
        assert partition_for(sensor_id, 4) == expected
