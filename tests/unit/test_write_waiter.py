"""How the gateway's ``Waiter`` takes PostgreSQL's announcements of finished commands (the listening connection
itself, reading results that were announced by id or finished while nothing listened, and ingest's announcements
are tested against the real database in ``tests/integration``)."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from services.gateway.workers.write_waiter import Waiter
from shared.messages import BeliefsIngested
from shared.topics import INGESTED


def unopened_pool() -> AsyncConnectionPool:
    """A pool that is never opened: these tests give the waiter nothing it would read from the database."""
    return AsyncConnectionPool("", open=False)


def event(command_id: uuid.UUID) -> BeliefsIngested:
    return BeliefsIngested.model_validate(
        {"command_id": command_id, "sensor_id": 1, "source_id": 2, "outcome": "processed", "rows_written": 2,
         "summary": {"count": 2, "min": 1.0, "max": 2.0, "sum": 3.0}}
    )  # fmt: skip


def answered(via: str) -> float:
    return REGISTRY.get_sample_value("flexstream_gateway_write_reports_total", {"via": via}) or 0.0


async def test_an_announcement_answers_the_write_waiting_for_its_command_once() -> None:
    waiter, command, other = Waiter(unopened_pool()), uuid.uuid4(), uuid.uuid4()
    waiting, not_announced = waiter.expect(command), waiter.expect(other)
    before, stored = answered("announcement"), event(command)
    waiter.notified(INGESTED.encode(stored).decode())
    assert waiting.done() and waiting.result() == stored
    assert not not_announced.done()
    waiter.notified(INGESTED.encode(stored).decode())  # announced again (a replay): nobody waits for it now
    assert answered("announcement") == before + 1


async def test_an_undecodable_announcement_is_skipped() -> None:
    waiter, command = Waiter(unopened_pool()), uuid.uuid4()
    waiting = waiter.expect(command)
    waiter.notified("not an event")
    waiter.notified('{"command_id": "' + str(command) + '"}')
    assert not waiting.done()


async def test_an_id_nobody_waits_for_reads_nothing() -> None:
    """Every gateway hears every announcement: one that names a command another gateway waits for costs no query
    (the pool here is never opened; a read would fail and leave a task behind)."""
    waiter = Waiter(unopened_pool())
    waiter.expect(uuid.uuid4())
    waiter.notified(str(uuid.uuid4()))
    assert not waiter._reads
