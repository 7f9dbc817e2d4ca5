"""Ingest's check for stored beliefs is split into spans of nearby windows, each with constant bounds."""

from datetime import UTC, datetime, timedelta

from services.ingest.sql import classify_query, stored_windows_query, window_spans

DAY = timedelta(days=1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def w(idx: int, first: datetime, days: int = 1) -> tuple[int, int, datetime, datetime]:
    return (idx, 7, first, first + days * DAY - timedelta(minutes=15))


def test_nearby_windows_share_a_span_far_ones_do_not() -> None:
    windows = [w(0, T0), w(1, T0 + 30 * DAY), w(2, T0 + 5 * DAY), w(3, T0 + 3650 * DAY), w(4, T0 - 3650 * DAY)]
    spans = window_spans(windows)
    assert [[x[0] for x in span] for span in spans] == [[4], [0, 2, 1], [3]]


def test_a_long_window_extends_its_span() -> None:
    spans = window_spans([w(0, T0, days=365), w(1, T0 + 380 * DAY)])
    assert [[x[0] for x in span] for span in spans] == [[0, 1]]


def test_every_window_is_in_exactly_one_span_with_its_bounds() -> None:
    windows = [w(i, T0 + i * 17 * DAY) for i in range(20)]
    spans = window_spans(windows)
    assert sorted(x[0] for span in spans for x in span) == list(range(20))
    query, params = stored_windows_query(spans)
    for k, span in enumerate(spans):
        assert params[f"lo{k}"] == min(x[2] for x in span) and params[f"hi{k}"] == max(x[3] for x in span)
        assert params[f"idx{k}"] == [x[0] for x in span]
    assert len(list(query)) == 2 * len(spans) - 1  # the queries joined by UNION ALL


def test_the_classification_reads_each_span_within_its_own_bounds() -> None:
    far = [w(0, T0), w(1, T0 + 3 * DAY), w(2, T0 + 9000 * DAY)]
    spans = window_spans(far)
    query, params = classify_query(spans)
    assert len(spans) == 2
    assert (params["lo0"], params["hi0"]) == (far[0][2], far[1][3])
    assert (params["lo1"], params["hi1"]) == (far[2][2], far[2][3])
    assert "sensor_ids" not in params  # the caller adds them
