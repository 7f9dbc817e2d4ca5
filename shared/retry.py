"""The one retry policy for transient failures (the database or the broker briefly away), on tenacity.

Capped exponential backoff (``first_wait``, doubled each attempt, at most ``max_wait`` seconds), each retry logged
as a warning. ``attempts`` bounds the tries (then the last error is raised); ``stop`` ends the retrying early,
also cutting the wait short (then the last error is raised too). Use it as::

    async for attempt in retrying(on=(psycopg.OperationalError,), first_wait=0.2, max_wait=10, what="...", ...):
        with attempt:
            ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential
from tenacity.stop import stop_base, stop_never


def retrying(
    *,
    on: tuple[type[BaseException], ...],
    first_wait: float,
    max_wait: float,
    what: str,
    logger: logging.Logger,
    attempts: int | None = None,
    stop: asyncio.Event | None = None,
    on_retry: Callable[[], None] | None = None,
) -> AsyncRetrying:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        logger.warning(
            "%s failed (attempt %d), retrying in %.1f s: %s", what, state.attempt_number, state.upcoming_sleep, error
        )
        if on_retry is not None:
            on_retry()

    give_up: stop_base = stop_after_attempt(attempts) if attempts is not None else stop_never
    if stop is not None:
        event = stop
        give_up = give_up | _StopWhenSet(event)
    return AsyncRetrying(
        retry=retry_if_exception_type(on),
        wait=wait_exponential(multiplier=first_wait, max=max_wait),
        stop=give_up,
        sleep=(lambda seconds: sleep_unless_set(event, seconds)) if stop is not None else asyncio.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


class _StopWhenSet(stop_base):
    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.event.is_set()


async def sleep_unless_set(event: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``event`` is set meanwhile."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        pass
