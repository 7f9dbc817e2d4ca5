"""The scheduling rows: a battery's schedule from trigger to readable, through the real gateway, broker,
scheduler, ingest and database, with the job's own build and solve times (the scheduler's ``scheduling job
done`` log line), and an asset of three batteries scheduled together. Sizes come from the caller; every loop
is bounded in count and in time."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from bench.harness import BenchError
from bench.workloads import COPY_BELIEFS
from services.gateway.sql import assets, sensors
from services.ingest.copy_format import HEADER, TRAILER, belief_rows
from shared.settings import GatewaySettings

logger = logging.getLogger(__name__)

SCHEDULE0 = datetime(2026, 3, 2, tzinfo=UTC)  # the planning windows start here (a Monday)
PRICE_DAYS = 9  # hourly prices from SCHEDULE0 on: the longest window (7 days) and a margin
PROFILE = "synthetic day-ahead EUR/MWh, hourly: night trough, morning and evening peaks, midday dip, all positive"
READ_CAP_HOURS = GatewaySettings.model_fields["planning_horizon"].default / timedelta(hours=1)
POLL = 0.002  # seconds between two GETs of a schedule not yet readable
# 20 clients polling every 2 ms would keep both cores busy with GETs: the concurrent row polls less often
CONCURRENT_POLL = 0.020
TRIGGER = "/api/v3_0/sensors/{id}/schedules/trigger"
SCHEDULE = "/api/v3_0/sensors/{id}/schedules/{job}"
ASSET_TRIGGER = "/api/v3_0/assets/{id}/schedules/trigger"


def day_ahead_prices(days: int, seed: int, *, negative: bool = False) -> np.ndarray:
    """Hourly prices with a day-ahead market's daily shape (EUR/MWh): low at night, a morning and an evening peak,
    a dip at midday; weekends cheaper; noise. ``negative``: the midday hours of each day go below zero."""
    rng = np.random.default_rng(seed)
    hours = np.arange(24 * days)
    hour = hours % 24
    shape = (
        70
        - 20 * np.cos(2 * np.pi * hour / 24)
        + 25 * np.exp(-(((hour - 8) / 1.5) ** 2))
        + 45 * np.exp(-(((hour - 19) / 2.0) ** 2))
        - 25 * np.exp(-(((hour - 13) / 2.5) ** 2))
    )
    weekend = np.isin((hours // 24) % 7, (5, 6))
    prices = shape * np.where(weekend, 0.8, 1.0) + rng.normal(0, 6, len(hours))
    if negative:
        prices[(hour >= 10) & (hour < 16)] -= 110
    else:
        prices = np.maximum(prices, 5.0)
    rounded: np.ndarray = np.round(prices, 2)
    return rounded


async def copy_series(
    pool: AsyncConnectionPool, sensor_id: int, source_id: int, starts: np.ndarray, values: np.ndarray
) -> None:
    """Rows of one sensor into ``timed_beliefs`` by binary COPY (as ingest writes them), a million at a time."""
    belief = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    statement = sql.SQL(COPY_BELIEFS).format(sql.Identifier("timed_beliefs"))
    async with pool.connection() as conn:
        async with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            await copy.write(HEADER)
            for i in range(0, len(values), 1_000_000):
                part = slice(i, i + 1_000_000)
                n = len(values[part])
                await copy.write(belief_rows(sensor_id, source_id, starts[part], np.full(n, belief), values[part]))
            await copy.write(TRAILER)


@dataclass(frozen=True)
class Site:
    """Batteries (kW) on one asset, an hourly price sensor for each price profile, a three-battery asset."""

    batteries: list[int]
    prices: int
    negative_prices: int
    asset_devices: list[int]
    asset: int


async def create_site(pool: AsyncConnectionPool, account_id: int, n_batteries: int, source_id: int) -> Site:
    """The sensors, and ``PRICE_DAYS`` of hourly prices (both profiles) stored by COPY."""
    async with pool.connection() as conn:
        site = await assets.create_asset(conn, name="bench-site", asset_type="battery", account_id=account_id)
        made = [
            await sensors.create_sensor(
                conn, name=f"bench-battery-{i}", unit="kW", event_resolution=timedelta(minutes=15),
                generic_asset_id=site,
            )
            for i in range(n_batteries)
        ]  # fmt: skip
        price_ids = [
            await sensors.create_sensor(
                conn, name=name, unit="EUR/MWh", event_resolution=timedelta(hours=1), generic_asset_id=site
            )
            for name in ("bench-day-ahead", "bench-day-ahead-negative")
        ]
        asset = await assets.create_asset(
            conn, name="bench-three-batteries", asset_type="battery", account_id=account_id
        )
        devices = [
            await sensors.create_sensor(
                conn, name=f"bench-asset-battery-{i}", unit="kW", event_resolution=timedelta(minutes=15),
                generic_asset_id=asset,
            )
            for i in range(3)
        ]  # fmt: skip
    starts = np.datetime64(SCHEDULE0.replace(tzinfo=None), "us") + np.arange(24 * PRICE_DAYS) * np.timedelta64(1, "h")
    await copy_series(pool, price_ids[0], source_id, starts, day_ahead_prices(PRICE_DAYS, seed=21))
    await copy_series(pool, price_ids[1], source_id, starts, day_ahead_prices(PRICE_DAYS, seed=22, negative=True))
    return Site(made, price_ids[0], price_ids[1], devices, asset)


def flex_model(variant: int) -> dict[str, Any]:
    """One battery (200 kWh, 50 kW); ``variant`` changes the state of charge at the start slightly, so that no two
    triggers are identical (and ``force_new_job_creation`` makes sure none is answered from the job cache)."""
    return {"soc-at-start": 100 + (variant % 50) / 10, "soc-unit": "kWh", "soc-min": 20, "soc-max": 180,
            "power-capacity": "50 kW", "charging-efficiency": "95%", "discharging-efficiency": "95%"}  # fmt: skip


def trigger_body(prices: int, duration: str, variant: int) -> dict[str, Any]:
    return {
        "start": SCHEDULE0.isoformat(), "duration": duration, "force_new_job_creation": True,
        "flex-model": flex_model(variant), "flex-context": {"consumption-price": {"sensor": prices}},
    }  # fmt: skip


@dataclass
class Job:
    """One scheduling job as a client saw it: trigger sent to schedule readable; build and solve from the log."""

    job_id: str
    seconds: float
    ok: bool
    build: float | None = None
    solve: float | None = None
    inputs: float | None = None  # the scheduler loading the job's inputs
    job: float | None = None  # the scheduler's whole job: trigger picked up -> outcome durable


@dataclass(frozen=True)
class Schedules:
    """Jobs of one case; ``wall`` is the whole case's duration (for the concurrent one: first trigger to last
    schedule readable)."""

    jobs: list[Job]
    wall: float
    what: str = ""
    problems_found: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [j.seconds for j in self.jobs if j.ok]

    def part(self, name: str) -> list[float]:
        return [float(getattr(j, name)) for j in self.jobs if j.ok and getattr(j, name) is not None]

    def overhead(self) -> list[float]:
        """Trigger to readable minus the job's own build and solve time, per job."""
        return [
            j.seconds - j.build - j.solve for j in self.jobs if j.ok and j.build is not None and j.solve is not None
        ]

    def problems(self) -> tuple[str, ...]:
        found = list(self.problems_found)
        failed = sum(not j.ok for j in self.jobs)
        if not self.jobs:
            found.append("no job was timed")
        if failed:
            found.append(f"{failed} of {len(self.jobs)} jobs failed or were not readable")
        timed = sum(j.build is not None for j in self.jobs if j.ok)
        if timed != len(self.seconds):
            found.append(f"build/solve times of {len(self.seconds) - timed} jobs missing from the scheduler's log")
        return tuple(found)

    def describe(self) -> str:
        text = f"{len(self.jobs)} jobs"
        parts = [(label, self.part(name)) for label, name in
                 (("build", "build"), ("solve", "solve"), ("inputs", "inputs"), ("whole job", "job"))]  # fmt: skip
        known = [f"{label} {1000 * np.median(values):.1f} ms" for label, values in parts if values]
        if known:
            text += "; the scheduler's log, p50: " + ", ".join(known)
        return f"{text}; {self.what}" if self.what else text


