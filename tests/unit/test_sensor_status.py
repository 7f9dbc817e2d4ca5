"""The staleness rules of the status route (services/gateway/sensor_status.py), table-driven, each case with
its own clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.gateway.rules import sensor_status as s
from shared.errors import InvalidStatusSpecs
from shared.settings import GatewaySettings

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
QUARTER = timedelta(minutes=15)
AMS = ZoneInfo("Europe/Amsterdam")
H1M45 = timedelta(hours=1, minutes=45)
D1H1 = timedelta(days=1, hours=1)


def ex_post(resolution: timedelta = QUARTER) -> Any:
    return lambda start: s.knowledge_time(start, resolution, "ex_post", {"ex_post_horizon": "PT0H"})


DEFAULT = s.status_spec({}, "ex_post", QUARTER)  # max staleness 30 minutes, max future staleness -12 h


@pytest.mark.parametrize(
    ("source_type", "last_start", "stale", "staleness", "since", "reason"),
    [
        # past data (knowledge time = event end), within and beyond max staleness
        ("user", NOW - timedelta(minutes=30), False, timedelta(minutes=15), NOW - timedelta(minutes=15),
         "most recent data is 15 minutes old, which is not more than 30 minutes old"),
        ("user", NOW - timedelta(minutes=45), False, timedelta(minutes=30), NOW - timedelta(minutes=30),
         "most recent data is 30 minutes old, which is not more than 30 minutes old"),  # equal is not stale
        ("demo script", NOW - timedelta(hours=2), True, H1M45, NOW - H1M45,
         "most recent data is 1 hour and 45 minutes old, but should not be more than 30 minutes old"),
        ("reporter", NOW - D1H1 - QUARTER, True, D1H1, NOW - D1H1,
         "most recent data is 1 day and 1 hour old, but should not be more than 30 minutes old"),
        # knowledge time in the future: compared with the max future staleness (-12 h)
        ("user", NOW + timedelta(hours=1), True, timedelta(hours=1, minutes=15), NOW + timedelta(hours=1, minutes=15),
         "most recent data is 1 hour and 15 minutes in the future, but should be more than 12 hours in the future"),
        ("user", NOW - QUARTER, True, timedelta(0), NOW,
         "most recent data is 0 seconds in the future, but should be more than 12 hours in the future"),
        # schedulers and forecasters: judged by the start of their last future event
        ("forecaster", NOW + timedelta(hours=13), False, timedelta(hours=13), NOW + timedelta(hours=13),
         "most recent data is 13 hours in the future, which is not less than 12 hours in the future"),
        ("scheduler", NOW + timedelta(hours=11), True, timedelta(hours=11), NOW + timedelta(hours=11),
         "most recent data is 11 hours in the future, but should be more than 12 hours in the future"),
        ("scheduler", NOW + timedelta(hours=12), False, timedelta(hours=12), NOW + timedelta(hours=12),
         "most recent data is 12 hours in the future, which is not less than 12 hours in the future"),
        # ... and without future data they are stale, whatever their past data
        ("forecaster", NOW - timedelta(hours=1), True, None, NOW - timedelta(hours=1),
         "Found no future data which this source should have"),
        ("scheduler", NOW, True, None, NOW, "Found no future data which this source should have"),
    ],
)  # fmt: skip
def test_one_source_type(
    source_type: str, last_start: datetime, stale: bool, staleness: timedelta | None, since: datetime, reason: str
) -> None:
    [status] = s.statuses({source_type: last_start}, DEFAULT, NOW, ex_post())
    assert status == s.Status(source_type, staleness, stale, since, reason)


def test_no_data_at_all() -> None:
    assert s.statuses({}, DEFAULT, NOW, ex_post()) == [s.Status(None, None, True, None, "no data recorded")]


def test_one_entry_per_source_type_in_a_fixed_order_and_unknown_types_ignored() -> None:
    latest = {"reporter": NOW, "scheduler": NOW + timedelta(days=1), "user": NOW, "CLI script": NOW}
    found = s.statuses(latest, DEFAULT, NOW, ex_post())
    assert [x.source_type for x in found] == ["user", "scheduler", "reporter"]


def test_day_ahead_prices_multi_source() -> None:
    """A sensor with knowledge horizon "1 day ago at 12 o'clock" (Amsterdam): the last event starts
    2016-01-02T23:00+01, known since 2016-01-01T12:00+01; default max staleness one day."""
    par = {"x": 1, "y": 12, "z": "Europe/Amsterdam"}
    spec = s.status_spec({}, "x_days_ago_at_y_oclock", timedelta(hours=1))
    assert spec == s.StatusSpec(timedelta(days=1), timedelta(hours=-12), {})
    last = datetime(2016, 1, 2, 23, tzinfo=AMS)

    def kt(start: datetime) -> datetime:
        return s.knowledge_time(start, timedelta(hours=1), "x_days_ago_at_y_oclock", par)

    assert kt(last) == datetime(2016, 1, 1, 12, tzinfo=AMS)
    cases = [
        (datetime(2016, 1, 2, 12, tzinfo=AMS), (True, timedelta(hours=11)), (False, timedelta(days=1))),
        (datetime(2016, 1, 1, 22, tzinfo=AMS), (False, timedelta(hours=25)), (False, timedelta(hours=10))),
        (datetime(2016, 1, 3, 12, tzinfo=AMS), (True, None), (True, timedelta(days=2))),
    ]
    for now, (f_stale, f_staleness), (r_stale, r_staleness) in cases:
        forecaster, reporter = s.statuses({"forecaster": last, "reporter": last}, spec, now, kt)
        assert (forecaster.stale, forecaster.staleness) == (f_stale, f_staleness), now
        assert (reporter.stale, reporter.staleness) == (r_stale, r_staleness), now
    *_, reporter = s.statuses({"reporter": last}, spec, datetime(2016, 1, 3, 12, tzinfo=AMS), kt)
    assert reporter.reason == "most recent data is 2 days old, but should not be more than 1 day old"


@pytest.mark.parametrize(
    ("attributes", "fnc", "resolution", "expected"),
    [
        ({}, "ex_post", QUARTER, s.StatusSpec(timedelta(minutes=30), timedelta(hours=-12), {})),
        ({}, "ex_post", timedelta(0), s.StatusSpec(timedelta(0), timedelta(hours=-12), {})),
        ({}, "x_days_ago_at_y_oclock", QUARTER, s.StatusSpec(timedelta(days=1), timedelta(hours=-12), {})),
        ({"status_specs": {"max_staleness": "PT2H", "max_future_staleness": "-P1D", "staleness_search": {}}},
         "x_days_ago_at_y_oclock", QUARTER, s.StatusSpec(timedelta(hours=2), timedelta(days=-1), {})),
        ({"status_specs": {"max_staleness": "PT90S"}}, "ex_post", QUARTER,
         s.StatusSpec(timedelta(seconds=90), timedelta(hours=-12), {})),
    ],
)  # fmt: skip
def test_status_specs_and_defaults(
    attributes: dict[str, Any], fnc: str, resolution: timedelta, expected: s.StatusSpec
) -> None:
    assert s.status_spec(attributes, fnc, resolution) == expected


def test_custom_limits_change_the_verdict() -> None:
    spec = s.status_spec({"status_specs": {"max_staleness": "PT2H"}}, "ex_post", QUARTER)
    [status] = s.statuses({"user": NOW - timedelta(hours=2)}, spec, NOW, ex_post())
    assert (status.stale, status.reason) == (
        False, "most recent data is 1 hour and 45 minutes old, which is not more than 2 hours old"
    )  # fmt: skip


@pytest.mark.parametrize(
    "specs",
    [
        {"status_specs": "PT1H"},
        {"status_specs": {"max_future_staleness": "-PT1H"}},  # max_staleness is required
        {"status_specs": {"max_staleness": "an hour"}},
        {"status_specs": {"max_staleness": "P1M"}},
        {"status_specs": {"max_staleness": "PT1H", "staleness_search": []}},
    ],
)
def test_unreadable_status_specs(specs: dict[str, Any]) -> None:
    with pytest.raises(InvalidStatusSpecs):
        s.status_spec(specs, "ex_post", QUARTER)


@pytest.mark.parametrize(
    ("fnc", "par", "expected"),
    [
        ("ex_post", {"ex_post_horizon": "PT0H"}, NOW + QUARTER),
        ("ex_post", {}, NOW + QUARTER),
        ("ex_post", {"ex_post_horizon": "PT1H"}, NOW + QUARTER + timedelta(hours=1)),
        ("ex_ante", {"ex_ante_horizon": "PT6H"}, NOW - timedelta(hours=6)),
        ("at_date", {"knowledge_time": "2024-12-31T00:00:00+00:00"}, datetime(2024, 12, 31, tzinfo=UTC)),
        ("x_days_ago_at_y_oclock", {"x": 2, "y": 9.5, "z": "UTC"}, datetime(2025, 1, 8, 9, 30, tzinfo=UTC)),
    ],
)
def test_knowledge_time(fnc: str, par: dict[str, Any], expected: datetime) -> None:
    assert s.knowledge_time(NOW, QUARTER, fnc, par) == expected


@pytest.mark.parametrize(
    ("fnc", "par"), [("x_days_ago_at_y_oclock", {"x": 1}), ("at_date", {}), ("ex_post", {"ex_post_horizon": 5}),
                     ("x_days_ago_at_y_oclock", {"x": 1, "y": 12, "z": "Mars/Olympus"}), ("sometimes", {})]
)  # fmt: skip
def test_unreadable_knowledge_horizon(fnc: str, par: dict[str, Any]) -> None:
    with pytest.raises(InvalidStatusSpecs):
        s.knowledge_time(NOW, QUARTER, fnc, par)


@pytest.mark.parametrize(
    ("flex_context", "expected"),
    [
        ({}, "sensor belongs to this asset"),
        ({"inflexible-device-sensors": [3, 7]}, "sensor belongs to this asset;flex context (inflexible device)"),
        ({"consumption-price": {"sensor": 7}, "site-power-capacity": "1 MW", "production-price": {"sensor": 8}},
         "sensor belongs to this asset;flex context (consumption-price)"),
        ({"inflexible-device-sensors": [7], "site-consumption-capacity": {"sensor": 7}, "x": {"value": 1}},
         "sensor belongs to this asset;flex context (inflexible device);flex context (site-consumption-capacity)"),
    ],
)  # fmt: skip
def test_relation(flex_context: dict[str, Any], expected: str) -> None:
    assert s.relation(7, flex_context) == expected


@pytest.mark.parametrize(
    ("resolution", "text"),
    [
        (QUARTER, "15 minutes"),
        (timedelta(hours=1), "an hour"),
        (timedelta(0), "a moment"),
        (timedelta(days=1), "a day"),
    ],
)
def test_humanized_resolution(resolution: timedelta, text: str) -> None:
    assert s.humanized_resolution(resolution) == text


def test_entry_writes_durations_in_english_and_the_since_time_in_the_server_timezone() -> None:
    status = s.Status("user", timedelta(hours=1, minutes=45), True, datetime(2025, 1, 10, 10, 15, tzinfo=UTC), "r")
    common: dict[str, Any] = {"sensor_id": 7, "name": "power", "resolution": QUARTER, "asset_name": "battery",
                              "relation": "sensor belongs to this asset"}  # fmt: skip
    assert s.entry(status, tz=AMS, **common) == {
        "staleness": "2 hours", "stale": True, "staleness_since": "2025-01-10 11:15:00+01:00", "reason": "r",
        "source_type": "user", "id": 7, "name": "power", "resolution": "15 minutes", "asset_name": "battery",
        "relation": "sensor belongs to this asset",
    }  # fmt: skip
    empty = s.entry(s.Status(None, None, True, None, "no data recorded"), tz=AMS, **common)
    assert (empty["staleness"], empty["staleness_since"], empty["source_type"]) == (None, None, None)


def test_the_server_timezone_setting_is_checked_at_start() -> None:
    assert GatewaySettings(server_timezone="Asia/Seoul").server_timezone == "Asia/Seoul"
    with pytest.raises(ValidationError, match="unknown timezone"):
        GatewaySettings(server_timezone="Mars/Olympus")
