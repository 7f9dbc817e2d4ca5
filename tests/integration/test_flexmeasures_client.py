"""flexmeasures-client 0.9.6, as a new user's script would use it, against the real gateway and ingest.

Every client method that touches users, accounts, assets, sensors, sensor data (JSON and file upload) and
deletion is called once and answers what FlexMeasures would, and ``trigger_and_get_schedule`` schedules a sensor and
an asset, with and without ``prior`` (which routes the client picks at the reported release: docs/api.md,
"Service listing").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flexmeasures_client import FlexMeasuresClient
from psycopg_pool import AsyncConnectionPool

from services.gateway.http.server_version import FLEXMEASURES_VERSION
from tests.integration.conftest import Factory, UserHandle
from tests.processes import Service

ASSET_KEYS = {"id", "name", "account_id", "owner", "generic_asset_type_id", "generic_asset_type", "parent_asset_id",
              "child_assets", "sensors", "latitude", "longitude", "attributes", "flex_context",
              "sensors_to_show"}  # fmt: skip
SENSOR_KEYS = {"attributes", "entity_address", "event_resolution", "generic_asset_id", "id", "name", "timezone", "unit"}


@pytest.fixture
async def account_admin(factory: Factory) -> UserHandle:
    return await factory.user(await factory.account(), ("account-admin",))


@pytest.fixture
async def client(gateway: Service, account_admin: UserHandle) -> AsyncIterator[FlexMeasuresClient]:
    address = urlsplit(gateway.url)
    fm = FlexMeasuresClient(
        email=account_admin.email, password=account_admin.password, host=f"{address.hostname}:{address.port}",
        request_retry_interval=0.1,
    )  # fmt: skip
    yield fm
    await fm.close()


async def test_versions_user_and_account(client: FlexMeasuresClient, account_admin: UserHandle) -> None:
    versions = await client.get_versions()
    assert versions["server_version"] == FLEXMEASURES_VERSION
    assert versions["server_supports_api_versions"] == ["v3_0"]

    user = await client.get_user()
    assert user is not None and (user["id"], user["email"]) == (account_admin.id, account_admin.email)
    assert user["account_id"] == account_admin.account_id and user["flexmeasures_roles"] == ["account-admin"]
    assert client.server_version == FLEXMEASURES_VERSION  # learnt from the FlexMeasures-Version header

    account = await client.get_account()
    assert account is not None and account["id"] == account_admin.account_id
    assert set(account) == {"id", "name", "account_roles", "consultancy_account_id", "primary_color",
                            "secondary_color", "logo_url", "status"}  # fmt: skip


async def test_asset_and_sensor_life_cycle(
    client: FlexMeasuresClient, account_admin: UserHandle, factory: Factory
) -> None:
    existing = await factory.asset(account_admin.account_id, asset_type="building")
    types = await client.get_asset_types()
    assert all(set(t) == {"id", "name", "description"} for t in types)
    type_id = next(t["id"] for t in types if t["name"] == "building")

    site = await client.add_asset(
        name="site", account_id=account_admin.account_id, latitude=52.0, longitude=4.3,
        generic_asset_type_id=type_id, sensors_to_show=[1, 2], flex_context={"site-power-capacity": "1 MW"},
        attributes={"note": "via the client"},
    )  # fmt: skip
    assert set(site) == ASSET_KEYS
    assert site["owner"]["id"] == account_admin.account_id and site["sensors_to_show"] == "[1, 2]"
    battery = await client.add_asset(
        name="battery", account_id=account_admin.account_id, latitude=52.0, longitude=4.3,
        generic_asset_type_id=type_id, parent_asset_id=site["id"],
    )  # fmt: skip

    got = await client.get_asset(site["id"], parse_json_fields=True)
    assert got["attributes"] == {"note": "via the client"} and got["flex_context"] == {"site-power-capacity": "1 MW"}
    assert [c["id"] for c in got["child_assets"]] == [battery["id"]] and got["status"] == 200
    listed = await client.get_assets(parse_json_fields=True)
    assert [a["id"] for a in listed] == [existing, site["id"], battery["id"]]

    updated = await client.update_asset(
        site["id"], {"name": "site 1", "attributes": {"note": "renamed"}}, parse_json_fields=True
    )
    assert (updated["name"], updated["attributes"], updated["status"]) == ("site 1", {"note": "renamed"}, 200)

    sensor = await client.add_sensor(
        name="power", event_resolution="PT15M", unit="MW", generic_asset_id=battery["id"],
        timezone="Europe/Amsterdam", attributes={"capacity_in_mw": 0.5},
    )  # fmt: skip
    assert set(sensor) == SENSOR_KEYS and json.loads(sensor["attributes"]) == {"capacity_in_mw": 0.5}
    assert await client.get_sensor(sensor["id"], parse_json_fields=True) == {
        **sensor, "attributes": {"capacity_in_mw": 0.5}, "status": 200}  # fmt: skip
    assert [s["id"] for s in await client.get_sensors(asset_id=site["id"], parse_json_fields=False)] == [sensor["id"]]
    renamed = await client.update_sensor(sensor["id"], {"name": "battery power"}, parse_json_fields=False)
    assert (renamed["name"], renamed["status"]) == ("battery power", 200)

    await client.delete_sensor(sensor["id"], confirm_first=False)
    assert await client.get_sensors(asset_id=site["id"], parse_json_fields=False) == []
    await client.delete_asset(site["id"], confirm_first=False)
    assert [a["id"] for a in await client.get_assets(parse_json_fields=False)] == [existing]


async def test_sensor_data(
    client: FlexMeasuresClient, account_admin: UserHandle, factory: Factory, tmp_path: Path
) -> None:
    asset = await factory.asset(account_admin.account_id)
    sensor = await factory.sensor(asset, unit="MW", resolution=timedelta(minutes=15))
    start = datetime(2025, 1, 1, tzinfo=UTC)

    response, status = await client.post_sensor_data(
        sensor,
        start=start,
        duration="PT1H",
        values=[1000, 2000, None, 4000],
        unit="kW",
        prior=start + timedelta(days=1),
    )
    assert (status, response["status"]) == (200, "PROCESSED")
    again, _ = await client.post_sensor_data(
        sensor,
        start=start,
        duration="PT1H",
        values=[1000, 2000, None, 4000],
        unit="kW",
        prior=start + timedelta(days=2),
    )
    assert again["status"] == "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED"

    csv = tmp_path / "later.csv"
    csv.write_text("event_start,value\n2025-01-01T01:00:00+00:00,5\n2025-01-01T01:15:00+00:00,6\n")
    uploaded, status = await client.post_sensor_data(sensor, file_path=str(csv))
    assert (status, uploaded["status"]) == (200, "PROCESSED")

    data = await client.get_sensor_data(sensor, start=start, duration="PT1H30M", unit="MW", resolution="PT15M")
    assert data == {"values": [1.0, 2.0, None, 4.0, 5.0, 6.0], "start": "2025-01-01T00:00:00+00:00",
                    "duration": "PT1H30M", "unit": "MW"}  # fmt: skip
    hourly = await client.get_sensor_data(sensor, start=start, duration="PT2H", unit="kW", resolution="PT1H")
    assert hourly["values"] == [pytest.approx(7000 / 3), 5500.0]

    with pytest.warns(DeprecationWarning):
        await client.post_measurements(sensor, start=start + timedelta(hours=2), duration="PT15M", values=[7],
                                       unit="MW")  # fmt: skip

    with pytest.raises(ValueError, match="Deleting part of a sensor's data"):  # 422: FlexStream deletes all or nothing
        await client.delete_sensor_data(sensor, confirm_first=False, source=1, start=start)
    kept = await client.get_sensor_data(sensor, start=start, duration="PT30M", unit="MW", resolution="PT15M")
    assert kept["values"] == [1.0, 2.0]

    await client.delete_sensor_data(sensor, confirm_first=False)
    emptied = await client.get_sensor_data(sensor, start=start, duration="PT30M", unit="MW", resolution="PT15M")
    assert emptied["values"] == [None, None]


# a battery wanting 10 → 15 kWh within the hour at a fixed price, behind a 30 kW site connection
SCHEDULE_START = datetime(2026, 6, 1, tzinfo=UTC)
BATTERY = {"soc-at-start": 10, "soc-unit": "kWh", "soc-min": 0, "soc-max": 100, "power-capacity": "20 kW",
           "soc-targets": [{"datetime": (SCHEDULE_START + timedelta(hours=1)).isoformat(), "value": 15}]}  # fmt: skip
CONTEXT = {"consumption-price": "30 EUR/MWh", "site-power-capacity": "30 kW"}


async def _last_job_was_asset_level(pool: AsyncConnectionPool, sensor: int) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT request ? 'asset_id' FROM schedule_jobs WHERE sensor_id = %s ORDER BY created_at DESC LIMIT 1",
            (sensor,),
        )
        row = await cur.fetchone()
    assert row is not None
    return bool(row[0])


async def test_trigger_and_get_schedule(
    client: FlexMeasuresClient, account_admin: UserHandle, factory: Factory, scheduler: Service,
    pool: AsyncConnectionPool,
) -> None:  # fmt: skip
    site = await factory.asset(account_admin.account_id)
    child = await factory.asset(account_admin.account_id, parent=site)
    first, second = await factory.sensor(site, unit="kW"), await factory.sensor(child, unit="kW")
    common = {"start": SCHEDULE_START, "duration": "PT1H", "flex_context": CONTEXT}

    one = await client.trigger_and_get_schedule(sensor_id=first, flex_model=BATTERY, **common)
    assert isinstance(one, dict) and await _last_job_was_asset_level(pool, first)  # 0.27.4: the asset route
    assert (one["unit"], one["start"], one["duration"]) == ("kW", "2026-06-01T00:00:00+00:00", "PT1H")
    assert sum(one["values"]) * 0.25 == pytest.approx(5)  # kWh charged

    prior = datetime.now(UTC)
    again = await client.trigger_and_get_schedule(sensor_id=first, flex_model=BATTERY, prior=prior, **common)
    assert isinstance(again, dict) and not await _last_job_was_asset_level(pool, first)  # forced: the sensor route
    assert again["values"] == pytest.approx(one["values"])

    models = [{"sensor": first, **BATTERY}, {"sensor": second, **BATTERY}]
    for asset_prior in (None, prior):  # with a prior the client adds force-new-job-creation
        both = await client.trigger_and_get_schedule(asset_id=site, flex_model=models, prior=asset_prior, **common)
        assert isinstance(both, list) and [s["sensor"] for s in both] == [first, second]
        assert await _last_job_was_asset_level(pool, first)
        for device in both:
            assert device["unit"] == "kW" and sum(device["values"]) * 0.25 == pytest.approx(5)
        assert all(a + b <= 30 + 1e-6 for a, b in zip(both[0]["values"], both[1]["values"], strict=True))


async def test_the_clients_first_schedule_get_gets_the_schedule(
    client: FlexMeasuresClient, gateway: Service, account_admin: UserHandle, factory: Factory, scheduler: Service
) -> None:
    """flexmeasures-client GETs a schedule right after its trigger and, told the job is still waiting or in
    progress, sleeps its retry interval (10 s by default) before asking again. The gateway's GET waits for the job
    instead (docs/api.md), so the first GET gets the schedule: a client that would sleep 10 minutes, within a
    budget of 60 s, still gets it."""
    site = await factory.asset(account_admin.account_id)
    battery = await factory.sensor(site, unit="kW")
    common = {"sensor_id": battery, "flex_context": CONTEXT, "start": SCHEDULE_START, "duration": "PT1H"}
    await client.trigger_and_get_schedule(flex_model=BATTERY, **common)  # the scheduler's first job, not timed
    address = urlsplit(gateway.url)
    patient = FlexMeasuresClient(
        email=account_admin.email, password=account_admin.password, host=f"{address.hostname}:{address.port}",
        request_retry_interval=600, request_retry_timeout=60,
    )  # fmt: skip
    try:
        # another state of charge: a new job (an identical trigger would answer the finished job of the first)
        schedule = await patient.trigger_and_get_schedule(flex_model={**BATTERY, "soc-at-start": 11}, **common)
    finally:
        await patient.close()
    assert isinstance(schedule, dict) and sum(schedule["values"]) * 0.25 == pytest.approx(4)