async def trigger_and_read(
    client: aiohttp.ClientSession, token: str, sensor_ids: Sequence[int], trigger: str, body: dict[str, Any],
    timeout: float, poll: float = POLL,
) -> tuple[str, float, bool]:  # fmt: skip
    """POST ``trigger``, then GET the schedule of every sensor in ``sensor_ids`` until each is readable (200, its
    values as long as the window). Returns the job id, the seconds from sending the trigger to the last schedule
    read, and whether everything was readable and whole."""
    headers = {"Authorization": token}
    started = time.perf_counter()
    status, text = await _call(client.post(trigger, json=body, headers=headers))
    if status != 200:
        return f"HTTP {status}: {text[:200]}", time.perf_counter() - started, False
    job = str(json.loads(text).get("schedule"))
    # a GET answers at most the gateway's planning horizon (48 h by default); the job stores its whole window at
    # once, so the first answer with a value per slot of that length shows the whole schedule is stored
    slots = int(min(_hours(body["duration"]), READ_CAP_HOURS) * 4)
    ok = True
    for sensor_id in sensor_ids:
        deadline = time.monotonic() + timeout
        while True:
            status, text = await _call(  # the whole window (a GET without duration answers its first 6 hours)
                client.get(SCHEDULE.format(id=sensor_id, job=job), params={"duration": body["duration"]},
                           headers=headers)
            )  # fmt: skip
            waiting = status == 400 and ("waiting to be processed" in text or "in progress" in text)
            if not waiting:
                whole = status == 200 and len(json.loads(text).get("values", [])) == slots
                if not whole:
                    logger.warning("job %s, sensor %s: HTTP %s %s", job, sensor_id, status, text[:300])
                ok = ok and whole
                break
            if time.monotonic() > deadline:
                logger.warning("job %s, sensor %s: not readable after %.0f s", job, sensor_id, timeout)
                ok = False
                break
            await asyncio.sleep(poll)
    return job, time.perf_counter() - started, ok


