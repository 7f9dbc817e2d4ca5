"""The gateway's PostgreSQL listener: one connection of its own (outside the pool) that ``LISTEN``s on the channels
of its subscribers (``shared/channels.py``) and hands each notification to the subscriber of its channel: the
ends of scheduling jobs (``job_ends.py``) and the commands ingest stored (``write_waiter.py``).

A lost connection is logged, every subscriber is told (``lost``), and it is opened again 0.5 s later, doubling up to
10 s; once it listens again, every subscriber is told (``up``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import psycopg
from psycopg import sql

from shared import db
from shared.settings import Settings

logger = logging.getLogger(__name__)

RECONNECT_FIRST, RECONNECT_MAX = 0.5, 10.0  # seconds between attempts to listen again, doubling


class Subscriber(Protocol):
    channel: str

    def notified(self, payload: str) -> None: ...

    def up(self) -> None: ...

    def lost(self) -> None: ...


async def listen(url: str, subscribers: Sequence[Subscriber], connected: asyncio.Event | None = None) -> None:
    """Listen for ``subscribers`` until cancelled; ``connected`` is set once the first ``LISTEN`` holds."""
    by_channel = {subscriber.channel: subscriber for subscriber in subscribers}
    delay = RECONNECT_FIRST
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10) as conn:
                listens = [sql.SQL("LISTEN {}").format(sql.Identifier(channel)) for channel in by_channel]
                await conn.execute(sql.SQL("; ").join(listens))
                for subscriber in subscribers:
                    subscriber.up()
                delay = RECONNECT_FIRST
                if connected is not None:
                    connected.set()
                logger.info("listening to PostgreSQL", extra={"channels": sorted(by_channel)})
                async for notification in conn.notifies():
                    if (to := by_channel.get(notification.channel)) is not None:
                        _hand(to, notification.payload)
        except psycopg.Error as exc:
            logger.warning("not listening to PostgreSQL (meanwhile GETs of jobs answer at once): %s", exc)
        finally:
            for subscriber in subscribers:
                subscriber.lost()
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX)


def _hand(subscriber: Subscriber, payload: str) -> None:
    """A subscriber's failure on one announcement is logged; the listener goes on with the next."""
    try:
        subscriber.notified(payload)
    except Exception:
        logger.exception("an announcement could not be handed on", extra={"channel": subscriber.channel})


@asynccontextmanager
async def open_listener(
    settings: Settings, subscribers: Sequence[Subscriber], first_wait: float = 10.0
) -> AsyncIterator[None]:
    """``listen`` for the duration of the block. Waits up to ``first_wait`` seconds for the first ``LISTEN`` (a
    database that does not answer only means the subscribers go without announcements until it does)."""
    connected = asyncio.Event()
    task = asyncio.create_task(listen(db.database_url(settings), subscribers, connected))
    try:
        await asyncio.wait_for(connected.wait(), first_wait)
    except TimeoutError:
        logger.warning("not listening to PostgreSQL after %g s; going on without until it connects", first_wait)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
