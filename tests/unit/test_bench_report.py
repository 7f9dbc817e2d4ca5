"""The benchmark's verdicts come from measured fields: missing rows, failed requests, unmeasured rows and
figures beyond their goal all fail the run (exit status 1), whatever the notes say."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench import publish, record
from bench.report import Bound, Results, Verdict, exit_code, render_table, table_rows
from bench.scheduling import Job, Schedules
from bench.stats import Filled
from bench.workloads import Fill, Latency, Throughput


def jobs(seconds: float, build: float, solve: float, n: int = 20, wall: float = 0.0) -> Schedules:
    return Schedules([Job(f"j{i}", seconds, True, build, solve) for i in range(n)], wall or n * seconds)


SIZES = (10_000, 1_000_000, 10_000_000)


def good() -> Results:
    fast = Latency([0.004, 0.005, 0.006], promised=288, stored=288)
    return Results(
        kafka=Throughput(480_000, 480_000, 2.0, requests=5000),  # 240,000/s = 0.80 of (c)
        http=Throughput(192_000, 192_000, 2.0, requests=2000),  # 96,000/s = 0.32 of (c)
        copy_samples={"after (a)": Throughput(480_000, 480_000, 1.6)},  # 300,000/s
        copy_into_empty=Throughput(480_000, 480_000, 1.0),
        year_post=Latency([0.150], promised=35_040, stored=35_040),
        year_repost=Latency([0.160], promised=35_040, stored=35_040),
        kafka_year=Latency([0.120], promised=35_040, stored=35_040),
        kafka_year_again=Latency([0.120], promised=35_040, stored=35_040),
        get_one=Latency([0.030] * 5, promised=5 * 8760, stored=5 * 8760),
        get_daily=Latency([0.030] * 5, promised=5 * 8760, stored=5 * 8760),
        sql_one=Latency([0.020] * 5, promised=5 * 8760, stored=5 * 8760),
        sql_daily=Latency([0.020] * 5, promised=5 * 8760, stored=5 * 8760),
        post_seq=fast,
        post_seq_outside=fast,
        kafka_seq=fast,
        kafka_seq_outside=fast,
        large_fill=Fill(10_100_000, 10_100_000, chunks=650, seconds=60),
        twin_kafka=Throughput(480_000, 480_000, 2.0),
        twin_http=Throughput(192_000, 192_000, 2.0),
        twin_post_seq=fast,
        twin_get_one=Latency([0.030] * 5, promised=5 * 8760, stored=5 * 8760),
        twin_get_daily=Latency([0.030] * 5, promised=5 * 8760, stored=5 * 8760),
        large_kafka=Throughput(480_000, 480_000, 2.2),  # 0.91 of the twin's (a)
        large_http=Throughput(192_000, 192_000, 2.4),  # 0.83 of the twin's (b)
        large_post_seq=Latency([0.005, 0.006, 0.007], promised=288, stored=288),  # 0.83
        large_get_one=Latency([0.030] * 5, promised=5 * 8760, stored=5 * 8760),
        large_get_daily=Latency([0.035] * 5, promised=5 * 8760, stored=5 * 8760),  # 0.86
        schedule_48h=jobs(0.060, 0.004, 0.020),  # overhead 36 ms
        schedule_7d=jobs(0.200, 0.012, 0.150),  # overhead 38 ms
        schedule_negative=jobs(2.0, 0.012, 1.9, n=3),
        schedule_concurrent=jobs(0.5, 0.004, 0.020, wall=0.8),
        schedule_asset=jobs(0.090, 0.008, 0.040),
        stats_sizes=SIZES,
        stats_filled={n: Filled(i, n, 1.0, 1.0) for i, n in enumerate(SIZES)},
        stats_get={n: Latency([0.004, 0.005, 0.006]) for n in SIZES},
        stats_sql={n: Latency([n / 1e6] * 3) for n in SIZES},
        stats_fresh=Latency([0.030, 0.040]),
    )


def verdicts(results: Results) -> dict[str, Verdict]:
    return {row.measurement.strip(): row.verdict for row in table_rows(results)}


def test_a_run_that_meets_every_goal_exits_0() -> None:
    rows = table_rows(good())
    assert {r.verdict for r in rows} == {Verdict.MET, Verdict.INFO}
    assert exit_code(rows) == 0
    assert "every goal met" in render_table(rows)


def test_missing_rows_are_not_met_even_when_fast() -> None:
    results = dataclasses.replace(good(), http=Throughput(192_000, 191_904, 1.0, requests=2000))
    rows = table_rows(results)
    assert verdicts(results)["(b) HTTP POST x96, read-your-writes"] == Verdict.NOT_MET
    assert exit_code(rows) == 1
    assert "191904 rows stored, 192000 promised" in render_table(rows)


def test_failed_requests_are_not_met() -> None:
    results = dataclasses.replace(good(), kafka=Throughput(480_000, 480_000, 1.0, requests=5000, failures=1))
    assert verdicts(results)["(a) Kafka producers -> stored"] == Verdict.NOT_MET
    failed_get = Latency([0.010] * 5, failures=1, promised=5 * 8760, stored=4 * 8760)
    results = dataclasses.replace(good(), get_one=failed_get)
    assert verdicts(results)["GET year @PT1H, posted in 1 request"] == Verdict.NOT_MET
    assert exit_code(table_rows(results)) == 1


def test_a_year_repost_that_changed_the_stored_rows_is_not_met() -> None:
    results = dataclasses.replace(good(), year_repost=Latency([0.1], promised=35_040, stored=70_080))
    assert verdicts(results)["identical re-POST of that year"] == Verdict.NOT_MET


def test_an_information_row_with_a_problem_fails_too() -> None:
    results = dataclasses.replace(good(), copy_samples={"after (a)": Throughput(480_000, 0, 1.6)})
    assert verdicts(results)["(c) raw COPY into timed_beliefs"] == Verdict.NOT_MET


def test_c_is_the_median_of_its_samples_and_each_sample_is_checked() -> None:
    samples = {
        "after (a)": Throughput(480_000, 480_000, 1.0),  # 480,000/s
        "before (b)": Throughput(480_000, 480_000, 3.0),  # 160,000/s
        "after (b)": Throughput(480_000, 480_000, 1.6),  # 300,000/s: the median
    }
    results = dataclasses.replace(good(), copy_samples=samples)
    assert results.copy is samples["after (b)"]
    rows = {row.measurement.strip(): row for row in table_rows(results)}
    assert rows["(b) HTTP POST x96, read-your-writes"].bounds[0].value == pytest.approx(96_000 / 300_000)
    note = rows["(c) raw COPY into timed_beliefs"].note
    assert note.startswith("the median of 3 COPYs") and "before (b): 160,000 beliefs/s" in note
    two = dataclasses.replace(good(), copy_samples={"after (a)": samples["after (a)"], "x": samples["before (b)"]})
    assert two.copy is samples["after (a)"]  # of two, the higher: the stricter yardstick
    short = {**samples, "before (b)": Throughput(480_000, 479_000, 3.0)}  # not the median one
    assert verdicts(dataclasses.replace(good(), copy_samples=short))["(c) raw COPY into timed_beliefs"] == (
        Verdict.NOT_MET
    )  # a sample whose rows were not all found fails the row, median or not


def test_a_row_that_could_not_be_measured_fails_the_run_unless_no_fail() -> None:
    results = dataclasses.replace(good(), post_seq_outside=None, problems={"post_seq": "gateway did not start"})
    rows = table_rows(results)
    outside = [r for r in rows if r.verdict == Verdict.NOT_MEASURED]
    assert [r.problems for r in outside] == [("gateway did not start",)]
    assert exit_code(rows) == 1
    assert exit_code(rows, no_fail=True) == 0


def test_scheduling_and_stats_rows_not_measured_fail_the_run() -> None:
    """The asset trigger not served, the scheduler's log without a job's timings, a stats size not filled."""
    results = dataclasses.replace(
        good(), schedule_asset=None, problems={"asset": "the gateway does not serve POST /api/v3_0/assets/..."},
        schedule_48h=Schedules([Job("j", 0.05, True)], 0.05), stats_get={}, stats_sql={},
    )  # fmt: skip
    found = verdicts(results)
    assert found["asset of 3 batteries, 48 h: all readable"] == Verdict.NOT_MEASURED
    assert found["schedule 48 h @15 min, trigger -> readable"] == Verdict.NOT_MET  # its timings are missing
    assert found["model build, 48 h"] == Verdict.NOT_MEASURED
    assert found["GET stats, sensor of 10 k beliefs"] == Verdict.NOT_MEASURED
    assert exit_code(table_rows(results)) == 1


def test_freshness_measured_while_the_stats_service_was_behind_is_not_met() -> None:
    results = dataclasses.replace(good(), problems={"stats_fresh": "the stats service had not caught up after 120 s"})
    assert verdicts(results)["stats include a POST after"] == Verdict.NOT_MET


def test_without_the_limit_no_ratio_can_be_met() -> None:
    rows = table_rows(dataclasses.replace(good(), copy_samples={}))
    assert {r.measurement for r in rows if r.verdict == Verdict.NOT_MEASURED} == {
        "(a) Kafka producers -> stored",
        "(b) HTTP POST x96, read-your-writes",
        "(c) raw COPY into timed_beliefs",
    }


@pytest.mark.parametrize(
    ("change", "row"),
    [
        ({"kafka": Throughput(480_000, 480_000, 3.0)}, "(a) Kafka producers -> stored"),  # 0.53 of (c)
        ({"http": Throughput(192_000, 192_000, 3.0)}, "(b) HTTP POST x96, read-your-writes"),  # 0.21 of (c)
        ({"year_post": Latency([0.190], promised=35_040, stored=35_040)}, "one-year POST (35,040 values)"),
        ({"get_daily": Latency([0.041] * 5, promised=43_800, stored=43_800)}, "GET year @PT1H, posted in 365 requests"),
        ({"post_seq": Latency([0.005] * 18 + [0.025] * 2)}, "one client, 96-value POSTs in a row"),  # p95 too slow
        ({"kafka_seq": Latency([0.011] * 3)}, "one Kafka command -> BeliefsIngested"),
        ({"large_kafka": Throughput(480_000, 480_000, 2.6)}, "(a) again, large table"),  # 0.77 of the twin's
        ({"large_get_one": Latency([0.038] * 5, promised=43_800, stored=43_800)}, "GET year (1 request), large table"),
        ({"large_fill": Fill(9_000_000, 9_000_000, chunks=650, seconds=60)}, "large table: pre-filled"),
        ({"large_fill": Fill(10_100_000, 10_100_000, chunks=399, seconds=60)}, "large table: pre-filled"),
        ({"schedule_48h": jobs(0.110, 0.004, 0.020)}, "schedule 48 h @15 min, trigger -> readable"),
        ({"schedule_48h": jobs(0.060, 0.011, 0.020)}, "model build, 48 h"),
        ({"schedule_7d": jobs(0.510, 0.012, 0.450)}, "schedule 7 days @15 min, trigger -> readable"),
        ({"schedule_7d": jobs(0.300, 0.012, 0.150)}, "pipeline overhead (readable - build - solve)"),  # 138 ms
        ({"stats_get": {n: Latency([0.021] * 3) for n in SIZES}}, "GET stats, sensor of 10 M beliefs"),
        (
            {"schedule_asset": Schedules([Job("a", 0.1, True, 0.01, 0.05), Job("b", 0.1, False)], 0.2)},
            "asset of 3 batteries, 48 h: all readable",
        ),  # one job not readable
    ],
)
def test_a_figure_beyond_its_goal_is_not_met(change: dict[str, object], row: str) -> None:
    results = dataclasses.replace(good(), **change)  # type: ignore[arg-type]
    assert verdicts(results)[row] == Verdict.NOT_MET
    assert exit_code(table_rows(results)) == 1


def test_the_large_table_is_compared_with_the_empty_table_measured_beside_it() -> None:
    # (a) on the large table is 0.91 of the emptier table's (a) of the run's start, but 0.68 of (a) on the empty
    # twin measured just before it: the twin decides
    results = dataclasses.replace(good(), twin_kafka=Throughput(480_000, 480_000, 1.5))
    assert verdicts(results)["(a) again, large table"] == Verdict.NOT_MET
    # and without the twin's figure, there is no verdict
    results = dataclasses.replace(good(), twin_post_seq=None, problems={"large": "failed: the twin did not start"})
    assert verdicts(results)["96-value POSTs in a row, large table"] == Verdict.NOT_MEASURED
    assert exit_code(table_rows(results)) == 1


@pytest.mark.parametrize(
    ("bound", "shown"),
    [
        (Bound("(b)/(c)", 0.2461372, 0.25), "(b)/(c) 0.246"),  # printed "0.25" beside NOT MET before
        (Bound("(b)/(c)", 0.24999, 0.25), "(b)/(c) 0.24999"),
        (Bound("(b)/(c)", 0.2512, 0.25), "(b)/(c) 0.25"),  # met: two digits say so
        (Bound("(a)/(c)", 0.69, 0.60), "(a)/(c) 0.69"),
        (Bound("overhead p95", 0.05004, 0.050, at_most=True, unit="ms"), "overhead p95 50.04 ms"),
        (Bound("POST/Kafka", 1.5031, 1.50, at_most=True, unit="x"), "POST/Kafka 1.503x"),
        (Bound("(b)/(c)", 0.25, 0.25), "(b)/(c) 0.25"),
        (Bound("(b)/(c)", None, 0.25), "(b)/(c) n/a"),
    ],
)
def test_a_value_never_looks_like_its_limit_unless_it_is(bound: Bound, shown: str) -> None:
    assert bound.measured() == shown


def test_the_result_file_has_its_header_and_the_docs_section_shows_it(tmp_path: Path) -> None:
    head = {
        "started": "2026-12-01 06:00:00 UTC", "commit": "abc1234", "dirty": True,
        "machine": {"host": "vm", "cpu": "AMD EPYC", "cores": 2, "memory_gb": 23.5},
        "versions": {"python": "3.11.7", "kafka": "Apache Kafka 4.4.0", "postgresql": "17.12", "timescaledb": "2.19.3"},
        "sizes": {"kafka_sensors": 500}, "load_before": [1.0, 1.0, 1.0], "load_after": [2.0, 2.0, 2.0],
    }  # fmt: skip
    path = record.write(head, table_rows(good()), tmp_path)
    assert path.name == "20261201T060000Z-abc1234-dirty.md"
    assert path.with_suffix(".json").exists()
    text = path.read_text()
    for part in ("commit `abc1234` (dirty tree)", "2 cores (AMD EPYC), 23.5 GB", "Apache Kafka 4.4.0",
                 "TimescaleDB 2.19.3", "kafka_sensors 500", "1.00 / 1.00 / 1.00 before", "every goal met"):  # fmt: skip
        assert part in text
    doc = f"intro\n{publish.BEGIN}\nold figures\n{publish.END}\nhistory\n"
    new = publish.rewrite(doc, text, "bench/results/x.md")
    assert new.startswith(f"intro\n{publish.BEGIN}\nFrom `bench/results/x.md`") and new.endswith(
        f"{publish.END}\nhistory\n"
    )
    assert "old figures" not in new and "#### Benchmark run" in new


def test_docs_show_the_latest_committed_result() -> None:
    """docs/performance.md's generated section is the newest committed run (``python -m bench.publish``)."""
    result = publish.latest_tracked()
    name = str(result.relative_to(record.ROOT))
    doc = publish.PERFORMANCE.read_text()
    assert publish.rewrite(doc, result.read_text(), name) == doc, "run: .venv/bin/python -m bench.publish"


