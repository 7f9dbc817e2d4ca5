"""How the gateway's ``Waiter`` takes PostgreSQL's announcements of stored commands (the listening connection
itself, and ingest's announcements, are tested against the real database in ``tests/integration``)."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from services.gateway.workers.write_waiter import Waiter
from shared.messages import BeliefsIngested
from shared.topics import INGESTED


def event(command_id: uuid.UUID) -> BeliefsIngested:
    return BeliefsIngested.model_validate(
        {"command_id": command_id, "sensor_id": 1, "source_id": 2, "outcome": "processed", "rows_written": 2,
         "summary": {"count": 2, "min": 1.0, "max": 2.0, "sum": 3.0}}
    )  # fmt: skip


def answered(via: str) -> float:
    return REGISTRY.get_sample_value("flexstream_gateway_write_reports_total", {"via": via}) or 0.0


async def test_an_announcement_answers_the_write_waiting_for_its_command_and_the_later_event_is_ignored() -> None:
    waiter, command, other = Waiter(), uuid.uuid4(), uuid.uuid4()
    waiting, not_announced = waiter.expect(command), waiter.expect(other)
    before, stored = (answered("postgresql"), answered("kafka")), event(command)
    waiter.notified(INGESTED.encode(stored).decode())
    assert waiting.done() and waiting.result() == stored
    assert not not_announced.done()
    waiter.resolve(stored)  # the same event, over Kafka, later
    assert (answered("postgresql"), answered("kafka")) == (before[0] + 1, before[1])


async def test_an_undecodable_announcement_is_skipped() -> None:
    waiter, command = Waiter(), uuid.uuid4()
    waiting = waiter.expect(command)
    waiter.notified("not an event")
    waiter.notified('{"command_id": "' + str(command) + '"}')
    assert not waiting.done()
