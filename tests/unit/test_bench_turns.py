"""The side-by-side clients of the benchmark take turns: each round starts with another target, and every
target gets every request (``bench/workloads.py``, ``_turns``)."""

from __future__ import annotations

from typing import Any, cast

from bench.workloads import Target, _turns


def target(sensor_id: int) -> Target:
    return Target(client=cast(Any, None), pool=cast(Any, None), token="t", sensor_id=sensor_id)


def test_each_round_starts_with_another_target_and_serves_all() -> None:
    large, twin = target(1), target(2)
    rounds = [[(k, t.sensor_id) for k, t in _turns([large, twin], i)] for i in range(4)]
    assert rounds == [[(0, 1), (1, 2)], [(1, 2), (0, 1)], [(0, 1), (1, 2)], [(1, 2), (0, 1)]]


def test_one_target_is_served_alone() -> None:
    assert [t.sensor_id for _, t in _turns([target(7)], 3)] == [7]
