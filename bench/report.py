"""The benchmark's report: what was measured (``Results``) turned into one table of rows with goals.

A row's verdict comes only from structured fields: the measured figures its goal compares (``Bound``), and the
problems its measurement reported (failed requests, rows stored against rows promised). A row whose figure
could not be measured is ``NOT MEASURED``; both that and ``NOT MET`` make the run fail (``exit_code``).

To add a row with its own goal: give ``Results`` a field for the measurement, write a function
``Results -> list[Row]`` that builds the row from it (``Bound`` for each goal, ``problems`` from the
measurement), and append that function to ``ROW_BUILDERS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from bench.scheduling import PROFILE, Schedules
from bench.stats import Filled
from bench.workloads import Fill, Latency, Throughput

NA = "n/a"


class Verdict(StrEnum):
    MET = "met"
    NOT_MET = "NOT MET"
    NOT_MEASURED = "NOT MEASURED"
    INFO = "-"


@dataclass(frozen=True)
class Bound:
    """One goal: ``label`` (e.g. ``(a)/(c)``) is ``value``, which must be at least (or at most) ``limit``."""

    label: str
    value: float | None  # None: not measured
    limit: float
    at_most: bool = False
    unit: str = ""  # "ms": seconds shown in ms; "x": a ratio shown as a factor; "n": a count

    def ok(self) -> bool:
        if self.value is None:
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def goal(self) -> str:
        return f"{self.label} {'<=' if self.at_most else '>='} {self._show(self.limit)}"

    def measured(self) -> str:
        """The value as the goal shows its limit; a value that misses its goal but would look the same as the
        limit gets the digits that tell them apart (0.246 against 0.25, not 0.25 beside NOT MET)."""
        if self.value is None:
            return f"{self.label} {NA}"
        more = 0
        while not self.ok() and self._show(self.value, more) == self._show(self.limit, more) and more < 6:
            more += 1
        return f"{self.label} {self._show(self.value, more)}"

    def _show(self, figure: float, more: int = 0) -> str:
        """``figure`` in the bound's unit, with ``more`` digits than usual after the point."""
        if self.unit == "ms":
            return f"{1000 * figure:,.{1 + more}f} ms"
        if self.unit == "x":
            return f"{figure:.{2 + more}f}x"
        if self.unit == "n":
            return f"{figure:,.{more}f}"
        return f"{figure:.{2 + more}f}"


@dataclass(frozen=True)
class Row:
    measurement: str
    result: str  # the absolute figure, for information
    bounds: tuple[Bound, ...] = ()  # no bounds: an information row
    problems: tuple[str, ...] = ()  # failed requests, missing rows, why it could not be measured
    note: str = ""
    measured: bool = True  # False: the measurement itself is missing

    @property
    def verdict(self) -> Verdict:
        if not self.measured or any(b.value is None for b in self.bounds):
            return Verdict.NOT_MEASURED
        if not self.bounds:
            return Verdict.NOT_MET if self.problems else Verdict.INFO
        if self.problems or not all(b.ok() for b in self.bounds):
            return Verdict.NOT_MET
        return Verdict.MET

    @property
    def failed(self) -> bool:
        return self.verdict in (Verdict.NOT_MET, Verdict.NOT_MEASURED)


