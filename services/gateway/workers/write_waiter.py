"""Read-your-writes: wait for ingest to finish a command the gateway produced.

A request registers its command id with ``expect`` *before* producing the command. PostgreSQL announces the
command on ``shared.channels.INGESTED`` when ingest's transaction that finished it commits, and the gateway's
listener (``listener.py``) hands the announcement to ``Waiter.notified``: either the command's ``BeliefsIngested``
event, which answers at once, or only its id (a dead letter, or an event too long to announce), and then its result
is read from ``ingested_commands`` (``shared/command_results.py``).

While nothing listens (before the listener's first ``LISTEN``, and while its connection is down) the results of the
waiting commands are read every ``POLL_EVERY`` seconds instead, and once more when it listens again, for a command
finished in between. The gateway reads no Kafka topic for this: ingest's events reach everyone else.

Announcements nobody waits for are skipped, so several gateway replicas can run side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager, suppress
from uuid import UUID

import psycopg
from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from services.gateway.sql import command_results as sql
from shared import channels, command_results
from shared.messages import BeliefsIngested, DeadLetter
from shared.topics import INGESTED

logger = logging.getLogger(__name__)

Outcome = BeliefsIngested | DeadLetter

POLL_EVERY = 0.05  # seconds between reads of the waiting commands' results while nothing listens

ANSWERED = Counter(
    "flexstream_gateway_write_reports_total",
    "Waiting writes answered, by what answered: the announced event, or the result read from ingested_commands "
    "(announced by its command id alone, or read while nothing listened)",
    ["via"],
)


class Waiter:
    """Futures keyed by command id, resolved from PostgreSQL's announcements (``notified``; a subscriber of the
    gateway's listener) or from the results ingest recorded (``read_results``)."""

    channel = channels.INGESTED

    def __init__(self, pool: AsyncConnectionPool, poll_every: float = POLL_EVERY) -> None:
        self._pool = pool
        self._poll_every = poll_every
        self._pending: dict[UUID, asyncio.Future[Outcome]] = {}
        self._deaf = asyncio.Event()  # set while nothing listens: ``poll`` reads the results then
        self._deaf.set()
        self._reads: set[asyncio.Task[None]] = set()

    def expect(self, command_id: UUID) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        return future

    def forget(self, command_id: UUID) -> None:
        self._pending.pop(command_id, None)

    def resolve(self, outcome: Outcome, via: str) -> None:
        if outcome.command_id is None:
            return
        future = self._pending.pop(outcome.command_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)
            ANSWERED.labels(via).inc()

    def notified(self, payload: str) -> None:
        """An announcement of a finished command: its event, or only its id."""
        try:
            command_id = UUID(payload)
        except ValueError:
            pass
        else:
            if command_id in self._pending:
                self._read_soon([command_id])
            return
        try:
            event = INGESTED.decode(payload.encode())
        except ValidationError as exc:
            logger.warning("skipping an undecodable announcement on %s: %s", self.channel, exc)
            return
        self.resolve(event, via="announcement")

    def up(self) -> None:
        """Listening (again): announcements answer from now on; a command finished while nothing listened is read."""
        self._deaf.clear()
        self._read_soon(list(self._pending))

    def lost(self) -> None:
        """Nothing listens: ``poll`` reads the waiting commands' results until something does again."""
        self._deaf.set()

    async def poll(self) -> None:
        """Until cancelled: while nothing listens, read the results of every waiting command, every ``poll_every``."""
        while True:
            await self._deaf.wait()
            await self.read_results(list(self._pending))
            await asyncio.sleep(self._poll_every)

    async def read_results(self, command_ids: Collection[UUID]) -> None:
        """Answer whichever of ``command_ids`` ingest has finished, from the results it recorded. A database that
        does not answer is logged: the writes keep waiting (at most their ``write_wait``, then 202)."""
        if not command_ids:
            return
        try:
            async with self._pool.connection() as conn:
                found = await sql.results(conn, command_ids)
        except psycopg.Error as exc:  # PoolTimeout too
            logger.warning("could not read the results of %d waiting writes: %s", len(command_ids), exc)
            return
        for stored in found.values():
            outcome = command_results.outcome(stored)
            if outcome is not None:
                self.resolve(outcome, via="ingested_commands")

    def _read_soon(self, command_ids: list[UUID]) -> None:
        if command_ids:
            task = asyncio.create_task(self.read_results(command_ids))
            self._reads.add(task)
            task.add_done_callback(self._reads.discard)

    async def close(self) -> None:
        for task in list(self._reads):
            task.cancel()
        await asyncio.gather(*self._reads, return_exceptions=True)


@asynccontextmanager
async def open_waiter(pool: AsyncConnectionPool) -> AsyncIterator[Waiter]:
    """A ``Waiter`` whose poll runs for the duration of the block."""
    waiter = Waiter(pool)
    polling = asyncio.create_task(waiter.poll())
    try:
        yield waiter
    finally:
        polling.cancel()
        with suppress(asyncio.CancelledError):
            await polling
        await waiter.close()
