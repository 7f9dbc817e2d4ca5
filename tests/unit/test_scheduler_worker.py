"""A bug in computing one job fails that job instead of the service (services/scheduler/worker.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.compute import Outcome
from services.scheduler.worker import _guarded
from shared.messages import TriggerSchedule

TRIGGER = TriggerSchedule(
    job_id=uuid.uuid4(), sensor_id=1, start=datetime(2026, 1, 1, tzinfo=UTC), duration=timedelta(hours=1)
)


async def test_a_bug_becomes_a_failed_outcome_naming_the_exception() -> None:
    def broken(limit: int) -> Outcome:
        raise KeyError(f"no series {limit}")

    outcome = await _guarded(TRIGGER, "StorageScheduler", broken, 3)
    assert outcome.failed and outcome.error_class == "KeyError" and "no series 3" in (outcome.error or "")


async def test_a_result_passes_and_other_errors_propagate() -> None:
    assert (await _guarded(TRIGGER, "S", lambda: Outcome("S", values=[1.0]))).values == [1.0]

    def interrupted() -> Outcome:
        raise OSError("database connection lost")

    with pytest.raises(OSError):
        await _guarded(TRIGGER, "S", interrupted)
