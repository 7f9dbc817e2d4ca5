"""The measurements, each an async function returning plain figures. Sizes come from the caller; every
request loop is bounded in count and in time."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from uuid import UUID, uuid4

import aiohttp
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from bench.harness import BenchError, wait_until
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
API = "/api/v3_0/sensors/{id}/data"


@dataclass(frozen=True)
class Throughput:
    beliefs: int
    seconds: float
    requests: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.beliefs / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Timing:
    seconds: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))


@dataclass(frozen=True)
class Latency:
    seconds: list[float]
    note: str = ""

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.seconds, q))


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


# --- direct Kafka producers -------------------------------------------------------------------------


class IngestedWatcher:
    """Reads this run's ``ingested`` topic from the start and remembers every event by command id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events: dict[UUID, BeliefsIngested] = {}
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
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    event = INGESTED.decode(record.value)
                    self.events[event.command_id] = event

    async def wait_for(self, ids: Sequence[UUID], timeout: float) -> list[BeliefsIngested]:
        async def arrived() -> bool:
            return all(i in self.events for i in ids)

        await wait_until(arrived, timeout, f"{len(ids)} ingested events", interval=0.01)
        return [self.events[i] for i in ids]


async def produce_and_wait(
    settings: Settings, watcher: IngestedWatcher, commands: Sequence[PostSensorData], timeout: float
) -> tuple[float, list[BeliefsIngested]]:
    """Send the commands (already built) as fast as one idempotent producer allows; return the time until
    ingest has announced every one of them as stored."""
    topic = SENSOR_DATA.full_name(settings.topic_prefix)
    payloads = [(key_for(c.sensor_id), SENSOR_DATA.encode(c)) for c in commands]
    async with kafka.open_producer(settings) as producer:
        started = time.perf_counter()
        sends = [await producer.send(topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*sends)
        events = await watcher.wait_for([c.command_id for c in commands], timeout)
        return time.perf_counter() - started, events


async def kafka_ingest(
    settings: Settings, watcher: IngestedWatcher, pool: AsyncConnectionPool, days: Sequence[DayCommand], timeout: float
) -> Throughput:
    """(a) Device-style producers straight to the sensor-data topic; a real ingest process stores them."""
    commands = [
        PostSensorData(
            sensor_id=d.sensor_id,
            start=d.start,
            duration=STEP * DAY_VALUES,
            values=d.values,
            unit="kW",
            source_name="bench-device",
        )
        for d in days
    ]
    seconds, events = await produce_and_wait(settings, watcher, commands, timeout)
    written = sum(e.rows_written for e in events)
    stored = await count_beliefs(pool, sorted({d.sensor_id for d in days}), source_name="bench-device")
    expected = len(days) * DAY_VALUES
    bad = [e for e in events if e.outcome != "processed"]
    note = f"{len(commands)} commands x {DAY_VALUES} values; {stored} rows stored (INGESTED said {written})"
    if stored != expected or bad:
        note += f"; EXPECTED {expected}, {len(bad)} not processed"
    return Throughput(stored, seconds, requests=len(commands), failures=len(bad) + (stored != expected), note=note)


async def kafka_year(
    settings: Settings, watcher: IngestedWatcher, sensor_id: int, values: list[float], timeout: float
) -> tuple[float, float, str]:
    """A whole year as one command, then the identical year again: the ingest share of the one-year POST."""
    first = PostSensorData(
        sensor_id=sensor_id,
        start=YEAR0,
        duration=STEP * YEAR_VALUES,
        values=values,
        unit="kW",
        source_name="bench-year",
    )
    again = first.model_copy(update={"command_id": uuid4(), "recorded_at": utcnow()})  # as a re-POST would
    t_first, (e_first,) = await produce_and_wait(settings, watcher, [first], timeout)
    t_again, (e_again,) = await produce_and_wait(settings, watcher, [again], timeout)
    note = (
        f"first: {e_first.outcome}, {e_first.rows_written} written; "
        f"again: {e_again.outcome}, {e_again.rows_written + e_again.rows_replaced} written"
    )
    return t_first, t_again, note


# --- (c) raw COPY, the limit ------------------------------------------------------------------------

COPY_BELIEFS = (
    "COPY {} (sensor_id, event_start, source_id, belief_time, cumulative_probability, event_value)"
    " FROM STDIN (FORMAT BINARY)"
)
SCRATCH = "bench_scratch_beliefs"
DROP_SCRATCH = "DROP TABLE IF EXISTS bench_scratch_beliefs"
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
    so the keys are new): what the table and the database can take, with no service in between."""
    rows = len(days) * DAY_VALUES
    seconds = await _copy(pool, "timed_beliefs", raw_copy_buffer(days, source_id, datetime.now(UTC)))
    return Throughput(rows, seconds, note=f"{rows} rows, one binary COPY + commit")


async def raw_copy_into_empty_table(
    pool: AsyncConnectionPool, days: Sequence[DayCommand], source_id: int
) -> Throughput:
    """The same COPY into an empty scratch table shaped like ``timed_beliefs`` (same hypertable, primary key,
    no foreign keys either): (c) writes into the table that already holds (a)'s rows, as the issue defines it;
    this row shows how much faster the same COPY is into a table as empty as the one (a) started with."""
    async with pool.connection() as conn:
        await conn.execute(DROP_SCRATCH)
        await conn.execute(CREATE_SCRATCH)
    try:
        seconds = await _copy(pool, SCRATCH, raw_copy_buffer(days, source_id, datetime.now(UTC)))
    finally:
        async with pool.connection() as conn:
            await conn.execute(DROP_SCRATCH)
    rows = len(days) * DAY_VALUES
    return Throughput(rows, seconds, note=f"{rows} rows into an empty scratch copy of timed_beliefs")


async def _copy(pool: AsyncConnectionPool, table: str, buffer: bytes) -> float:
    statement = sql.SQL(COPY_BELIEFS).format(sql.Identifier(table))
    async with pool.connection() as conn:
        started = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            view = memoryview(buffer)
            for i in range(0, len(view), 1 << 22):
                await copy.write(view[i : i + (1 << 22)])
        return time.perf_counter() - started


async def count_beliefs(pool: AsyncConnectionPool, sensor_ids: Sequence[int], source_name: str | None = None) -> int:
    query = "SELECT count(*) FROM timed_beliefs tb WHERE tb.sensor_id = ANY(%(ids)s)"
    if source_name is not None:
        query += " AND tb.source_id IN (SELECT id FROM data_sources WHERE name = %(name)s)"
    async with pool.connection() as conn:
        cur = await conn.execute(query, {"ids": list(sensor_ids), "name": source_name})
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

    The load comes from aiohttp, not httpx: on this 2-core machine the client shares the CPU with the system
    under test, and httpx alone took most of a core at ~150 requests/s (measured with top), capping the figure
    at what the client could send."""
    bodies = [(d.sensor_id, post_body(d.start, d.values)) for d in days]
    headers = {"Authorization": token, **JSON}
    queue = iter(bodies)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    ok_sensors: list[int] = []
    deadline = time.perf_counter() + time_limit

    async def client_loop(session: aiohttp.ClientSession) -> None:
        for sensor_id, body in queue:
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            async with session.post(API.format(id=sensor_id), data=body, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - t0)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status == 200:
                ok_sensors.append(sensor_id)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    stored = await count_beliefs(pool, sorted({d.sensor_id for d in days}))
    ok = statuses.get(200, 0)
    note = (
        f"{len(latencies)} POSTs by {concurrency} clients, statuses {dict(sorted(statuses.items()))}; "
        f"{stored} rows stored (200s promise {ok * DAY_VALUES}); "
        f"latency p50 {1000 * np.percentile(latencies, 50):.0f} ms, p95 {1000 * np.percentile(latencies, 95):.0f} ms"
    )
    return Throughput(ok * DAY_VALUES, seconds, len(latencies), len(latencies) - ok, latencies, note)


