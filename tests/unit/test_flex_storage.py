# ruff: noqa: E501  (tables of inputs and exact error texts read best with one case per line)
from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.flex import Fixed, SensorRef, Series
from shared.flex.storage import NEED_SOC_MAX
from tests.unit.flex_fixtures import BATTERY, START, body, rejection, sensor, validate

AT_1H = "2024-01-01T01:00:00+01:00"
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


COMMA = "Unsupported value type. `<class 'int'>` was provided but a quantity with a unit is expected."


@pytest.mark.parametrize(
    ("flex_model", "battery_changes", "expected"),
    [
        ({"soc-max": None}, {}, NEED_SOC_MAX),
        ({"soc-max": None, "soc-targets": {"sensor": 5}}, {}, NEED_SOC_MAX),
        ({"colour": "red"}, {}, {"colour": ["Unknown field."]}),
        ({"soc-min": "x"}, {}, {"soc-min": ["Cannot convert value 'x' to a valid quantity. 'x' is not defined in the unit registry"]}),
        ({"soc-min": "1 MW"}, {}, {"soc-min": ["Cannot convert value `1 MW` to 'MWh'"]}),
        ({"soc-min": "-1 kWh"}, {}, {"soc-min": ["Must be greater than or equal to 0."]}),
        ({"soc-min": "2 MWh"}, {}, {"_schema": ["soc-min must not exceed soc-max."]}),
        ({"soc-at-start": 5}, {"unit": "W"}, {"soc-at-start": [COMMA]}),
        ({"soc-unit": "Wh"}, {}, {"soc-unit": ["Must be one of: kWh, MWh."]}),
        ({"soc-minima": [{"value": -1, "datetime": AT_1H}]}, {}, {"soc-minima": {"0": {"value": ["Must be greater than or equal to 0."]}}}),
        ({"soc-targets": {"sensor": 2}}, {}, {"soc-targets": ["Cannot convert sensor 2 unit 'kW' to 'MWh'."]}),
        ({"state-of-charge": "1 MWh"}, {}, {"state-of-charge": ["Unsupported value type. `<class 'str'>` was provided but only dict are supported."]}),
        ({"state-of-charge": {"sensor": 8}}, {}, {"state-of-charge": ["The state-of-charge sensor 8 must be instantaneous (event resolution 0)."]}),
        ({"state-of-charge": {"sensor": 99}}, {}, {"state-of-charge": ["No sensor found with id 99."]}),
        ({"power-capacity": "1 MWh"}, {}, {"power-capacity": ["Cannot convert value `1 MWh` to 'MW'"]}),
        ({"power-capacity": 1}, {}, {"power-capacity": [COMMA]}),
        ({"power-capacity": {"sensor": 7}}, {}, {"power-capacity": ["Cannot convert sensor 7 unit '°C' to 'MW'."]}),
        ({"charging-efficiency": "1 kW"}, {}, {"charging-efficiency": ["Cannot convert value `1 kW` to 'dimensionless'"]}),
        ({"roundtrip-efficiency": 0}, {}, {"roundtrip-efficiency": ["Must be greater than 0 and less than or equal to 1."]}),
        ({"roundtrip-efficiency": "110%"}, {}, {"roundtrip-efficiency": ["Must be greater than 0 and less than or equal to 1."]}),
        ({"roundtrip-efficiency": 0.9, "charging-efficiency": 0.9}, {}, {"_schema": ["Fields `charging_efficiency` and `roundtrip_efficiency` are mutually exclusive."]}),
        ({"roundtrip-efficiency": 0.9, "discharging-efficiency": 0.9}, {}, {"_schema": ["Fields `discharging_efficiency` and `roundtrip_efficiency` are mutually exclusive."]}),
        ({"storage-efficiency": {"sensor": 11}}, {}, {"storage-efficiency": ["The storage-efficiency sensor 11 must have the power sensor's resolution."]}),
        ({"soc-gain": "1 kW"}, {}, {"soc-gain": ["Must be a list of at least one power quantity, sensor or time series."]}),
        ({"soc-gain": []}, {}, {"soc-gain": ["Must be a list of at least one power quantity, sensor or time series."]}),
        ({"soc-usage": ["1 kWh"]}, {}, {"soc-usage": {"0": ["Cannot convert value `1 kWh` to 'MW'"]}}),
        ({"prefer-charging-sooner": "sometimes"}, {}, {"prefer-charging-sooner": ["Not a valid boolean."]}),
        ({}, {"attributes": {"min_soc_in_mwh": "lots"}}, {"soc-min": ["The sensor attribute 'min_soc_in_mwh' must be a number (MWh), not 'lots'."]}),
        ({}, {"attributes": {"consumption_capacity": "lots"}}, {"consumption-capacity": {"attribute consumption_capacity": ["Cannot convert value 'lots' to a valid quantity. 'lots' is not defined in the unit registry"]}}),
    ],
)  # fmt: skip
def test_storage_flex_model_errors(
    flex_model: dict[str, Any], battery_changes: dict[str, Any], expected: object
) -> None:
    payload = body(flex_model)
    payload["flex-model"] = {key: value for key, value in payload["flex-model"].items() if value is not None}
    assert rejection(payload, replace(BATTERY, **battery_changes)) == expected


def test_flex_model_must_be_an_object() -> None:
    assert rejection({**body(), "flex-model": []}) == {"json": {"flex-model": ["Not a valid mapping type."]}}


def test_storage_efficiency_sensor_with_the_power_sensor_resolution_is_accepted() -> None:
    from tests.unit.flex_fixtures import SENSORS

    request = validate(body({"storage-efficiency": {"sensor": 6}}))
    assert request.storage is not None and request.storage.storage_efficiency == SensorRef(sensor=6)
    assert SENSORS[6].event_resolution == timedelta(minutes=15) == BATTERY.event_resolution


def test_sensor_helper() -> None:
    assert sensor(1, "MW").unit == "MW"
