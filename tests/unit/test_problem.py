# ruff: noqa: E501  (tables of inputs and expected arrays read best with one case per line)
from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from services.scheduler import problem
from services.scheduler.precheck import PREFIX
from services.scheduler.program import Program
from services.scheduler.series import SeriesNeed
from shared.errors import SchedulingFailed
from shared.flex import ScheduleRequest, SensorFacts
from tests.unit.flex_fixtures import BATTERY, SENSORS, START, body, validate

T0 = datetime.fromisoformat(START)
NAN = math.nan
N = 8  # 2 hours of 15-minute slots


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def request_for(
    flex_model: dict[str, Any] | None = None, flex_context: dict[str, Any] | None = None, battery: SensorFacts = BATTERY
) -> ScheduleRequest:
    return validate(body(flex_model, flex_context), battery)


def build(request: ScheduleRequest, series: dict[SeriesNeed, Any] | None = None) -> Program:
    arrays = {need: np.asarray(values, dtype=float) for need, values in (series or {}).items()}
    return problem.build(request, {**SENSORS, BATTERY.id: BATTERY}, arrays)


def failure(request: ScheduleRequest, series: dict[SeriesNeed, Any] | None = None) -> SchedulingFailed:
    with pytest.raises(SchedulingFailed) as caught:
        build(request, series)
    return caught.value


def flow(sensor_id: int) -> SeriesNeed:
    return SeriesNeed(sensor_id, "flow")


def energy_row(program: Program) -> tuple[np.ndarray, np.ndarray]:
    (energy,) = [c for c in program.commitments if c.name == "energy"]
    return energy.up / program.tau, energy.down / program.tau


def test_needs_lists_each_sensor_series_once() -> None:
    request = request_for(
        {"soc-minima": {"sensor": 5}, "soc-gain": [{"sensor": 2}], "power-capacity": {"sensor": 2}},
        {"consumption-price": {"sensor": 3}, "production-price": {"sensor": 3}, "inflexible-device-sensors": [8]},
    )
    assert problem.needs(request) == [flow(3), flow(8), flow(2), SeriesNeed(5, "instant")]


PLAIN = {"prefer-charging-sooner": False, "prefer-curtailing-later": False}


@pytest.mark.parametrize(
    ("sensor_values", "expected"),
    [
        ([NAN, NAN, 30, 30, 40, 40, NAN, NAN], [30, 30, 30, 30, 40, 40, 40, 40]),  # edge gaps filled
        ([0.05] * 8, [50] * 8),  # a sensor in EUR/kWh is converted to EUR/MWh
    ],
)
def test_prices_from_a_sensor(sensor_values: list[float], expected: list[float]) -> None:
    sensor = replace(SENSORS[3], unit="EUR/kWh") if sensor_values[0] == 0.05 else SENSORS[3]
    request = request_for(PLAIN, {"consumption-price": {"sensor": 3}})
    program = problem.build(request, {**SENSORS, 3: sensor, 1: BATTERY}, {flow(3): np.array(sensor_values)})
    consumption, production = energy_row(program)
    assert consumption.tolist() == pytest.approx(expected)
    assert production.tolist() == pytest.approx(expected)  # the production price defaults to the consumption price


def test_interior_price_gap_fails_the_job_naming_the_slot() -> None:
    request = request_for(PLAIN, {"consumption-price": {"sensor": 3}})
    error = failure(request, {flow(3): [30, 30, NAN, 30, 30, 30, 30, 30]})
    assert error.error_class == "UnknownPricesException"
    assert error.message == (
        "Prices unknown for planning window. (sensor 3) 'consumption-price' has no price for 1 slot(s) inside the "
        "window, the first starting 2024-01-01T00:30:00+01:00."
    )