async def year_posts(
    client: httpx.AsyncClient, pool: AsyncConnectionPool, token: str, sensor_ids: Sequence[int], values: list[float]
) -> tuple[Timing, Timing]:
    """One POST of a whole year per fresh sensor, then the identical POST again (nothing may change)."""
    body = post_body(YEAR0, values)
    headers = {"Authorization": token, **JSON}
    first: list[float] = []
    again: list[float] = []
    problems: list[str] = []
    for sensor_id in sensor_ids:
        for times in (first, again):
            t0 = time.perf_counter()
            response = await client.post(API.format(id=sensor_id), content=body, headers=headers)
            times.append(time.perf_counter() - t0)
            if response.status_code != 200:
                problems.append(f"{response.status_code}: {response.text[:120]}")
        stored = await count_beliefs(pool, [sensor_id])
        if stored != YEAR_VALUES:
            problems.append(f"sensor {sensor_id} holds {stored} rows after the re-POST, not {YEAR_VALUES}")
    note = "; ".join(problems) if problems else f"each sensor holds {YEAR_VALUES} rows after the re-POST"
    runs = f"median of {len(sensor_ids)}"
    return Timing(first, f"{runs}; {note}"), Timing(again, f"{runs}; {note}")


async def daily_posts(
    client: httpx.AsyncClient, token: str, sensor_id: int, values: list[float], concurrency: int, time_limit: float
) -> str:
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
    return "365 daily POSTs, all 200"


async def get_latency(client: httpx.AsyncClient, token: str, sensor_id: int, requests: int, warmup: int = 3) -> Latency:
    """Sequential GETs of the whole year at PT1H (8,760 values); each answer is checked."""
    params = {"start": YEAR0.isoformat(), "duration": "PT8760H", "unit": "kW", "resolution": "PT1H"}
    headers = {"Authorization": token}
    seconds: list[float] = []
    problem = ""
    for i in range(warmup + requests):
        t0 = time.perf_counter()
        response = await client.get(API.format(id=sensor_id), params=params, headers=headers)
        elapsed = time.perf_counter() - t0
        if i >= warmup:
            seconds.append(elapsed)
        if response.status_code != 200:
            problem = f"GET answered {response.status_code}: {response.text[:120]}"
            continue
        values = response.json().get("values", [])
        if len(values) != 8760 or any(v is None for v in values):
            problem = f"GET gave {len(values)} values, {sum(v is None for v in values)} null (expected 8760, none null)"
    return Latency(seconds, problem or f"{requests} sequential GETs of 8760 values after {warmup} warm-up")
