"""The stats rows: ``GET /sensors/<id>/stats`` on sensors of growing size beside the same aggregation written
directly in SQL over ``timed_beliefs``, and how long after a POST the stats include it.

The sensors are filled by binary COPY (as the large-table phase fills its table); their aggregates are then
built by ``services.stats.agents.store``, the function the stats service applies to each batch of ``ingested``
events, given one event that covers the whole fill (as ingest would announce a command of that span)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from psycopg_pool import AsyncConnectionPool

from bench.scheduling import copy_series
from bench.workloads import API, DAY_VALUES, JSON, STEP, Latency, post_body
from services.gateway.sql import sensors
from services.stats import agents
from shared.messages import BeliefsIngested

STATS0 = datetime(2000, 1, 1, tzinfo=UTC)  # the filled sensors' first minute
MINUTE = timedelta(minutes=1)
FRESH0 = datetime(2026, 1, 1, tzinfo=UTC)  # the freshness row posts one new day per request from here
STATS = "/api/v3_0/sensors/{id}/stats"

# The aggregation of GET /stats written directly over timed_beliefs: per source, every belief.
DIRECT = """
SELECT source_id, count(*), sum(event_value::numeric), min(event_value), max(event_value),
       min(event_start), max(event_start), max(belief_time)
FROM timed_beliefs WHERE sensor_id = %(sensor_id)s
GROUP BY source_id ORDER BY source_id
"""


@dataclass(frozen=True)
class Filled:
    sensor_id: int
    beliefs: int
    fill_seconds: float  # COPY
    aggregate_seconds: float  # agents.store over the whole span


async def fill_sensor(pool: AsyncConnectionPool, asset_id: int, beliefs: int, source_id: int) -> Filled:
    """A new one-minute sensor holding ``beliefs`` beliefs from ``STATS0`` (one source), by COPY; then its
    aggregates built by the stats service's own ``store``."""
    async with pool.connection() as conn:
        sensor_id = await sensors.create_sensor(
            conn, name=f"bench-stats-{beliefs}", unit="kW", event_resolution=MINUTE, generic_asset_id=asset_id
        )
    started = time.perf_counter()
    starts = np.datetime64(STATS0.replace(tzinfo=None), "us") + np.arange(beliefs) * np.timedelta64(60, "s")
    values = np.round(np.random.default_rng(beliefs).uniform(-50, 50, beliefs), 3)
    await copy_series(pool, sensor_id, source_id, starts, values)
    copied = time.perf_counter()
    event = BeliefsIngested(
        command_id=uuid.uuid4(), sensor_id=sensor_id, source_id=source_id, outcome="processed",
        rows_written=beliefs, event_start=STATS0, event_end=STATS0 + beliefs * MINUTE,
    )  # fmt: skip
    await agents.store(pool, [event])
    return Filled(sensor_id, beliefs, copied - started, time.perf_counter() - copied)


def counted(body: Any) -> int:
    """The ``Number of values`` summed over the sources of a stats answer."""
    if not isinstance(body, dict):
        return -1
    return sum(int(v.get("Number of values", 0)) for v in body.values() if isinstance(v, dict))


async def stats_latency(
    client: httpx.AsyncClient, token: str, filled: Filled, requests: int, warmup: int = 3
) -> Latency:
    """Sequential ``GET /sensors/<id>/stats`` (all time); each answer must count every belief of the sensor."""
    seconds: list[float] = []
    failures = 0
    for i in range(warmup + requests):
        started = time.perf_counter()
        response = await client.get(STATS.format(id=filled.sensor_id), headers={"Authorization": token})
        took = time.perf_counter() - started
        failures += response.status_code != 200 or counted(response.json()) != filled.beliefs
        if i >= warmup:
            seconds.append(took)
    return Latency(seconds, failures, what=f"GET through the gateway, after {warmup} warm-up")


async def direct_latency(
    pool: AsyncConnectionPool, filled: Filled, requests: int, time_limit: float, warmup: int = 1
) -> Latency:
    """The same aggregation as one SQL statement over ``timed_beliefs`` (psycopg, this process), timed the same
    way; at most ``requests`` times, and no new one after ``time_limit`` seconds."""
    seconds: list[float] = []
    failures = 0
    deadline = time.monotonic() + time_limit
    async with pool.connection() as conn:
        for i in range(warmup + requests):
            if i > warmup and time.monotonic() > deadline:
                break
            started = time.perf_counter()
            cur = await conn.execute(DIRECT, {"sensor_id": filled.sensor_id})
            rows = await cur.fetchall()
            took = time.perf_counter() - started
            failures += sum(int(r[1]) for r in rows) != filled.beliefs
            if i >= warmup:
                seconds.append(took)
    return Latency(seconds, failures, what=f"psycopg, after {warmup} warm-up")


async def freshness(
    client: httpx.AsyncClient, token: str, sensor_id: int, count: int, timeout: float, poll: float = 0.002
) -> Latency:
    """One client POSTs a new day (read-your-writes: answered once stored), then GETs the stats until they count
    it: seconds from the POST's answer to the first stats answer that includes it. After a warm-up of one."""
    headers = {"Authorization": token}
    values = [float(v) for v in range(DAY_VALUES)]
    seconds: list[float] = []
    failures = 0
    for i in range(1 + count):
        response = await client.post(
            API.format(id=sensor_id), content=post_body(FRESH0 + i * STEP * DAY_VALUES, values),
            headers={**headers, **JSON},
        )  # fmt: skip
        answered = time.perf_counter()
        if response.status_code != 200:
            failures += 1
            continue
        expected = (i + 1) * DAY_VALUES
        deadline = time.monotonic() + timeout
        while True:
            got = await client.get(STATS.format(id=sensor_id), headers=headers)
            if got.status_code == 200 and counted(got.json()) >= expected:
                if i >= 1:
                    seconds.append(time.perf_counter() - answered)
                break
            if time.monotonic() > deadline:
                failures += 1
                break
            await asyncio.sleep(poll)
    return Latency(seconds, failures, what="POST answered (stored) -> stats count it, GET polled every 2 ms")


async def caught_up(stats_url: str, timeout: float) -> bool:
    """Until the stats service reports no lag on the ingested topic; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{stats_url}/health")).json().get("lag") == 0:
                    return True
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.5)
    return False
