"""Which end offsets a schedule trigger records: those of its sensors' partitions, taken from one request for all."""

from __future__ import annotations

from typing import Any, cast

from services.gateway.workers.data_offsets import DataOffsets
from shared import kafka


def test_the_marks_are_the_ends_of_the_sensors_partitions_that_hold_records() -> None:
    offsets = DataOffsets(cast(Any, None), "t", 12)
    sensors = [3, 17, 40]
    partitions = {kafka.partition_for(s, 12) for s in sensors}
    ends = {p: 100 + p for p in range(12) if p != kafka.partition_for(40, 12)}  # 40's partition holds no record
    marks = offsets.marks(ends, sensors)
    assert marks == {p: 100 + p for p in partitions if p in ends}
    assert offsets.marks(ends, []) == {}
