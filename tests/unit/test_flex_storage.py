# ruff: noqa: E501  (tables of inputs and exact error texts read best with one case per line)
from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.flex import Fixed, SensorRef, Series
from tests.unit.flex_error_tables import AT_1H, STORAGE_ERRORS
from tests.unit.flex_fixtures import BATTERY, START, body, rejection, sensor, validate

SQRT_09 = math.sqrt(0.9)


@pytest.mark.parametrize(
    ("flex_model", "attribute", "expected"),
    [
        ({"soc-at-start": "500 kWh"}, "soc_at_start", 0.5),
        ({"soc-at-start": 0.25}, "soc_at_start", 0.25),  # soc-unit guessed from the MW sensor: MWh
        ({"soc-at-start": 250, "soc-unit": "kWh"}, "soc_at_start", 0.25),
        ({"soc-unit": "kWh"}, "soc_unit", "kWh"),
        ({"soc-min": "100 kWh"}, "soc_min", 0.1),
        ({"soc-max": "0.8 MWh"}, "soc_max", 0.8),
        ({"soc-max": 800, "soc-unit": "kWh"}, "soc_max", 0.8),
        ({"soc-minima": [{"value": "100 kWh", "datetime": AT_1H}]}, "soc_minima", Series.model_validate({"segments": [{"start": AT_1H, "end": AT_1H, "value": 0.1}]})),
        ({"soc-maxima": [{"value": 0.5, "start": START, "end": AT_1H}]}, "soc_maxima", Series.model_validate({"segments": [{"start": START, "end": AT_1H, "value": 0.5}]})),
        ({"soc-targets": [{"value": "0.5 MWh", "datetime": AT_1H}]}, "soc_targets", Series.model_validate({"segments": [{"start": AT_1H, "end": AT_1H, "value": 0.5}]})),
        ({"soc-minima": {"sensor": 5}}, "soc_minima", SensorRef(sensor=5)),
        ({"soc-minima": "0.2 MWh"}, "soc_minima", Fixed(value=0.2)),
        ({"state-of-charge": {"sensor": 5}}, "state_of_charge", 5),
        ({"power-capacity": "500 kW"}, "power_capacity", Fixed(value=0.5)),
        ({"power-capacity": {"sensor": 2}}, "power_capacity", SensorRef(sensor=2)),
        ({"consumption-capacity": "200 kW"}, "consumption_capacity", Fixed(value=0.2)),
        ({"production-capacity": [{"value": "1 MW", "start": START, "duration": "PT1H"}]}, "production_capacity", Series.model_validate({"segments": [{"start": START, "end": AT_1H, "value": 1.0}]})),
        ({"charging-efficiency": "90%"}, "charging_efficiency", Fixed(value=0.9)),
        ({"charging-efficiency": 1.2}, "charging_efficiency", Fixed(value=1.2)),  # a COP above 1 is allowed
        ({"discharging-efficiency": {"sensor": 6}}, "discharging_efficiency", SensorRef(sensor=6)),
        ({"roundtrip-efficiency": "90%"}, "charging_efficiency", Fixed(value=SQRT_09)),
        ({"roundtrip-efficiency": 0.9}, "discharging_efficiency", Fixed(value=SQRT_09)),
        ({"storage-efficiency": "50%"}, "storage_efficiency", Fixed(value=0.5)),
        ({"storage-efficiency": [{"value": 0.99, "start": START, "duration": "PT1H"}]}, "storage_efficiency", Series.model_validate({"segments": [{"start": START, "end": AT_1H, "value": 0.99}]})),
        ({"soc-gain": ["10 kW", {"sensor": 2}]}, "soc_gain", (Fixed(value=0.01), SensorRef(sensor=2))),
        ({"soc-usage": ["1 MW"]}, "soc_usage", (Fixed(value=1.0),)),
        ({"prefer-charging-sooner": False}, "prefer_charging_sooner", False),
        ({"prefer-curtailing-later": False}, "prefer_curtailing_later", False),
    ],
)  # fmt: skip
def test_each_field_is_parsed_into_internal_units(flex_model: dict[str, Any], attribute: str, expected: object) -> None:
    request = validate(body(flex_model))
    assert request.storage is not None
    assert getattr(request.storage, attribute) == expected


def test_defaults() -> None:
    payload = body()
    payload["flex-model"] = {"soc-max": "1 MWh", "power-capacity": "1 MW"}
    model = validate(payload).storage
    assert model is not None
    assert (model.soc_at_start, model.soc_min, model.soc_unit) == (0.0, 0.0, "MWh")
    assert model.charging_efficiency == model.discharging_efficiency == model.storage_efficiency == Fixed(value=1.0)
    assert (model.prefer_charging_sooner, model.prefer_curtailing_later) == (True, True)
    assert model.consumption_capacity is None and not model.consumption_capacity_in_flex_model


@pytest.mark.parametrize(
    ("unit", "guess"), [("kWh", "kWh"), ("MWh", "MWh"), ("kW", "kWh"), ("MW", "MWh"), ("W", None), ("EUR", None)]
)
def test_soc_unit_is_guessed_from_the_sensor_unit(unit: str, guess: str | None) -> None:
    model = validate(body(), replace(BATTERY, unit=unit)).storage
    assert model is not None and model.soc_unit == guess


