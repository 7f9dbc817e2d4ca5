"""GET latency side by side: the gateway of an older commit and of this checkout, on the same data, in one run.

    .venv/bin/python -m bench.get_compare --before HEAD~1       (bench/run.sh's infra: see docs/performance.md)

It provisions its own database (``flexstream_bench_get``, dropped and re-created) and topic prefix, starts one
ingest and two gateways (``--before`` checked out with ``git worktree`` into a temporary folder, and this
checkout), stores one year of 15-minute values for a sensor in one POST and for another in 365 daily POSTs, then
reads each year at PT1H (8,760 values) alternately from both gateways (``--after``: another ref instead of this
checkout, e.g. to leave out uncommitted work). Every pair of answers must be
byte-identical. It prints p50 and p95 per gateway and case.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from bench import harness, workloads

logger = logging.getLogger("bench.get_compare")
DATABASE = "flexstream_bench_get"  # a flexstream_bench* name: harness.reset_database may drop it


def worktree(ref: str, folder: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), ref], cwd=harness.ROOT, check=True)
    return folder


@contextmanager
def checkouts(before: str, after: str | None) -> Iterator[tuple[Path, Path]]:
    """``before`` (and ``after``, else this checkout as it is) checked out with ``git worktree`` in a temporary
    folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="flexstream-compare-") as tmp:
        folders = [worktree(before, Path(tmp) / "before")]
        try:
            if after:
                folders.append(worktree(after, Path(tmp) / "after"))
            yield folders[0], folders[1] if after else harness.ROOT
        finally:
            for folder in folders:
                subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=harness.ROOT, check=False)


def comparison_arguments(description: str | None) -> argparse.ArgumentParser:
    """``--before`` and ``--after``, and logging to stderr as the comparisons log."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="HEAD", help="git ref of the gateway to compare with (default HEAD)")
    parser.add_argument("--after", help="git ref of the other gateway (default: this checkout as it is)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return parser


@dataclass(frozen=True)
class SideBySide:
    database_url: str
    old: harness.Service  # the gateway of ``before``
    new: harness.Service  # the gateway of ``after``


@asynccontextmanager
async def side_by_side(database: str, before: Path, after: Path, port: int | None = None) -> AsyncIterator[SideBySide]:
    """Its own database ``database`` (a ``flexstream_bench*`` name: dropped and re-created) and topic prefix, one
    ingest and two gateways (the ``before`` and ``after`` checkouts); stopped, and the topics deleted, afterwards.
    ``port`` is the first of three ports to use (default: free ones)."""
    url = make_conninfo(os.environ.get("FLEXSTREAM_DATABASE_URL", harness.DEFAULT_DATABASE_URL), dbname=database)
    os.environ["FLEXSTREAM_DATABASE_URL"] = url
    settings = harness.bench_settings()
    harness.reset_database(url)
    await harness.ensure_topics(settings)
    ports = [port, port + 1, port + 2] if port else [None, None, None]
    services: list[harness.Service] = []
    try:
        services.append(
            harness.start_service("ingest", settings, port=ports[0], ingest_group=harness.ingest_group(settings))
        )
        services.append(harness.start_service("gateway", settings, root=before, port=ports[1]))
        services.append(harness.start_service("gateway", settings, root=after, port=ports[2]))
        yield SideBySide(url, services[1], services[2])
    finally:
        for service in reversed(services):
            service.stop()
        await harness.delete_topics(settings)


async def compare(before: Path, after: Path, requests: int) -> list[str]:
    async with side_by_side(DATABASE, before, after) as run:
        old, new = run.old, run.new
        async with AsyncConnectionPool(run.database_url, open=False) as pool:
            await pool.open()
            fx = await harness.create_fixtures(pool, 2)
        year = workloads.year_values(seed=7)
        async with httpx.AsyncClient(base_url=new.url, timeout=120) as client:
            body = workloads.post_body(workloads.YEAR0, year)
            headers = {"Authorization": fx.token, **workloads.JSON}
            response = await client.post(workloads.API.format(id=fx.sensor_ids[0]), content=body, headers=headers)
            if response.status_code != 200:
                raise harness.BenchError(f"year POST answered {response.status_code}: {response.text[:200]}")
            await workloads.daily_posts(client, fx.token, fx.sensor_ids[1], year, concurrency=8, time_limit=300)
        lines = []
        for case, sensor_id in (
            ("posted in 1 request", fx.sensor_ids[0]),
            ("posted in 365 requests", fx.sensor_ids[1]),
        ):
            times = await alternate(old.url, new.url, fx.token, sensor_id, requests)
            for label, seconds in times.items():
                p50, p95 = (1000 * float(np.percentile(seconds, q)) for q in (50, 95))
                lines.append(f"GET year @PT1H, {case:23s} {label:6s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
        return lines


async def alternate(old_url: str, new_url: str, token: str, sensor_id: int, requests: int) -> dict[str, list[float]]:
    """``requests`` GETs per gateway after 3 warm-ups each, old and new in turn; answers must be identical."""
    params = {"start": workloads.YEAR0.isoformat(), "duration": "PT8760H", "unit": "kW", "resolution": "PT1H"}
    headers = {"Authorization": token}
    times: dict[str, list[float]] = {"before": [], "after": []}
    path = workloads.API.format(id=sensor_id)
    async with (
        httpx.AsyncClient(base_url=old_url, timeout=60) as old,
        httpx.AsyncClient(base_url=new_url, timeout=60) as new,
    ):
        for i in range(3 + requests):
            bodies = []
            for label, client in (("before", old), ("after", new)) if i % 2 else (("after", new), ("before", old)):
                t0 = time.perf_counter()
                response = await client.get(path, params=params, headers=headers)
                elapsed = time.perf_counter() - t0
                if response.status_code != 200:
                    raise harness.BenchError(f"{label}: GET answered {response.status_code}: {response.text[:200]}")
                bodies.append(response.content)
                if i >= 3:
                    times[label].append(elapsed)
            if bodies[0] != bodies[1]:
                raise harness.BenchError(f"the two gateways answered differently for sensor {sensor_id}")
            values = httpx.Response(200, content=bodies[0]).json()["values"]
            if len(values) != 8760 or any(v is None for v in values):
                raise harness.BenchError(f"GET gave {len(values)} values, expected 8760 without nulls")
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = comparison_arguments(__doc__)
    parser.add_argument("--requests", type=int, default=30, help="GETs per gateway and case (default 30)")
    args = parser.parse_args(argv)
    with checkouts(args.before, args.after) as (before, after):
        lines = asyncio.run(compare(before, after, args.requests))
    header = f"before = {args.before}, after = {args.after or 'this checkout'}; {args.requests} GETs each, alternating"
    print("\n".join([header, *lines]), flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