def test_b_with_more_clients_is_information_beside_the_goal_row_but_its_failures_still_count() -> None:
    shown = dataclasses.replace(good(), http_more={64: Throughput(192_000, 192_000, 1.5, requests=2000)})
    rows = {row.measurement: row for row in table_rows(shown)}
    info = rows["  info: (b) with 64 clients"]
    assert (info.verdict, info.result) == (Verdict.INFO, "128,000 beliefs/s (0.43 of (c))")
    assert exit_code(table_rows(shown)) == 0
    broken = dataclasses.replace(good(), http_more={64: Throughput(192_000, 191_904, 1.5, requests=2000, failures=1)})
    assert exit_code(table_rows(broken)) == 1


def test_a_warm_up_is_information_beside_a_but_its_missing_rows_still_count() -> None:
    warm = Throughput(96_000, 96_000, 1.0, requests=1000)
    rows = {row.measurement.strip(): row for row in table_rows(dataclasses.replace(good(), kafka_warm=warm))}
    assert rows["info: (a)'s warm-up, ingest fresh"].verdict == Verdict.INFO
    assert "96,000 beliefs/s (0.32 of (c))" in rows["info: (a)'s warm-up, ingest fresh"].result
    short = dataclasses.replace(good(), kafka_warm=Throughput(96_000, 95_904, 1.0, requests=1000))
    assert verdicts(short)["info: (a)'s warm-up, ingest fresh"] == Verdict.NOT_MET
    assert exit_code(table_rows(short)) == 1
