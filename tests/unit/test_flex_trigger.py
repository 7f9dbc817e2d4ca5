# ruff: noqa: E501  (tables of inputs and exact error texts read best with one case per line)
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.errors import FlexRejected, TriggerRejected
from shared.flex import ScheduleRequest, referenced_sensors, trigger_body
from shared.flex.process import ProcessFlexModel, TimeRestriction
from tests.unit.flex_error_tables import (
    BEYOND_WINDOW,
    INSTANTANEOUS_POWER_SENSOR,
    PROCESS_ERRORS,
    SEGMENT_ERRORS,
    TOP_LEVEL_ERRORS,
)
from tests.unit.flex_fixtures import BATTERY, START, body, rejection, validate

T0 = datetime.fromisoformat(START)
PROCESS = replace(BATTERY, asset_type="process")


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("changes", "expected"),
    TOP_LEVEL_ERRORS,
)
def test_top_level_errors(changes: dict[str, Any], expected: object) -> None:
    payload = body()
    for key, value in changes.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    assert rejection(payload) == expected


def test_body_must_be_an_object() -> None:
    assert rejection([]) == {"json": {"_schema": ["Invalid input type."]}}  # type: ignore[arg-type]


def test_accepted_request_round_trips_as_json() -> None:
    request = validate(body(prior="2024-01-01T00:00:00Z", force_new_job_creation=True))
    assert request.scheduler == "StorageScheduler"
    assert (request.start, request.end, request.resolution) == (T0, T0 + timedelta(hours=2), timedelta(minutes=15))
    assert request.prior == datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    assert request.force_new_job_creation
    assert ScheduleRequest.model_validate_json(request.model_dump_json()) == request


def test_default_duration_is_the_planning_horizon() -> None:
    payload = body()
    del payload["duration"]
    assert validate(payload).end == T0 + timedelta(hours=48)
    assert validate(payload, planning_horizon=timedelta(hours=6)).end == T0 + timedelta(hours=6)


def test_instantaneous_power_sensor_cannot_be_scheduled() -> None:
    expected = INSTANTANEOUS_POWER_SENSOR.format(BATTERY.id)
    assert rejection(body(), replace(BATTERY, event_resolution=timedelta(0))) == expected


def test_custom_scheduler_is_refused() -> None:
    battery = replace(BATTERY, attributes={"custom-scheduler": {"module": "x", "class": "Y"}})
    assert isinstance(rejection(body(), battery), str)


@pytest.mark.parametrize(
    ("target_hours", "horizon", "expected_end_hours"),
    [
        (1, 2520, 2),  # inside the window: no extension
        (5, 2520, 5),  # extended to the target
        (5, 16, 4),  # capped at start + 16 slots of 15 minutes
        (5, timedelta(hours=3), 3),
        (30, None, 30),  # no max planning horizon
    ],
)
def test_window_is_extended_to_the_last_target(target_hours: float, horizon: Any, expected_end_hours: float) -> None:
    targets = [{"value": 0.5, "datetime": at(target_hours)}]
    payload = body({"soc-targets": targets})
    if expected_end_hours < target_hours:
        message = rejection(payload, max_planning_horizon=horizon)
        assert isinstance(message, dict) and BEYOND_WINDOW in message["soc-targets"][0]
        return
    request = validate(payload, max_planning_horizon=horizon)
    assert request.end == T0 + timedelta(hours=expected_end_hours)
    assert request.requested_end == T0 + timedelta(hours=2)


def test_sensor_targets_never_extend_the_window() -> None:
    assert validate(body({"soc-targets": {"sensor": 5}})).end == T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    ("field", "segment", "problem"),
    SEGMENT_ERRORS,
)
def test_soc_segments_that_would_do_nothing_are_refused(field: str, segment: dict[str, Any], problem: str) -> None:
    message = rejection(body({field: [segment]}))
    assert isinstance(message, dict) and problem in message[field][0]


@pytest.mark.parametrize(
    ("field", "segment"),
    [
        ("soc-minima", {"value": 0.5, "datetime": at(9)}),  # a bound outside the window simply does not apply
        ("soc-maxima", {"value": 0.5, "start": at(0), "end": at(1.1)}),
        ("soc-targets", {"value": 0.5, "start": at(0.9), "end": at(1.1)}),
    ],
)
def test_soc_segments_that_cover_a_grid_instant_are_accepted(field: str, segment: dict[str, Any]) -> None:
    validate(body({field: [segment]}))


