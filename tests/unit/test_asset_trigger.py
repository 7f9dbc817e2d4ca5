"""Validating asset-level triggers (shared.flex.asset_trigger) and their joint program (problem.build_joint)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from services.scheduler import compute, problem, worker
from services.scheduler.device_schedules import restricted_to
from services.scheduler.program import Program
from shared.errors import FlexRejected, TriggerRejected
from shared.flex import SensorFacts
from shared.flex.asset_trigger import (
    AssetScheduleRequest,
    asset_referenced_sensors,
    asset_trigger_body,
    check_membership,
    parse_asset_body,
    validate_asset_trigger,
)
from shared.messages import DeviceSchedule, ScheduleComputed
from tests.unit.flex_fixtures import QUARTER, SENSORS, START, sensor

HORIZON = timedelta(hours=48)
# two batteries on asset 10 and its child 11; a third on asset 12, elsewhere; one on a process asset
DEVICES = {
    21: sensor(21, "MW", asset_id=10, asset_type="battery"),
    22: sensor(22, "kW", asset_id=11, asset_type="battery"),
    23: sensor(23, "MW", asset_id=12, asset_type="battery"),
    24: sensor(24, "MW", asset_id=11, asset_type="process"),
    25: sensor(25, "MW", timedelta(hours=1), asset_id=11, asset_type="battery"),
}
ALL: dict[int, SensorFacts] = {**SENSORS, **DEVICES}


def model(sensor_id: int, **fields: Any) -> dict[str, Any]:
    return {"sensor": sensor_id, "soc-at-start": "0 MWh", "soc-max": "1 MWh", "power-capacity": "1 MW", **fields}


def asset_body(*models: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"start": START, "duration": "PT2H", "flex-model": list(models),
            "flex-context": {"consumption-price": "30 EUR/MWh", "site-power-capacity": "1.5 MW"}, **top}  # fmt: skip


def validate(payload: dict[str, Any], stored: dict[str, Any] | None = None) -> AssetScheduleRequest:
    return validate_asset_trigger(payload, 10, stored or {}, ALL, planning_horizon=HORIZON)


def e1(payload: object) -> object:
    with pytest.raises(TriggerRejected) as caught:
        parse_asset_body(payload, HORIZON)
    return caught.value.location_errors["json"]


def e6(payload: dict[str, Any]) -> object:
    with pytest.raises(FlexRejected) as caught:
        validate(payload)
    return caught.value.payload


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"start": START}, {"flex-model": ["Missing data for required field."]}),
        ({"start": START, "flex-model": {"sensor": 21}}, {"flex-model": ["Not a valid list."]}),
        ({"start": START, "flex-model": []},
         {"flex-model": ["Name at least one device (a flex-model with a 'sensor')."]}),
        ({"start": START, "flex-model": [{"soc-max": 1}, 7]},
         {"flex-model": {"0": {"sensor": ["Missing data for required field."]},
                         "1": {"_schema": ["Invalid input type."]}}}),
        ({"start": START, "flex-model": [{"sensor": "21"}]},
         {"flex-model": {"0": {"sensor": ["Not a valid integer."]}}}),
        ({"start": START, "flex-model": [{"sensor": True}]},
         {"flex-model": {"0": {"sensor": ["Not a valid integer."]}}}),
        ({"flex-model": [{"sensor": 21}], "sequential": 3}, {"start": ["Missing data for required field."],
                                                            "sequential": ["Not a valid boolean."]}),
        ({"start": START, "flex-model": [{"sensor": 21}], "scheduler": "x"}, {"scheduler": ["Unknown field."]}),
        ({"start": START, "flex-model": [{"sensor": 21}, {"sensor": 21}]},
         {"_schema": ["Sensor 21 is named by more than one flex-model; name it once."]}),
    ],
)  # fmt: skip
def test_top_level_errors(payload: dict[str, Any], errors: dict[str, Any]) -> None:
    assert e1(payload) == errors


def test_not_an_object() -> None:
    assert e1([1]) == {"_schema": ["Invalid input type."]}


def test_parsed_body() -> None:
    parsed = parse_asset_body(asset_body(model(21), model(22, **{"soc-min": "0.1 MWh"}), sequential=True,
                                         force_new_job_creation="true"), HORIZON)  # fmt: skip
    assert [d.sensor_id for d in parsed.devices] == [21, 22] and parsed.sequential and parsed.force
    assert "sensor" not in parsed.devices[1].flex_model and parsed.devices[1].flex_model["soc-min"] == "0.1 MWh"
    assert parsed.duration == timedelta(hours=2)


def test_membership() -> None:
    parsed = parse_asset_body(asset_body(model(21), model(23)), HORIZON)
    with pytest.raises(TriggerRejected) as caught:
        check_membership(parsed, 10, {10, 11}, ALL)
    assert "Sensor(s) 23 are not devices of asset 10" in str(caught.value.location_errors)
    check_membership(parse_asset_body(asset_body(model(21), model(22)), HORIZON), 10, {10, 11}, ALL)
    with pytest.raises(TriggerRejected) as unknown:
        check_membership(parse_asset_body(asset_body(model(99)), HORIZON), 10, {10}, ALL)
    assert unknown.value.location_errors == {"json": {"flex-model": {"0": {"sensor": ["No sensor found with id 99."]}}}}


def test_referenced_sensors_include_the_devices_and_what_they_name() -> None:
    payload = asset_body(model(21, **{"state-of-charge": {"sensor": 5}}), model(22),
                         **{"flex-context": {"consumption-price": {"sensor": 3}}})  # fmt: skip
    assert asset_referenced_sensors(payload, {"inflexible-device-sensors": [2]}) == {21, 22, 5, 3, 2}


def test_each_device_is_validated_with_its_own_flex_model() -> None:
    assert e6(asset_body(model(21), model(22, **{"soc-min": "lots"}))) == {
        "flex-model": {"1": {"soc-min": [
            "Cannot convert value 'lots' to a valid quantity. 'lots' is not defined in the unit registry"]}}
    }  # fmt: skip


def test_storage_devices_only_and_one_resolution() -> None:
    assert "only when all are storage devices" in str(e6(asset_body(model(21), model(24))))
    assert "share one event resolution" in str(e6(asset_body(model(21), model(25))))


def test_a_single_device_is_its_own_job_and_may_be_a_process() -> None:
    process = validate(asset_body({"sensor": 24, "duration": "PT1H", "power": 0.2}))
    assert process.single is not None and process.single.scheduler == "ProcessScheduler"
    assert process.single.flex_context["site-power-capacity"] == "1.5 MW"  # the asset's flex-context
    assert validate(asset_body(model(21), model(22))).single is None


def test_window_is_the_longest_any_device_needs() -> None:
    late = [{"datetime": "2024-01-01T04:00:00+01:00", "value": "0.5 MWh"}]
    request = validate(asset_body(model(21), model(22, **{"soc-targets": late})))
    assert [d.end for d in request.devices] == [request.end, request.end]
    assert request.end - request.start == timedelta(hours=4)
    assert request.requested_end - request.start == timedelta(hours=2)
    assert request.resolution == QUARTER and request.sensor_ids == [21, 22]


def test_stored_asset_flex_context_is_used_and_the_body_wins() -> None:
    payload = asset_body(model(21))
    del payload["flex-context"]
    request = validate(payload, {"consumption-price": "40 EUR/MWh"})
    assert request.devices[0].flex_context == {"consumption-price": "40 EUR/MWh"}
    overridden = validate(asset_body(model(21)), {"consumption-price": "40 EUR/MWh"})
    assert overridden.devices[0].flex_context["consumption-price"] == "30 EUR/MWh"


def test_the_worker_validates_the_same_request_again() -> None:
    request = validate(asset_body(model(21), model(22), sequential=True, prior="2024-01-01T00:00:00+01:00"))
    again = validate(asset_trigger_body(request))
    assert again == request.model_copy(update={"force_new_job_creation": False})


# --- the joint program -------------------------------------------------------------------------------------------


def joint(request: AssetScheduleRequest, scheduled: np.ndarray | None = None) -> Program:
    return problem.build_joint(request.devices, ALL, {}, scheduled=scheduled)


def test_joint_program_shares_the_site_and_keeps_each_device_s_constraints() -> None:
    request = validate(asset_body(
        model(21, **{"power-capacity": "1 MW", "soc-at-start": "0.2 MWh"}),
        model(22, **{"power-capacity": "500 kW", "soc-max": "0.8 MWh", "consumption-capacity": "300 kW"}),
    ))  # fmt: skip
    program = joint(request)

    assert program.n == 8 and [d.sensor_id for d in program.devices] == [21, 22]
    first, second = program.devices
    assert first.soc_start == pytest.approx(0.2) and second.soc_start == 0
    assert np.allclose(first.power_upper, 1.0) and np.allclose(first.power_lower, -1.0)
    assert np.allclose(second.power_upper, 0.3) and np.allclose(second.power_lower, -0.5)
    assert np.allclose(first.soc_upper, 1.0) and np.allclose(second.soc_upper, 0.8)
    # one site: its limits once, and the energy cost once, on the site flow
    assert np.allclose(program.site_upper, 1.5) and np.allclose(program.site_lower, -1.5)
    assert [c.name for c in program.commitments if c.scope == "site"] == ["energy"]
    assert program.big_m == pytest.approx(1.0)


def test_device_commitments_point_at_their_own_device() -> None:
    request = validate(asset_body(
        model(21), model(22, **{"consumption-capacity": "300 kW", "soc-minima": [
            {"datetime": "2024-01-01T01:00:00+01:00", "value": "0.1 MWh"}]}),
        **{"flex-context": {"consumption-price": "30 EUR/MWh", "consumption-breach-price": "100 EUR/MW",
                            "soc-minima-breach-price": "100 EUR/MWh"}},
    ))  # fmt: skip
    program = joint(request)
    device_scoped = {(c.name, c.device) for c in program.commitments if c.scope != "site"}
    assert device_scoped == {("any device consumption breach", 1), ("all device consumption breach", 1),
                             ("any soc minima breach", 1), ("all soc minima breach", 1),
                             ("prefer curtailing later", 0), ("prefer curtailing later", 1)}  # fmt: skip


def test_earlier_schedules_count_as_inflexible_flow() -> None:
    request = validate(asset_body(model(21)))
    scheduled = np.linspace(0, 0.7, 8)
    program = joint(request, scheduled)
    assert np.allclose(program.inflexible, scheduled) and len(program.devices) == 1


def test_single_device_build_is_the_joint_build_of_one() -> None:
    request = validate(asset_body(model(21)))
    single, one = problem.build(request.devices[0], ALL, {}), joint(request)
    assert single.devices[0].sensor_id == one.devices[0].sensor_id
    assert [c.name for c in single.commitments] == [c.name for c in one.commitments]


# --- computing an asset-level job ---------------------------------------------------------------------------------

PRICED = {"flex-context": {"site-power-capacity": "1.5 MW", "consumption-price": [
    {"start": "2024-01-01T00:00:00+01:00", "duration": "PT1H", "value": "10 EUR/MWh"},
    {"start": "2024-01-01T01:00:00+01:00", "duration": "PT1H", "value": "50 EUR/MWh"},
]}}  # fmt: skip
FULL_AT_2H = [{"datetime": "2024-01-01T02:00:00+01:00", "value": "1 MWh"}]


def charged(values: list[float], per_mw: float = 1.0) -> np.ndarray:
    """Stored values (consumption negative) as MW charged per slot."""
    return -np.array(values) / per_mw


@pytest.mark.parametrize("sequential", [False, True])
def test_devices_share_the_site_limit(sequential: bool) -> None:
    request = validate(asset_body(model(21, **{"soc-targets": FULL_AT_2H}), model(22, **{"soc-targets": FULL_AT_2H}),
                                  **PRICED))  # fmt: skip
    outcome = compute.compute_devices(request.devices, ALL, {}, sequential=sequential, time_limit=30)

    assert not outcome.failed and [d.sensor_id for d in outcome.devices] == [21, 22]
    first, second = charged(outcome.devices[0].values), charged(outcome.devices[1].values, per_mw=1000)  # 22 is kW
    assert outcome.values == outcome.devices[0].values
    assert (first + second <= 1.5 + 1e-6).all()  # the shared site limit, every slot
    assert first.sum() * 0.25 == pytest.approx(1) and second.sum() * 0.25 == pytest.approx(1)
    assert (first[:4] + second[:4]).sum() * 0.25 == pytest.approx(1.5)  # the cheap hour is used to the site limit
    if sequential:  # the first device is scheduled as if alone: all of its charge in the cheap hour
        assert first[:4] == pytest.approx([1.0] * 4)


def test_a_device_that_cannot_be_scheduled_fails_the_job_naming_it() -> None:
    impossible = [{"datetime": "2024-01-01T00:30:00+01:00", "value": "1 MWh"}]  # 1 MW for 30 min gives 0.5 MWh
    request = validate(asset_body(model(21), model(22, **{"soc-targets": impossible}), sequential=True))
    outcome = compute.compute_devices(request.devices, ALL, {}, sequential=True, time_limit=30)
    assert outcome.failed and not outcome.infeasible  # no fallback for asset-level jobs
    assert outcome.error is not None and outcome.error.startswith("Device sensor 22 (scheduled after sensors 21): ")


def test_the_computed_message_lists_every_device_in_its_own_unit_and_sign() -> None:
    request = validate(asset_body(model(21), model(22, **{"soc-targets": FULL_AT_2H}), **PRICED))
    flipped = {**ALL, 22: sensor(22, "kW", asset_id=11, attributes={"consumption_is_positive": False})}
    outcome = compute.compute_devices(request.devices, flipped, {}, sequential=False, time_limit=30)
    inputs = worker.Inputs(request.devices[0], flipped, {}, request.start, request.devices)

    message = worker._computed(uuid.uuid4(), 21, inputs, outcome)

    assert [(d.sensor_id, d.unit, d.consumption_positive) for d in message.devices] == [
        (21, "MW", False), (22, "kW", True)]  # fmt: skip
    assert (message.values, message.unit) == (message.devices[0].values, "MW")
    assert [d.values for d in message.devices] == [d.values for d in outcome.devices]
    assert sum(message.devices[1].values) * 0.25 == pytest.approx(1000)  # 1 MWh charged, stored positive in kWh


def test_an_account_s_device_topic_sees_only_its_own_devices() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    devices = [DeviceSchedule(sensor_id=21, values=[1.0], unit="MW"),
               DeviceSchedule(sensor_id=22, values=[2.0], unit="kW", consumption_positive=True, soc_sensor_id=5,
                              soc_values=[0.0, 0.5], soc_unit="MWh")]  # fmt: skip
    message = ScheduleComputed(job_id=uuid.uuid4(), sensor_id=21, status="finished", start=start, values=[1.0],
                               unit="MW", devices=devices)  # fmt: skip

    part = restricted_to(message, [22])

    assert [d.sensor_id for d in part.devices] == [22]
    assert (part.sensor_id, part.values, part.unit, part.consumption_positive) == (22, [2.0], "kW", True)
    assert (part.soc_sensor_id, part.soc_values, part.soc_unit) == (5, [0.0, 0.5], "MWh")
    assert restricted_to(message, [21, 22]).devices == devices
    single = message.model_copy(update={"devices": []})
    assert restricted_to(single, [21]) is single
