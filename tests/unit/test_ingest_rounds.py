"""plan_rounds keeps overlapping commands on one sensor in arrival order and batches everything else."""

from services.ingest.handlers import plan_rounds


def test_independent_commands_share_one_round() -> None:
    assert plan_rounds([(1, (0, 10)), (2, (0, 10)), (3, (5, 6))]) == [0, 0, 0]


def test_overlapping_commands_on_one_sensor_run_in_order() -> None:
    assert plan_rounds([(1, (0, 10)), (1, (5, 15)), (1, (20, 30)), (1, (12, 25))]) == [0, 1, 0, 2]


def test_a_deletion_is_a_barrier_for_its_sensor_only() -> None:
    assert plan_rounds([(1, (0, 10)), (1, None), (1, (50, 60)), (2, (0, 1))]) == [0, 1, 2, 0]
