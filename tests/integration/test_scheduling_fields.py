"""Every trigger-time validation error and every flex-model / flex-context field through the real gateway, broker,
scheduler, ingest and database (docs/api.md, "Scheduling").

The validation errors are the tables the unit tests check the validator with (tests/unit/flex_error_tables.py),
sent to ``POST /sensors/<id>/schedules/trigger`` with the fixtures' sensors mirrored as real sensors.

Each storage and process flex-model field and each flex-context field runs in one small job (four 15-minute slots,
its own power sensor). All jobs are triggered first and polled afterwards. A job's
schedule must equal the one the problem builder and solver compute in the test from the same inputs, and differ
from the schedule of the same job without the field (so the field took effect); many cases also check a schedule
derived by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from psycopg_pool import AsyncConnectionPool

from services.scheduler import compute, problem, resample
from shared.errors import FlexRejected, TriggerRejected
from shared.flex import SensorFacts, validate_trigger
from shared.flex.window import slot_count
from shared.sensor_facts import consumption_stored_negative, load_facts
from tests.integration.conftest import Factory, Service
from tests.integration.test_scheduling import M15, T0, Site, job_of, schedule, target
from tests.unit.flex_error_tables import (
    BEYOND_WINDOW,
    CONTEXT_ERRORS,
    INSTANTANEOUS_POWER_SENSOR,
    PROCESS_ERRORS,
    SEGMENT_ERRORS,
    STORAGE_ERRORS,
    TOP_LEVEL_ERRORS,
)
from tests.unit.flex_error_tables import at as fixture_at
from tests.unit.flex_fixtures import SENSORS, body

# --- every validation error, from the unit tests' tables ------------------------------------------------------

FIXTURE_BATTERY = 1  # tests/unit/flex_fixtures.py: BATTERY
FIXTURE_MISSING = 99  # a sensor id the fixtures leave unknown
MISSING = 987654321
SENSOR_KEYS = {"sensor", "consumption-price-sensor", "production-price-sensor"}
ID_IN_TEXT = re.compile(r'(sensor |id |"sensor": )(\d+)')


@pytest.fixture
async def site(factory: Factory, scheduler: Service) -> Site:
    account = await factory.account()
    return Site(account, await factory.user(account), await factory.asset(account))


def remap(value: Any, ids: dict[int, int]) -> Any:
    """The fixtures' sensor ids in a body or an expected error replaced by those of the mirrored sensors."""
    if isinstance(value, str):
        return ID_IN_TEXT.sub(lambda m: f"{m[1]}{ids.get(int(m[2]), int(m[2]))}", value)
    if isinstance(value, list):
        return [remap(item, ids) for item in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in SENSOR_KEYS and type(item) is int:
                out[key] = ids.get(item, item)
            elif key == "inflexible-device-sensors" and isinstance(item, list):
                out[key] = [ids.get(i, i) if type(i) is int else i for i in item]
            else:
                out[key] = remap(item, ids)
        return out
    return value


def rejected(message: object) -> dict[str, object]:
    return {"message": message, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}


@dataclass
class Mirror:
    """The unit fixtures' battery and sensors as real sensors (ids mapped) on one asset."""

    http: httpx.Client
    site: Site
    factory: Factory
    ids: dict[int, int]
    batteries: dict[str, int] = field(default_factory=dict)

    async def battery(self, asset: int, changes: dict[str, Any]) -> int:
        assert set(changes) <= {"unit", "attributes"}, changes
        key = f"{asset}:{sorted(changes.items())}"
        if key not in self.batteries:
            self.batteries[key] = await self.factory.sensor(
                asset, unit=changes.get("unit", "MW"), timezone="Europe/Amsterdam", attributes=changes.get("attributes")
            )
        return self.batteries[key]

    def post(self, sensor: int, payload: dict[str, Any]) -> tuple[int, Any]:
        response = self.http.post(f"/api/v3_0/sensors/{sensor}/schedules/trigger",
                                  json=remap(payload, self.ids), headers=self.site.user.headers)  # fmt: skip
        return response.status_code, response.json()


@pytest.fixture
async def mirror(http: httpx.Client, factory: Factory, site: Site) -> Mirror:
    ids = {FIXTURE_MISSING: MISSING}
    for fixture_id, facts in SENSORS.items():
        ids[fixture_id] = await factory.sensor(
            site.asset, unit=facts.unit, resolution=facts.event_resolution, timezone=facts.timezone
        )
    return Mirror(http, site, factory, ids)


async def test_every_top_level_error(mirror: Mirror) -> None:
    battery = await mirror.battery(mirror.site.asset, {})
    wrong = []
    for changes, expected in TOP_LEVEL_ERRORS:
        payload = body()
        for key, value in changes.items():
            if value is None:
                del payload[key]
            else:
                payload[key] = value
        want = (422, rejected(expected if isinstance(expected, dict) else {"json": expected}))
        got = mirror.post(battery, payload)
        if got != want:
            wrong.append((changes, got, want))
    assert wrong == []
    assert mirror.post(battery, []) == (422, rejected({"json": {"_schema": ["Invalid input type."]}}))  # type: ignore[arg-type]


async def test_every_storage_flex_model_error(mirror: Mirror) -> None:
    wrong = []
    for flex_model, battery_changes, expected in STORAGE_ERRORS:
        payload = body(flex_model)
        payload["flex-model"] = {key: value for key, value in payload["flex-model"].items() if value is not None}
        battery = await mirror.battery(mirror.site.asset, battery_changes)
        want = (422, rejected({"json": remap(expected, mirror.ids)}))
        got = mirror.post(battery, payload)
        if got != want:
            wrong.append((flex_model, battery_changes, got, want))
    assert wrong == []


async def test_every_flex_context_error(mirror: Mirror) -> None:
    battery = await mirror.battery(mirror.site.asset, {})
    wrong = []
    for flex_context, expected in CONTEXT_ERRORS:
        payload = body(flex_context=flex_context)
        payload["flex-context"] = {key: value for key, value in payload["flex-context"].items() if value is not None}
        want = (422, rejected({"json": remap(expected, mirror.ids)}))
        got = mirror.post(battery, payload)
        if got != want:
            wrong.append((flex_context, got, want))
    assert wrong == []


async def test_every_process_flex_model_error(mirror: Mirror) -> None:
    process = await mirror.battery(await mirror.factory.asset(mirror.site.account, asset_type="process"), {})
    wrong = []
    for flex_model, expected in PROCESS_ERRORS:
        want = (422, rejected({"json": expected}))
        got = mirror.post(process, body() | {"flex-model": flex_model})
        if got != want:
            wrong.append((flex_model, got, want))
    assert wrong == []


async def test_errors_of_the_power_sensor_segments_and_window(mirror: Mirror) -> None:
    battery = await mirror.battery(mirror.site.asset, {})
    wrong = []
    for name, segment, phrase in SEGMENT_ERRORS:
        code, answer = mirror.post(battery, body({name: [segment]}))
        if code != 422 or phrase not in answer["message"]["json"][name][0]:
            wrong.append((name, segment, code, answer))
    assert wrong == []
    # the longest window is 2520 slots (26.25 days of 15 minutes); a target 30 days out cannot be reached
    code, answer = mirror.post(battery, body({"soc-targets": [{"value": 0.5, "datetime": fixture_at(24 * 30)}]}))
    assert code == 422 and BEYOND_WINDOW in answer["message"]["json"]["soc-targets"][0], answer
    instantaneous = await mirror.factory.sensor(
        mirror.site.asset, unit="MW", resolution=timedelta(0), timezone="Europe/Amsterdam"
    )
    assert mirror.post(instantaneous, body()) == (
        422,
        rejected({"json": INSTANTANEOUS_POWER_SENSOR.format(instantaneous)}),
    )
    custom = await mirror.battery(
        mirror.site.asset, {"attributes": {"custom-scheduler": {"module": "x", "class": "Y"}}}
    )
    code, answer = mirror.post(custom, body())
    assert (
        code == 422 and isinstance(answer["message"]["json"], str) and "custom-scheduler" in answer["message"]["json"]
    )


# --- every field in a job that runs -----------------------------------------------------------------------------

PRICES = [10.0, 20.0, 60.0, 50.0]  # EUR/MWh per 15-minute slot: charge first, discharge last
BASE_MODEL: dict[str, Any] = {"soc-at-start": 10, "soc-unit": "kWh", "soc-min": 0, "soc-max": 100,
                              "power-capacity": "20 kW"}  # fmt: skip
BASE = [20.0, -20.0, -20.0, -20.0]  # kW, consumption positive: charge at 10, sell 20 kWh at 20, 60 and 50
END_AT_10 = {"soc-targets": target(1, 10)}
FLAT = {"consumption-price": "30 EUR/MWh"}
PLAIN = {"prefer-charging-sooner": False, "prefer-curtailing-later": False}
PROCESS_MODEL: dict[str, Any] = {"duration": "PT30M", "power": 10, "process-type": "SHIFTABLE"}
PROCESS_PRICES = [20.0, 60.0, 10.0, 50.0]


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@dataclass
class Case:
    """One job: the fields under test (over ``BASE_MODEL`` and a consumption price from a sensor) and the job
    without them (``base_model``/``base_context`` over the same defaults)."""

    name: str
    model: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    base_model: dict[str, Any] = field(default_factory=dict)
    base_context: dict[str, Any] = field(default_factory=dict)
    hand: Callable[[list[float]], bool] | None = None  # a property derived by hand
    same_as_base: bool = False  # an alias: the schedule must equal the one without it
    process: bool = False  # over ``PROCESS_MODEL`` on a process asset, prices ``PROCESS_PRICES``
    battery: int = 0  # each job has its own power sensor: schedules of one sensor and window replace each other
    job: str = ""


@dataclass
class Inputs:
    battery: int
    prices: int
    low_prices: int
    building: int
    capacity: int
    efficiency: int
    gain: int
    minima: int
    maxima: int
    targets: int
    soc: int
    process_asset: int
    process: int
    process_prices: int
    posted: dict[int, list[tuple[datetime, float]]]


def cases(s: Inputs) -> list[Case]:
    breach = {"consumption-capacity": "5 kW"}
    too_high = {"soc-minima": target(1, 50)}  # 10 kWh + 4 × 5 kWh at most
    cannot_charge_enough = {"soc-targets": target(1, 30)}
    return [
        Case("soc-at-start", {"soc-at-start": 95}, hand=lambda v: v == [-20.0] * 4),  # enough to sell in every slot
        Case("soc-unit", {"soc-unit": "MWh", "soc-at-start": 0.01, "soc-max": 0.1, "soc-min": 0},
             base_model={"soc-at-start": 0.01, "soc-max": 0.1}, hand=lambda v: v == BASE),
        Case("soc-min", {"soc-min": 15}, hand=lambda v: v == [20.0, 20.0, -20.0, 0.0]),
        Case("soc-max", {"soc-max": 12}, hand=lambda v: v[0] == 8.0),  # 2 kWh up to the cap, not 5
        Case("soc-minima fixed", {"soc-minima": "5 kWh"}, hand=lambda v: v == [20.0, 0.0, -20.0, -20.0]),
        Case("soc-minima list", {"soc-minima": target(1, 20)}, hand=lambda v: 10 + sum(v) * 0.25 >= 20 - 1e-6),
        Case("soc-minima sensor", {"soc-minima": {"sensor": s.minima}}, hand=lambda v: 10 + sum(v) * 0.25 >= 20 - 1e-6),
        Case("soc-maxima list", {"soc-maxima": target(0.5, 5)}, hand=lambda v: 10 + sum(v[:2]) * 0.25 <= 5 + 1e-6),
        Case("soc-maxima sensor", {"soc-maxima": {"sensor": s.maxima}},
             hand=lambda v: 10 + sum(v[:2]) * 0.25 <= 5 + 1e-6),
        Case("soc-targets list", {"soc-targets": target(1, 15)}, hand=lambda v: sum(v) * 0.25 == pytest.approx(5)),
        Case("soc-targets sensor", {"soc-targets": {"sensor": s.targets}},
             hand=lambda v: sum(v) * 0.25 == pytest.approx(5)),
        Case("power-capacity", {"power-capacity": "10 kW"}, hand=lambda v: v == [-10.0] * 4),  # 4 × 2.5 kWh
        Case("power-capacity sensor", {"power-capacity": {"sensor": s.capacity}}, hand=lambda v: v[3] == -5.0),
        Case("consumption-capacity", {"consumption-capacity": "5 kW"}, hand=lambda v: v[0] == 5.0),
        Case("production-capacity", {"production-capacity": "5 kW"}, hand=lambda v: v[2:] == [-5.0, -5.0]),
        Case("charging-efficiency", {"soc-targets": target(1, 20), "charging-efficiency": "50%"},
             base_model={"soc-targets": target(1, 20)}, hand=lambda v: v == [20.0] * 4),
        Case("discharging-efficiency", {**END_AT_10, "discharging-efficiency": "50%"}, base_model=END_AT_10,
             hand=lambda v: v == [20.0, 20.0, -20.0, 0.0]),
        Case("roundtrip-efficiency", {**END_AT_10, "roundtrip-efficiency": "25%"}, base_model=END_AT_10),
        Case("charging-efficiency sensor", {**END_AT_10, "charging-efficiency": {"sensor": s.efficiency}},
             base_model=END_AT_10),
        Case("storage-efficiency", {**END_AT_10, "storage-efficiency": "90%"}, base_model=END_AT_10),
        Case("soc-gain", {**END_AT_10, "soc-gain": ["10 kW"]}, base_model=END_AT_10),
        Case("soc-gain sensor", {**END_AT_10, "soc-gain": [{"sensor": s.gain}]}, base_model=END_AT_10),
        Case("soc-usage", {**END_AT_10, "soc-usage": ["10 kW"]}, base_model=END_AT_10),
        # flat prices: the ramp makes later consumption dearer and later production worth more
        Case("prefer-charging-sooner", {"soc-targets": target(1, 15), "prefer-charging-sooner": True,
             "prefer-curtailing-later": False}, FLAT, base_model={"soc-targets": target(1, 15), **PLAIN},
             base_context=FLAT, hand=lambda v: v[0] == 20.0 and sum(v) * 0.25 == pytest.approx(5)),
        Case("prefer-curtailing-later", {"soc-targets": target(1, 15), "prefer-charging-sooner": False,
             "prefer-curtailing-later": True}, FLAT, base_model={"soc-targets": target(1, 15), **PLAIN},
             base_context=FLAT),
        # flex-context
        Case("consumption-price fixed", {"soc-targets": target(1, 25)}, FLAT,
             base_model={"soc-targets": target(1, 25)}, hand=lambda v: v == [20.0, 20.0, 20.0, 0.0]),
        Case("consumption-price list", context={"consumption-price": [
            {"value": "60 EUR/MWh", "start": at(0), "duration": "PT30M"},
            {"value": "10 EUR/MWh", "start": at(30), "duration": "PT30M"}]},
            hand=lambda v: v == [-20.0, -20.0, 0.0, 0.0]),  # sells 10 kWh at 60; 10 in and out gains nothing
        Case("consumption-price-sensor", context={"consumption-price": None, "consumption-price-sensor": s.prices},
             same_as_base=True),
        Case("production-price", context={"production-price": "0 EUR/MWh"}, hand=lambda v: max(v) <= 0),  # no buying
        Case("production-price sensor", context={"production-price": {"sensor": s.low_prices}}),
        Case("production-price-sensor", context={"production-price-sensor": s.low_prices}),
        Case("site-power-capacity", context={"site-power-capacity": "10 kW"}, hand=lambda v: v == [-10.0] * 4),
        Case("site-power-capacity sensor", context={"site-power-capacity": {"sensor": s.capacity}},
             hand=lambda v: v[3] == -5.0),
        Case("site-consumption-capacity", context={"site-consumption-capacity": "5 kW"}, hand=lambda v: v[0] == 5.0),
        Case("site-production-capacity", context={"site-production-capacity": "5 kW"},
             hand=lambda v: v[2:] == [-5.0, -5.0]),
        Case("site-consumption-breach-price",
             context={"site-consumption-capacity": "5 kW", "site-consumption-breach-price": "0.001 EUR/kW"},
             base_context={"site-consumption-capacity": "5 kW"}, hand=lambda v: max(v) > 5),
        Case("site-production-breach-price",
             context={"site-production-capacity": "5 kW", "site-production-breach-price": "0.001 EUR/kW"},
             base_context={"site-production-capacity": "5 kW"}, hand=lambda v: min(v) < -5),
        Case("site-peak-consumption", context={"site-peak-consumption": "10 kW", "site-peak-consumption-price":
             "100 EUR/kW"}, base_context={"site-peak-consumption-price": "100 EUR/kW"},
             hand=lambda v: max(v) == 10.0),
        Case("site-peak-production", context={"site-peak-production": "10 kW", "site-peak-production-price":
             "100 EUR/kW"}, base_context={"site-peak-production-price": "100 EUR/kW"},
             hand=lambda v: min(v) == -10.0),
        Case("consumption-breach-price", breach, {"consumption-breach-price": "0.001 EUR/kW"}, base_model=breach,
             hand=lambda v: max(v) > 5),
        Case("production-breach-price", {"production-capacity": "5 kW"}, {"production-breach-price": "0.001 EUR/kW"},
             base_model={"production-capacity": "5 kW"}, hand=lambda v: min(v) < -5),
        Case("soc-minima-breach-price", too_high, {"soc-minima-breach-price": "1 EUR/kWh"}, base_model=too_high,
             hand=lambda v: v == [20.0] * 4),
        Case("soc-maxima-breach-price", {"soc-maxima": target(0.25, 0)}, {"soc-maxima-breach-price": "1 EUR/kWh"},
             base_model={"soc-maxima": target(0.25, 0)}, hand=lambda v: v[0] == -20.0),
        Case("inflexible-device-sensors", context={"inflexible-device-sensors": [s.building],
             "site-power-capacity": "20 kW"}, base_context={"site-power-capacity": "20 kW"},
             hand=lambda v: v[0] == 5.0),  # 20 kW minus the building's 15
        Case("relax-constraints", too_high, {"relax-constraints": True}, base_model=too_high,
             hand=lambda v: v == [20.0] * 4),
        Case("relax-soc-constraints", too_high, {"relax-soc-constraints": True}, base_model=too_high,
             hand=lambda v: v == [20.0] * 4),
        Case("relax-capacity-constraints", {**breach, **cannot_charge_enough}, {"relax-capacity-constraints": True},
             base_model={**breach, **cannot_charge_enough}, hand=lambda v: sum(v) * 0.25 == pytest.approx(20)),
        Case("relax-site-capacity-constraints", cannot_charge_enough,
             {"site-consumption-capacity": "5 kW", "relax-site-capacity-constraints": True},
             base_model=cannot_charge_enough, base_context={"site-consumption-capacity": "5 kW"},
             hand=lambda v: sum(v) * 0.25 == pytest.approx(20)),
    ]  # fmt: skip


def process_cases() -> list[Case]:
    return [
        Case("process-type SHIFTABLE", {"process-type": "SHIFTABLE"}, base_model={"process-type": "INFLEXIBLE"},
             process=True, hand=lambda v: v == [0.0, 0.0, 10.0, 10.0]),  # the cheapest half hour: 10 + 50
        Case("process-type INFLEXIBLE", {"process-type": "INFLEXIBLE"}, process=True,
             hand=lambda v: v == [10.0, 10.0, 0.0, 0.0]),  # at the start, whatever the price
        Case("process-type BREAKABLE", {"process-type": "BREAKABLE"}, process=True,
             hand=lambda v: v == [10.0, 0.0, 10.0, 0.0]),  # the two cheapest slots: 20 and 10
        Case("duration", {"duration": "PT15M"}, process=True, hand=lambda v: v == [0.0, 0.0, 10.0, 0.0]),
        Case("power", {"power": 5}, process=True, hand=lambda v: v == [0.0, 0.0, 5.0, 5.0]),
        Case("optimization-sense", {"optimization-sense": "MAX"}, process=True,
             hand=lambda v: v == [10.0, 10.0, 0.0, 0.0]),  # the dearest half hour: 20 + 60
        Case("time-restrictions", {"time-restrictions": [{"start": at(30), "duration": "PT30M"}]}, process=True,
             hand=lambda v: v == [10.0, 10.0, 0.0, 0.0]),  # the last half hour is off limits
    ]  # fmt: skip


def payload(s: Inputs, model: dict[str, Any], context: dict[str, Any], process: bool = False) -> dict[str, Any]:
    prices = s.process_prices if process else s.prices
    flex_context = {key: value for key, value in {"consumption-price": {"sensor": prices}, **context}.items()
                    if value is not None}  # fmt: skip
    flex_model = {**(PROCESS_MODEL if process else BASE_MODEL), **model}
    return {"start": T0.isoformat(), "duration": "PT1H", "flex-model": flex_model, "flex-context": flex_context}


def computed(
    s: Inputs, facts: dict[int, SensorFacts], request_body: dict[str, Any], process: bool = False
) -> list[float] | None:
    """The schedule (kW, consumption positive) the builder and solver give on the posted inputs; None if none."""
    own = facts[s.process if process else s.battery]
    try:
        request = validate_trigger(request_body, own, facts)
    except (TriggerRejected, FlexRejected):
        return None
    n = slot_count(request.start, request.end, request.resolution)
    series = {
        need: resample.on_grid(s.posted.get(need.sensor_id, []), facts[need.sensor_id].event_resolution,
                               request.start, request.resolution, n, need.kind)
        for need in problem.needs(request)
    }  # fmt: skip
    outcome = compute.compute(request, facts, series, time_limit=10)
    if outcome.values is None or outcome.infeasible:
        return None
    sign = -1.0 if consumption_stored_negative(own) else 1.0
    return [round(sign * value, 6) + 0.0 for value in outcome.values]


async def test_every_field_takes_effect_in_a_job(
    http: httpx.Client, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    sensor = factory.sensor
    process_asset = await factory.asset(site.account, asset_type="process")
    prices, low_prices, building, capacity, efficiency, gain, minima, maxima, targets = [
        await sensor(site.asset, unit=unit) for unit in ("EUR/MWh", "EUR/MWh", "kW", "kW", "%", "kW", "kWh", "kWh",
                                                         "kWh")
    ]  # fmt: skip
    s = Inputs(
        battery=await sensor(site.asset, unit="kW"), prices=prices, low_prices=low_prices, building=building,
        capacity=capacity, efficiency=efficiency, gain=gain, minima=minima, maxima=maxima, targets=targets,
        soc=await sensor(site.asset, unit="kWh", resolution=timedelta(0)), process_asset=process_asset,
        process=await sensor(process_asset, unit="kW"), process_prices=await sensor(site.asset, unit="EUR/MWh"),
        posted={},
    )  # fmt: skip
    slots = [T0 + i * M15 for i in range(4)]
    data = {
        prices: (slots, PRICES, "EUR/MWh"),
        s.process_prices: (slots, PROCESS_PRICES, "EUR/MWh"),
        low_prices: (slots, [0.0, 0.0, 5.0, 5.0], "EUR/MWh"),
        building: (slots, [-15.0] * 4, "kW"),  # consumption stored negative
        capacity: (slots, [10.0, 20.0, 20.0, 5.0], "kW"),
        efficiency: (slots, [50.0, 50.0, 100.0, 100.0], "%"),
        gain: (slots, [0.0, 0.0, 20.0, 20.0], "kW"),
        minima: ([T0 + 4 * M15], [20.0], "kWh"),  # the slot that starts at the end covers the last instant
        maxima: ([T0 + 2 * M15], [5.0], "kWh"),
        targets: ([T0 + 4 * M15], [15.0], "kWh"),
    }
    for sensor_id, (starts, values, unit) in data.items():
        response = http.post(
            f"/api/v3_0/sensors/{sensor_id}/data",
            json={"start": starts[0].isoformat(), "duration": f"PT{15 * len(values)}M", "values": values,
                  "unit": unit},
            headers={**site.user.headers, "Prefer": "respond-async"},
        )  # fmt: skip
        assert response.status_code == 202, response.text
        s.posted[sensor_id] = list(zip(starts, values, strict=True))

    all_cases = [*cases(s), *process_cases()]
    soc_case = Case("state-of-charge sensor", {"state-of-charge": {"sensor": s.soc}})
    for case in [*all_cases, soc_case]:
        case.battery = await sensor(s.process_asset if case.process else site.asset, unit="kW")
        body = payload(s, case.model, case.context, case.process)
        case.job = job_of(http.post(f"/api/v3_0/sensors/{case.battery}/schedules/trigger", json=body,
                                    headers=site.user.headers))  # fmt: skip

    async with pool.connection() as conn:
        facts = await load_facts(conn, [s.battery, s.process, *s.posted, s.soc])  # as every case's own sensor
    base = computed(s, facts, payload(s, {}, {}))
    assert base == BASE
    wrong = []
    for case in all_cases:
        response = schedule(http, site.user, case.battery, case.job, duration="PT1H")
        got = response.json()
        expected = computed(s, facts, payload(s, case.model, case.context, case.process), case.process)
        without = computed(s, facts, payload(s, case.base_model, case.base_context, case.process), case.process)
        scheduler = "ProcessScheduler" if case.process else "StorageScheduler"
        problems = []
        if response.status_code != 200 or got.get("scheduler_info") != {"scheduler": scheduler}:
            problems.append(f"job answered {response.status_code} {got}")
        elif got["values"] != pytest.approx(expected, abs=1e-6):
            problems.append(f"schedule {got['values']} != computed {expected}")
        if case.same_as_base and expected != without:
            problems.append(f"computed {expected} != without the field {without}")
        if not case.same_as_base and expected == without:
            problems.append(f"no effect: {expected} also without the field")
        if case.hand is not None and (expected is None or not case.hand(expected)):
            problems.append(f"computed {expected} breaks the hand-derived expectation")
        if problems:
            wrong.append(f"{case.name}: {'; '.join(problems)}")
    assert not wrong, "\n".join(wrong)

    response = schedule(http, site.user, soc_case.battery, soc_case.job, duration="PT1H")
    assert response.status_code == 200, response.text
    assert response.json()["values"] == BASE
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_start, event_value FROM timed_beliefs WHERE sensor_id = %s ORDER BY event_start", (s.soc,)
        )
        rows = await cur.fetchall()
    soc = np.cumsum([10.0, *(v * 0.25 for v in BASE)])  # 10 kWh at the start
    assert [r[0] for r in rows] == [T0 + i * M15 for i in range(5)]
    assert [r[1] for r in rows] == pytest.approx(soc.tolist())