@pytest.mark.parametrize(
    ("attributes", "asset_attributes", "attribute", "expected"),
    [
        ({"min_soc_in_mwh": 0.1}, {}, "soc_min", 0.1),
        ({}, {"min_soc_in_mwh": 0.2}, "soc_min", 0.2),
        ({"max_soc_in_mwh": 3}, {}, "soc_max", 3.0),
        ({"capacity_in_mw": 2}, {}, "power_capacity", Fixed(value=2.0)),
        ({"capacity_in_mw": "500 kW"}, {}, "power_capacity", Fixed(value=0.5)),
        ({"power-capacity": "300 kW"}, {}, "power_capacity", Fixed(value=0.3)),
        ({}, {"site-power-capacity": "4 MW"}, "power_capacity", Fixed(value=4.0)),
        ({"consumption_capacity": "100 kW"}, {}, "consumption_capacity", Fixed(value=0.1)),
        ({"production_capacity": 0.2}, {}, "production_capacity", Fixed(value=0.2)),
        ({"charging-efficiency": 0.95}, {}, "charging_efficiency", Fixed(value=0.95)),
        ({"discharging-efficiency": "80%"}, {}, "discharging_efficiency", Fixed(value=0.8)),
        ({"roundtrip_efficiency": 0.9}, {}, "charging_efficiency", Fixed(value=SQRT_09)),  # either spelling
        ({"roundtrip-efficiency": 0.81}, {}, "discharging_efficiency", Fixed(value=0.9)),
        ({"roundtrip-efficiency": 0.81, "charging-efficiency": 0.5}, {}, "charging_efficiency", Fixed(value=0.9)),
        ({"soc-gain": ["1 kW"]}, {}, "soc_gain", (Fixed(value=0.001),)),
        ({"soc-usage": ["1 kW"]}, {}, "soc_usage", (Fixed(value=0.001),)),
        ({"is_consumer": True, "is_producer": False}, {}, "consumer_only", True),
        ({"is_consumer": True}, {}, "consumer_only", False),  # is_producer must be explicitly false
        ({"is_producer": True, "is_consumer": False}, {}, "producer_only", True),
        ({}, {"soc_in_mwh": 0.4, "soc_datetime": "2023-12-31T23:00:00+00:00"}, "soc_at_start", 0.4),
        ({}, {"soc_in_mwh": 0.4, "soc_datetime": "2024-01-01T05:00:00+00:00"}, "soc_at_start", 0.0),
    ],
)  # fmt: skip
def test_defaults_from_sensor_and_asset(
    attributes: dict[str, Any], asset_attributes: dict[str, Any], attribute: str, expected: object
) -> None:
    battery = replace(BATTERY, attributes=attributes, asset_attributes=asset_attributes)
    payload = body()
    payload["flex-model"] = {"soc-max": "1 MWh"} if attribute != "soc_max" else {}
    model = validate(payload, battery).storage
    assert model is not None
    assert getattr(model, attribute) == expected


def test_power_capacity_from_the_stored_flex_context() -> None:
    payload = body()
    payload["flex-model"] = {"soc-max": "1 MWh"}
    model = validate(payload, replace(BATTERY, flex_context={"site-power-capacity": "3 MW"})).storage
    assert model is not None and model.power_capacity == Fixed(value=3.0)
    model = validate(payload).storage
    assert model is not None and model.power_capacity is None  # the job fails, naming it


def test_flex_model_wins_over_attributes() -> None:
    battery = replace(BATTERY, attributes={"capacity_in_mw": 9, "max_soc_in_mwh": 9, "consumption_capacity": 9})
    model = validate(body({"consumption-capacity": "1 MW"}), battery).storage
    assert model is not None
    assert (model.power_capacity, model.soc_max, model.consumption_capacity) == (
        Fixed(value=1.0),
        1.0,
        Fixed(value=1.0),
    )
    assert model.consumption_capacity_in_flex_model


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (
            [{"value": "900 kWh", "datetime": AT_1H}, {"value": "0.1 MWh", "datetime": AT_1H}],
            0.9,
        ),  # numeric, not "0.1" > "900"
        ([{"value": 2, "datetime": AT_1H}, {"value": 10, "datetime": AT_1H}], 10.0),
    ],
)
def test_soc_max_defaults_to_the_largest_target(targets: list[dict[str, Any]], expected: float) -> None:
    payload = body({"soc-targets": targets})
    del payload["flex-model"]["soc-max"]
    model = validate(payload).storage
    assert model is not None and model.soc_max == expected


@pytest.mark.parametrize(
    ("flex_model", "battery_changes", "expected"),
    STORAGE_ERRORS,
)
def test_storage_flex_model_errors(
    flex_model: dict[str, Any], battery_changes: dict[str, Any], expected: object
) -> None:
    payload = body(flex_model)
    payload["flex-model"] = {key: value for key, value in payload["flex-model"].items() if value is not None}
    assert rejection(payload, replace(BATTERY, **battery_changes)) == expected


def test_storage_efficiency_sensor_with_the_power_sensor_resolution_is_accepted() -> None:
    from tests.unit.flex_fixtures import SENSORS

    request = validate(body({"storage-efficiency": {"sensor": 6}}))
    assert request.storage is not None and request.storage.storage_efficiency == SensorRef(sensor=6)
    assert SENSORS[6].event_resolution == timedelta(minutes=15) == BATTERY.event_resolution


def test_sensor_helper() -> None:
    assert sensor(1, "MW").unit == "MW"