@pytest.mark.parametrize(
    ("flex_context", "series", "message"),
    [
        ({"consumption-price": {"sensor": 3}}, {flow(3): [NAN] * N}, "Prices unknown for planning window. (sensor 3)"),
        ({"consumption-price": {"sensor": 3}}, {}, "Prices unknown for planning window. (sensor 3)"),
        ({}, {}, "Prices unknown for planning window."),
    ],
)
def test_no_prices_at_all(flex_context: dict[str, Any], series: dict[SeriesNeed, Any], message: str) -> None:
    payload = body()
    payload["flex-context"] = flex_context
    error = failure(validate(payload), series)
    assert (error.error_class, error.message) == ("UnknownPricesException", message)


def test_price_segments_and_a_production_price() -> None:
    prices = [
        {"value": "10 EUR/MWh", "start": at(0), "end": at(1)},
        {"value": "20 EUR/MWh", "start": at(1), "end": at(2)},
    ]
    request = request_for(PLAIN, {"consumption-price": prices, "production-price": "5 EUR/MWh"})
    consumption, production = energy_row(build(request))
    assert consumption.tolist() == [10] * 4 + [20] * 4
    assert production.tolist() == [5] * N


def test_production_price_above_consumption_price_fails() -> None:
    request = request_for(PLAIN, {"production-price": "40 EUR/MWh"})
    assert "above the consumption price" in failure(request).message


def test_tie_breakers_ramp_the_prices() -> None:
    consumption, _ = energy_row(build(request_for(None, {"consumption-price": "30 EUR/MWh"})))
    assert consumption[0] == 30 and consumption[-1] == pytest.approx(30 + 1e-4)
    program = build(request_for({"prefer-curtailing-later": True}, None))
    (curtail,) = [c for c in program.commitments if c.name == "prefer curtailing later"]
    # κ ramps to ½·10⁻⁴ × the spread of the tie-broken consumption price (here the 10⁻⁴ ramp itself)
    assert curtail.up[-1] == pytest.approx(0.5e-8) and curtail.down[-1] == pytest.approx(-0.5e-8)


@pytest.mark.parametrize(
    ("flex_context", "lower", "upper"),
    [
        ({}, [-math.inf] * N, [math.inf] * N),
        ({"site-power-capacity": "2 MW"}, [-2] * N, [2] * N),
        ({"site-power-capacity": "2 MW", "site-consumption-capacity": "1 MW"}, [-2] * N, [1] * N),
        ({"site-power-capacity": "2 MW", "site-consumption-capacity": "3 MW"}, [-2] * N, [2] * N),
        ({"site-production-capacity": "500 kW"}, [-0.5] * N, [math.inf] * N),
        (
            {"site-power-capacity": [{"value": "2 MW", "start": at(0), "end": at(2)}, {"value": "1 MW", "start": at(1), "end": at(2)}]},
            [-2] * 4 + [-1] * 4,
            [2] * 4 + [1] * 4,
        ),  # overlapping segments: the smaller limit
        ({"site-power-capacity": "2 MW", "site-consumption-capacity": "1 MW", "site-consumption-breach-price": "1 EUR/kW"}, [-2] * N, [2] * N),
    ],
)  # fmt: skip
def test_site_limits(flex_context: dict[str, Any], lower: list[float], upper: list[float]) -> None:
    program = build(request_for(None, flex_context))
    assert program.site_lower.tolist() == lower
    assert program.site_upper.tolist() == upper


def test_soft_site_consumption_limit_becomes_a_commitment() -> None:
    flex_context = {
        "site-power-capacity": "2 MW",
        "site-consumption-capacity": "1 MW",
        "site-consumption-breach-price": "1 EUR/kW",
    }
    program = build(request_for(None, flex_context))
    found = {c.name: c for c in program.commitments}
    assert found["any site consumption breach"].quantity.tolist() == [1] * N
    assert found["any site consumption breach"].up.tolist() == [1000] * N
    assert found["all site consumption breach"].up.tolist() == [250] * N  # per MW per slot of 15 minutes


def test_time_varying_price_on_a_worst_slot_commitment_charges_the_largest_price() -> None:
    price = [{"value": "1 EUR/kW", "start": at(0), "end": at(1)}, {"value": "2 EUR/kW", "start": at(1), "end": at(2)}]
    flex_context = {"site-power-capacity": "2 MW", "site-consumption-breach-price": price}
    found = {c.name: c for c in build(request_for(None, flex_context)).commitments}
    assert found["any site consumption breach"].up.tolist() == [2000] * N
    assert found["all site consumption breach"].up.tolist() == [250] * 4 + [500] * 4