@dataclass
class Results:
    """Every measurement of one run; ``None`` where it was not (or could not be) measured."""

    kafka: Throughput | None = None  # (a)
    kafka_warm: Throughput | None = None  # (a)'s warm-up just before it, with a fresh ingest: information
    http: Throughput | None = None  # (b)
    http_more: dict[int, Throughput] = field(default_factory=dict)  # (b) with more clients: clients -> figure
    copy_samples: dict[str, Throughput] = field(default_factory=dict)  # (c), each time it was measured: when -> figure
    copy_into_empty: Throughput | None = None
    year_post: Latency | None = None
    year_repost: Latency | None = None
    kafka_year: Latency | None = None
    kafka_year_again: Latency | None = None
    get_one: Latency | None = None
    get_daily: Latency | None = None
    sql_one: Latency | None = None
    sql_daily: Latency | None = None
    post_seq: Latency | None = None
    post_seq_outside: Latency | None = None
    kafka_seq: Latency | None = None
    kafka_seq_outside: Latency | None = None
    large_fill: Fill | None = None  # the large-table phase: the same measurements on a pre-filled table
    large_kafka: Throughput | None = None
    large_http: Throughput | None = None
    large_post_seq: Latency | None = None
    large_get_one: Latency | None = None
    large_get_daily: Latency | None = None
    # the same, each taken in turn with it on an empty database of its own (``harness.twin``): what the large-table
    # figures are compared with
    twin_kafka: Throughput | None = None
    twin_http: Throughput | None = None
    twin_post_seq: Latency | None = None
    twin_get_one: Latency | None = None
    twin_get_daily: Latency | None = None
    schedule_48h: Schedules | None = None  # scheduling: one battery, sequential triggers
    schedule_7d: Schedules | None = None
    schedule_negative: Schedules | None = None  # 7 days of negative-price middays (the MILP), information
    schedule_concurrent: Schedules | None = None  # 20 triggers at once on 20 sensors
    schedule_asset: Schedules | None = None  # three batteries on one asset, one trigger
    stats_sizes: tuple[int, ...] = (10_000, 1_000_000, 10_000_000)  # the sensor sizes the run asked for
    stats_filled: dict[int, Filled] = field(default_factory=dict)  # stats: beliefs held -> the sensor
    stats_get: dict[int, Latency] = field(default_factory=dict)
    stats_sql: dict[int, Latency] = field(default_factory=dict)
    stats_fresh: Latency | None = None  # POST answered -> the stats count it
    problems: dict[str, str] = field(default_factory=dict)  # phase -> why it could not be measured

    @property
    def copy(self) -> Throughput | None:
        """(c): the median of its samples. One COPY of a second or two is a noisy yardstick (seven of them on one stack,
        within two minutes, ranged over 1.6x: docs/performance.md, finding 26), so (c) is measured after (a) and on
        both sides of (b), and the ratios use the middle figure (of two, the higher)."""
        if not self.copy_samples:
            return None
        ranked = sorted(self.copy_samples.values(), key=lambda t: t.per_second)
        return ranked[len(ranked) // 2]


# --- goals -------------------------------------------------------------------------------------------

KAFKA_OF_COPY = 0.60  # (a) >= 0.60 of (c)
HTTP_OF_COPY = 0.25  # (b) >= 0.25 of (c)
GET_OF_SQL = 2.0  # GET p50 <= 2x the bare SQL p50 of the same selection
POST_OF_INGEST = 1.5  # one-year POST <= 1.5x its ingest share (the same year as one Kafka command)
SEQ_P50, SEQ_P95 = 0.010, 0.020  # one client posting 96-value days, read-your-writes
KAFKA_P50 = 0.010  # one direct-Kafka command -> its BeliefsIngested
LARGE_BELIEFS, LARGE_CHUNKS = 10_000_000, 400  # the large table holds at least this much
LARGE_OF_EMPTY = 0.80  # each figure on the large table >= 0.80 of the same figure on the empty one
SCHEDULE_48H_P95, SCHEDULE_7D_P95 = 0.100, 0.500  # trigger -> schedule readable, one battery
BUILD_48H_P50 = 0.010  # the median 48-hour job's model build (the scheduler's own timing)
OVERHEAD_P95 = 0.050  # trigger -> readable minus the job's build + solve, 48-hour and 7-day jobs together
STATS_P50 = 0.020  # GET /sensors/<id>/stats, at every size


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _rate(t: Throughput | None) -> float | None:
    return t.per_second if t else None


def _p(lat: Latency | None, q: float) -> float | None:
    return lat.percentile(q) if lat and lat.seconds else None


def _why(results: Results, phase: str) -> tuple[str, ...]:
    return (results.problems[phase],) if phase in results.problems else ("not measured",)


def throughput_rows(r: Results) -> list[Row]:
    limit = _rate(r.copy)
    rows = []
    for name, t, share, phase in (
        ("(a) Kafka producers -> stored", r.kafka, KAFKA_OF_COPY, "kafka"),
        ("(b) HTTP POST x96, read-your-writes", r.http, HTTP_OF_COPY, "http"),
    ):
        label = name[:3] + "/(c)"
        bound = Bound(label, _ratio(_rate(t), limit), share)
        if t is None:
            rows.append(Row(name, NA, (bound,), _why(r, phase), measured=False))
        else:
            rows.append(Row(name, f"{t.per_second:,.0f} beliefs/s", (bound,), t.problems(), t.describe()))
        if phase == "kafka" and r.kafka_warm is not None:
            rows.append(_info_rate("  info: (a)'s warm-up, ingest fresh", r.kafka_warm, limit))
    for clients, t in sorted(r.http_more.items()):
        rows.append(_info_rate(f"  info: (b) with {clients} clients", t, limit))
    if r.copy is None:
        rows.append(Row("(c) raw COPY into timed_beliefs", NA, problems=_why(r, "copy"), measured=False))
    else:
        samples = "; ".join(
            f"{when}: {t.per_second:,.0f} beliefs/s, {t.describe()}" for when, t in r.copy_samples.items()
        )
        problems = tuple(f"{when}: {p}" for when, t in r.copy_samples.items() for p in t.problems())
        rows.append(Row("(c) raw COPY into timed_beliefs", f"{r.copy.per_second:,.0f} beliefs/s", problems=problems,
                        note=f"the median of {len(r.copy_samples)} COPYs ({samples})"))  # fmt: skip
    if r.copy_into_empty is not None:
        rows.append(_info_rate("  info: (c) into an empty table", r.copy_into_empty, limit))
    return rows


def _info_rate(name: str, t: Throughput, limit: float | None) -> Row:
    """A throughput for information, with its share of (c)."""
    of_copy = _ratio(t.per_second, limit)
    return Row(name, f"{t.per_second:,.0f} beliefs/s ({of_copy or 0:.2f} of (c))", problems=t.problems(),
               note=t.describe())  # fmt: skip


def year_rows(r: Results) -> list[Row]:
    rows = []
    for name, http, kafka, info in (
        ("one-year POST (35,040 values)", r.year_post, r.kafka_year, "  info: one-year command via Kafka"),
        ("identical re-POST of that year", r.year_repost, r.kafka_year_again, "  info: identical year via Kafka"),
    ):
        bound = Bound("POST/Kafka", _ratio(_p(http, 50), _p(kafka, 50)), POST_OF_INGEST, at_most=True, unit="x")
        rows.append(_latency_row(name, http, (bound,), r, "post", median_only=True))
        rows.append(_latency_row(info, kafka, (), r, "kafka_year", median_only=True))
    return rows


def get_rows(r: Results) -> list[Row]:
    rows = []
    for name, get, bare in (
        ("GET year @PT1H, posted in 1 request", r.get_one, r.sql_one),
        ("GET year @PT1H, posted in 365 requests", r.get_daily, r.sql_daily),
    ):
        bound = Bound("GET/SQL p50", _ratio(_p(get, 50), _p(bare, 50)), GET_OF_SQL, at_most=True, unit="x")
        rows.append(_latency_row(name, get, (bound,), r, "get"))
        rows.append(_latency_row("  info: same selection as bare SQL", bare, (), r, "get"))
    return rows


def latency_rows(r: Results) -> list[Row]:
    rows = []
    for name, lat in (
        ("one client, 96-value POSTs in a row", r.post_seq),
        ("  the same, client in its own process", r.post_seq_outside),
    ):
        bounds = (Bound("p50", _p(lat, 50), SEQ_P50, True, "ms"), Bound("p95", _p(lat, 95), SEQ_P95, True, "ms"))
        rows.append(_latency_row(name, lat, bounds, r, "post_seq"))
    for name, lat in (
        ("one Kafka command -> BeliefsIngested", r.kafka_seq),
        ("  the same, client in its own process", r.kafka_seq_outside),
    ):
        rows.append(_latency_row(name, lat, (Bound("p50", _p(lat, 50), KAFKA_P50, True, "ms"),), r, "kafka_seq"))
    return rows


def _latency_row(
    name: str, lat: Latency | None, bounds: tuple[Bound, ...], r: Results, phase: str, *, median_only: bool = False
) -> Row:
    if lat is None or not lat.seconds:
        problems = lat.problems() if lat is not None else _why(r, phase)
        return Row(name, NA, bounds, problems, measured=False)
    result = (
        f"{1000 * lat.percentile(50):,.0f} ms"
        if median_only
        else f"p50 {1000 * lat.percentile(50):,.1f} ms, p95 {1000 * lat.percentile(95):,.1f} ms"
    )
    return Row(name, result, bounds, lat.problems(), lat.describe())


def large_rows(r: Results) -> list[Row]:
    """The same measurements with the table pre-filled, each as a share of the same figure on an empty table,
    measured in turn with it (for latencies: the empty-table p50 divided by the large-table one, so that >= 0.80
    means at most 25 % slower)."""
    fill = r.large_fill
    if fill is None:
        rows = [Row("large table: pre-filled", NA, problems=_why(r, "large"), measured=False)]
    else:
        bounds = (
            Bound("beliefs", fill.stored, LARGE_BELIEFS, unit="n"),
            Bound("chunks", fill.chunks, LARGE_CHUNKS, unit="n"),
        )
        rows = [Row("large table: pre-filled", f"{fill.stored:,} beliefs, {fill.chunks} chunks", bounds,
                    fill.problems(), fill.describe())]  # fmt: skip
    for name, large, empty in (
        ("(a) again, large table", r.large_kafka, r.twin_kafka),
        ("(b) again, large table", r.large_http, r.twin_http),
    ):
        bound = Bound("large/empty", _ratio(_rate(large), _rate(empty)), LARGE_OF_EMPTY)
        if large is None:
            rows.append(Row(name, NA, (bound,), _why(r, "large"), measured=False))
        else:
            rows.append(Row(name, f"{large.per_second:,.0f} beliefs/s", (bound,), large.problems(), large.describe()))
        if empty is not None:
            rows.append(Row("  info: the same, empty table beside it", f"{empty.per_second:,.0f} beliefs/s",
                            problems=empty.problems(), note=empty.describe()))  # fmt: skip
    for name, lat, base in (
        ("96-value POSTs in a row, large table", r.large_post_seq, r.twin_post_seq),
        ("GET year (1 request), large table", r.large_get_one, r.twin_get_one),
        ("GET year (365 requests), large table", r.large_get_daily, r.twin_get_daily),
    ):
        bound = Bound("empty/large p50", _ratio(_p(base, 50), _p(lat, 50)), LARGE_OF_EMPTY)
        rows.append(_latency_row(name, lat, (bound,), r, "large"))
        if base is not None:
            rows.append(_latency_row("  info: the same, empty table beside it", base, (), r, "large"))
    return rows


def _seconds_p(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _ms(values: Sequence[float]) -> str:
    if not values:
        return NA
    return f"p50 {1000 * np.percentile(values, 50):,.1f} ms, p95 {1000 * np.percentile(values, 95):,.1f} ms"


def _schedule_row(name: str, s: Schedules | None, bounds: tuple[Bound, ...], r: Results, note: str = "") -> Row:
    if s is None or not s.seconds:
        problems = s.problems() if s is not None else _why(r, "scheduling")
        return Row(name, NA, bounds, problems, measured=False)
    return Row(name, _ms(s.seconds), bounds, s.problems(), "; ".join(x for x in (s.describe(), note) if x))


def _part_row(name: str, s: Schedules | None, part: str, bounds: tuple[Bound, ...], r: Results) -> Row:
    values = s.part(part) if s is not None else []
    if not values:
        return Row(name, NA, bounds, _why(r, "scheduling") if s is None else s.problems(), measured=False)
    return Row(name, _ms(values), bounds, note="the scheduler's own timing (its 'scheduling job done' log line)")


def scheduling_rows(r: Results) -> list[Row]:
    """One battery from trigger to readable (48 h, 7 days), build and solve apart, the pipeline's overhead,
    20 concurrent triggers, the negative-price week (information) and the three-battery asset."""
    s48, s7 = r.schedule_48h, r.schedule_7d
    build = s48.part("build") if s48 else []
    overhead = [*(s48.overhead() if s48 else []), *(s7.overhead() if s7 else [])]
    rows = [
        _schedule_row("schedule 48 h @15 min, trigger -> readable", s48,
                      (Bound("p95", _p_sched(s48, 95), SCHEDULE_48H_P95, True, "ms"),), r, f"prices: {PROFILE}"),
        _part_row("  model build, 48 h", s48, "build", (Bound("p50", _seconds_p(build, 50), BUILD_48H_P50, True,
                                                             "ms"),), r),
        _part_row("  solve, 48 h", s48, "solve", (), r),
        _schedule_row("schedule 7 days @15 min, trigger -> readable", s7,
                      (Bound("p95", _p_sched(s7, 95), SCHEDULE_7D_P95, True, "ms"),), r, "prices: the same profile"),
        _part_row("  model build, 7 days", s7, "build", (), r),
        _part_row("  solve, 7 days", s7, "solve", (), r),
    ]  # fmt: skip
    bound = Bound("p95", _seconds_p(overhead, 95), OVERHEAD_P95, True, "ms")
    if not overhead:
        rows.append(Row("pipeline overhead (readable - build - solve)", NA, (bound,), _why(r, "scheduling"),
                        measured=False))  # fmt: skip
    else:
        note = f"{len(overhead)} jobs of the 48 h and 7-day rows, each less its build and solve"
        rows.append(Row("pipeline overhead (readable - build - solve)", _ms(overhead), (bound,), note=note))
    c = r.schedule_concurrent
    if c is None or not c.seconds:
        rows.append(Row("20 concurrent triggers, 20 sensors, 48 h", NA, problems=c.problems() if c else
                        _why(r, "scheduling"), measured=False))  # fmt: skip
    else:
        rows.append(Row("20 concurrent triggers, 20 sensors, 48 h", f"{len(c.seconds) / c.wall:,.1f} schedules/s",
                        problems=c.problems(), note=f"{c.wall:.2f} s to the last readable; each {_ms(c.seconds)}; "
                        f"{c.describe()}"))  # fmt: skip
    if r.schedule_negative is not None or "scheduling" in r.problems:
        rows.append(
            _schedule_row(
                "  info: 7 days, negative-price middays (MILP)",
                r.schedule_negative,
                (),
                r,
                "the same profile with six hours a day below zero: more than the battery absorbs",
            )
        )
    rows.append(_schedule_row("asset of 3 batteries, 48 h: all readable", r.schedule_asset, (), _asset(r),
                              "beside the single-battery 48 h row"))  # fmt: skip
    return rows


def _p_sched(s: Schedules | None, q: float) -> float | None:
    return _seconds_p(s.seconds, q) if s is not None else None


def _asset(r: Results) -> Results:
    """``r`` whose scheduling problem, for the asset row, is the asset phase's own."""
    if "asset" not in r.problems:
        return r
    return Results(problems={"scheduling": r.problems["asset"]})


def stats_rows(r: Results) -> list[Row]:
    """Stats latency per sensor size beside the direct SQL aggregation, and the stats' freshness after a POST."""
    rows = []
    for size in r.stats_sizes:
        label = f"{size / 1e6:g} M" if size >= 1_000_000 else f"{size / 1e3:g} k" if size >= 1000 else str(size)
        get, bare, filled = r.stats_get.get(size), r.stats_sql.get(size), r.stats_filled.get(size)
        bound = Bound("p50", _p(get, 50), STATS_P50, True, "ms")
        row = _latency_row(f"GET stats, sensor of {label} beliefs", get, (bound,), r, "stats")
        if filled is not None and row.measured:
            row = Row(row.measurement, row.result, row.bounds, row.problems,
                      f"{row.note}; filled by COPY in {filled.fill_seconds:.1f} s, aggregates built in "
                      f"{filled.aggregate_seconds:.1f} s by the stats service's store()")  # fmt: skip
        rows.append(row)
        rows.append(_latency_row("  info: same aggregation, direct SQL", bare, (), r, "stats"))
    fresh = _latency_row("stats include a POST after", r.stats_fresh, (), r, "stats_fresh")
    if r.stats_fresh is not None and "stats_fresh" in r.problems:  # measured, but the service was behind
        fresh = dataclasses.replace(fresh, problems=(*fresh.problems, r.problems["stats_fresh"]))
    rows.append(fresh)
    return rows


ROW_BUILDERS: list[Callable[[Results], list[Row]]] = [
    throughput_rows, year_rows, get_rows, latency_rows, large_rows, scheduling_rows, stats_rows,
]  # fmt: skip


def table_rows(results: Results) -> list[Row]:
    return [row for build in ROW_BUILDERS for row in build(results)]


def exit_code(rows: Sequence[Row], *, no_fail: bool = False) -> int:
    """1 when any goal is not met or any row could not be measured (0 with ``no_fail``)."""
    return 0 if no_fail or not any(row.failed for row in rows) else 1


# --- rendering ---------------------------------------------------------------------------------------


def render_table(rows: Sequence[Row]) -> str:
    """One table (measured figure beside its goal), then the notes and problems of each row."""
    headers = ("#", "measurement", "result", "measured", "goal", "met")
    cells = [
        (str(i), r.measurement, r.result, ", ".join(b.measured() for b in r.bounds),
         ", ".join(b.goal() for b in r.bounds), str(r.verdict))
        for i, r in enumerate(rows, 1)
    ]  # fmt: skip
    widths = [max(len(c[k]) for c in [headers, *cells]) for k in range(len(headers))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    text = [line, _cells(headers, widths), line, *(_cells(c, widths) for c in cells), line]
    for i, r in enumerate(rows, 1):
        parts = [f"PROBLEM: {p}" for p in r.problems] + ([r.note] if r.note else [])
        if parts:
            text.append(f"  {i}. {'; '.join(parts)}")
    failed = [str(i) for i, r in enumerate(rows, 1) if r.failed]
    text.append(f"verdict: {'every goal met' if not failed else 'FAILED (rows ' + ', '.join(failed) + ')'}")
    return "\n".join(text)


def _cells(values: Sequence[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"
