"""The ingest benchmark (``make bench``): every figure measured in one run on the same database, one table.

  (a) direct Kafka producers -> ingest process -> stored, beliefs/s, as a share of (c)
  (b) HTTP POSTs of 96 values from concurrent clients, read-your-writes -> stored, as a share of (c)
  (c) a raw binary COPY of (a)'s rows into the same timed_beliefs table: the limit
  one POST of a whole year of 15-minute values (35,040), and the identical re-POST, against ingest's share
  GET latency of that year at PT1H, posted in one request and in 365 daily requests, against bare SQL
  latency of one sequential client: 96-value POSTs, and single Kafka commands to their BeliefsIngested

The table goes to stdout and to bench/results/<timestamp>-<commit>.md (and .json); the exit status is 1 when
any goal is not met or any row could not be measured (unless --no-fail). docs/performance.md explains the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
from psycopg_pool import AsyncConnectionPool

from bench import harness, record, scheduling, stats, workloads
from bench.report import Results, exit_code, table_rows
from shared.settings import Settings

logger = logging.getLogger("bench")


@dataclass(frozen=True)
class Sizes:
    kafka_sensors: int
    kafka_days: int
    http_sensors: int
    http_days: int
    http_requests: int
    http_seconds: float
    concurrency: int
    year_repeats: int
    get_requests: int
    latency_requests: int
    large_sensors: int
    large_years: int
    schedule_requests: int
    schedule_week_requests: int
    stats_sizes: tuple[int, ...]
    stats_requests: int
    fresh_requests: int
    timeout: float
    warmup_seconds: float = 30.0  # the broker's warm-up before anything is measured (harness.warm_broker)
    http_warmup_seconds: float = 15.0  # stored days POSTed again just before (b), not measured (workloads.rewrites)


@dataclass(frozen=True)
class Options:
    sizes: Sizes
    profile: bool
    no_fail: bool
    port_base: int | None
    results_dir: Path


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (~1 min)")
    parser.add_argument("--kafka-sensors", type=int, help="sensors written by (a) (default 500)")
    parser.add_argument("--kafka-days", type=int, help="days (commands of 96 values) per sensor in (a) (default 10)")
    parser.add_argument("--http-sensors", type=int, help="sensors written by (b) (default 200)")
    parser.add_argument("--http-days", type=int, help="days per sensor available to (b) (default 10)")
    parser.add_argument("--http-requests", type=int, help="at most this many POSTs in (b) (default 2000)")
    parser.add_argument("--http-seconds", type=float, help="(b) stops issuing POSTs after this (default 30)")
    parser.add_argument("--concurrency", type=int, help="concurrent HTTP clients in (b) (default 32)")
    parser.add_argument("--year-repeats", type=int, help="timed one-year POSTs and Kafka commands, each (default 9)")
    parser.add_argument("--get-requests", type=int, help="GETs (and bare SQL reads) per case (default 30)")
    parser.add_argument("--latency-requests", type=int, help="timed requests per latency row (default 200)")
    parser.add_argument(
        "--large-sensors", type=int, help="sensors with dense years in the large-table phase (default 48; 0 skips it)"
    )
    parser.add_argument("--large-years", type=int, help="years of 15-minute values per such sensor (default 6)")
    parser.add_argument("--schedule-requests", type=int, help="timed 48-hour triggers (default 50)")
    parser.add_argument(
        "--schedule-week-requests", type=int, help="timed 7-day triggers, per price profile (default 20)"
    )
    parser.add_argument(
        "--stats-sizes", type=lambda text: tuple(int(x) for x in text.split(",")),
        help="beliefs of the stats sensors, comma-separated (default 10000,1000000,10000000)",
    )  # fmt: skip
    parser.add_argument("--stats-requests", type=int, help="stats GETs per sensor (default 30)")
    parser.add_argument("--fresh-requests", type=int, help="POSTs timed until the stats include them (default 30)")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for ingest, seconds")
    parser.add_argument(
        "--warmup-seconds", type=float, help="broker requests before anything is measured (default 30; 0: none)"
    )
    parser.add_argument(
        "--http-warmup-seconds", type=float,
        help="stored days POSTed again just before (b), and the twin's (b) warm-up; not measured (default 15; 0: none)",
    )  # fmt: skip
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a goal is not met (exploring)")
    parser.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("FLEXSTREAM_BENCH_PORT_BASE", "0")) or None,
        help="ingest's health port; the gateway gets the next ones (default: free ports; "
        "env FLEXSTREAM_BENCH_PORT_BASE)",
    )
    parser.add_argument("--results-dir", type=Path, default=record.RESULTS, help="where the result files go")
    parser.add_argument(
        "--profile", action="store_true", help=f"run ingest and gateway under cProfile ({harness.LOG_DIR})"
    )
    args = parser.parse_args(argv)
    default = (
        Sizes(100, 5, 50, 4, 200, 15, 16, 1, 10, 50, 4, 1, 10, 5, (10_000, 100_000), 10, 10, args.timeout, 5.0, 1.0)
        if args.quick
        else Sizes(
            500,
            10,
            200,
            10,
            2000,
            30,
            32,
            9,
            30,
            200,
            48,
            6,
            50,
            20,
            (10_000, 1_000_000, 10_000_000),
            30,
            30,
            args.timeout,
        )  # fmt: skip
    )
    picked = {name: getattr(args, name) for name in Sizes.__dataclass_fields__ if getattr(args, name, None) is not None}
    sizes = Sizes(**{**asdict(default), **picked})
    return Options(sizes, args.profile, args.no_fail, args.port_base, args.results_dir)


# --- the run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sensors:
    kafka: list[int]
    http: list[int]
    year: list[int]
    kafka_year: list[int]
    daily: int
    probe: int
    post_seq: int
    post_seq_outside: int
    kafka_seq: int
    kafka_seq_outside: int
    large_kafka: list[int]
    large_http: list[int]
    large_fill: list[int]
    large_sparse: int
    large_post_seq: int
    http_more: list[list[int]]  # (b) again with more clients (``MORE_CLIENTS``), each on sensors of its own
    kafka_warm: list[int]  # (a)'s warm-up, not measured (``WARM_KAFKA``)

    @staticmethod
    def allot(ids: list[int], sizes: Sizes) -> Sensors:
        it = iter(ids)

        def take(n: int) -> list[int]:
            return [next(it) for _ in range(n)]

        # each list of years starts with the sensor of its turn not timed (``YEAR_WARMUP``)
        years = YEAR_WARMUP + sizes.year_repeats
        kafka, http, year, kafka_year = (take(n) for n in (sizes.kafka_sensors, sizes.http_sensors, years, years))
        daily, probe, post_seq, post_seq_outside, kafka_seq, kafka_seq_outside = take(6)
        large_kafka, large_http, large_fill = (
            take(sizes.kafka_sensors),
            take(sizes.http_sensors),
            take(sizes.large_sensors),
        )
        large_sparse, large_post_seq = take(2)
        http_more = [take(sizes.http_sensors) for _ in MORE_CLIENTS]
        kafka_warm = take(WARM_KAFKA)
        return Sensors(
            kafka, http, year, kafka_year, daily, probe, post_seq, post_seq_outside, kafka_seq, kafka_seq_outside,
            large_kafka, large_http, large_fill, large_sparse, large_post_seq, http_more, kafka_warm,
        )  # fmt: skip

    @staticmethod
    def count(sizes: Sizes) -> int:
        # the sensors allotted above, and one more at the end for the stats freshness row
        http = (2 + len(MORE_CLIENTS)) * sizes.http_sensors
        years = YEAR_WARMUP + sizes.year_repeats
        return 2 * (sizes.kafka_sensors + years) + http + sizes.large_sensors + WARM_KAFKA + 9


# (b) is measured again, for information, with this many times its clients: how the throughput moves with the
# offered load (every stage's batches grow with it), beside the goal row measured with ``--concurrency``. They run
# just before (b), so that (b) also meets a broker whose JIT has compiled the HTTP path's requests
# (docs/performance.md, finding 16).
MORE_CLIENTS = (2, 4)

# Sensors of (a)'s shape that ingest is warmed up with before (a), not measured: a freshly started ingest ran (a)
# at about half the rate of the same ingest minutes later in the same run (docs/performance.md, finding 32). The
# warm-up also writes the first rows into the chunks of (a)'s days. The large table's twin is warmed up with as many.
WARM_KAFKA = 100

# The one-year turns (a Kafka command, its repeat, a POST and its re-POST) run once more first, not timed.
YEAR_WARMUP = 1


async def run(settings: Settings, options: Options) -> Results:
    sizes = options.sizes
    results = Results()
    url = settings.database_url.get_secret_value()
    logger.info("resetting database and creating fixtures")
    harness.reset_database(url)
    await harness.ensure_topics(settings)
    logger.info("warming the broker up for %.0f s (not measured)", sizes.warmup_seconds)
    await harness.warm_broker(settings, sizes.warmup_seconds)
    ports = iter(range(options.port_base, options.port_base + 10)) if options.port_base else None
    async with AsyncConnectionPool(url, min_size=1, max_size=4, open=False) as pool:
        fx = await harness.create_fixtures(pool, Sensors.count(sizes))
        sensors = Sensors.allot(fx.sensor_ids, sizes)
        kafka_days = workloads.day_commands(sensors.kafka, sizes.kafka_days, seed=1)
        http_days = workloads.day_commands(sensors.http, sizes.http_days, seed=2)[: sizes.http_requests]
        year = workloads.year_values(seed=3)

        services: list[harness.Service] = []
        try:
            logger.info("starting ingest (topic prefix %s)", settings.topic_prefix)
            services.append(
                harness.start_service(
                    "ingest", settings, profile=options.profile, port=next(ports) if ports else None,
                    ingest_group=harness.ingest_group(settings),
                )
            )  # fmt: skip
            pids = {"ingest": services[0].process.pid, "benchmark": os.getpid()}
            async with workloads.IngestedWatcher(settings) as watcher:

                async def copy_sample(when: str) -> None:
                    """(c) once more: the same rows as (a), straight into the table (``Results.copy``)."""
                    logger.info("(c) raw COPY of (a)'s %d rows, %s", len(kafka_days) * workloads.DAY_VALUES, when)
                    results.copy_samples[when] = await workloads.raw_copy(pool, kafka_days, fx.raw_source_id)

                await kafka_part(
                    results, settings, watcher, pool, services[0].url, pids, sizes, sensors, kafka_days,
                    fx.raw_source_id, copy_sample,
                )  # fmt: skip
                logger.info("starting the gateway")  # only now, so it does not share the CPU during (a)
                gateway = start_gateway(settings, options.profile, ports)
                if isinstance(gateway, str):
                    for phase in ("http", "post", "get", "post_seq"):
                        results.problems[phase] = gateway
                    return results
                services.append(gateway)
                pids["gateway"] = gateway.process.pid
                async with watcher.paused():  # no events needed here (the Kafka years and large (a) need them)
                    get_problem = await http_part(
                        results, pool, gateway, pids, fx.token, sizes, sensors, http_days, copy_sample
                    )  # fmt: skip
                await year_part(results, settings, watcher, pool, gateway, fx.token, sizes, sensors, year)
                async with watcher.paused():
                    await get_part(results, pool, gateway, fx.token, sizes, sensors, year, get_problem)
                if sizes.large_sensors == 0:
                    results.problems["large"] = "skipped (--large-sensors 0)"
                else:
                    await large_part(results, settings, watcher, pool, gateway, pids, fx, sizes, sensors, ports)
                async with watcher.paused():
                    await scheduling_part(results, settings, pool, gateway, fx, sizes, services, ports)
                    await stats_part(results, settings, pool, gateway, fx, sizes, services, ports)
        finally:
            for service in reversed(services):
                code = service.stop()
                if code != 0:
                    logger.warning("%s exited with %s; log %s", service.name, code, service.log)
                if options.profile:
                    logger.info("%s profile: %s", service.name, service.log.with_suffix(".prof"))
            await harness.delete_topics(settings)
    return results


async def kafka_part(
    results: Results,
    settings: Settings,
    watcher: workloads.IngestedWatcher,
    pool: AsyncConnectionPool,
    ingest_url: str,
    pids: dict[str, int],
    sizes: Sizes,
    sensors: Sensors,
    kafka_days: list[workloads.DayCommand],
    raw_source_id: int,
    copy_sample: Callable[[str], Awaitable[None]],
) -> None:
    """(a) after its warm-up, (c) and the single-command latency; a failed phase is noted, the rest go on."""
    try:
        logger.info("(a)'s warm-up: %d sensors of its shape, not measured", len(sensors.kafka_warm))
        warm = await workloads.kafka_ingest(
            settings, watcher, pool, workloads.day_commands(sensors.kafka_warm, sizes.kafka_days, seed=8), sizes.timeout
        )
        results.kafka_warm = warm  # shown for information; a problem in it stops (a), which is then not measured
        if warm.problems():
            raise harness.BenchError(f"(a)'s warm-up commands: {'; '.join(warm.problems())}")
        async with pool.connection() as conn:
            await workloads.settle(conn)
        logger.info("(a) %d commands over Kafka", len(kafka_days))
        results.kafka = await workloads.with_cpu(
            pids, workloads.kafka_ingest(settings, watcher, pool, kafka_days, sizes.timeout)
        )
    except harness.BenchError as exc:
        results.problems["kafka"] = str(exc)
    await copy_sample("after (a)")
    results.copy_into_empty = await workloads.raw_copy_into_empty_table(pool, kafka_days, raw_source_id)
    try:
        logger.info("one Kafka command at a time, %d times, in this process and in another", sizes.latency_requests)
        results.kafka_seq = await workloads.kafka_command_latency(
            settings, watcher, pool, ingest_url, sensors.kafka_seq, sizes.latency_requests
        )
        results.kafka_seq_outside = await workloads.outside_client(
            pool,
            sensors.kafka_seq_outside,
            ["kafka", "--bootstrap", settings.kafka_bootstrap, "--prefix", settings.topic_prefix,
             "--start", workloads.SEQUENTIAL0.isoformat(), "--count", str(sizes.latency_requests)],
        )  # fmt: skip
    except (harness.BenchError, TimeoutError) as exc:
        results.problems["kafka_seq"] = str(exc) or "timed out"


def start_gateway(
    settings: Settings, profile: bool, ports: Iterator[int] | None, attempts: int = 2
) -> harness.Service | str:
    """The gateway process, or why it could not be started (its log tail goes to stderr)."""
    for attempt in range(1, attempts + 1):
        try:
            port = next(ports) if ports else None
            return harness.start_service("gateway", settings, profile=profile, port=port)
        except harness.BenchError as exc:
            last = next((line for line in reversed(str(exc).splitlines()) if "Error" in line), str(exc)[-300:])
            logger.warning(
                "gateway start %d/%d failed (log in %s): %s", attempt, attempts, harness.LOG_DIR, last[-600:]
            )
    return "gateway did not start"


async def http_part(
    results: Results,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    pids: dict[str, int],
    token: str,
    sizes: Sizes,
    sensors: Sensors,
    http_days: list[workloads.DayCommand],
    copy_sample: Callable[[str], Awaitable[None]],
) -> str | None:
    """The sequential POST latency and (b), with (c) measured again on both sides of it. Returns why the data
    route's GET cannot be measured (the probe's answer), if it cannot."""
    limits = httpx.Limits(
        max_connections=max(sizes.concurrency, 8), max_keepalive_connections=max(sizes.concurrency, 8)
    )
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60, limits=limits) as client:
        post_problem, get_problem = await workloads.probe_routes(client, token, sensors.probe)
        if post_problem is not None:
            for phase in ("http", "post", "post_seq", "get"):
                results.problems[phase] = post_problem
            return None
        try:
            # first: the bulk phases after it leave the database busy (autovacuum) for a while
            logger.info(
                "one client, one POST at a time, %d times, in this process and in another", sizes.latency_requests
            )
            async with sequential_client(gateway.url) as session:
                results.post_seq = await workloads.with_gateway_time(
                    gateway.url, _only(workloads.sequential_posts(
                        [workloads.Target(session, pool, token, sensors.post_seq)], sizes.latency_requests
                    )),
                )  # fmt: skip
            results.post_seq_outside = await workloads.with_gateway_time(
                gateway.url,
                workloads.outside_client(
                    pool,
                    sensors.post_seq_outside,
                    ["post", "--url", gateway.url, "--start", workloads.SEQUENTIAL0.isoformat(),
                     "--count", str(sizes.latency_requests)],
                    env={"BENCH_TOKEN": token},
                ),
            )  # fmt: skip
            stored_days: list[workloads.DayCommand] = []
            for factor, more_sensors in zip(MORE_CLIENTS, sensors.http_more, strict=True):
                clients = factor * sizes.concurrency
                logger.info("(b) with %d clients (information; before (b), which it warms up)", clients)
                more_days = workloads.day_commands(more_sensors, sizes.http_days, seed=10 + factor)
                results.http_more[clients] = await workloads.with_cpu(
                    pids,
                    workloads.http_posts(
                        gateway.url, pool, token, more_days[: sizes.http_requests], concurrency=clients,
                        time_limit=sizes.http_seconds,
                    ),
                )  # fmt: skip
                stored_days += more_days[: results.http_more[clients].requests]
            logger.info("%.0f s of stored days POSTed again by %d clients (not measured)", sizes.http_warmup_seconds,
                        sizes.concurrency)  # fmt: skip
            await workloads.rewrites(
                gateway.url, token, stored_days, concurrency=sizes.concurrency, seconds=sizes.http_warmup_seconds
            )
            await copy_sample("before (b)")
            logger.info("(b) up to %d POSTs by %d clients", len(http_days), sizes.concurrency)
            results.http = await workloads.with_cpu(
                pids,
                workloads.http_posts(
                    gateway.url, pool, token, http_days, concurrency=sizes.concurrency, time_limit=sizes.http_seconds
                ),
            )
            await copy_sample("after (b)")
        except (harness.BenchError, httpx.HTTPError) as exc:  # keep what was measured, say what broke
            logger.error("HTTP part failed: %s", exc)
            for phase in ("http", "post_seq"):
                results.problems.setdefault(phase, f"failed: {exc}")
    return get_problem


def sequential_client(url: str) -> aiohttp.ClientSession:
    """The session of the sequential rows' client in this process: aiohttp, the library flexmeasures-client uses.
    httpx's AsyncClient spent about three times its CPU per request (``bench/results/*-client-cost.md``), taken on
    these two cores from the services being measured; the rows measured by a client in its own process keep
    httpx."""
    return aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=60))


async def _only(measuring: Awaitable[list[workloads.Latency]]) -> workloads.Latency:
    """The one Latency of a sequential client with one target."""
    (latency,) = await measuring
    return latency


async def year_part(
    results: Results,
    settings: Settings,
    watcher: workloads.IngestedWatcher,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    token: str,
    sizes: Sizes,
    sensors: Sensors,
    year: list[float],
) -> None:
    """The one-year POST and its re-POST, taking turns with their ingest share (the same year via Kafka)."""
    if "post" in results.problems:
        return  # the data route could not be POSTed to
    logger.info("one year via Kafka and via one POST, each twice, taking turns, %d times (the first not timed)",
                YEAR_WARMUP + sizes.year_repeats)  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            years = await workloads.years_side_by_side(
                settings, watcher, client, pool, token, sensors.kafka_year, sensors.year, year, sizes.timeout,
                warmup=YEAR_WARMUP,
            )  # fmt: skip
    except (harness.BenchError, httpx.HTTPError) as exc:
        logger.error("one-year part failed: %s", exc)
        results.problems["post"] = results.problems["kafka_year"] = f"failed: {exc}"
        return
    results.year_post, results.year_repost = years.post, years.repost
    results.kafka_year, results.kafka_year_again = years.kafka, years.kafka_again


async def get_part(
    results: Results,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    token: str,
    sizes: Sizes,
    sensors: Sensors,
    year: list[float],
    get_problem: str | None,
) -> None:
    """The GETs of a year posted in one request (by the year part) and in 365, beside the same selection as
    bare SQL."""
    if get_problem is not None:
        results.problems.setdefault("get", get_problem)
    if "get" in results.problems:
        return
    if results.year_post is None:
        results.problems["get"] = "the one-year POST was not measured"
        return
    try:
        async with (
            httpx.AsyncClient(base_url=gateway.url, timeout=60) as client,
            sequential_client(gateway.url) as session,
        ):
            logger.info("the same year as 365 daily POSTs")
            await workloads.daily_posts(client, token, sensors.daily, year, concurrency=8, time_limit=sizes.timeout)
            logger.info("GET latency and the same selection as bare SQL, %d requests per case", sizes.get_requests)
            for sensor, attr in ((sensors.year[0], "one"), (sensors.daily, "daily")):
                (get,) = await workloads.get_latency(
                    [workloads.Target(session, pool, token, sensor)], sizes.get_requests
                )
                setattr(results, f"get_{attr}", get)
                setattr(results, f"sql_{attr}", await workloads.bare_sql_latency(pool, sensor, sizes.get_requests))
    except (harness.BenchError, httpx.HTTPError, aiohttp.ClientError) as exc:
        logger.error("GET part failed: %s", exc)
        results.problems["get"] = f"failed: {exc}"


async def large_part(
    results: Results,
    settings: Settings,
    watcher: workloads.IngestedWatcher,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    pids: dict[str, int],
    fx: harness.Fixtures,
    sizes: Sizes,
    sensors: Sensors,
    ports: Iterator[int] | None,
) -> None:
    """Fill the table (years of several sensors, sparse data far in the past and future), then measure (a),
    (b), the sequential POSTs and the GETs again, on sensors and days of the same shape as before, each beside
    the same measurement on an empty database of its own (``harness.twin``): the two are taken in turn, so the
    machine's speed moves both alike and only the table's size differs."""
    try:
        logger.info(
            "large table: filling %d sensors x %d years, plus sparse data", sizes.large_sensors, sizes.large_years
        )
        results.large_fill = await workloads.fill_table(
            pool, sensors.large_fill, sizes.large_years, sensors.large_sparse, fx.raw_source_id
        )
        logger.info("large table: %d rows in %d chunks", results.large_fill.stored, results.large_fill.chunks)
        logger.info("large table: an empty database beside it, with an ingest and a gateway of its own")
        async with harness.twin(WARM_KAFKA + 2 * sizes.http_sensors + sizes.kafka_sensors + 3, ports) as twin:
            await beside_twin(results, settings, watcher, pool, gateway, pids, fx, sizes, sensors, twin)
    except (harness.BenchError, httpx.HTTPError) as exc:
        logger.error("large-table phase failed: %s", exc)
        results.problems["large"] = f"failed: {exc}"


async def beside_twin(
    results: Results,
    settings: Settings,
    watcher: workloads.IngestedWatcher,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    pids: dict[str, int],
    fx: harness.Fixtures,
    sizes: Sizes,
    sensors: Sensors,
    twin: harness.Twin,
) -> None:
    """The large-table measurements, each with its twin on the empty database: (a) there, then here; the
    sequential POSTs and the GETs request by request in turn; (b) here, then there."""
    ids = iter(twin.fx.sensor_ids)
    twin_kafka, twin_http, warm_kafka, warm_http = (
        [next(ids) for _ in range(n)] for n in (sizes.kafka_sensors, sizes.http_sensors, WARM_KAFKA, sizes.http_sensors)
    )
    twin_post_seq, twin_year, twin_daily = next(ids), next(ids), next(ids)
    twin_pids = {"ingest": twin.ingest.process.pid, "gateway": twin.gateway.process.pid, "benchmark": os.getpid()}
    year, token = workloads.year_values(seed=3), twin.fx.token
    async with (
        sequential_client(gateway.url) as client,
        httpx.AsyncClient(base_url=twin.gateway.url, timeout=60) as twin_client,
        sequential_client(twin.gateway.url) as twin_session,
    ):
        logger.info("twin: the year in one POST and in 365 (the data of its GETs; not measured)")
        response = await twin_client.post(
            workloads.API.format(id=twin_year), content=workloads.post_body(workloads.YEAR0, year),
            headers={"Authorization": token, **workloads.JSON},
        )  # fmt: skip
        if response.status_code != 200:
            raise harness.BenchError(f"the twin's year POST answered {response.status_code}: {response.text[:200]}")
        await workloads.daily_posts(twin_client, token, twin_daily, year, concurrency=8, time_limit=sizes.timeout)
        logger.info("twin: (b) for %.0f s, not measured (the large table's services have run it before)",
                    sizes.http_warmup_seconds)  # fmt: skip
        days = workloads.day_commands(warm_http, sizes.http_days, seed=6)[: sizes.http_requests]
        warm = await workloads.http_posts(
            str(twin_client.base_url), twin.pool, token, days, concurrency=sizes.concurrency,
            time_limit=sizes.http_warmup_seconds,
        )  # fmt: skip
        if warm.problems():
            raise harness.BenchError(f"the twin's warm-up POSTs: {'; '.join(warm.problems())}")
        async with workloads.IngestedWatcher(twin.settings) as twin_watcher:
            logger.info("twin: (a) on %d sensors, not measured", WARM_KAFKA)
            days = workloads.day_commands(warm_kafka, sizes.kafka_days, seed=7)
            warm = await workloads.kafka_ingest(twin.settings, twin_watcher, twin.pool, days, sizes.timeout)
            if warm.problems():
                raise harness.BenchError(f"the twin's warm-up commands: {'; '.join(warm.problems())}")
            async with twin.pool.connection() as conn:
                await workloads.settle(conn)
            logger.info("(a) on the twin, then on the large table")
            days = workloads.day_commands(twin_kafka, sizes.kafka_days, seed=4)
            results.twin_kafka = await workloads.with_cpu(
                twin_pids, workloads.kafka_ingest(twin.settings, twin_watcher, twin.pool, days, sizes.timeout)
            )
            days = workloads.day_commands(sensors.large_kafka, sizes.kafka_days, seed=4)
            results.large_kafka = await workloads.with_cpu(
                pids, workloads.kafka_ingest(settings, watcher, pool, days, sizes.timeout)
            )
            # (a)'s rows on both sides settle before the rows measured after them, as after every bulk write (its
            # autovacuum would otherwise run during the large table's (b), measured first)
            for each in (pool, twin.pool):
                async with each.connection() as conn:
                    await workloads.settle(conn)
        here = workloads.Target(client, pool, fx.token, sensors.large_post_seq)
        there = workloads.Target(twin_session, twin.pool, token, twin_post_seq)
        async with watcher.paused():
            logger.info("96-value POSTs in a row, on the large table and on the twin in turn")
            results.large_post_seq, results.twin_post_seq = await workloads.sequential_posts(
                [here, there], sizes.latency_requests
            )
            logger.info("(b) on the large table, then on the twin")
            for attr, target, url, sensor_ids, ids_pids in (
                ("large_http", here, gateway.url, sensors.large_http, pids),
                ("twin_http", there, twin.gateway.url, twin_http, twin_pids),
            ):
                days = workloads.day_commands(sensor_ids, sizes.http_days, seed=5)[: sizes.http_requests]
                measured = await workloads.with_cpu(
                    ids_pids,
                    workloads.http_posts(
                        url, target.pool, target.token, days, concurrency=sizes.concurrency,
                        time_limit=sizes.http_seconds,
                    ),
                )  # fmt: skip
                setattr(results, attr, measured)
            if results.get_one is None:
                return  # the empty table's GETs were not measured: the data to read may be missing
            logger.info("the GETs, on the large table and on the twin in turn")
            for attr, sensor, twin_sensor in (
                ("one", sensors.year[0], twin_year),
                ("daily", sensors.daily, twin_daily),
            ):
                large, empty = await workloads.get_latency(
                    [replace(here, sensor_id=sensor), replace(there, sensor_id=twin_sensor)], sizes.get_requests
                )
                setattr(results, f"large_get_{attr}", large)
                setattr(results, f"twin_get_{attr}", empty)


async def scheduling_part(
    results: Results,
    settings: Settings,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    fx: harness.Fixtures,
    sizes: Sizes,
    services: list[harness.Service],
    ports: Iterator[int] | None,
) -> None:
    """Start the scheduler (logging each job's timings), then: one battery 48 h and 7 days, the negative-price
    week, 20 concurrent triggers, and the three-battery asset."""
    try:
        logger.info("scheduling: starting the scheduler, creating batteries and hourly day-ahead prices")
        # the scheduler waits for ingest's committed offsets: it must look at the group of this run's ingest
        scheduler = harness.start_service(
            "scheduler", settings, log_level="INFO", port=next(ports) if ports else None,
            ingest_group=harness.ingest_group(settings),
        )  # fmt: skip
        services.append(scheduler)
        site = await scheduling.create_site(pool, fx.account_id, CONCURRENT + 1, fx.raw_source_id)
        # aiohttp, the client flexmeasures-client uses: httpx's higher cost per request is no part of the pipeline
        # overhead these rows measure (docs/performance.md)
        async with aiohttp.ClientSession(gateway.url, timeout=aiohttp.ClientTimeout(total=60)) as client:
            one, token, wait = site.batteries[0], fx.token, sizes.timeout
            logger.info("scheduling: %d triggers of 48 h, then %d of 7 days, one at a time",
                        sizes.schedule_requests, sizes.schedule_week_requests)  # fmt: skip
            results.schedule_48h = await scheduling.sequential(
                client, token, one, site.prices, "PT48H", sizes.schedule_requests, 3, wait, scheduler.log,
                "one battery, 200 kWh, 50 kW",
            )  # fmt: skip
            results.schedule_7d = await scheduling.sequential(
                client, token, one, site.prices, "P7D", sizes.schedule_week_requests, 2, wait, scheduler.log,
                "one battery, 200 kWh, 50 kW",
            )  # fmt: skip
            results.schedule_negative = await scheduling.sequential(
                client, token, one, site.negative_prices, "P7D", max(1, sizes.schedule_week_requests // 4), 0, wait,
                scheduler.log, "one battery, 200 kWh, 50 kW",
            )  # fmt: skip
            logger.info("scheduling: %d concurrent triggers on as many sensors", CONCURRENT)
            results.schedule_concurrent = await scheduling.concurrent(
                client, token, site.batteries[1:], site.prices, wait, scheduler.log
            )
            try:
                logger.info("scheduling: the three-battery asset")
                results.schedule_asset = await scheduling.asset_jobs(
                    client, token, site.asset, site.asset_devices, site.prices, sizes.schedule_week_requests, 2,
                    wait, scheduler.log,
                )  # fmt: skip
            except harness.BenchError as exc:
                logger.warning("asset scheduling not measured: %s", exc)
                results.problems["asset"] = str(exc)
    except (harness.BenchError, aiohttp.ClientError, TimeoutError) as exc:
        logger.error("scheduling phase failed: %s", exc)
        results.problems["scheduling"] = f"failed: {exc}"


CONCURRENT = 20  # triggers sent together, on as many sensors


async def stats_part(
    results: Results,
    settings: Settings,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    fx: harness.Fixtures,
    sizes: Sizes,
    services: list[harness.Service],
    ports: Iterator[int] | None,
) -> None:
    """Start the stats service, fill one sensor per size (COPY, then the aggregates by the service's own store),
    wait until the service has caught up with the run's events, then time GET /stats beside direct SQL, and
    how soon after a POST the stats include it."""
    results.stats_sizes = sizes.stats_sizes
    try:
        logger.info("stats: starting the stats service")
        app_id = f"flexstream-stats-{settings.topic_prefix.rstrip('.')}"
        service = harness.start_service(
            "stats", settings, port=next(ports) if ports else None, stats_app_id=app_id,
            stats_data_dir=str(harness.LOG_DIR / app_id),
        )  # fmt: skip
        services.append(service)
        for size in sizes.stats_sizes:
            logger.info("stats: filling a sensor with %d beliefs", size)
            results.stats_filled[size] = await stats.fill_sensor(pool, fx.asset_id, size, fx.raw_source_id)
        if not await stats.caught_up(service.url, sizes.timeout):
            results.problems["stats_fresh"] = f"the stats service had not caught up after {sizes.timeout:.0f} s"
        async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as client:
            for size, filled in results.stats_filled.items():
                logger.info("stats: %d GETs and direct SQL on %d beliefs", sizes.stats_requests, size)
                results.stats_get[size] = await stats.stats_latency(client, fx.token, filled, sizes.stats_requests)
                results.stats_sql[size] = await stats.direct_latency(pool, filled, sizes.stats_requests, 30.0)
            logger.info("stats: %d POSTs until the stats include them", sizes.fresh_requests)
            results.stats_fresh = await stats.freshness(
                client, fx.token, fx.sensor_ids[-1], sizes.fresh_requests, sizes.timeout
            )
    except (harness.BenchError, httpx.HTTPError) as exc:
        logger.error("stats phase failed: %s", exc)
        results.problems["stats"] = f"failed: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[bench] %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = parse_args(argv)
    settings = harness.bench_settings()
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    try:
        results = asyncio.run(run(settings, options))
    except harness.BenchError as exc:
        logger.error("benchmark failed: %s", exc)
        return 1
    rows = table_rows(results)
    head = record.header(
        started, settings.database_url.get_secret_value(), asdict(options.sizes), load_before, os.getloadavg()
    )
    path = record.write(head, rows, options.results_dir)
    sys.stdout.write(path.read_text())
    logger.info("written to %s (docs/performance.md shows the latest committed one: python -m bench.publish)", path)
    return exit_code(rows, no_fail=options.no_fail)


if __name__ == "__main__":
    sys.exit(main())
