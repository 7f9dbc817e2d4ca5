"""The benchmark's report: what was measured (``Results``), turned into one table of rows with goals."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from bench.workloads import Latency, Throughput, Timing

NA = "n/a"


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
                "  info: (c) into an empty table",
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