async def _call(request: Any) -> tuple[int, str]:
    """The status and body of one aiohttp request (``session.get(...)`` or ``session.post(...)``)."""
    async with request as response:
        return response.status, await response.text()


def _hours(duration: str) -> float:
    if duration.startswith("PT") and duration.endswith("H"):
        return float(duration[2:-1])
    if duration.startswith("P") and duration.endswith("D"):
        return 24 * float(duration[1:-1])
    raise ValueError(duration)


async def sequential(
    client: aiohttp.ClientSession, token: str, sensor_id: int, prices: int, duration: str, count: int, warmup: int,
    timeout: float, log: Path, what: str,
) -> Schedules:  # fmt: skip
    """``count`` triggers one after another (after ``warmup``), each read back before the next is sent."""
    jobs: list[Job] = []
    started = time.perf_counter()
    for i in range(warmup + count):
        job, seconds, ok = await trigger_and_read(
            client, token, [sensor_id], TRIGGER.format(id=sensor_id), trigger_body(prices, duration, i), timeout
        )
        if i >= warmup:
            jobs.append(Job(job, seconds, ok))
    return Schedules(await with_timings(jobs, log), time.perf_counter() - started, what)


async def concurrent(
    client: aiohttp.ClientSession, token: str, sensor_ids: Sequence[int], prices: int, timeout: float, log: Path
) -> Schedules:
    """One 48-hour trigger per sensor, all sent at once; the wall time runs to the last schedule readable."""
    started = time.perf_counter()
    done = await asyncio.gather(*(
        trigger_and_read(client, token, [s], TRIGGER.format(id=s), trigger_body(prices, "PT48H", 1000 + i), timeout,
                         CONCURRENT_POLL)
        for i, s in enumerate(sensor_ids)
    ))  # fmt: skip
    wall = time.perf_counter() - started
    jobs = [Job(job, seconds, ok) for job, seconds, ok in done]
    return Schedules(
        await with_timings(jobs, log),
        wall,
        f"{len(sensor_ids)} sensors, triggers sent together, each polled every {1000 * CONCURRENT_POLL:.0f} ms",
    )


async def asset_jobs(
    client: aiohttp.ClientSession, token: str, asset: int, devices: Sequence[int], prices: int, count: int, warmup: int,
    timeout: float, log: Path,
) -> Schedules:  # fmt: skip
    """The asset trigger (a list of three device flex-models, one site flex-context), then every device's schedule
    read; first a probe, so that a gateway without the route says so instead of timing errors."""

    def body(i: int) -> dict[str, Any]:
        return {
            "start": SCHEDULE0.isoformat(), "duration": "PT48H", "force_new_job_creation": True,
            "flex-model": [{"sensor": d, **flex_model(i + k)} for k, d in enumerate(devices)],
            "flex-context": {"consumption-price": {"sensor": prices}, "site-power-capacity": "100 kW"},
        }  # fmt: skip

    status, _ = await _call(client.post(ASSET_TRIGGER.format(id=asset), json=body(0), headers={"Authorization": token}))
    if status in (404, 405):
        raise BenchError(f"the gateway does not serve POST {ASSET_TRIGGER} (answered {status})")
    jobs: list[Job] = []
    started = time.perf_counter()
    for i in range(warmup + count):
        job, seconds, ok = await trigger_and_read(
            client, token, devices, ASSET_TRIGGER.format(id=asset), body(1 + i), timeout
        )
        if i >= warmup:
            jobs.append(Job(job, seconds, ok))
    return Schedules(
        await with_timings(jobs, log),
        time.perf_counter() - started,
        "three batteries, one joint problem, a 100 kW site limit",
    )


def job_timings(log: Path) -> dict[str, tuple[float, float, float, float]]:
    """Build, solve, input loading and whole-job seconds per job id, from the scheduler's ``scheduling job done``
    lines (JSON)."""
    found: dict[str, tuple[float, float, float, float]] = {}
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        if '"scheduling job done"' not in line:
            continue
        try:
            entry = json.loads(line)
            found[str(entry["job_id"])] = tuple(  # type: ignore[assignment]
                float(entry[key]) / 1000 for key in ("build_ms", "solve_ms", "inputs_ms", "total_ms")
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


async def with_timings(jobs: list[Job], log: Path, attempts: int = 20) -> list[Job]:
    """``jobs`` with build and solve filled in from the log (the line is written just after the outcome is
    durable, so it may trail the schedule by a moment: read again for up to a second)."""
    for _ in range(attempts):
        timings = job_timings(log)
        if all(j.job_id in timings for j in jobs if j.ok):
            break
        await asyncio.sleep(0.05)
    for j in jobs:
        if j.job_id in timings:
            j.build, j.solve, j.inputs, j.job = timings[j.job_id]
    return jobs
