"""The benchmark's report: what was measured (``Results``) turned into one table of rows with goals.

A row's verdict comes only from structured fields: the measured figures its goal compares (``Bound``), and the
problems its measurement reported (failed requests, rows stored against rows promised). A row whose figure
could not be measured is ``NOT MEASURED``; both that and ``NOT MET`` make the run fail (``exit_code``).

To add a row with its own goal: give ``Results`` a field for the measurement, write a function
``Results -> list[Row]`` that builds the row from it (``Bound`` for each goal, ``problems`` from the
measurement), and append that function to ``ROW_BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

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
        return f"{self.label} {NA if self.value is None else self._show(self.value)}"

    def _show(self, figure: float) -> str:
        if self.unit == "ms":
            return f"{1000 * figure:,.1f} ms"
        if self.unit == "x":
            return f"{figure:.2f}x"
        if self.unit == "n":
            return f"{figure:,.0f}"
        return f"{figure:.2f}"


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
    http: Throughput | None = None  # (b)
    copy: Throughput | None = None  # (c)
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
    problems: dict[str, str] = field(default_factory=dict)  # phase -> why it could not be measured


# --- goals -------------------------------------------------------------------------------------------

KAFKA_OF_COPY = 0.60  # (a) >= 0.60 of (c)
HTTP_OF_COPY = 0.25  # (b) >= 0.25 of (c)
GET_OF_SQL = 2.0  # GET p50 <= 2x the bare SQL p50 of the same selection
POST_OF_INGEST = 1.5  # one-year POST <= 1.5x its ingest share (the same year as one Kafka command)
SEQ_P50, SEQ_P95 = 0.010, 0.020  # one client posting 96-value days, read-your-writes
KAFKA_P50 = 0.010  # one direct-Kafka command -> its BeliefsIngested
LARGE_BELIEFS, LARGE_CHUNKS = 10_000_000, 400  # the large table holds at least this much
LARGE_OF_EMPTY = 0.80  # each figure on the large table >= 0.80 of the same figure on the empty one


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
    if r.copy is None:
        rows.append(Row("(c) raw COPY into timed_beliefs", NA, problems=_why(r, "copy"), measured=False))
    else:
        rows.append(Row("(c) raw COPY into timed_beliefs", f"{r.copy.per_second:,.0f} beliefs/s",
                        problems=r.copy.problems(), note=r.copy.describe()))  # fmt: skip
    if r.copy_into_empty is not None:
        e = r.copy_into_empty
        rows.append(
            Row(
                "  info: (c) into an empty table",
                f"{e.per_second:,.0f} beliefs/s ({_ratio(e.per_second, limit) or 0:.2f} of (c))",
                problems=e.problems(),
                note=e.describe(),
            )
        )
    return rows


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
    """The same measurements with the table pre-filled, each as a share of its empty-table figure (for
    latencies: the empty-table p50 divided by the large-table one, so that >= 0.80 means at most 25 % slower)."""
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
        ("(a) again, large table", r.large_kafka, r.kafka),
        ("(b) again, large table", r.large_http, r.http),
    ):
        bound = Bound("large/empty", _ratio(_rate(large), _rate(empty)), LARGE_OF_EMPTY)
        if large is None:
            rows.append(Row(name, NA, (bound,), _why(r, "large"), measured=False))
        else:
            rows.append(Row(name, f"{large.per_second:,.0f} beliefs/s", (bound,), large.problems(), large.describe()))
    for name, lat, base in (
        ("96-value POSTs in a row, large table", r.large_post_seq, r.post_seq),
        ("GET year (1 request), large table", r.large_get_one, r.get_one),
        ("GET year (365 requests), large table", r.large_get_daily, r.get_daily),
    ):
        bound = Bound("empty/large p50", _ratio(_p(base, 50), _p(lat, 50)), LARGE_OF_EMPTY)
        rows.append(_latency_row(name, lat, (bound,), r, "large"))
    return rows


ROW_BUILDERS: list[Callable[[Results], list[Row]]] = [throughput_rows, year_rows, get_rows, latency_rows, large_rows]


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
