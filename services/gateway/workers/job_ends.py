"""A schedule GET that finds its job still queued or running waits for the job's end (``schedule_read_wait``).

PostgreSQL announces every job that ends (finished or failed) on the channel ``shared.channels.SCHEDULE_JOBS`` with
the job's id, when the transaction that ended it commits (the trigger of ``migrations/0007_schedule_job_ends.sql``),
so a job announced here reads as ended. The gateway's listener (``listener.py``) hands the announcements to
``JobEnds``; a request registers the job with ``JobEnds.watch`` *before* reading it, so an end that commits between
its read and its wait still wakes it. While the listener's connection is down, ``watch`` gives nothing to wait on
and a GET answers at once, as FlexMeasures does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from prometheus_client import Gauge

from shared import channels

logger = logging.getLogger(__name__)

WAITING = Gauge("flexstream_gateway_schedule_reads_waiting", "Schedule GETs waiting for their job to end")
LISTENING = Gauge("flexstream_gateway_job_listener_up", "1 while the gateway listens to PostgreSQL's announcements")


class JobEnds:
    """Futures per job id, resolved when PostgreSQL announces the job's end (``notified``); a subscriber of the
    gateway's listener."""

    channel = channels.SCHEDULE_JOBS

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

    def notified(self, payload: str) -> None:
        """A notification: wake whoever waits for the job it names (a payload that is no job id is ignored)."""
        try:
            job_id = UUID(payload)
        except ValueError:
            logger.warning("ignoring a job notification that names no job: %r", payload[:100])
            return
        for future in self._waiting.pop(job_id, ()):
            if not future.done():
                future.set_result(None)

    def up(self) -> None:
        self.listening = True
        LISTENING.set(1)

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