def test_breach_price_sensor_without_data_fails_naming_it() -> None:
    request = request_for(None, {"site-peak-consumption-price": {"sensor": 9}})
    error = failure(request, {flow(9): [NAN] * N})
    assert error.message == "'site-peak-consumption-price' is unknown for the planning window. (sensor 9)"


def test_breach_price_gaps_keep_the_previous_price() -> None:
    request = request_for(None, {"site-power-capacity": "1 MW", "site-consumption-breach-price": {"sensor": 9}})
    found = {c.name: c for c in build(request, {flow(9): [NAN, 1, 1, NAN, 2, 2, NAN, NAN]}).commitments}
    assert found["all site consumption breach"].up.tolist() == [250, 250, 250, 250, 500, 500, 500, 500]


@pytest.mark.parametrize(
    ("attributes", "stored", "expected"),
    [
        ({}, [100] * N, [-0.1] * N),  # production-positive by default: stored 100 kW = consuming −0.1 MW
        ({"consumption_is_positive": False}, [100] * N, [-0.1] * N),
        ({"consumption_is_positive": True}, [100] * N, [0.1] * N),
        ({"consumption_is_positive": True}, [NAN] * 4 + [100] * 4, [0] * 4 + [0.1] * 4),  # gaps count as 0
    ],
)
def test_inflexible_devices(attributes: dict[str, Any], stored: list[float], expected: list[float]) -> None:
    sensor = replace(SENSORS[2], attributes=attributes)
    request = request_for(None, {"inflexible-device-sensors": [2]})
    program = problem.build(request, {**SENSORS, 2: sensor, 1: BATTERY}, {flow(2): np.array(stored)})
    assert program.inflexible.tolist() == pytest.approx(expected)


def test_energy_sensor_inflexible_flow_is_converted_with_the_resolution() -> None:
    request = request_for(None, {"inflexible-device-sensors": [8]})
    program = build(request, {flow(8): [25] * N})  # 25 kWh per 15 minutes = 100 kW consumption stored negative
    assert program.inflexible.tolist() == pytest.approx([-0.1] * N)


@pytest.mark.parametrize(
    ("flex_model", "flex_context", "battery_attributes", "lower", "upper"),
    [
        ({"power-capacity": "1 MW"}, {}, {}, [-1] * N, [1] * N),
        ({"power-capacity": "-1 MW"}, {}, {}, [0] * N, [0] * N),  # clipped at 0
        ({"consumption-capacity": "200 kW", "production-capacity": "2 MW"}, {}, {}, [-1] * N, [0.2] * N),
        ({"consumption-capacity": "200 kW"}, {"consumption-breach-price": "1 EUR/kW"}, {}, [-1] * N, [1] * N),
        ({}, {}, {"is_consumer": True, "is_producer": False}, [0] * N, [1] * N),
        ({}, {}, {"is_producer": True, "is_consumer": False}, [-1] * N, [0] * N),
        ({"power-capacity": [{"value": "1 MW", "start": at(0), "end": at(2)}, {"value": "0.5 MW", "start": at(0), "end": at(1)}]}, {}, {}, [-0.5] * 4 + [-1] * 4, [0.5] * 4 + [1] * 4),
    ],
)  # fmt: skip
def test_device_power_bounds(
    flex_model: dict[str, Any],
    flex_context: dict[str, Any],
    battery_attributes: dict[str, Any],
    lower: list[float],
    upper: list[float],
) -> None:
    battery = replace(BATTERY, attributes=battery_attributes)
    device = build(request_for(flex_model, flex_context, battery)).devices[0]
    assert device.power_lower.tolist() == lower
    assert device.power_upper.tolist() == upper


