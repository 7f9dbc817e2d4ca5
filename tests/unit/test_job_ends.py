"""How the gateway's ``JobEnds`` hands PostgreSQL's announcements of ended jobs to the schedule GETs waiting for
them (the listening connection itself is tested against the real database in ``tests/integration``)."""

from __future__ import annotations

import uuid

from services.gateway.workers.job_ends import JobEnds


def listening() -> JobEnds:
    ends = JobEnds()
    ends.listening = True
    return ends


async def test_nothing_to_wait_on_while_nothing_listens() -> None:
    with JobEnds().watch(uuid.uuid4()) as ended:
        assert ended is None


async def test_an_announced_end_wakes_every_read_of_that_job_and_no_other() -> None:
    ends, job, other = listening(), uuid.uuid4(), uuid.uuid4()
    with ends.watch(job) as first, ends.watch(job) as second, ends.watch(other) as third:
        assert first is not None and second is not None and third is not None
        assert ends.waiters == 3
        ends.notified(str(job))
        assert first.done() and second.done() and not third.done()
    assert ends.waiters == 0


async def test_a_payload_that_names_no_job_is_ignored() -> None:
    ends, job = listening(), uuid.uuid4()
    with ends.watch(job) as ended:
        ends.notified("not a job id")
        ends.notified(str(uuid.uuid4()))
        assert ended is not None and not ended.done()


async def test_losing_the_connection_wakes_every_waiter_and_stops_the_waits() -> None:
    ends, job = listening(), uuid.uuid4()
    with ends.watch(job) as ended:
        ends.lost()
        assert ended is not None and ended.done()
        assert not ends.listening
    with ends.watch(job) as later:
        assert later is None
    assert ends.waiters == 0
