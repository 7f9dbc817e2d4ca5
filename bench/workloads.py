"""The measurements, each an async function returning plain figures. Sizes come from the caller; every
request loop is bounded in count and in time."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID, uuid4

import aiohttp
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from bench import http_load
from bench.harness import BenchError, checkpoint
from services.ingest.copy_format import HEADER, TRAILER, belief_rows
from shared import kafka
from shared.messages import BeliefsIngested, PostSensorData, utcnow
from shared.settings import Settings
from shared.topics import INGESTED, SENSOR_DATA, key_for

logger = logging.getLogger(__name__)

STEP = timedelta(minutes=15)
DAY_VALUES = 96
YEAR_VALUES = 35_040
DAY0 = datetime(2024, 1, 1, tzinfo=UTC)  # (a), (b), (c): one day per command
YEAR0 = datetime(2023, 1, 1, tzinfo=UTC)  # the one-year posts and the GETs
SEQUENTIAL0 = datetime(2025, 1, 1, tzinfo=UTC)  # the latency rows: one new day per request
API = "/api/v3_0/sensors/{id}/data"


MACHINE = "whole machine"  # the CPU seconds of every process (the database and the broker too), from /proc/stat


@dataclass(frozen=True)
class Throughput:
    """Rows promised (by 200 answers or ``BeliefsIngested`` events) and rows found stored, in ``seconds``."""

    promised: int
    stored: int
    seconds: float
    requests: int = 0
    failures: int = 0  # requests answered with an error, commands not processed
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process during the measurement
    cpu_window: float = 0.0  # the wall seconds those CPU seconds were read over (the row's setup and check included)

    @property
    def per_second(self) -> float:
        return min(self.stored, self.promised) / self.seconds if self.seconds > 0 else 0.0

    def problems(self) -> tuple[str, ...]:
        found = []
        if self.failures:
            found.append(f"{self.failures} of {self.requests} requests failed")
        if self.stored != self.promised:
            found.append(f"{self.stored} rows stored, {self.promised} promised")
        return tuple(found)

    def describe(self) -> str:
        text = f"{self.seconds:.2f} s; {self.stored} rows stored of {self.promised} promised"
        if self.requests:
            text += f"; {self.requests} requests"
        if self.latencies:
            p50, p95 = np.percentile(self.latencies, [50, 95])
            text += f", latency p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms"
        if self.cpu:
            capacity = (self.cpu_window or self.seconds) * (os.cpu_count() or 1)
            text += f"; CPU over {self.cpu_window:.2f} s: " + ", ".join(
                f"{name} {seconds:.2f} s" + (f" of {capacity:.2f} s" if name == MACHINE else "")
                for name, seconds in self.cpu.items()
            )
        return text


@dataclass(frozen=True)
class Latency:
    """Seconds per request (or command), with what the requests promised against what was found."""

    seconds: list[float]
    failures: int = 0  # error answers, wrong answers, commands not processed
    promised: int = 0  # rows (or values) the successful requests promise
    stored: int = 0  # rows (or values) found
    what: str = ""

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.seconds, q))

    def problems(self) -> tuple[str, ...]:
        found = []
        if not self.seconds:
            found.append("no request was timed")
        if self.failures:
            found.append(f"{self.failures} failed")
        if self.stored != self.promised:
            found.append(f"{self.stored} rows found, {self.promised} expected")
        return tuple(found)

    def describe(self) -> str:
        runs = ", ".join(f"{1000 * s:.0f}" for s in self.seconds) if len(self.seconds) <= 5 else ""
        text = f"{len(self.seconds)} timed" + (f" ({runs} ms)" if runs else "")
        if self.promised:
            text += f"; {self.stored} of {self.promised} rows found"
        return f"{text}; {self.what}" if self.what else text


@dataclass(frozen=True)
class DayCommand:
    """One day of 15-minute values for one sensor: the unit of (a), (b) and (c)."""

    sensor_id: int
    start: datetime
    values: list[float]


def day_commands(sensor_ids: Sequence[int], days: int, seed: int) -> list[DayCommand]:
    rng = np.random.default_rng(seed)
    values = np.round(rng.uniform(-50, 50, size=(len(sensor_ids) * days, DAY_VALUES)), 3)
    return [
        DayCommand(sensor_id, DAY0 + timedelta(days=day), values[i * days + day].tolist())
        for i, sensor_id in enumerate(sensor_ids)
        for day in range(days)
    ]


def year_values(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in np.round(rng.uniform(-50, 50, size=YEAR_VALUES), 3)]


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process has used so far (``/proc/<pid>/stat``; empty where unreadable); those
    of the servers (``SERVERS``: every PostgreSQL process, the Kafka broker's JVM) where they run on this machine;
    and those of the whole machine (``MACHINE``): the wall time times the cores less all of it is idle, and what
    the named processes leave is the kernel's work and anything else's."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    try:  # cpu  user nice system idle iowait irq softirq steal ...
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        used[MACHINE] = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7)) / ticks
    except (OSError, IndexError, ValueError):
        pass
    for name, pid in pids.items():
        seconds = _process_seconds(pid, ticks)
        if seconds is not None:
            used[name] = seconds
    used.update(_server_seconds(ticks))
    return used


SERVERS = {"postgres": "postgres", "kafka": "kafka.Kafka"}  # name: the process name, or a word of the command line


def _process_seconds(pid: int | str, ticks: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _server_seconds(ticks: int) -> dict[str, float]:
    """The CPU seconds of the live processes of each of ``SERVERS`` (a PostgreSQL backend's work is in the pool's
    long-lived connections; a process that ended between two readings is missing from the second)."""
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for name, mark in SERVERS.items():
            if comm == mark or (comm == "java" and mark in command):
                seconds = _process_seconds(entry.name, ticks)
                if seconds is not None:
                    found[name] = found.get(name, 0.0) + seconds
    return found


def cpu_since(before: dict[str, float], pids: dict[str, int]) -> dict[str, float]:
    after = cpu_seconds(pids)
    return {name: after[name] - before[name] for name in after if name in before}


# --- direct Kafka producers -------------------------------------------------------------------------


class IngestedWatcher:
    """Reads this run's ``ingested`` topic from the start and hands every event to whoever waits for its
    command id (no polling interval: a waiter wakes when its event is read)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events: dict[UUID, BeliefsIngested] = {}
        self._waiters: dict[UUID, asyncio.Future[BeliefsIngested]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._context: Any = None

    async def __aenter__(self) -> IngestedWatcher:
        self._context = kafka.open_consumer(self.settings, [INGESTED], None)
        self._consumer = await self._context.__aenter__()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._context.__aexit__(exc_type, exc, tb)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = INGESTED.decode(record.value)
                    self.events[event.command_id] = event
                    waiter = self._waiters.pop(event.command_id, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(event)

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No fetching while the phases that need no events run: the watcher would load the broker and this
        process during their measurements. Afterwards it reads on from the end of the topic (nobody waits for the
        events of the pause)."""
        assert self._consumer is not None
        partitions = sorted(self._consumer.assignment())
        self._consumer.pause(*partitions)
        try:
            yield
        finally:
            await self._consumer.seek_to_end(*partitions)
            for partition in partitions:
                await self._consumer.position(partition)
            self._consumer.resume(*partitions)

    def expect(self, command_id: UUID) -> asyncio.Future[BeliefsIngested]:
        """A future for the event of ``command_id`` (register it before sending the command)."""
        future: asyncio.Future[BeliefsIngested] = asyncio.get_running_loop().create_future()
        if command_id in self.events:
            future.set_result(self.events[command_id])
        else:
            self._waiters[command_id] = future
        return future

    async def wait_for(self, ids: Sequence[UUID], timeout: float) -> list[BeliefsIngested]:
        futures = [self.expect(i) for i in ids]
        try:
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout))
        except TimeoutError:
            missing = sum(not f.done() for f in futures)
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {missing} of {len(ids)} events") from None
        finally:
            for i in ids:
                self._waiters.pop(i, None)


async def produce_and_wait(
    settings: Settings, watcher: IngestedWatcher, commands: Sequence[PostSensorData], timeout: float
) -> tuple[float, list[BeliefsIngested]]:
    """Send the commands (already built) as fast as one idempotent producer allows; return the time until
    ingest has announced every one of them as stored."""
    topic = SENSOR_DATA.full_name(settings.topic_prefix)
    payloads = [(key_for(c.sensor_id), SENSOR_DATA.encode(c)) for c in commands]
    async with kafka.open_producer(settings) as producer:
        waiting = asyncio.ensure_future(watcher.wait_for([c.command_id for c in commands], timeout))
        started = time.perf_counter()
        sends = [await producer.send(topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*sends)
        events = await waiting
        return time.perf_counter() - started, events


def day_command(sensor_id: int, start: datetime, values: list[float], source_name: str) -> PostSensorData:
    return PostSensorData(
        sensor_id=sensor_id, start=start, duration=STEP * len(values), values=values, unit="kW",
        source_name=source_name,
    )  # fmt: skip


async def kafka_ingest(
    settings: Settings, watcher: IngestedWatcher, pool: AsyncConnectionPool, days: Sequence[DayCommand], timeout: float
) -> Throughput:
    """(a) Device-style producers straight to the sensor-data topic; a real ingest process stores them."""
    commands = [day_command(d.sensor_id, d.start, d.values, "bench-device") for d in days]
    seconds, events = await produce_and_wait(settings, watcher, commands, timeout)
    stored = await count_beliefs(pool, sorted({d.sensor_id for d in days}), source_name="bench-device")
    good = [e for e in events if e.outcome == "processed"]
    return Throughput(
        promised=sum(e.rows_written for e in good), stored=stored, seconds=seconds, requests=len(commands),
        failures=len(events) - len(good) + sum(e.rows_written != DAY_VALUES for e in good),
    )  # fmt: skip


async def metric_total(url: str, metric: str, labels: str = "") -> tuple[float, float]:
    """A Prometheus histogram's count and sum of seconds from a service's ``/metrics`` (``labels`` as printed
    there, e.g. ``method="POST",route="..."``); zeros when it has none yet."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    suffix = f"{{{labels}}}" if labels else ""
    figures = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(metric))
    return float(figures.get(f"{metric}_count{suffix}", 0)), float(figures.get(f"{metric}_sum{suffix}", 0))


async def ingest_batch_seconds(ingest_url: str) -> tuple[float, float]:
    """Ingest's own count of batches and their total seconds in the database transaction."""
    return await metric_total(ingest_url, "flexstream_ingest_batch_seconds")


GATEWAY_POST = ("flexstream_gateway_request_seconds", f'method="POST",route="{API.format(id="{id}")}"')


async def with_gateway_time(gateway_url: str, measuring: Any) -> Latency:
    """Await the ``measuring`` coroutine (POSTs to the data route) and add the gateway's own mean time per
    POST meanwhile (its ``flexstream_gateway_request_seconds``): the rest of a client's time is HTTP and client."""
    count, total = await metric_total(gateway_url, *GATEWAY_POST)
    result: Latency = await measuring
    count_after, total_after = await metric_total(gateway_url, *GATEWAY_POST)
    n = count_after - count
    mean = (total_after - total) / n if n else float("nan")
    return replace(
        result, what=f"{result.what}; the gateway's own time {1000 * mean:.1f} ms on average ({n:.0f} POSTs)"
    )


async def kafka_command_latency(
    settings: Settings, watcher: IngestedWatcher, pool: AsyncConnectionPool, ingest_url: str, sensor_id: int,
    count: int, warmup: int = 5,
) -> Latency:  # fmt: skip
    """One producer sends one 96-value day at a time and waits for its ``BeliefsIngested`` before the next.
    Where the time goes: the broker's ack of the command, and ingest's transaction (from its metrics)."""
    topic = SENSOR_DATA.full_name(settings.topic_prefix)
    values = [float(v) for v in range(DAY_VALUES)]
    seconds: list[float] = []
    acks: list[float] = []
    failures = 0
    batches_before, in_db_before = await ingest_batch_seconds(ingest_url)
    async with kafka.open_producer(settings) as producer:
        for i in range(warmup + count):
            command = day_command(sensor_id, SEQUENTIAL0 + i * STEP * DAY_VALUES, values, "bench-seq")
            payload = SENSOR_DATA.encode(command)
            event = watcher.expect(command.command_id)
            t0 = time.perf_counter()
            await (await producer.send(topic, payload, key=key_for(sensor_id)))
            acked = time.perf_counter()
            done = await asyncio.wait_for(event, 30)
            if i >= warmup:
                seconds.append(time.perf_counter() - t0)
                acks.append(acked - t0)
            failures += done.outcome != "processed" or done.rows_written != DAY_VALUES
    batches, in_db = await ingest_batch_seconds(ingest_url)
    stored = await count_beliefs(pool, [sensor_id])
    transaction = (in_db - in_db_before) / max(batches - batches_before, 1)
    what = (
        f"sequential, after {warmup} warm-up; broker ack of the command p50 {1000 * np.median(acks):.1f} ms; "
        f"ingest's transaction {1000 * transaction:.1f} ms on average over {batches - batches_before:.0f} batches"
    )
    return Latency(seconds, failures, (warmup + count) * DAY_VALUES, stored, what)


# --- (c) raw COPY, the limit ------------------------------------------------------------------------

COPY_BELIEFS = (
    "COPY {} (sensor_id, event_start, source_id, belief_time, cumulative_probability, event_value)"
    " FROM STDIN (FORMAT BINARY)"
)
SCRATCH = "bench_scratch_beliefs"
DROP_SCRATCH = "DROP TABLE IF EXISTS bench_scratch_beliefs"
COUNT_SCRATCH = "SELECT count(*) FROM bench_scratch_beliefs"
CREATE_SCRATCH = """
CREATE TABLE bench_scratch_beliefs (LIKE timed_beliefs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('bench_scratch_beliefs', 'event_start', chunk_time_interval => interval '30 days');
    END IF;
END $$;
"""


def raw_copy_buffer(days: Sequence[DayCommand], source_id: int, belief_time: datetime) -> bytes:
    """The rows of ``days`` in the binary COPY format ingest itself writes (``copy_format.belief_rows``)."""
    offsets = np.arange(DAY_VALUES) * np.timedelta64(int(STEP.total_seconds()), "s")
    starts = np.concatenate([np.datetime64(d.start.replace(tzinfo=None), "us") + offsets for d in days])
    sensor_ids = np.repeat([d.sensor_id for d in days], DAY_VALUES)
    belief_times = np.full(len(starts), np.datetime64(belief_time.astimezone(UTC).replace(tzinfo=None), "us"))
    values = np.array([d.values for d in days], dtype=float).ravel()
    return HEADER + belief_rows(sensor_ids, source_id, starts, belief_times, values) + TRAILER


async def raw_copy(pool: AsyncConnectionPool, days: Sequence[DayCommand], source_id: int) -> Throughput:
    """(c) The same rows straight into ``timed_beliefs`` with one binary COPY and one commit (another source,
    so the keys are new): what the table and the database can take, with no service in between. Then, not
    timed, ``settle``: (c) is measured between other rows, which its 480,000 rows must not slow down."""
    rows = len(days) * DAY_VALUES
    belief_time = datetime.now(UTC)
    seconds = await _copy(pool, "timed_beliefs", raw_copy_buffer(days, source_id, belief_time))
    stored = await count_beliefs(
        pool, sorted({d.sensor_id for d in days}), source_id=source_id, belief_time=belief_time
    )  # only this COPY's rows: (c) is measured more than once on the same sensors
    async with pool.connection() as conn:
        await settle(conn)
    return Throughput(rows, stored, seconds)


async def raw_copy_into_empty_table(
    pool: AsyncConnectionPool, days: Sequence[DayCommand], source_id: int
) -> Throughput:
    """The same COPY into an empty scratch table shaped like ``timed_beliefs`` (same hypertable and primary
    key): (c) writes into the table that already holds (a)'s rows; this row shows how much faster the same
    COPY is into a table as empty as the one (a) started with. Then, not timed, a checkpoint (its WAL would
    force one during the rows measured after it)."""
    async with pool.connection() as conn:
        await conn.execute(DROP_SCRATCH)
        await conn.execute(CREATE_SCRATCH)
    try:
        seconds = await _copy(pool, SCRATCH, raw_copy_buffer(days, source_id, datetime.now(UTC)))
        async with pool.connection() as conn:
            cur = await conn.execute(COUNT_SCRATCH)
            row = await cur.fetchone()
    finally:
        async with pool.connection() as conn:
            await conn.execute(DROP_SCRATCH)
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            await checkpoint(conn)
        finally:
            await conn.set_autocommit(False)
    assert row is not None
    return Throughput(len(days) * DAY_VALUES, int(row[0]), seconds)


async def _copy(pool: AsyncConnectionPool, table: str, buffer: bytes) -> float:
    statement = sql.SQL(COPY_BELIEFS).format(sql.Identifier(table))
    async with pool.connection() as conn:
        started = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            view = memoryview(buffer)
            for i in range(0, len(view), 1 << 22):
                await copy.write(view[i : i + (1 << 22)])
        return time.perf_counter() - started


async def count_beliefs(
    pool: AsyncConnectionPool,
    sensor_ids: Sequence[int],
    source_name: str | None = None,
    source_id: int | None = None,
    belief_time: datetime | None = None,
) -> int:
    query = "SELECT count(*) FROM timed_beliefs tb WHERE tb.sensor_id = ANY(%(ids)s)"
    if source_name is not None:
        query += " AND tb.source_id IN (SELECT id FROM data_sources WHERE name = %(name)s)"
    if source_id is not None:
        query += " AND tb.source_id = %(source_id)s"
    if belief_time is not None:
        query += " AND tb.belief_time = %(belief_time)s"
    parameters = {"ids": list(sensor_ids), "name": source_name, "source_id": source_id, "belief_time": belief_time}
    async with pool.connection() as conn:
        cur = await conn.execute(query, parameters)
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


# --- HTTP through the gateway ----------------------------------------------------------------------


def post_body(start: datetime, values: list[float]) -> bytes:
    hours = len(values) * STEP / timedelta(hours=1)
    duration = f"PT{int(hours)}H" if hours == int(hours) else f"PT{len(values) * 15}M"
    return json.dumps({"start": start.isoformat(), "duration": duration, "values": values, "unit": "kW"}).encode()


JSON = {"Content-Type": "application/json"}


async def probe_routes(client: httpx.AsyncClient, token: str, sensor_id: int) -> tuple[str | None, str | None]:
    """Whether POST and GET ``/sensors/<id>/data`` exist and work; None when they do, else why not."""
    post_problem: str | None = None
    get_problem: str | None = None
    body = post_body(datetime(2022, 1, 1, tzinfo=UTC), [1.0])
    response = await client.post(API.format(id=sensor_id), content=body, headers={"Authorization": token, **JSON})
    if response.status_code in (404, 405):
        post_problem = f"route not available (POST answers {response.status_code})"
    elif response.status_code != 200:
        post_problem = f"route not working (POST answers {response.status_code}: {response.text[:200]})"
    params = {"start": "2022-01-01T00:00:00+00:00", "duration": "PT1H", "unit": "kW"}
    response = await client.get(API.format(id=sensor_id), params=params, headers={"Authorization": token})
    if response.status_code in (404, 405):
        get_problem = f"route not available (GET answers {response.status_code})"
    elif response.status_code != 200:
        get_problem = f"route not working (GET answers {response.status_code}: {response.text[:200]})"
    return post_problem, get_problem


async def http_posts(
    base_url: str,
    pool: AsyncConnectionPool,
    token: str,
    days: Sequence[DayCommand],
    *,
    concurrency: int,
    time_limit: float,
) -> Throughput:
    """(b) ``concurrency`` clients POST one day (96 values) each per request; every 200 means stored
    (read-your-writes). Stops early after ``time_limit`` seconds.

    The load comes from ``bench/http_load.py`` (keep-alive connections, requests encoded before the clock
    starts): on this 2-core machine the client shares the CPU with the system under test. httpx alone took most
    of a core at ~150 requests/s (measured with top), and aiohttp 0.16–0.26 ms of CPU per POST."""
    requests = day_requests(base_url, token, days)
    started = time.perf_counter()
    done = await http_load.run_clients(base_url, requests, concurrency, time_limit=time_limit)
    seconds = time.perf_counter() - started
    stored = await count_beliefs(pool, sorted({d.sensor_id for d in days}))
    ok = sum(status == 200 for _, status in done)
    return Throughput(ok * DAY_VALUES, stored, seconds, len(done), len(done) - ok, [t for t, _ in done])


def day_requests(base_url: str, token: str, days: Sequence[DayCommand]) -> list[bytes]:
    """Each day as a complete POST request (``bench/http_load.py``) to its sensor's data route."""
    host = http_load.host_of(base_url)
    headers = {"Authorization": token, **JSON}
    return [
        http_load.encode_post(host, API.format(id=d.sensor_id), post_body(d.start, d.values), headers) for d in days
    ]


async def rewrites(base_url: str, token: str, days: Sequence[DayCommand], *, concurrency: int, seconds: float) -> int:
    """Load before (b), not measured: stored ``days`` POSTed again, round and round, by ``concurrency`` clients for
    ``seconds``. Each answer is "already received" and nothing is written, so (b) finds the table as it was; the
    gateway, ingest and the broker run (b)'s request paths for a while before it. A broker compiles its hot paths
    for minutes of such traffic (docs/performance.md, findings 16 and 22). Returns the requests sent."""
    if seconds <= 0 or not days:
        return 0
    requests = day_requests(base_url, token, days)
    done = await http_load.run_clients(base_url, itertools.cycle(requests), concurrency, time_limit=seconds)
    failed = [status for _, status in done if status != 200]
    if failed:
        raise BenchError(f"{len(failed)} of {len(done)} warm-up POSTs failed (statuses {sorted(set(failed))})")
    return len(done)


@dataclass(frozen=True)
class Years:
    """The one-year POST and its identical re-POST, each beside its ingest share: the same year as one Kafka
    command, and that command again."""

    post: Latency
    repost: Latency
    kafka: Latency
    kafka_again: Latency


async def years_side_by_side(
    settings: Settings,
    watcher: IngestedWatcher,
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    token: str,
    kafka_sensors: Sequence[int],
    post_sensors: Sequence[int],
    values: list[float],
    timeout: float,
    *,
    warmup: int = 0,
) -> Years:
    """Per pair of fresh sensors: the year as one Kafka command to the first, until its ``BeliefsIngested``, and
    the identical year again (a new command, as a re-POST would be); then one POST of the year to the second, until
    its 200, and the identical POST again. Taking turns, the POSTs and their ingest share meet the same machine.
    The first ``warmup`` turns are checked like the others but not timed."""
    body = post_body(YEAR0, values)
    headers = {"Authorization": token, **JSON}
    times: dict[str, list[float]] = {"kafka": [], "kafka_again": [], "post": [], "repost": []}
    failures = dict.fromkeys(times, 0)
    for turn, (kafka_sensor, post_sensor) in enumerate(zip(kafka_sensors, post_sensors, strict=True)):
        timed = turn >= warmup
        command = day_command(kafka_sensor, YEAR0, values, "bench-year")
        repeat = command.model_copy(update={"command_id": uuid4(), "recorded_at": utcnow()})
        seconds, (event,) = await produce_and_wait(settings, watcher, [command], timeout)
        times["kafka"] += [seconds] * timed
        failures["kafka"] += event.outcome != "processed" or event.rows_written != YEAR_VALUES
        seconds, (event,) = await produce_and_wait(settings, watcher, [repeat], timeout)
        times["kafka_again"] += [seconds] * timed
        failures["kafka_again"] += event.rows_written + event.rows_replaced != 0
        for name in ("post", "repost"):
            t0 = time.perf_counter()
            response = await client.post(API.format(id=post_sensor), content=body, headers=headers)
            times[name] += [time.perf_counter() - t0] * timed
            failures[name] += response.status_code != 200
    stored = {"kafka": await count_beliefs(pool, kafka_sensors), "post": await count_beliefs(pool, post_sensors)}
    promised = YEAR_VALUES * len(post_sensors)
    held = "each sensor must still hold exactly one year"
    until_event = "command to BeliefsIngested"

    def latency(name: str, of: str, what: str) -> Latency:
        return Latency(times[name], failures[name], promised, stored[of], what)

    return Years(
        post=latency("post", "post", "POST to its 200 (stored)"),
        repost=latency("repost", "post", held),
        kafka=latency("kafka", "kafka", until_event),
        kafka_again=latency("kafka_again", "kafka", f"{until_event}; nothing may be written"),
    )


async def daily_posts(
    client: httpx.AsyncClient, token: str, sensor_id: int, values: list[float], concurrency: int, time_limit: float
) -> None:
    """The same year as 365 daily POSTs (each its own belief time), to read back later."""
    headers = {"Authorization": token, **JSON}
    bodies = iter(
        post_body(YEAR0 + timedelta(days=day), values[day * DAY_VALUES : (day + 1) * DAY_VALUES]) for day in range(365)
    )
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + time_limit

    async def client_loop() -> None:
        for body in bodies:
            if time.perf_counter() > deadline:
                return
            response = await client.post(API.format(id=sensor_id), content=body, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    if statuses != {200: 365}:
        raise BenchError(f"daily POSTs answered {statuses}")


HOURS = 8760
GET_PARAMS = {"start": YEAR0.isoformat(), "duration": f"PT{HOURS}H", "unit": "kW", "resolution": "PT1H"}


@dataclass(frozen=True)
class Target:
    """Where a sequential client sends its requests: a gateway (a session with its URL as base: aiohttp, the client
    flexmeasures-client uses; ``bench/results/*-client-cost.md`` compares it with httpx), the database behind it
    (to count what was stored), the token and the sensor."""

    client: aiohttp.ClientSession
    pool: AsyncConnectionPool
    token: str
    sensor_id: int


def _turns(targets: Sequence[Target], i: int) -> list[tuple[int, Target]]:
    """The targets of request ``i``, in turn: each round starts with another one, so none always goes first."""
    order = list(enumerate(targets))
    k = i % len(order)
    return order[k:] + order[:k]


def _sequential(warmup: int, targets: int) -> str:
    return f"sequential, after {warmup} warm-up" + (
        f", in turn with {targets - 1} other gateway(s)" if targets > 1 else ""
    )


async def get_latency(targets: Sequence[Target], requests: int, warmup: int = 3) -> list[Latency]:
    """Sequential GETs of the whole year at PT1H (8,760 values), one per target in turn; each answer is checked.
    A Latency per target."""
    seconds: list[list[float]] = [[] for _ in targets]
    failures = [0] * len(targets)
    found = [0] * len(targets)
    for i in range(warmup + requests):
        for k, target in _turns(targets, i):
            t0 = time.perf_counter()
            async with target.client.get(
                API.format(id=target.sensor_id), params=GET_PARAMS, headers={"Authorization": target.token}
            ) as response:
                answer = await response.read()
            elapsed = time.perf_counter() - t0
            if i < warmup:
                continue
            seconds[k].append(elapsed)
            values = json.loads(answer).get("values", []) if response.status == 200 else []
            good = sum(v is not None for v in values) if len(values) == HOURS else 0
            found[k] += good
            failures[k] += good != HOURS
    what = _sequential(warmup, len(targets))
    return [Latency(seconds[k], failures[k], HOURS * requests, found[k], what) for k in range(len(targets))]


# The same selection as the GET above, as a user would write it in SQL: the latest belief per event (one
# source here), averaged per hour, one row per hour, fetched by psycopg in the benchmark process.
BARE_SELECTION = """
SELECT date_bin('1 hour', event_start, %(start)s) AS hour, avg(event_value)
FROM (SELECT DISTINCT ON (event_start) event_start, event_value FROM timed_beliefs
      WHERE sensor_id = %(sensor_id)s AND event_start >= %(start)s AND event_start < %(end)s
        AND cumulative_probability = 0.5
      ORDER BY event_start, belief_time DESC) latest
GROUP BY 1 ORDER BY 1
"""


async def bare_sql_latency(pool: AsyncConnectionPool, sensor_id: int, requests: int, warmup: int = 3) -> Latency:
    """The GET's selection as one SQL query from a client (8,760 rows back), timed the same way as the GET."""
    params = {"sensor_id": sensor_id, "start": YEAR0, "end": YEAR0 + timedelta(hours=HOURS)}
    seconds: list[float] = []
    found = 0
    async with pool.connection() as conn:
        for i in range(warmup + requests):
            t0 = time.perf_counter()
            cur = await conn.execute(BARE_SELECTION, params)
            rows = await cur.fetchall()
            elapsed = time.perf_counter() - t0
            if i >= warmup:
                seconds.append(elapsed)
                found += len(rows)
    return Latency(seconds, 0, HOURS * requests, found, f"sequential, after {warmup} warm-up")


async def sequential_posts(targets: Sequence[Target], count: int, warmup: int = 5) -> list[Latency]:
    """One client POSTs one new 96-value day at a time, each after the previous 200 (stored), to each target in
    turn. A Latency per target."""
    values = [float(v) for v in range(DAY_VALUES)]
    seconds: list[list[float]] = [[] for _ in targets]
    failures = [0] * len(targets)
    for i in range(warmup + count):
        body = post_body(SEQUENTIAL0 + i * STEP * DAY_VALUES, values)
        for k, target in _turns(targets, i):
            t0 = time.perf_counter()
            async with target.client.post(
                API.format(id=target.sensor_id), data=body, headers={"Authorization": target.token, **JSON}
            ) as response:
                await response.read()
            if i >= warmup:
                seconds[k].append(time.perf_counter() - t0)
            failures[k] += response.status != 200
    what = _sequential(warmup, len(targets))
    return [
        Latency(
            seconds[k], failures[k], (warmup + count) * DAY_VALUES, await count_beliefs(t.pool, [t.sensor_id]), what
        )
        for k, t in enumerate(targets)
    ]


async def outside_client(
    pool: AsyncConnectionPool, sensor_id: int, args: Sequence[str], env: dict[str, str] | None = None
) -> Latency:
    """The same sequential client as ``python -m bench.client`` in a process of its own (as a user's script)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.client", *args, "--sensor", str(sensor_id),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})},
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BenchError(f"bench.client {args[0]} exited with {process.returncode}: {err.decode()[-500:]}")
    report = json.loads(out)
    stored = await count_beliefs(pool, [sensor_id])
    return Latency(report["seconds"], report["failures"], report["promised"], stored, report["what"])


# --- the large-table phase ---------------------------------------------------------------------------

FILL0 = datetime(2018, 1, 1, tzinfo=UTC)  # dense years of several sensors from here
SPARSE = (datetime(1995, 1, 1, tzinfo=UTC), datetime(2045, 1, 1, tzinfo=UTC), timedelta(days=29))  # one value each
COUNT_CHUNKS = """
SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'timed_beliefs'
"""


@dataclass(frozen=True)
class Fill:
    """What the large-table phase wrote before measuring again: rows and the chunks they span."""

    promised: int
    stored: int
    chunks: int
    seconds: float

    def problems(self) -> tuple[str, ...]:
        return () if self.stored == self.promised else (f"{self.stored} rows stored, {self.promised} written",)

    def describe(self) -> str:
        return f"{self.seconds:.0f} s (COPY + VACUUM ANALYZE); {self.stored} of {self.promised} rows found"


async def fill_table(
    pool: AsyncConnectionPool, dense_sensors: Sequence[int], years: int, sparse_sensor: int, source_id: int
) -> Fill:
    """Pre-fill ``timed_beliefs``: ``years`` of 15-minute values from 2018 for each dense sensor, and one value
    every 29 days from 1995 to 2045 for the sparse one (a chunk each), by binary COPY; then VACUUM ANALYZE,
    as a long-lived table would be, and a checkpoint."""
    started = time.perf_counter()
    step = np.timedelta64(int(STEP.total_seconds()), "s")
    n = int((FILL0.replace(year=FILL0.year + years) - FILL0) / STEP)
    starts = np.datetime64(FILL0.replace(tzinfo=None), "us") + np.arange(n) * step
    belief = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    rng = np.random.default_rng(11)
    first, last, every = SPARSE
    sparse = np.datetime64(first.replace(tzinfo=None), "us") + np.arange(int((last - first) / every)) * np.timedelta64(
        int(every.total_seconds()), "s"
    )
    statement = sql.SQL(COPY_BELIEFS).format(sql.Identifier("timed_beliefs"))
    async with pool.connection() as conn:
        async with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            await copy.write(HEADER)
            for sensor_id in dense_sensors:
                values = np.round(rng.uniform(-50, 50, n), 3)
                await copy.write(belief_rows(sensor_id, source_id, starts, np.full(n, belief), values))
            await copy.write(belief_rows(sparse_sensor, source_id, sparse, np.full(len(sparse), belief),
                                         np.ones(len(sparse))))  # fmt: skip
            await copy.write(TRAILER)
        await settle(conn)
        cur = await conn.execute(COUNT_CHUNKS)
        row = await cur.fetchone()
    assert row is not None
    stored = await count_beliefs(pool, [*dense_sensors, sparse_sensor])
    promised = n * len(dense_sensors) + len(sparse)
    return Fill(promised, stored, int(row[0]), time.perf_counter() - started)


async def settle(conn: AsyncConnection[Any]) -> None:
    """After a bulk write, not timed: VACUUM ANALYZE ``timed_beliefs`` and a checkpoint, so that neither
    autovacuum on the new rows nor their write-back to disk (nor a checkpoint their WAL would force) runs during
    the rows measured after it."""
    await conn.set_autocommit(True)
    try:
        await conn.execute("VACUUM (ANALYZE) timed_beliefs")
        await checkpoint(conn)
    finally:
        await conn.set_autocommit(False)


async def with_cpu(pids: dict[str, int], measuring: Any) -> Throughput:
    """Await the ``measuring`` coroutine (a ``Throughput``) and add the CPU seconds each process used meanwhile."""
    before, started = cpu_seconds(pids), time.perf_counter()
    result: Throughput = await measuring
    return replace(result, cpu=cpu_since(before, pids), cpu_window=time.perf_counter() - started)
