"""Running a service process: logging configured once, uvloop, SIGTERM/SIGINT turned into a stop event."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvloop

from shared.logging import configure
from shared.settings import Settings

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=Settings)


def run_until_signal(name: str, run: Callable[[S, asyncio.Event], Awaitable[None]], settings: S) -> None:
    """Run ``run(settings, stop)`` on uvloop; a SIGTERM or SIGINT sets ``stop`` so the service can finish the
    work in hand, commit and close before ``run`` returns (then the process exits 0)."""
    configure(settings.log_level, settings.log_json)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)
        logger.info("%s stopped", name)

    uvloop.run(main())


def freeze_startup_objects() -> int:
    """Once a service has started (modules, the unit registry, pools, clients): move every object alive now out
    of the cyclic garbage collector's reach, so that its full collections no longer walk them again and again.
    They live as long as the process anyway. In the gateway during a burst of writes, this halved the share of its
    CPU that garbage collection took (docs/performance.md, finding 18). Returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
