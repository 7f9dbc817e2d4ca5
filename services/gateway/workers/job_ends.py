"""A schedule GET that finds its job still queued or running waits for the job's end (``schedule_read_wait``).

PostgreSQL announces every job that ends (finished or failed) on the channel ``flexstream_schedule_jobs`` with the
job's id, when the transaction that ended it commits (the trigger of ``migrations/0007_schedule_job_ends.sql``), so
a job announced here reads as ended. Each gateway process keeps one connection that ``LISTEN``s (outside its
pool); a request registers the job with ``JobEnds.watch`` *before* reading it, so an end that commits between
its read and its wait still wakes it. While that connection is down, ``watch`` gives nothing to wait on and a GET
answers at once, as FlexMeasures does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from uuid import UUID

import psycopg
from prometheus_client import Gauge

from shared import db
from shared.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "flexstream_schedule_jobs"
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 10.0  # seconds between attempts to listen again, doubling

WAITING = Gauge("flexstream_gateway_schedule_reads_waiting", "Schedule GETs waiting for their job to end")
LISTENING = Gauge("flexstream_gateway_job_listener_up", "1 while the gateway listens for the ends of scheduling jobs")


class JobEnds:
    """Futures per job id, resolved when PostgreSQL announces the job's end (``ended``)."""

    def __init__(self) -> None:
        self._waiting: dict[UUID, set[asyncio.Future[None]]] = {}
        self.listening = False

    @contextmanager
    def watch(self, job_id: UUID) -> Iterator[asyncio.Future[None] | None]:
        """A future done when ``job_id`` ends (or when the listening connection is lost), for the block; None while
        nothing listens."""
        if not self.listening:
            yield None
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(job_id, set()).add(future)
        WAITING.inc()
        try:
            yield future
        finally:
            WAITING.dec()
            waiting = self._waiting.get(job_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del self._waiting[job_id]

    def ended(self, payload: str) -> None:
        """A notification: wake whoever waits for the job it names (a payload that is no job id is ignored)."""
        try:
            job_id = UUID(payload)
        except ValueError:
            logger.warning("ignoring a job notification that names no job: %r", payload[:100])
            return
        for future in self._waiting.pop(job_id, ()):
            if not future.done():
                future.set_result(None)

    def lost(self) -> None:
        """The listening connection is gone: no end would be announced, so every waiter reads its job again now."""
        self.listening = False
        LISTENING.set(0)
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)

    @property
    def waiters(self) -> int:
        return sum(len(futures) for futures in self._waiting.values())


async def listen(url: str, ends: JobEnds, connected: asyncio.Event | None = None) -> None:
    """``LISTEN`` on ``CHANNEL`` and hand every notification to ``ends``, until cancelled; a lost connection is
    logged and opened again (0.5 s, doubling up to 10 s). ``connected`` is set once the first ``LISTEN`` holds."""
    delay = RECONNECT_FIRST
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                ends.listening = True
                LISTENING.set(1)
                delay = RECONNECT_FIRST
                if connected is not None:
                    connected.set()
                logger.info("listening for the ends of scheduling jobs", extra={"channel": CHANNEL})
                async for notification in conn.notifies():
                    ends.ended(notification.payload)
        except psycopg.Error as exc:
            logger.warning("not listening for job ends (a schedule GET answers at once meanwhile): %s", exc)
        finally:
            ends.lost()
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX)


@asynccontextmanager
async def open_job_ends(settings: Settings, first_wait: float = 10.0) -> AsyncIterator[JobEnds]:
    """A ``JobEnds`` fed by its own listening connection for the duration of the block. Waits up to ``first_wait``
    seconds for the first ``LISTEN`` (a database that does not answer only means GETs answer at once)."""
    ends = JobEnds()
    connected = asyncio.Event()
    task = asyncio.create_task(listen(db.database_url(settings), ends, connected))
    try:
        await asyncio.wait_for(connected.wait(), first_wait)
    except TimeoutError:
        logger.warning("no job listener after %g s; schedule GETs answer at once until it connects", first_wait)
    try:
        yield ends
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
