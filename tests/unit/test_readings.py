"""Read planning for GET data: default steps, resampling modes, windows, response bodies."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from services.gateway.http.series_body import values_body
from services.gateway.rules.read_plan import (
    MAX_SLOTS,
    ReadRejected,
    default_step,
    place_on_grid,
    plan_read,
)
from services.gateway.schemas.data import GetSensorDataByIdQuery

START = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1)))


def query(**fields: Any) -> GetSensorDataByIdQuery:
    return GetSensorDataByIdQuery.model_validate({"start": START, "duration": "PT1H", "unit": "kW", **fields})


@pytest.mark.parametrize(
    ("window", "step"),
    [
        (timedelta(hours=8), timedelta(minutes=5)),
        (timedelta(hours=9), timedelta(minutes=15)),
        (timedelta(hours=48), timedelta(minutes=15)),
        (timedelta(hours=49), timedelta(hours=1)),
        (timedelta(days=14), timedelta(hours=1)),
        (timedelta(days=15), timedelta(hours=24)),
        (timedelta(weeks=16), timedelta(hours=24)),
        (timedelta(weeks=17), timedelta(hours=168)),
    ],
)
def test_default_step_for_instantaneous_sensors(window: timedelta, step: timedelta) -> None:
    assert default_step(window) == step


def test_modes_and_windows() -> None:
    quarter = timedelta(minutes=15)
    same = plan_read(query(), 1, quarter)
    assert (same.mode, same.step, same.slots) == ("exact", quarter, 4)
    assert same.first_event == START - quarter + timedelta(microseconds=1)  # overlapping events: start - R < s
    assert same.last_event == START + timedelta(hours=1) - timedelta(microseconds=1)
    assert plan_read(query(resolution="PT1H"), 1, quarter).mode == "downsample"
    assert plan_read(query(resolution="PT5M"), 1, quarter).mode == "upsample"
    instant = plan_read(query(duration="PT9H"), 1, timedelta(0))
    assert (instant.mode, instant.step, instant.first_event) == ("exact", quarter, START)
    assert plan_read(query(duration="PT1H20M", resolution="PT30M"), 1, quarter).slots == 3


def test_typed_requests_bound_the_horizon() -> None:
    assert plan_read(query(type="GetMeterDataRequest"), 1, timedelta(hours=1)).max_horizon == timedelta(0)
    prognosis = plan_read(query(type="GetPrognosisRequest", horizon="-PT1H"), 1, timedelta(hours=1))
    assert prognosis.min_horizon == timedelta(0)


def test_too_many_slots_are_refused() -> None:
    with pytest.raises(ReadRejected):
        plan_read(query(duration=f"PT{MAX_SLOTS + 1}M", resolution="PT1M"), 1, timedelta(minutes=1))


def test_values_body_converts_and_keeps_nulls() -> None:
    plan = plan_read(query(duration="PT30M"), 1, timedelta(minutes=15))
    body = values_body(plan, np.array([4.0, np.nan]), True, "kW", "kWh")
    assert body == {
        "values": [1.0, None], "start": "2025-01-01T00:00:00+01:00", "duration": "PT30M", "unit": "kWh",
        "resolution": "PT15M", "status": "PROCESSED", "message": "Request has been processed.",
    }  # fmt: skip


def test_values_body_without_data_reports_the_sensor_resolution() -> None:
    plan = plan_read(query(resolution="PT30M"), 1, timedelta(minutes=15))
    body = values_body(plan, np.array([np.nan, np.nan]), False, "kW", "kW")
    assert (body["values"], body["resolution"]) == ([None, None], "PT15M")
    instant = plan_read(query(), 1, timedelta(0))
    assert values_body(instant, np.array([1.0]), True, "kW", "kW")["resolution"] == "PT0H"


US = 1_000_000  # microseconds per second


def test_place_on_grid_keeps_grid_points_inside_the_window() -> None:
    exact = plan_read(query(), 1, timedelta(minutes=15))  # 4 slots of 15 minutes
    offsets = [-900 * US, 0, 60 * US, 900 * US, 2700 * US, 3600 * US]  # before, on, off, on, last, past the end
    grid = place_on_grid(exact, offsets, [9.0, 1.0, 9.0, 2.0, 4.0, 9.0])
    assert [None if math.isnan(v) else v for v in grid] == [1.0, 2.0, None, 4.0]
    assert math.isnan(place_on_grid(exact, [], []).sum()) and len(place_on_grid(exact, [], [])) == 4


def test_place_on_grid_drops_resampled_slots_not_fully_inside() -> None:
    coarse = plan_read(query(duration="PT1H20M", resolution="PT30M"), 1, timedelta(minutes=15))  # 3 slots, last partial
    grid = place_on_grid(coarse, [0, 1800 * US, 3600 * US], [1.0, 2.0, 3.0])
    assert [None if math.isnan(v) else v for v in grid] == [1.0, 2.0, None]


def test_values_body_writes_nan_as_null() -> None:
    plan = plan_read(query(duration="PT30M"), 1, timedelta(minutes=15))
    body = values_body(plan, np.array([4.0, np.nan]), True, "kW", "kWh")
    assert body["values"] == [1.0, None] and type(body["values"][0]) is float