def test_device_consumption_breach_commitment_needs_a_flex_model_capacity() -> None:
    flex_context = {"consumption-breach-price": "1 EUR/kW"}
    with_capacity = build(request_for({"consumption-capacity": "200 kW"}, flex_context))
    assert {c.name for c in with_capacity.commitments} >= {
        "any device consumption breach",
        "all device consumption breach",
    }
    battery = replace(BATTERY, attributes={"consumption_capacity": "200 kW"})
    from_attribute = build(request_for(None, flex_context, battery))
    assert not any("device consumption" in c.name for c in from_attribute.commitments)
    assert from_attribute.devices[0].power_upper.tolist() == [0.2] * N  # hard limit


def test_missing_power_capacity_fails_the_job() -> None:
    payload = body()
    del payload["flex-model"]["power-capacity"]
    error = failure(validate(payload))
    assert error.message == "Power capacity is not defined in the sensor attributes or the flex-model."


def test_power_capacity_with_gaps_fails_naming_them() -> None:
    request = request_for({"power-capacity": {"sensor": 2}})
    error = failure(request, {flow(2): [100] * 6 + [NAN] * 2})
    assert "unknown from 2024-01-01T01:30:00+01:00 (2 slot(s))" in error.message


@pytest.mark.parametrize(
    ("flex_model", "series", "charging", "discharging", "storage"),
    [
        ({}, {}, [1] * N, [1] * N, [1] * N),
        ({"roundtrip-efficiency": "81%"}, {}, [0.9] * N, [0.9] * N, [1] * N),
        ({"charging-efficiency": {"sensor": 6}}, {flow(6): [95] * 4 + [NAN] * 4}, [0.95] * 4 + [1] * 4, [1] * N, [1] * N),
        ({"storage-efficiency": [{"value": 1.5, "start": at(0), "end": at(1)}]}, {}, [1] * N, [1] * N, [1] * N),  # clipped
        ({"storage-efficiency": [{"value": "99%", "start": at(0), "end": at(1)}]}, {}, [1] * N, [1] * N, [0.99] * 4 + [1] * 4),
    ],
)  # fmt: skip
def test_efficiencies(
    flex_model: dict[str, Any],
    series: dict[SeriesNeed, Any],
    charging: list[float],
    discharging: list[float],
    storage: list[float],
) -> None:
    device = build(request_for(flex_model), series).devices[0]
    assert device.charging_efficiency.tolist() == pytest.approx(charging)
    assert device.discharging_efficiency.tolist() == pytest.approx(discharging)
    assert device.storage_efficiency.tolist() == pytest.approx(storage)


def test_gains_minus_usages() -> None:
    flex_model = {
        "soc-gain": ["100 kW", {"sensor": 2}],
        "soc-usage": [[{"value": "1 MW", "start": at(1), "end": at(2)}]],
    }
    device = build(request_for(flex_model), {flow(2): [50] * 4 + [NAN] * 4}).devices[0]
    assert device.gain.tolist() == pytest.approx([0.15] * 4 + [-0.9] * 4)


@pytest.mark.parametrize(
    ("flex_model", "lower", "upper"),
    [
        ({}, [0] * N, [1] * N),
        ({"soc-min": "0.1 MWh"}, [0.1] * N, [1] * N),
        ({"soc-minima": [{"value": 0.4, "datetime": at(1)}]}, [0] * 3 + [0.4] + [0] * 4, [1] * N),
        ({"soc-minima": "0.3 MWh"}, [0.3] * N, [1] * N),  # a fixed minimum holds at every instant
        ({"soc-maxima": [{"value": 0.6, "start": at(1), "end": at(2)}]}, [0] * N, [1] * 3 + [0.6] * 5),
        ({"soc-maxima": [{"value": 3, "datetime": at(1)}]}, [0] * N, [1] * N),  # clipped to soc-max
        ({"soc-targets": [{"value": 0.5, "datetime": at(2)}]}, [0] * 7 + [0.5], [1] * 7 + [0.5]),
        ({"soc-targets": [{"value": 0.5, "datetime": at(1)}, {"value": 0.7, "datetime": at(1)}]}, [0] * 3 + [0.7] + [0] * 4, [1] * 3 + [0.7] + [1] * 4),
        ({"soc-minima": [{"value": 0.2, "start": at(0.5), "end": at(1)}, {"value": 0.4, "start": at(0.75), "end": at(1.25)}, {"value": 0.1, "datetime": at(1)}]}, [0, 0.2, 0.4, 0.4, 0.4, 0, 0, 0], [1] * N),  # overlaps: the larger minimum
        ({"soc-maxima": [{"value": 0.6, "start": at(0.5), "end": at(1)}, {"value": 0.8, "start": at(0.75), "end": at(1.25)}]}, [0] * N, [1, 0.6, 0.6, 0.6, 0.8, 1, 1, 1]),  # the smaller maximum
    ],
)  # fmt: skip
def test_soc_bounds_and_targets_at_instants(flex_model: dict[str, Any], lower: list[float], upper: list[float]) -> None:
    device = build(request_for({"soc-at-start": "0.2 MWh", **flex_model})).devices[0]
    assert device.soc_lower.tolist() == pytest.approx(lower)
    assert device.soc_upper.tolist() == pytest.approx(upper)
    assert device.soc_start == 0.2


