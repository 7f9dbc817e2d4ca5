"""Which belief time bounds a schedule read from below (``jobs.schedule_read_since``): the job's own only where
every event of the read has a belief of that job."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.gateway.sql.jobs import JobRow, schedule_read_since

START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(hours=48)
BELIEF = datetime(2026, 3, 1, 12, tzinfo=UTC)


def job(*, belief_time: datetime | None = BELIEF, **request: Any) -> JobRow:
    stored = {"start": START.isoformat(), "end": END.isoformat(), **request}
    return JobRow(
        id=uuid.uuid4(), sensor_id=7, status="finished", request=stored, scheduler="StorageScheduler",
        data_source_id=3, error_class=None, error_message=None, fallback_job_id=None, created_at=BELIEF,
        finished_at=BELIEF, belief_time=belief_time,
    )  # fmt: skip


def test_a_read_within_the_jobs_window_is_bounded_by_its_belief_time() -> None:
    assert schedule_read_since(job(), 7, START, END) == BELIEF
    assert schedule_read_since(job(), 7, START, START + timedelta(hours=6)) == BELIEF


def test_a_read_past_the_jobs_window_is_not_bounded() -> None:
    assert schedule_read_since(job(), 7, START, END + timedelta(minutes=15)) is None
    assert schedule_read_since(job(), 7, START - timedelta(minutes=15), END) is None


def test_only_the_jobs_own_devices_are_bounded() -> None:
    assert schedule_read_since(job(), 8, START, END) is None
    asset_job = job(devices=[8, 9])
    assert schedule_read_since(asset_job, 9, START, END) == BELIEF
    assert schedule_read_since(asset_job, 7, START, END) is None


def test_a_job_without_its_belief_time_or_window_is_not_bounded() -> None:
    assert schedule_read_since(job(belief_time=None), 7, START, END) is None
    assert schedule_read_since(job(end=None), 7, START, END) is None
