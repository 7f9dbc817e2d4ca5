"""How much of what ingest has read goes into one database transaction (``services/ingest/main.py``)."""

from __future__ import annotations

from services.ingest.main import batch_end


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