def test_soc_from_an_instantaneous_sensor_drops_the_start_instant() -> None:
    request = request_for({"soc-maxima": {"sensor": 5}})
    device = build(request, {SeriesNeed(5, "instant"): [0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, NAN]}).devices[0]
    assert device.soc_upper.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 1])


def test_soft_soc_minima_keep_hard_bounds_and_add_commitments() -> None:
    request = request_for({"soc-minima": [{"value": 0.4, "datetime": at(1)}]}, {"soc-minima-breach-price": "1 EUR/kWh"})
    program = build(request)
    assert program.devices[0].soc_lower.tolist() == [0] * N
    found = {c.name: c for c in program.commitments}
    any_minimum, all_minima = found["any soc minima breach"], found["all soc minima breach"]
    assert np.isnan(any_minimum.quantity[0]) and any_minimum.quantity[3] == 0.4
    assert any_minimum.down[3] == -4000 and all_minima.down[3] == -1000  # FlexMeasures' effective factors: ρ/τ and ρ


def test_big_m_covers_every_power_bound_and_inflexible_flow() -> None:
    assert build(request_for({"power-capacity": "500 kW"})).big_m == 1.0
    assert build(request_for({"power-capacity": "3 MW"})).big_m == 3.0
    request = request_for(None, {"inflexible-device-sensors": [2]})
    assert build(request, {flow(2): [5000] * N}).big_m == 5.0


def test_precheck_accepts_a_reachable_target_on_a_sub_hourly_grid() -> None:
    # 1 MW for 2 hours from 0: 2 MWh reachable; a target of 1.9 MWh at the end is feasible
    build(request_for({"soc-max": "2 MWh", "soc-targets": [{"value": 1.9, "datetime": at(2)}]}))


@pytest.mark.parametrize(
    ("flex_model", "lines"),
    [
        (
            {"soc-max": "2 MWh", "soc-targets": [{"value": 1.9, "datetime": at(1)}]},
            ["t=2024-01-01T00:45:00+01:00 | soc-target 1.9 MWh at 2024-01-01T01:00:00+01:00 is out of reach: from [0, 0.75] MWh the device can reach [-0.25, 1] MWh in one slot (power between -1 and 1 MW)"],
        ),
        (
            {"soc-targets": [{"value": 0.5, "datetime": at(1)}], "soc-maxima": [{"value": 0.4, "datetime": at(1)}]},
            ["t=2024-01-01T00:45:00+01:00 | soc lower bound 0.5 MWh > soc upper bound 0.4 MWh (soc-target 0.5 MWh)"],
        ),
        (
            {"soc-minima": [{"value": 0.6, "datetime": at(1)}], "soc-maxima": [{"value": 0.4, "datetime": at(1)}]},
            ["t=2024-01-01T00:45:00+01:00 | soc lower bound 0.6 MWh > soc upper bound 0.4 MWh"],
        ),
        (
            {"soc-at-start": "1 MWh", "storage-efficiency": "50%", "soc-targets": [{"value": 0.9, "datetime": at(0.25)}]},
            ["t=2024-01-01T00:00:00+01:00 | soc-target 0.9 MWh at 2024-01-01T00:15:00+01:00 is out of reach: from [1, 1] MWh the device can reach [0.319663, 0.680337] MWh in one slot (power between -1 and 1 MW)"],
        ),
    ],
)  # fmt: skip
def test_precheck_reports_conflicts(flex_model: dict[str, Any], lines: list[str]) -> None:
    error = failure(request_for(flex_model))
    assert error.error_class == "ValueError"
    assert error.message == PREFIX + "\n".join(lines)


