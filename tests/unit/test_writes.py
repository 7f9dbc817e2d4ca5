"""Waiting for ingest and turning its outcome into FlexMeasures' answer."""

from __future__ import annotations

from uuid import uuid4

import pytest
from starlette.requests import Request

from services.gateway.http.responses import ApiError
from services.gateway.http.submit import answer, prefers_async
from services.gateway.workers.write_waiter import Waiter
from shared.messages import BeliefsIngested, DeadLetter, IngestOutcome
from tests.unit.test_write_waiter import unopened_pool


def event(outcome: IngestOutcome) -> BeliefsIngested:
    return BeliefsIngested(command_id=uuid4(), sensor_id=1, outcome=outcome)


async def test_waiter_resolves_only_what_is_expected() -> None:
    waiter = Waiter(unopened_pool())
    mine = event("processed")
    future = waiter.expect(mine.command_id)
    waiter.resolve(event("processed"), via="announcement")  # someone else's command
    assert not future.done()
    waiter.resolve(mine, via="announcement")
    assert future.result() == mine
    waiter.forget(mine.command_id)  # harmless afterwards


def test_answers_in_flexmeasures_order() -> None:
    assert answer([event("processed")], "json").status_code == 200
    assert b"ALREADY_RECEIVED" in answer([event("processed"), event("already_received")], "json").body
    assert answer([event("deleted")], "path").status_code == 204
    with pytest.raises(ApiError) as rejected:
        answer([event("processed"), event("replacement_rejected")], "json")
    assert rejected.value.status_code == 403 and rejected.value.body["status"] == "INVALID_REPLACEMENT"
    letter = DeadLetter(reason="unknown_sensor", detail="gone", original="{}", topic="t", partition=0, offset=1,
                        command_id=uuid4())  # fmt: skip
    with pytest.raises(ApiError) as dead:
        answer([letter], "json")
    assert dead.value.status_code == 422 and dead.value.body["message"] == {"json": {"_schema": ["gone"]}}


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ([], b"", False),
        ([(b"prefer", b"respond-async")], b"", True),
        ([(b"prefer", b"handling=lenient, respond-async")], b"", True),
        ([], b"wait=false", True),
        ([], b"wait=true", False),
    ],
)
def test_prefer_respond_async(headers: list[tuple[bytes, bytes]], query: bytes, expected: bool) -> None:
    request = Request({"type": "http", "headers": headers, "query_string": query, "method": "POST", "path": "/"})
    assert prefers_async(request) is expected
