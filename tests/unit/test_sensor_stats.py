"""The stats route's query and body (services/gateway/sensor_stats.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.gateway.rules.sensor_stats import QueryError, StatsQuery, answer, parse_query, source_description
from services.gateway.sql.stats import SourceStats

T = datetime(2015, 6, 2, 10, tzinfo=UTC)
US = timedelta(microseconds=123456)


@pytest.mark.parametrize(
    ("name", "kind", "model", "version", "text"),
    [
        ("Alice Smith", "user", None, None, "Alice Smith"),
        ("Seita", "scheduler", "StorageScheduler", "5", "Seita's StorageScheduler model v5"),
        ("Seita", "forecaster", "naive", "1.2", "Seita's naive forecaster v1.2"),
        ("Seita", "reporter", "PandasReporter", None, "Seita's PandasReporter model"),
        ("Seita", "forecaster", "Linear", "", "Seita's Linear forecaster"),
    ],
)
def test_source_description(name: str, kind: str, model: str | None, version: str | None, text: str) -> None:
    assert source_description(name, kind, model, version) == text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, StatsQuery(None, None, True)),
        ({"event_start_time": "2015-06-02T12:00:00+02:00"}, StatsQuery(T, None, True)),
        ({"event_start_time": "2015-06-02 10:00", "sort": "False"}, StatsQuery(T, None, False)),  # naive is UTC
        ({"event_end_time": "June 2, 2015 10:00 UTC", "sort": "0"}, StatsQuery(None, T, False)),
        ({"event_end_time": "2015-06-02T10:00:00Z", "sort": "yes"}, StatsQuery(None, T, True)),
        ({"event_start_time": "", "event_end_time": "  "}, StatsQuery(None, None, True)),
        ({"event_start_time": "2015-06-02T10:00:00.1234567Z"}, StatsQuery(T + US, None, True)),
    ],
)  # fmt: skip
def test_lenient_query(params: dict[str, str], expected: StatsQuery) -> None:
    assert parse_query(params) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [({"event_start_time": "yesterday-ish"}, "event_start_time"), ({"event_end_time": "NaT"}, "event_end_time"),
     ({"event_end_time": "2015-13-45"}, "event_end_time"), ({"sort": "maybe"}, "sort")],
)  # fmt: skip
def test_unreadable_query(params: dict[str, str], field: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(params)
    assert caught.value.field == field


ROW = SourceStats(
    source_id=3, name="Seita", type="forecaster", model="naive", version="1.2", count=4, sum=Decimal("10.5"),
    min=-1.0, max=6.5, first_event_start=T, last_event_start=T + timedelta(hours=1),
    last_belief_time=datetime(2015, 6, 1, 22, tzinfo=UTC),
)  # fmt: skip


def test_sorted_answer_in_the_sensor_timezone() -> None:
    assert answer([ROW], timedelta(minutes=15), "Europe/Amsterdam", sort=True) == {
        "Seita's naive forecaster v1.2 (ID: 3)": {
            "First event start": "2015-06-02T12:00:00+02:00",
            "Last event end": "2015-06-02T13:15:00+02:00",
            "Last recorded": "2015-06-02T00:00:00+02:00",
            "Min value": -1.0,
            "Max value": 6.5,
            "Mean value": 2.625,
            "Sum over values": 10.5,
            "Number of values": 4,
        }
    }


def test_unsorted_answer_is_pairs_in_a_fixed_order() -> None:
    [pairs] = answer([ROW], timedelta(0), "UTC", sort=False).values()
    assert [key for key, _ in pairs] == [
        "First event start", "Last event end", "Last recorded", "Min value", "Max value", "Mean value",
        "Sum over values", "Number of values",
    ]  # fmt: skip
    assert pairs[1] == ["Last event end", "2015-06-02T11:00:00+00:00"]


def test_no_data_is_an_empty_body() -> None:
    assert answer([], timedelta(0), "UTC", sort=True) == {}
