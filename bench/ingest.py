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
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from psycopg_pool import AsyncConnectionPool

from bench import harness, workloads
from bench.report import Results, machine, output, server_versions, table_rows
from shared.messages import PostSensorData
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


# --- the run -----------------------------------------------------------------------------------------


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
                    "ingest", settings, profile=sizes.profile, ingest_group=f"flexstream-ingest-{settings.topic_prefix}"
                )
            )
            async with workloads.IngestedWatcher(settings) as watcher:
                logger.info("(a) %d commands over Kafka", len(kafka_days))
                results.kafka = await workloads.kafka_ingest(settings, watcher, pool, kafka_days, sizes.timeout)
                logger.info("(c) raw COPY of the same %d rows", len(kafka_days) * workloads.DAY_VALUES)
                results.copy = await workloads.raw_copy(pool, kafka_days, fx.raw_source_id)
                results.copy_no_fk = await workloads.raw_copy_into_empty_table(pool, kafka_days, fx.raw_source_id)
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
                gateway.url, pool, token, http_days, concurrency=sizes.concurrency, time_limit=sizes.http_seconds
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