def test_referenced_sensors() -> None:
    payload = body(
        {"soc-minima": {"sensor": 5}, "soc-gain": [{"sensor": 2}, "1 kW"], "power-capacity": {"sensor": 8}},
        {"consumption-price": {"sensor": 3}, "production-price-sensor": 4, "inflexible-device-sensors": [2, 6]},
    )
    assert referenced_sensors(payload) == {2, 3, 4, 5, 6, 8}
    assert referenced_sensors(payload, {"site-power-capacity": {"sensor": 9}}) == {2, 3, 4, 5, 6, 8, 9}
    assert referenced_sensors({"flex-model": "junk", "flex-context": 3}) == set()


def test_process_flex_model() -> None:
    model = {
        "duration": "PT1H",
        "power": 2.5,
        "process-type": "SHIFTABLE",
        "optimization-sense": "MAX",
        "time-restrictions": [{"start": at(0), "duration": "PT30M"}],
    }
    request = validate(body() | {"flex-model": model}, PROCESS)
    assert request.scheduler == "ProcessScheduler"
    assert request.process == ProcessFlexModel(
        duration=timedelta(hours=1),
        power=2.5,
        process_type="SHIFTABLE",
        optimization_sense="MAX",
        time_restrictions=(TimeRestriction(start=T0, duration=timedelta(minutes=30)),),
    )


def test_process_type_defaults_from_attributes() -> None:
    request = validate(
        body() | {"flex-model": {"duration": "PT1H", "power": 1}},
        replace(PROCESS, asset_type="load", attributes={"process-type": "BREAKABLE"}),
    )
    assert request.process is not None and request.process.process_type == "BREAKABLE"


@pytest.mark.parametrize(
    ("model", "expected"),
    PROCESS_ERRORS,
)
def test_process_flex_model_errors(model: dict[str, Any], expected: object) -> None:
    assert rejection(body() | {"flex-model": model}, PROCESS) == expected


@pytest.mark.parametrize(
    "payload",
    [
        body(prior="2024-01-01T00:00:00+00:00", force_new_job_creation=True),
        body({"soc-targets": [{"value": 0.5, "datetime": at(5)}]}),  # the extension is recomputed, not stored
        {k: v for k, v in body().items() if k != "duration"},
    ],
)
def test_trigger_body_validates_to_the_same_request(payload: dict[str, Any]) -> None:
    request = validate(payload)
    assert validate(trigger_body(request)) == request


@pytest.mark.parametrize(
    ("start", "duration", "end"),
    [
        ("2024-01-31T00:00:00+01:00", "P1M", "2024-02-29T00:00:00+01:00"),  # clamped to the month's last day
        ("2024-03-01T00:00:00+01:00", "P1M", "2024-04-01T00:00:00+02:00"),  # across the DST change, local midnight
        ("2024-01-01T00:00:00+01:00", "P1Y1MT1H", "2025-02-01T01:00:00+01:00"),
        ("2024-01-01T00:00:00+01:00", "PT1H", "2024-01-01T01:00:00+01:00"),
    ],
)
def test_soc_segments_may_use_months_in_the_sensor_timezone(start: str, duration: str, end: str) -> None:
    request = validate(body({"soc-maxima": [{"value": 0.5, "start": start, "duration": duration}]}))
    assert request.storage is not None
    (segment,) = request.storage.soc_maxima.segments  # type: ignore[union-attr]
    assert segment.end == datetime.fromisoformat(end)


def test_segment_end_minus_months() -> None:
    request = validate(body({"soc-maxima": [{"value": 0.5, "end": "2024-03-31T00:00:00+01:00", "duration": "P1M"}]}))
    assert request.storage is not None
    (segment,) = request.storage.soc_maxima.segments  # type: ignore[union-attr]
    assert segment.start == datetime.fromisoformat("2024-02-29T00:00:00+01:00")


def test_flow_segments_refuse_months() -> None:
    segment = {"value": "1 EUR/MWh", "start": START, "duration": "P1M"}
    expected = {
        "consumption-price": {
            "0": {"duration": ["Cannot parse P1M as ISO8601 duration: months and years are not supported."]}
        }
    }
    assert rejection(body(None, {"consumption-price": [segment]})) == expected


def test_rejections_carry_the_flexmeasures_bodies() -> None:
    with pytest.raises(TriggerRejected) as e1:
        validate({**body(), "start": "x"})
    assert e1.value.body() == {
        "message": {"json": {"start": ["Not a valid datetime."]}},
        "result": "Rejected",
        "status": "UNPROCESSABLE_ENTITY",
    }
    with pytest.raises(FlexRejected) as e6:
        validate(body({"soc-min": "-1 kWh"}))
    assert e6.value.body() == {
        "message": {"json": {"soc-min": ["Must be greater than or equal to 0."]}},
        "result": "Rejected",
        "status": "UNPROCESSABLE_ENTITY",
    }
