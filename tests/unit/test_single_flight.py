"""``SingleFlight``: concurrent loads of one key share one load; a cancelled caller leaves it running."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.single_flight import SingleFlight


async def test_concurrent_callers_share_one_load_and_later_ones_load_again() -> None:
    flight = SingleFlight[int, str]()
    loads = 0
    release = asyncio.Event()

    async def load() -> str:
        nonlocal loads
        loads += 1
        await release.wait()
        return f"row {loads}"

    waiting = [asyncio.create_task(flight.load(7, load)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["row 1"] * 5
    assert loads == 1 and len(flight) == 0
    assert await flight.load(7, load) == "row 2"  # nothing kept: the cache in front of it decides what is fresh


async def test_a_cancelled_caller_does_not_cancel_the_load_and_failures_reach_every_caller() -> None:
    flight = SingleFlight[int, str]()
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        raise LookupError("database away")

    first = asyncio.create_task(flight.load(1, load))
    second = asyncio.create_task(flight.load(1, load))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(LookupError, match="database away"):
        await second
    assert len(flight) == 0
