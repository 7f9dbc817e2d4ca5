"""How often a login may fail before ``requestAuthToken`` answers 429 (pure; the clock is passed in).

Failed attempts (unknown e-mail, wrong password) are counted per key (the e-mail, and the client address) in a
sliding window. Once a key has ``limit`` failures inside the window, every attempt with it is refused, a correct
password included, until its oldest failure leaves the window: ``retry_after`` says when. Memory is bounded:
at most ``max_keys`` keys are tracked (the least recently used goes first).
"""

from __future__ import annotations

import math
from collections import deque

from cachetools import LRUCache


class LoginThrottle:
    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self._failures: LRUCache[str, deque[float]] = LRUCache(max_keys)

    def retry_after(self, keys: list[str], now: float) -> int | None:
        """Whole seconds until an attempt with all of ``keys`` may be made, or None when it may be made now."""
        waits = [self._wait(key, now) for key in keys]
        longest = max((wait for wait in waits if wait is not None), default=None)
        return None if longest is None else max(1, math.ceil(longest))

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            failures = self._failures.get(key)
            if failures is None:
                failures = self._failures[key] = deque(maxlen=self.limit)
            failures.append(now)

    def _wait(self, key: str, now: float) -> float | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window - now
