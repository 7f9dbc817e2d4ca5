"""Concurrent look-ups of one key share a single load: when many requests miss a cache for the same key at once
(a device fleet's first writes to a sensor, or the moment its entry expires), one query goes to the database and
every request awaits its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """``load()``'s result, shared with every caller asking for ``key`` while it runs. A caller that is
        cancelled (its client went away) does not cancel the load for the others."""
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(load())
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(running)

    def _finished(self, key: K, done: asyncio.Future[V]) -> None:
        self._running.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here too, so a failure nobody awaited any more is not reported as lost

    def __len__(self) -> int:
        return len(self._running)
