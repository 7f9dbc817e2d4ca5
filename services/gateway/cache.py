"""A small per-process cache with a time to live, for what the hot paths would otherwise ask the database on
every request (verified tokens, sensors). Each use says how stale an entry may be; zero turns it off."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import timedelta
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: timedelta, max_entries: int = 10_000) -> None:
        self.ttl = ttl.total_seconds()
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def evict(self, key: K) -> None:
        self._entries.pop(key, None)