def test_precheck_respects_storage_losses_exactly() -> None:
    # η_S = 0.5 per slot: from 1 MWh with no power the content decays to 0.5; Λ(0.5)·τ·1 MW ≈ 0.18 MWh can be added
    factor = (0.5 - 1) / math.log(0.5) * 0.25
    reachable = 0.5 + factor
    ok = {
        "soc-at-start": "1 MWh",
        "storage-efficiency": "50%",
        "soc-targets": [{"value": reachable - 1e-6, "datetime": at(0.25)}],
    }
    build(request_for(ok))
    too_high = {**ok, "soc-targets": [{"value": reachable + 1e-6, "datetime": at(0.25)}]}
    assert failure(request_for(too_high)).message.startswith(PREFIX)


@pytest.mark.parametrize(
    ("unit", "attributes", "power", "expected"),
    [
        ("MW", {}, [0.5, -0.25], [-0.5, 0.25]),  # consumption stored negative by default
        ("kW", {}, [0.5, -0.25], [-500.0, 250.0]),
        ("kW", {"consumption_is_positive": True}, [0.5, -0.25], [-500.0, 250.0]),
        ("kW", {"consumption_is_positive": False}, [0.5, -0.25], [500.0, -250.0]),
        ("MW", {}, [1 / 3, 0.0], [-0.333333, 0.0]),
    ],
)
def test_to_sensor_values(unit: str, attributes: dict[str, Any], power: list[float], expected: list[float]) -> None:
    sensor = replace(BATTERY, unit=unit, attributes=attributes)
    values = problem.to_sensor_values(request_for(), sensor, np.array(power))
    assert values == expected
    assert all(math.copysign(1, v) == 1 for v in values if v == 0)  # no negative zeros


def test_energy_unit_sensor_cannot_receive_a_power_schedule() -> None:
    with pytest.raises(SchedulingFailed, match="energy unit 'kWh'"):
        problem.to_sensor_values(request_for(), replace(BATTERY, unit="kWh"), np.array([1.0]))


def test_to_soc_values() -> None:
    assert problem.to_soc_values(replace(SENSORS[5], unit="kWh"), np.array([0.1, 0.2000004])) == [100.0, 200.0004]


def test_fallback_inputs_carry_targets_and_flags() -> None:
    battery = replace(BATTERY, attributes={"is_consumer": True})
    request = request_for({"soc-targets": [{"value": 0.5, "datetime": at(1)}]}, None, battery)
    inputs = problem.build_fallback_inputs(request, {**SENSORS, 1: battery}, {})
    assert (inputs.is_consumer, inputs.is_producer) == (True, False)
    assert inputs.soc_targets[3] == 0.5 and np.isnan(inputs.soc_targets[0])
    assert inputs.first_target == 0.5
    assert problem.build_fallback_inputs(request_for(), SENSORS | {1: BATTERY}, {}).first_target is None
    assert inputs.program.n == N


def test_process_inputs() -> None:
    process = replace(BATTERY, asset_type="process")
    model = {"duration": "PT40M", "power": 2, "time-restrictions": [{"start": at(0.5), "duration": "PT20M"}]}
    request = validate({**body(None, {"consumption-price": {"sensor": 3}}), "flex-model": model}, process)
    inputs = problem.build_process_inputs(request, {**SENSORS, 1: process}, {flow(3): np.arange(N, dtype=float)})
    assert inputs.slots == 3
    assert inputs.blocked.tolist() == [False, False, True, True, False, False, False, False]
    assert inputs.consumption_price.tolist() == list(range(N))
    assert (inputs.power, inputs.process_type, inputs.optimization_sense) == (2.0, "INFLEXIBLE", "MIN")


