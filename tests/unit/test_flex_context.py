# ruff: noqa: E501  (tables of inputs and exact error texts read best with one case per line)
from __future__ import annotations

from typing import Any

import pytest

from shared.flex import Fixed, Segment, SensorRef, Series
from tests.unit.flex_error_tables import CONTEXT_ERRORS
from tests.unit.flex_fixtures import body, rejection, validate


@pytest.mark.parametrize(
    ("field", "raw", "attribute", "expected"),
    [
        ("consumption-price", "0.29 EUR/kWh", "consumption_price", Fixed(value=290.0)),
        ("consumption-price", "30 kEUR/MWh", "consumption_price", Fixed(value=30000.0)),
        ("consumption-price", {"sensor": 3}, "consumption_price", SensorRef(sensor=3)),
        ("production-price", "-5 EUR/MWh", "production_price", Fixed(value=-5.0)),
        ("site-power-capacity", "250 kW", "site_power_capacity", Fixed(value=0.25)),
        ("site-power-capacity", "1 MVA", "site_power_capacity", Fixed(value=1.0)),
        ("site-power-capacity", {"sensor": 2}, "site_power_capacity", SensorRef(sensor=2)),
        ("site-power-capacity", {"sensor": 8}, "site_power_capacity", SensorRef(sensor=8)),  # energy → power
        ("site-consumption-capacity", "2 MW", "site_consumption_capacity", Fixed(value=2.0)),
        ("site-production-capacity", "2000 kW", "site_production_capacity", Fixed(value=2.0)),
        ("site-consumption-breach-price", "1000 EUR/kW", "site_consumption_breach_price", Fixed(value=1e6)),
        ("site-production-breach-price", "260 EUR/MW", "site_production_breach_price", Fixed(value=260.0)),
        ("site-production-breach-price", {"sensor": 9}, "site_production_breach_price", SensorRef(sensor=9)),
        ("site-peak-consumption", "10 kW", "site_peak_consumption", Fixed(value=0.01)),
        ("site-peak-consumption-price", "5 EUR/kW", "site_peak_consumption_price", Fixed(value=5000.0)),
        ("site-peak-production", "1 MW", "site_peak_production", Fixed(value=1.0)),
        ("site-peak-production-price", "5 EUR/MW", "site_peak_production_price", Fixed(value=5.0)),
        ("consumption-breach-price", "1 EUR/kW", "consumption_breach_price", Fixed(value=1000.0)),
        ("production-breach-price", "1 EUR/kW", "production_breach_price", Fixed(value=1000.0)),
        ("soc-minima-breach-price", "1 EUR/kWh", "soc_minima_breach_price", Fixed(value=1000.0)),
        ("soc-maxima-breach-price", "1 EUR/kWh", "soc_maxima_breach_price", Fixed(value=1000.0)),
        ("inflexible-device-sensors", [2, 8], "inflexible_device_sensors", (2, 8)),
    ],
)
def test_each_field_is_parsed_into_internal_units(field: str, raw: object, attribute: str, expected: object) -> None:
    request = validate(body(flex_context={field: raw}))
    assert getattr(request.context, attribute) == expected


def test_price_series_segments_are_converted() -> None:
    raw = [{"value": "0.1 EUR/kWh", "start": "2024-01-01T00:00+01:00", "duration": "PT1H"}]
    context = validate(body(flex_context={"consumption-price": raw})).context
    start = Segment(start="2024-01-01T00:00+01:00", end="2024-01-01T01:00+01:00", value=100.0)
    assert context.consumption_price == Series(segments=(start,))
    assert context.currency == "EUR"


def test_defaults() -> None:
    context = validate(body()).context
    assert context.production_price is None  # = consumption price when building the problem
    assert context.site_peak_consumption == Fixed(value=0.0)
    assert context.site_peak_production == Fixed(value=0.0)
    assert context.inflexible_device_sensors == ()
    assert context.site_consumption_breach_price is None


@pytest.mark.parametrize(
    ("flex_context", "expected"),
    CONTEXT_ERRORS,
)
def test_flex_context_errors(flex_context: dict[str, Any], expected: object) -> None:
    payload = body(flex_context=flex_context)
    payload["flex-context"] = {key: value for key, value in payload["flex-context"].items() if value is not None}
    assert rejection(payload) == expected


def test_deprecated_price_sensor_becomes_a_sensor_reference() -> None:
    payload = body()
    payload["flex-context"] = {"consumption-price-sensor": 3, "production-price-sensor": 3}
    context = validate(payload).context
    assert context.consumption_price == SensorRef(sensor=3)
    assert context.production_price == SensorRef(sensor=3)
    assert context.currency == "EUR"


def test_currency_without_prices_is_dimensionless() -> None:
    payload = body()
    payload["flex-context"] = {}
    assert validate(payload).context.currency == "dimensionless"


def test_price_sensor_with_a_non_price_unit_is_accepted_at_trigger_time() -> None:
    context = validate(body(flex_context={"consumption-price": {"sensor": 2}})).context
    assert context.consumption_price == SensorRef(sensor=2)


def test_request_flex_context_overrides_the_stored_one_key_by_key() -> None:
    from dataclasses import replace

    from tests.unit.flex_fixtures import BATTERY

    battery = replace(BATTERY, flex_context={"site-power-capacity": "2 MW", "consumption-price": "1 EUR/MWh"})
    request = validate(body(flex_context={"consumption-price": "30 EUR/MWh"}), battery)
    assert request.context.site_power_capacity == Fixed(value=2.0)
    assert request.context.consumption_price == Fixed(value=30.0)
    assert request.flex_context["site-power-capacity"] == "2 MW"
    assert request.sent_flex_context == {"consumption-price": "30 EUR/MWh"}


SOC = ("soc_minima_breach_price", "soc_maxima_breach_price")
DEVICE = ("consumption_breach_price", "production_breach_price")
SITE = ("site_consumption_breach_price", "site_production_breach_price")


@pytest.mark.parametrize(
    ("switches", "explicit", "expected"),
    [
        ({}, {}, {}),
        ({"relax-constraints": True}, {}, {**dict.fromkeys(SOC, 1e6), **dict.fromkeys(DEVICE, 1e5), **dict.fromkeys(SITE, 1e7)}),
        ({"relax-constraints": False}, {}, {}),
        ({"relax-soc-constraints": True}, {}, dict.fromkeys(SOC, 1e6)),
        ({"relax-capacity-constraints": True}, {}, dict.fromkeys(DEVICE, 1e5)),
        ({"relax-site-capacity-constraints": True}, {}, dict.fromkeys(SITE, 1e7)),
        # explicit prices always win, and the group's other price is still filled
        ({"relax-constraints": True}, {"soc-minima-breach-price": "1 EUR/MWh"}, {**dict.fromkeys(SOC, 1e6), "soc_minima_breach_price": 1.0, **dict.fromkeys(DEVICE, 1e5), **dict.fromkeys(SITE, 1e7)}),
        ({"relax-site-capacity-constraints": True}, {"site-consumption-breach-price": "2 EUR/MW"}, {"site_consumption_breach_price": 2.0, "site_production_breach_price": 1e7}),
    ],
)  # fmt: skip
def test_relax_switches_fill_missing_breach_prices(
    switches: dict[str, bool], explicit: dict[str, str], expected: dict[str, float]
) -> None:
    context = validate(body(flex_context={**switches, **explicit})).context
    for attribute in (*SOC, *DEVICE, *SITE):
        value = getattr(context, attribute)
        if attribute in expected:
            assert value == Fixed(value=expected[attribute]), attribute
        else:
            assert value is None, attribute
