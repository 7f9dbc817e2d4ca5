"""Asset-level scheduling through the real gateway, broker, scheduler, ingest and database (docs/api.md,
"POST /api/v3_0/assets/<id>/schedules/trigger").

Each test triggers one job for several devices over HTTP and reads every device's schedule with
``GET /sensors/<device>/schedules/<uuid>``, as a client does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration.conftest import Factory, Service, UserHandle
from tests.integration.test_scheduling import START, T0, Site, job_of, schedule

# Two batteries of 20 kW each, both wanting 10 → 30 kWh within 2 h; the site takes at most 30 kW.
BATTERY = {"soc-at-start": 10, "soc-unit": "kWh", "soc-min": 0, "soc-max": 100, "power-capacity": "20 kW"}
SITE_KW = 30.0


@pytest.fixture
async def site(factory: Factory, scheduler: Service) -> Site:
    account = await factory.account()
    return Site(account, await factory.user(account), await factory.asset(account))


def asset_trigger(http: httpx.Client, user: UserHandle, asset: int, **body: Any) -> httpx.Response:
    return http.post(f"/api/v3_0/assets/{asset}/schedules/trigger", json={"start": START, **body},
                     headers=user.headers)  # fmt: skip


def target(hours: float, kwh: float) -> list[dict[str, Any]]:
    return [{"datetime": (T0 + timedelta(hours=hours)).isoformat(), "value": kwh}]


def cheap_then_dear(prices: list[float]) -> dict[str, Any]:
    """A flex-context with hourly fixed prices as segments and the site capacity."""
    segments = [
        {"start": (T0 + timedelta(hours=i)).isoformat(), "duration": "PT1H", "value": f"{p} EUR/MWh"}
        for i, p in enumerate(prices)
    ]
    return {"consumption-price": segments, "site-power-capacity": f"{SITE_KW} kW"}


def values_of(http: httpx.Client, user: UserHandle, sensor: int, job: str) -> list[float]:
    response = schedule(http, user, sensor, job, duration="PT2H")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unit"] == "kW" and body["scheduler_info"] == {"scheduler": "StorageScheduler"}
    return [float(v) for v in body["values"]]


async def _two_batteries(factory: Factory, site: Site) -> tuple[int, int, int]:
    """A site asset with one battery sensor on it and one on a child asset."""
    child = await factory.asset(site.account, parent=site.asset)
    return site.asset, await factory.sensor(site.asset, unit="kW"), await factory.sensor(child, unit="kW")


async def test_joint_schedule_shares_the_site_limit(http: httpx.Client, factory: Factory, site: Site) -> None:
    asset, a, b = await _two_batteries(factory, site)
    flex_model = [{"sensor": a, **BATTERY, "soc-targets": target(2, 30)},
                  {"sensor": b, **BATTERY, "soc-targets": target(2, 30)}]  # fmt: skip
    job = job_of(asset_trigger(http, site.user, asset, duration="PT2H", **{
        "flex-model": flex_model, "flex-context": cheap_then_dear([10, 50])}))  # fmt: skip

    first, second = values_of(http, site.user, a, job), values_of(http, site.user, b, job)

    total = np.array(first) + np.array(second)
    assert len(first) == len(second) == 8
    assert (total <= SITE_KW + 1e-6).all(), total  # the shared limit holds in every slot
    assert sum(first) * 0.25 == pytest.approx(20) and sum(second) * 0.25 == pytest.approx(20)  # each gets its +20 kWh
    # 40 kWh are needed and the cheap hour takes at most 30 kWh at the site limit: it is used to the full
    assert total[:4].sum() * 0.25 == pytest.approx(30)


async def test_sequential_schedule_sees_earlier_devices_as_inflexible(
    http: httpx.Client, factory: Factory, site: Site
) -> None:
    asset, a, b = await _two_batteries(factory, site)
    flex_model = [{"sensor": a, **BATTERY, "soc-targets": target(2, 30)},
                  {"sensor": b, **BATTERY, "soc-targets": target(2, 30)}]  # fmt: skip
    job = job_of(asset_trigger(http, site.user, asset, duration="PT2H", sequential=True, **{
        "flex-model": flex_model, "flex-context": cheap_then_dear([10, 50])}))  # fmt: skip

    first, second = values_of(http, site.user, a, job), values_of(http, site.user, b, job)

    # the first device takes the cheap hour for itself (20 kW); the second gets what the site has left (10 kW)
    assert first == pytest.approx([20.0] * 4 + [0.0] * 4)
    assert second[:4] == pytest.approx([10.0] * 4) and sum(second) * 0.25 == pytest.approx(20)
    assert ((np.array(first) + np.array(second)) <= SITE_KW + 1e-6).all()


async def test_force_new_job_creation_and_de_duplication(http: httpx.Client, factory: Factory, site: Site) -> None:
    asset, a, b = await _two_batteries(factory, site)
    body = {"duration": "PT1H", "flex-model": [{"sensor": a, **BATTERY}, {"sensor": b, **BATTERY}],
            "flex-context": {"consumption-price": "30 EUR/MWh"}}  # fmt: skip
    first = job_of(asset_trigger(http, site.user, asset, **body))
    assert job_of(asset_trigger(http, site.user, asset, **body)) == first
    assert job_of(asset_trigger(http, site.user, asset, **body, **{"force-new-job-creation": True})) != first
    assert job_of(asset_trigger(http, site.user, asset, **body, force_new_job_creation=True)) != first
    assert len(values_of(http, site.user, b, first)) == 4


async def test_bad_asset_triggers_are_clear_4xx(http: httpx.Client, factory: Factory, site: Site) -> None:
    asset, a, _ = await _two_batteries(factory, site)
    elsewhere = await factory.sensor(await factory.asset(site.account), unit="kW")
    context = {"consumption-price": "30 EUR/MWh"}

    outside = asset_trigger(http, site.user, asset, **{"flex-model": [{"sensor": a, **BATTERY},
                            {"sensor": elsewhere, **BATTERY}], "flex-context": context})  # fmt: skip
    assert outside.status_code == 422, outside.text
    assert f"Sensor(s) {elsewhere} are not devices of asset {asset}" in outside.json()["message"]["json"]["_schema"][0]

    cases: list[tuple[dict[str, Any], int, Any]] = [
        ({"flex-context": context}, 422, {"json": {"flex-model": ["Missing data for required field."]}}),
        ({"flex-model": {"sensor": a}}, 422, {"json": {"flex-model": ["Not a valid list."]}}),
        ({"flex-model": [{**BATTERY}]}, 422,
         {"json": {"flex-model": {"0": {"sensor": ["Missing data for required field."]}}}}),
        ({"flex-model": [{"sensor": 2_000_000_000}]}, 422,
         {"json": {"flex-model": {"0": {"sensor": ["No sensor found with id 2000000000."]}}}}),
        ({"flex-model": [{"sensor": a}], "sequential": "maybe"}, 422,
         {"json": {"sequential": ["Not a valid boolean."]}}),
        ({"flex-model": [{"sensor": a}], "colour": 1}, 422, {"json": {"colour": ["Unknown field."]}}),
    ]  # fmt: skip
    for body, status, message in cases:
        response = asset_trigger(http, site.user, asset, **body)
        assert (response.status_code, response.json().get("message")) == (status, message), (body, response.text)

    twice = asset_trigger(http, site.user, asset, **{"flex-model": [{"sensor": a}, {"sensor": a}]})
    assert twice.status_code == 422 and "more than one flex-model" in twice.json()["message"]["json"]["_schema"][0]
    e6 = asset_trigger(http, site.user, asset, **{"flex-model": [{"sensor": a, **BATTERY, "soc-min": "x"}],
                       "flex-context": context})  # fmt: skip
    assert e6.status_code == 422 and "0" in e6.json()["message"]["json"]["flex-model"], e6.text
    missing = http.post(
        "/api/v3_0/assets/2000000000/schedules/trigger", json={"start": START}, headers=site.user.headers
    )
    assert missing.status_code == 422
    assert missing.json()["message"] == {"args_and_json": {"id": ["No asset found with ID 2000000000."]}}

    stranger = await factory.user(await factory.account())
    body = {"flex-model": [{"sensor": a, **BATTERY}], "flex-context": context}
    assert asset_trigger(http, stranger, asset, **body).status_code == 403
    assert http.post(f"/api/v3_0/assets/{asset}/schedules/trigger", json={"start": START}).status_code == 401


async def test_a_single_device_runs_as_its_own_job(http: httpx.Client, factory: Factory, site: Site) -> None:
    """What flexmeasures-client sends for one sensor: the process scheduler and the fallback work as on the sensor
    route."""
    process_asset = await factory.asset(site.account, asset_type="process", parent=site.asset)
    process = await factory.sensor(process_asset, unit="kW")
    shiftable = {"duration": "PT1H", "power": 10, "process-type": "SHIFTABLE"}
    context = {"consumption-price": cheap_then_dear([50, 10, 30])["consumption-price"]}
    job = job_of(asset_trigger(http, site.user, site.asset, duration="PT3H", **{
        "flex-model": [{"sensor": process, **shiftable}], "flex-context": context}))  # fmt: skip
    response = schedule(http, site.user, process, job)
    assert response.status_code == 200, response.text
    assert response.json()["scheduler_info"] == {"scheduler": "ProcessScheduler"}
    assert response.json()["values"] == [0.0] * 4 + [10.0] * 4 + [0.0] * 4

    battery = await factory.sensor(site.asset, unit="kW", attributes={"is_consumer": True})
    infeasible = {"sensor": battery, **BATTERY, "soc-targets": target(1, 30)}  # needs 20 kW, the site allows 5
    tight = {"consumption-price": "30 EUR/MWh", "site-power-capacity": "5 kW"}
    job = job_of(asset_trigger(http, site.user, site.asset, duration="PT1H",
                               **{"flex-model": [infeasible], "flex-context": tight}))  # fmt: skip
    fallback = schedule(http, site.user, battery, job)
    assert fallback.status_code == 200, fallback.text
    assert fallback.json()["scheduler_info"] == {"scheduler": "StorageFallbackScheduler"}