RANDOM_FLEX_MODEL: dict[str, list[Any]] = {
    "soc-at-start": ["0 MWh", "0.5 MWh"],
    "soc-min": ["0 MWh", "0.2 MWh"],
    "soc-max": ["1 MWh", "3 MWh"],
    "soc-minima": [{"sensor": 5}, "0.1 MWh", [{"value": 0.3, "datetime": at(1)}]],
    "soc-maxima": [{"sensor": 5}, [{"value": 0.7, "start": at(0.5), "end": at(1.5)}]],
    "soc-targets": [{"sensor": 5}, [{"value": 0.6, "datetime": at(2)}]],
    "power-capacity": ["1 MW", {"sensor": 2}, [{"value": "1 MW", "start": at(0), "end": at(2)}]],
    "consumption-capacity": ["0.5 MW", {"sensor": 2}],
    "production-capacity": ["0.5 MW", {"sensor": 8}],
    "charging-efficiency": ["90%", {"sensor": 6}],
    "storage-efficiency": ["99%", {"sensor": 6}],
    "soc-gain": [["1 kW", {"sensor": 2}]],
    "soc-usage": [[{"sensor": 8}]],
}
RANDOM_FLEX_CONTEXT: dict[str, list[Any]] = {
    "consumption-price": [{"sensor": 3}, "30 EUR/MWh"],
    "production-price": [{"sensor": 3}, "10 EUR/MWh"],
    "site-power-capacity": ["1 MW", {"sensor": 2}],
    "site-consumption-capacity": ["0.3 MW"],
    "site-production-capacity": [{"sensor": 8}],
    "site-peak-consumption": [{"sensor": 2}, "0.2 MW"],
    "site-peak-consumption-price": ["1 EUR/kW"],
    "site-consumption-breach-price": ["1 EUR/kW"],
    "consumption-breach-price": ["1 EUR/kW"],
    "soc-minima-breach-price": ["1 EUR/kWh"],
    "relax-constraints": [True],
    "inflexible-device-sensors": [[2, 8]],
}


@pytest.mark.parametrize("seed", range(5))
def test_built_programs_are_well_formed_or_fail_with_a_reason(seed: int) -> None:
    """Random combinations of fields and of sensor data with gaps: every build either fails with a
    ``SchedulingFailed`` or gives arrays without gaps, finite device bounds of the right sign, and prices."""
    rng = np.random.default_rng(seed)
    built = 0
    for _ in range(60):
        flex_model = {k: v[rng.integers(len(v))] for k, v in RANDOM_FLEX_MODEL.items() if rng.random() < 0.3}
        flex_context = {k: v[rng.integers(len(v))] for k, v in RANDOM_FLEX_CONTEXT.items() if rng.random() < 0.3}
        request = request_for(flex_model, flex_context)
        series = {}
        for need in problem.needs(request):
            values = rng.uniform(0, 100, N + (need.kind == "instant"))
            values[rng.random(values.size) < 0.2] = np.nan
            series[need] = values
        try:
            program = build(request, series)
        except SchedulingFailed as e:
            assert e.message and e.error_class
            continue
        built += 1
        device = program.devices[0]
        for array in (device.soc_lower, device.soc_upper, device.charging_efficiency, device.gain, program.inflexible):
            assert array.shape == (N,) and not np.isnan(array).any()
        assert np.isfinite(device.power_lower).all() and (device.power_lower <= 0).all()
        assert np.isfinite(device.power_upper).all() and (device.power_upper >= 0).all()
        assert (program.site_lower <= program.site_upper).all()
        assert program.big_m >= max(1.0, float(np.abs(device.power_upper).max()))
        for commitment in program.commitments:
            assert np.isfinite(commitment.up).all() and np.isfinite(commitment.down).all(), commitment.name
            assert not np.isinf(commitment.quantity).any(), commitment.name
    assert built > 0
