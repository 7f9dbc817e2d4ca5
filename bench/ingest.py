"""The ingest benchmark (``make bench``): every figure measured in one run on the same database, one table.

  (a) direct Kafka producers -> ingest process -> stored, beliefs/s
  (b) HTTP POSTs of 96 values from concurrent clients, read-your-writes -> stored, beliefs/s
  (c) a raw binary COPY of (a)'s rows into the same timed_beliefs table: the limit
  one POST of a whole year of 15-minute values (35,040), and the identical re-POST
  GET latency of that year at PT1H, posted in one request and in 365 daily requests

Run ``python -m bench.ingest --help`` for the sizes; docs/performance.md explains the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from bench import harness, workloads
from bench.workloads import Latency, Throughput, Timing
from shared.messages import PostSensorData
from shared.settings import Settings

logger = logging.getLogger("bench")

NA = "n/a"


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
    timeout: float
    profile: bool = False


def parse_args(argv: Sequence[str] | None = None) -> Sizes:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (~1 min)")
    parser.add_argument("--kafka-sensors", type=int, help="sensors written by (a) (default 500)")
    parser.add_argument("--kafka-days", type=int, help="days (commands of 96 values) per sensor in (a) (default 10)")
    parser.add_argument("--http-sensors", type=int, help="sensors written by (b) (default 200)")
    parser.add_argument("--http-days", type=int, help="days per sensor available to (b) (default 10)")
    parser.add_argument("--http-requests", type=int, help="at most this many POSTs in (b) (default 2000)")
    parser.add_argument("--http-seconds", type=float, help="(b) stops issuing POSTs after this (default 30)")
    parser.add_argument("--concurrency", type=int, help="concurrent HTTP clients in (b) (default 32)")
    parser.add_argument("--year-repeats", type=int, help="one-year POSTs (each to a fresh sensor) (default 3)")
    parser.add_argument("--get-requests", type=int, help="GETs per case, after 3 warm-ups (default 30)")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for ingest, seconds")
    parser.add_argument(
        "--profile",
        action="store_true",
        default=None,
        help=f"run ingest and gateway under cProfile ({harness.LOG_DIR})",
    )
    args = parser.parse_args(argv)
    default = (
        Sizes(100, 5, 50, 4, 200, 15, 16, 1, 10, args.timeout)
        if args.quick
        else Sizes(500, 10, 200, 10, 2000, 30, 32, 3, 30, args.timeout)
    )
    picked = {name: getattr(args, name) for name in Sizes.__dataclass_fields__ if getattr(args, name, None) is not None}
    return Sizes(**{**default.__dict__, **picked})


# --- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    measurement: str
    result: str
    vs_copy: str
    goal: str
    met: str
    note: str


def verdict(ok: bool | None) -> str:
    return NA if ok is None else ("met" if ok else "NOT MET")


def output(title: str, rows: Sequence[Row]) -> None:
    """The benchmark's only output on stdout: one table, then one note per row."""
    headers = ("#", "measurement", "result", "vs (c)", "goal", "met")
    cells = [(str(i), r.measurement, r.result, r.vs_copy, r.goal, r.met) for i, r in enumerate(rows, 1)]
    widths = [max(len(c[k]) for c in [headers, *cells]) for k in range(len(headers))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    text = [title, line, _cells(headers, widths), line, *(_cells(c, widths) for c in cells), line]
    text += [f"  {i}. {r.note}" for i, r in enumerate(rows, 1) if r.note]
    print("\n".join(text), flush=True)  # noqa: T201


def _cells(values: Sequence[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"


def na(problem: str | None) -> str:
    """``n/a (route not available)`` and the like: the short form of why a row could not be measured."""
    problem = problem or ""
    short = next(
        (text for text in ("route not available", "route not working", "gateway did not start") if text in problem),
        "failed, see note",
    )
    return f"{NA} ({short})"


def rate(t: Throughput) -> str:
    return f"{t.per_second:,.0f} beliefs/s"


def ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f} ms"


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class Results:
    kafka: Throughput | None = None
    copy: Throughput | None = None
    copy_no_fk: Throughput | None = None
    kafka_year: tuple[float, float, str] | None = None
    http: Throughput | None = None
    year: tuple[Timing, Timing] | None = None
    get_one: Latency | None = None
    get_daily: Latency | None = None
    post_problem: str | None = None
    get_problem: str | None = None


async def run(settings: Settings, sizes: Sizes) -> Results:
    results = Results()
    url = settings.database_url.get_secret_value()
    logger.info("resetting database and creating fixtures")
    harness.reset_database(url)
    await harness.ensure_topics(settings)
    n_sensors = sizes.kafka_sensors + sizes.http_sensors + sizes.year_repeats + 3
    async with AsyncConnectionPool(url, min_size=1, max_size=4, open=False) as pool:
        fx = await harness.create_fixtures(pool, n_sensors)
        ids = iter(fx.sensor_ids)
        kafka_sensors = [next(ids) for _ in range(sizes.kafka_sensors)]
        http_sensors = [next(ids) for _ in range(sizes.http_sensors)]
        year_sensors = [next(ids) for _ in range(sizes.year_repeats)]
        kafka_year_sensor, daily_sensor, probe_sensor = next(ids), next(ids), next(ids)
        kafka_days = workloads.day_commands(kafka_sensors, sizes.kafka_days, seed=1)
        http_days = workloads.day_commands(http_sensors, sizes.http_days, seed=2)[: sizes.http_requests]
        year = workloads.year_values(seed=3)

        services: list[harness.Service] = []
        try:
            logger.info("starting ingest (topic prefix %s)", settings.topic_prefix)
            # A consumer group of its own: the default group is shared with every other ingest on the broker
            # (test runs included), whose joins and leaves would rebalance ours mid-measurement.
            services.append(
                harness.start_service(
                    "ingest", settings, profile=sizes.profile, ingest_group=f"{settings.topic_prefix}ingest"
                )
            )
            async with workloads.IngestedWatcher(settings) as watcher:
                logger.info("(a) %d commands over Kafka", len(kafka_days))
                results.kafka = await workloads.kafka_ingest(settings, watcher, pool, kafka_days, sizes.timeout)
                logger.info("(c) raw COPY of the same %d rows", len(kafka_days) * workloads.DAY_VALUES)
                results.copy = await workloads.raw_copy(pool, kafka_days, fx.raw_source_id)
                results.copy_no_fk = await workloads.raw_copy_without_foreign_keys(pool, kafka_days, fx.raw_source_id)
                logger.info("one year as one Kafka command, twice")
                results.kafka_year = await workloads.kafka_year(
                    settings, watcher, kafka_year_sensor, year, sizes.timeout
                )
                logger.info("starting the gateway")  # only now, so it does not share the CPU during (a)
                gateway = start_gateway(settings, sizes.profile)
                if isinstance(gateway, str):
                    results.post_problem = results.get_problem = gateway
                    return results
                services.append(gateway)
                try:
                    await http_part(
                        results,
                        settings,
                        watcher,
                        pool,
                        gateway,
                        fx.token,
                        sizes,
                        http_days,
                        year_sensors,
                        daily_sensor,
                        probe_sensor,
                        kafka_year_sensor,
                        year,
                    )
                except (harness.BenchError, httpx.HTTPError) as exc:  # keep what was measured, say what broke
                    logger.error("HTTP part failed: %s", exc)
                    results.post_problem = results.post_problem or f"failed: {exc}"
                    results.get_problem = results.get_problem or f"failed: {exc}"
        finally:
            for service in reversed(services):
                code = service.stop()
                if code != 0:
                    logger.warning("%s exited with %s; log %s", service.name, code, service.log)
                if sizes.profile:
                    logger.info("%s profile: %s", service.name, service.log.with_suffix(".prof"))
            await harness.delete_topics(settings)
    return results


def start_gateway(settings: Settings, profile: bool, attempts: int = 2) -> harness.Service | str:
    """The gateway process, or why it could not be started (its log tail goes to stderr)."""
    for attempt in range(1, attempts + 1):
        try:
            return harness.start_service("gateway", settings, profile=profile)
        except harness.BenchError as exc:
            last = next((line for line in reversed(str(exc).splitlines()) if "Error" in line), str(exc)[-300:])
            logger.warning(
                "gateway start %d/%d failed (log in %s): %s", attempt, attempts, harness.LOG_DIR, last[-600:]
            )
    return "gateway did not start"


async def http_part(
    results: Results,
    settings: Settings,
    watcher: workloads.IngestedWatcher,
    pool: AsyncConnectionPool,
    gateway: harness.Service,
    token: str,
    sizes: Sizes,
    http_days: list[workloads.DayCommand],
    year_sensors: list[int],
    daily_sensor: int,
    probe_sensor: int,
    kafka_year_sensor: int,
    year: list[float],
) -> None:
    limits = httpx.Limits(
        max_connections=max(sizes.concurrency, 8), max_keepalive_connections=max(sizes.concurrency, 8)
    )
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60, limits=limits) as client:
        results.post_problem, results.get_problem = await workloads.probe_routes(client, token, probe_sensor)
        if results.post_problem is None:
            logger.info("(b) up to %d POSTs by %d clients", len(http_days), sizes.concurrency)
            results.http = await workloads.http_posts(
                client, pool, token, http_days, concurrency=sizes.concurrency, time_limit=sizes.http_seconds
            )
            logger.info("one-year POST and identical re-POST, %d times", len(year_sensors))
            results.year = await workloads.year_posts(client, pool, token, year_sensors, year)
        if results.get_problem is not None:
            return
        if results.post_problem is None:
            logger.info("the same year as 365 daily POSTs")
            await workloads.daily_posts(client, token, daily_sensor, year, concurrency=8, time_limit=sizes.timeout)
            one_request_sensor = year_sensors[0]
        else:  # GET works but POST does not: store the same data through Kafka instead
            logger.info("POST route unavailable: the 365 daily series go through Kafka")
            daily = [
                PostSensorData(
                    sensor_id=daily_sensor,
                    start=d.start,
                    duration=workloads.STEP * 96,
                    values=d.values,
                    unit="kW",
                    source_name="bench-daily",
                )
                for d in _year_days(year)
            ]
            await workloads.produce_and_wait(settings, watcher, daily, sizes.timeout)
            one_request_sensor = kafka_year_sensor
        logger.info("GET latency, %d requests per case", sizes.get_requests)
        results.get_one = await workloads.get_latency(client, token, one_request_sensor, sizes.get_requests)
        results.get_daily = await workloads.get_latency(client, token, daily_sensor, sizes.get_requests)


def _year_days(year: list[float]) -> list[workloads.DayCommand]:
    return [
        workloads.DayCommand(0, workloads.YEAR0 + day * workloads.STEP * 96, year[day * 96 : (day + 1) * 96])
        for day in range(365)
    ]


def table_rows(r: Results) -> list[Row]:
    rows: list[Row] = []
    limit = r.copy.per_second if r.copy else 0.0

    def ratio(t: Throughput | None) -> str:
        return f"{t.per_second / limit:.2f}" if t and limit else NA

    if r.kafka:
        ok = r.kafka.per_second >= 100_000 and r.kafka.per_second >= 0.5 * limit and not r.kafka.failures
        rows.append(
            Row(
                "(a) Kafka producers -> stored",
                rate(r.kafka),
                ratio(r.kafka),
                ">= 100,000/s and >= 0.50 of (c)",
                verdict(ok),
                f"{r.kafka.seconds:.2f} s; {r.kafka.note}",
            )
        )
    if r.http:
        ok = r.http.per_second >= 40_000 and not r.http.failures
        rows.append(
            Row(
                "(b) HTTP POST x96, read-your-writes",
                rate(r.http),
                ratio(r.http),
                ">= 40,000/s",
                verdict(ok),
                f"{r.http.seconds:.2f} s; {r.http.note}",
            )
        )
    else:
        rows.append(
            Row(
                "(b) HTTP POST x96, read-your-writes",
                na(r.post_problem),
                NA,
                ">= 40,000/s",
                NA,
                r.post_problem or "",
            )
        )
    if r.copy:
        rows.append(
            Row(
                "(c) raw COPY into timed_beliefs",
                rate(r.copy),
                "1.00",
                "the limit",
                "-",
                f"{r.copy.seconds:.2f} s; {r.copy.note}",
            )
        )
    if r.copy_no_fk:
        rows.append(
            Row(
                "  info: (c) without the 2 foreign keys",
                rate(r.copy_no_fk),
                ratio(r.copy_no_fk),
                "(headroom)",
                "-",
                f"{r.copy_no_fk.seconds:.2f} s; {r.copy_no_fk.note}",
            )
        )
    if r.year:
        first, again = r.year
        rows.append(
            Row(
                "one-year POST (35,040 values)",
                ms(first.median),
                "",
                "<= 400 ms",
                verdict(first.median <= 0.4 and "holds" in first.note),
                f"runs {', '.join(ms(s) for s in first.seconds)}; {first.note}",
            )
        )
        rows.append(
            Row(
                "identical re-POST of that year",
                ms(again.median),
                "",
                "<= 1,000 ms",
                verdict(again.median <= 1.0 and "holds" in again.note),
                f"runs {', '.join(ms(s) for s in again.seconds)}",
            )
        )
    else:
        for name, goal in (
            ("one-year POST (35,040 values)", "<= 400 ms"),
            ("identical re-POST of that year", "<= 1,000 ms"),
        ):
            rows.append(Row(name, na(r.post_problem), "", goal, NA, r.post_problem or ""))
    if r.kafka_year:
        first_s, again_s, note = r.kafka_year
        rows.append(Row("  info: one-year command via Kafka", ms(first_s), "", "(ingest share)", "-", note))
        rows.append(Row("  info: identical year via Kafka", ms(again_s), "", "(ingest share)", "-", ""))
    for name, lat in (
        ("GET year @PT1H, posted in 1 request", r.get_one),
        ("GET year @PT1H, posted in 365 requests", r.get_daily),
    ):
        if lat:
            result = f"p50 {ms(lat.percentile(50))}, p95 {ms(lat.percentile(95))}"
            rows.append(
                Row(
                    name,
                    result,
                    "",
                    "p50 < 50 ms",
                    verdict(lat.percentile(50) < 0.05 and "after" in lat.note),
                    lat.note,
                )
            )
        else:
            rows.append(Row(name, na(r.get_problem), "", "p50 < 50 ms", NA, r.get_problem or ""))
    return rows


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return (
        f"{platform.node()}, {os.cpu_count()} CPU ({model or platform.machine()}), Python {platform.python_version()}"
    )


def server_versions(url: str) -> str:
    with psycopg.connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        ts = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    kafka = os.environ.get("FLEXSTREAM_KAFKA_RELEASE") or "Kafka"
    return f"PostgreSQL {pg[0] if pg else '?'}, TimescaleDB {ts[0] if ts else 'absent'}, {kafka}"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[bench] %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sizes = parse_args(argv)
    settings = harness.bench_settings()
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    try:
        results = asyncio.run(run(settings, sizes))
    except harness.BenchError as exc:
        logger.error("benchmark failed: %s", exc)
        return 1
    title = (
        f"FlexStream ingest benchmark, {started:%Y-%m-%d %H:%M} UTC, {machine()}\n"
        f"{server_versions(settings.database_url.get_secret_value())}; "
        f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after\nsizes: {sizes}"
    )
    output(title, table_rows(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
