"""Sensor data through the real gateway, broker, ingest and TimescaleDB (docs/api.md, "Sensor data").

Every POST answers after ingest stored the data (read-your-writes), so a GET right after sees it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from services.gateway.http.submit import ACCEPTED_MESSAGE
from shared.settings import Settings
from tests.integration.conftest import Factory, Service, Tenant, UserHandle, start_service
from tests.integration.test_sensors_api import E2, E3, e1

PROCESSED = {"message": "Request has been processed.", "status": "PROCESSED"}
ALREADY_RECEIVED = {
    "message": "Some of the data has already been received and successfully processed.",
    "results": "PROCESSED",
    "status": "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED",
}
START = "2025-03-01T00:00:00+01:00"


def address(sensor_id: int) -> str:
    return f"ea1.2021-01.io.flexmeasures:fm1.{sensor_id}"


def post(http: httpx.Client, user: UserHandle, sensor: int, **body: Any) -> httpx.Response:
    return http.post(f"/api/v3_0/sensors/{sensor}/data", json={"start": START, **body}, headers=user.headers)


def get(http: httpx.Client, user: UserHandle, sensor: int, **params: Any) -> httpx.Response:
    return http.get(f"/api/v3_0/sensors/{sensor}/data", params={"start": START, **params}, headers=user.headers)


def values(http: httpx.Client, user: UserHandle, sensor: int, **params: Any) -> list[float | None]:
    response = get(http, user, sensor, **params)
    assert response.status_code == 200, response.text
    return list(response.json()["values"])


# --- posting and reading back ---------------------------------------------------------------------


async def test_post_0_27_form_and_read_back_both_forms(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    body = {"sensor": address(sensor), "start": START, "duration": "PT1H", "values": [1, 2, None, 4], "unit": "kW"}
    response = http.post("/api/v3_0/sensors/data", json=body, headers=site.member.headers)
    assert (response.status_code, response.json()) == (200, PROCESSED), response.text
    query = {"sensor": address(sensor), "start": START, "duration": "PT1H", "unit": "kW"}
    old = http.get("/api/v3_0/sensors/data", params=query, headers=site.member.headers)
    assert old.status_code == 200, old.text
    assert old.json() == {
        "values": [1.0, 2.0, None, 4.0], "start": "2025-03-01T00:00:00+01:00", "duration": "PT1H", "unit": "kW",
        "resolution": "PT15M", **PROCESSED,
    }  # fmt: skip
    assert values(http, site.member, sensor, duration="PT1H", unit="kW") == [1.0, 2.0, None, 4.0]


async def test_prefer_respond_async_answers_202_and_the_data_is_stored_after(
    http: httpx.Client, factory: Factory, site: Tenant
) -> None:
    """The 202 path through the real gateway, broker and ingest: ``Prefer: respond-async`` (and ``?wait=false``)
    answer as soon as the command is durable, with its id; ingest stores it anyway."""
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    body = {"start": START, "duration": "PT30M", "values": [1, 2], "unit": "kW"}
    headers = {**site.member.headers, "Prefer": "respond-async"}
    response = http.post(f"/api/v3_0/sensors/{sensor}/data", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["Preference-Applied"] == "respond-async"
    answer = response.json()
    assert (answer["status"], answer["message"]) == ("ACCEPTED", ACCEPTED_MESSAGE)
    assert uuid.UUID(answer["command_id"]) and "command_ids" not in answer
    later = {**body, "start": "2025-03-01T00:30:00+01:00"}
    second = http.post(
        f"/api/v3_0/sensors/{sensor}/data", params={"wait": "false"}, json=later, headers=site.member.headers
    )
    assert second.status_code == 202 and second.json()["command_id"] != answer["command_id"], second.text
    deadline = time.monotonic() + 30
    while (stored := values(http, site.member, sensor, duration="PT1H", unit="kW")) != [1.0, 2.0, 1.0, 2.0]:
        assert time.monotonic() < deadline, f"not stored within 30 s: {stored}"
        time.sleep(0.2)


async def test_unit_conversion_on_post_and_on_get(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    # kWh per 15 min to a kW sensor: x4 (stock -> flow); W scales.
    assert (
        post(http, site.member, sensor, duration="PT30M", values=[1, 2], unit="kWh", horizon="PT0H").status_code == 200
    )
    assert post(http, site.member, sensor, start="2025-03-01T00:30:00+01:00", duration="PT30M", values=[500, None],
                unit="W", horizon="PT0H").status_code == 200  # fmt: skip
    assert values(http, site.member, sensor, duration="PT1H", unit="kW") == [4.0, 8.0, 0.5, None]
    # Read in W (scaling) and in kWh (flow -> stock over 15 min): nulls survive conversion.
    assert values(http, site.member, sensor, duration="PT1H", unit="W") == [4000.0, 8000.0, 500.0, None]
    assert values(http, site.member, sensor, duration="PT1H", unit="kWh") == [1.0, 2.0, 0.125, None]
    # The reverse directions are refused (as FlexMeasures: a stock cannot become a flow the other way round).
    kwh = await factory.sensor(site.asset, unit="kWh", resolution=timedelta(minutes=15))
    refused = post(http, site.member, kwh, duration="PT15M", values=[1], unit="kW")
    assert refused.status_code == 422
    assert refused.json() == e1("combined_sensor_data_description", "_schema",
                                "Required unit for this sensor is kWh, got incompatible unit: kW")  # fmt: skip
    assert get(http, site.member, kwh, duration="PT1H", unit="kW").status_code == 422


async def test_upsampling_on_post(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    assert post(http, site.member, sensor, duration="PT1H", values=[3, 5], unit="kW").status_code == 200
    assert values(http, site.member, sensor, duration="PT1H", unit="kW") == [3.0, 3.0, 5.0, 5.0]
    bad = post(http, site.member, sensor, duration="PT20M", values=[1, 2], unit="kW")
    text = "Resolution of 0:10:00 is incompatible with the sensor's required resolution of 0:15:00."
    assert bad.json() == e1("combined_sensor_data_description", "_schema", text)


async def test_downsampling_and_upsampling_on_get(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    assert post(http, site.member, sensor, duration="PT2H", values=[1, 2, 3, 6, 5, None, None, None],
                unit="kW").status_code == 200  # fmt: skip
    hourly = get(http, site.member, sensor, duration="PT3H", unit="kW", resolution="PT1H").json()
    assert (hourly["values"], hourly["resolution"], hourly["duration"]) == ([3.0, 5.0, None], "PT1H", "PT3H")
    fine = values(http, site.member, sensor, duration="PT30M", unit="kW", resolution="PT5M")
    assert fine == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    # A slot reaching past the end is left empty when resampling (only slots fully inside the window).
    assert values(http, site.member, sensor, duration="PT1H30M", unit="kW", resolution="PT1H") == [3.0, None]


async def test_instantaneous_sensor_reads_values_at_grid_instants(
    http: httpx.Client, factory: Factory, site: Tenant
) -> None:
    sensor = await factory.sensor(site.asset, unit="°C", resolution=timedelta(0))
    assert post(http, site.member, sensor, duration="PT10M", values=[20, 21], unit="°C").status_code == 200
    body = get(http, site.member, sensor, duration="PT15M", unit="°C").json()  # default step 5 min (window ≤ 8 h)
    assert (body["values"], body["resolution"]) == ([20.0, 21.0, None], "PT0H")
    assert values(http, site.member, sensor, duration="PT10M", unit="K") == pytest.approx([293.15, 294.15])
    empty = await factory.sensor(site.asset, unit="°C", resolution=timedelta(0))
    nothing = get(http, site.member, empty, duration="PT9H", unit="°C").json()  # 15 min steps for 8 h < L ≤ 48 h
    assert (len(nothing["values"]), nothing["resolution"]) == (36, "PT0H")


async def test_all_nulls_are_already_received_and_nulls_with_conversion_work(
    http: httpx.Client, factory: Factory, site: Tenant
) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    nulls = post(http, site.member, sensor, duration="PT30M", values=[None, None], unit="MW")
    assert (nulls.status_code, nulls.json()) == (200, ALREADY_RECEIVED)
    mixed = post(http, site.member, sensor, duration="PT30M", values=[None, 0.002], unit="MW")
    assert (mixed.status_code, mixed.json()) == (200, PROCESSED)
    assert values(http, site.member, sensor, duration="PT30M", unit="kW") == [None, 2.0]


async def test_empty_window_reports_the_sensor_resolution(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    body = get(http, site.member, sensor, duration="PT1H", unit="kW", resolution="PT30M").json()
    assert (body["values"], body["resolution"]) == ([None, None], "PT15M")


async def test_start_echoes_the_request_offset(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(hours=1))
    body = get(http, site.member, sensor, start="2025-03-01T05:00:00.123Z", duration="P2D", unit="kW").json()
    assert (body["start"], body["duration"], len(body["values"])) == ("2025-03-01T05:00:00+00:00", "PT48H", 48)


# --- belief timing, sources and replacements ------------------------------------------------------


async def test_prior_and_horizon_select_beliefs(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(hours=1))
    # A forecast made a day ahead, then a measurement 10 minutes after the event end (horizon -10 min).
    assert post(http, site.member, sensor, duration="PT1H", values=[10], unit="kW",
                prior="2025-02-28T00:00:00+01:00").status_code == 200  # fmt: skip
    assert post(http, site.member, sensor, duration="PT1H", values=[12], unit="kW", horizon="-PT10M").status_code == 200
    assert values(http, site.member, sensor, duration="PT1H", unit="kW") == [12.0]  # most recent belief
    assert values(http, site.member, sensor, duration="PT1H", unit="kW", prior="2025-02-28T12:00:00+01:00") == [10.0]
    assert values(http, site.member, sensor, duration="PT1H", unit="kW", prior="2025-02-27T12:00:00+01:00") == [None]
    assert values(http, site.member, sensor, duration="PT1H", unit="kW", horizon="PT1H") == [10.0]
    assert values(http, site.member, sensor, duration="PT1H", unit="kW", type="GetMeterDataRequest") == [12.0]
    assert values(http, site.member, sensor, duration="PT1H", unit="kW", type="GetPrognosisRequest") == [10.0]


async def test_replacement_is_rejected_and_repeats_are_already_received(
    http: httpx.Client, factory: Factory, site: Tenant
) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    series = {"duration": "PT30M", "unit": "kW", "horizon": "PT0H"}
    assert post(http, site.member, sensor, values=[1, 2], **series).json() == PROCESSED
    again = post(http, site.member, sensor, values=[1, 2], **series)
    assert (again.status_code, again.json()) == (200, ALREADY_RECEIVED)
    changed = post(http, site.member, sensor, values=[1, 3], **series)
    assert changed.status_code == 403
    assert changed.json()["status"] == "INVALID_REPLACEMENT" and changed.json()["results"] == "Rejected"
    assert values(http, site.member, sensor, duration="PT30M", unit="kW") == [1.0, 2.0]  # nothing of it saved
    # Without timing fields a repeat has a later belief time and the same values: already received.
    untimed = {"duration": "PT30M", "unit": "kW", "start": "2025-03-02T00:00:00+01:00"}
    assert post(http, site.member, sensor, values=[5, 6], **untimed).json() == PROCESSED
    assert post(http, site.member, sensor, values=[5, 6], **untimed).json() == ALREADY_RECEIVED


async def test_multiple_sources_give_one_value_per_event(
    http: httpx.Client, factory: Factory, site: Tenant, pool: AsyncConnectionPool
) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(hours=1))
    assert post(http, site.member, sensor, duration="PT1H", values=[1], unit="kW", horizon="PT0H").status_code == 200
    assert post(http, site.admin, sensor, duration="PT1H", values=[2], unit="kW", horizon="-PT1H").status_code == 200
    assert values(http, site.member, sensor, duration="PT1H", unit="kW") == [2.0]  # same version: latest belief
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, user_id FROM data_sources WHERE user_id = ANY(%s)",
                                 ([site.member.id, site.admin.id],))  # fmt: skip
        sources = {user: source for source, user in await cur.fetchall()}
    assert values(http, site.member, sensor, duration="PT1H", unit="kW", source=sources[site.member.id]) == [1.0]
    assert values(http, site.member, sensor, duration="PT1H", unit="kW", source=sources[site.admin.id]) == [2.0]
    unknown = get(http, site.member, sensor, duration="PT1H", unit="kW", source=987654321)
    assert unknown.json() == e1("combined_sensor_data_description", "source", "No data source found with id 987654321.")


# --- deleting -------------------------------------------------------------------------------------


async def test_delete_is_ordered_after_earlier_writes(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    # post -> delete -> get: nothing (the post is not waited for, the delete still comes after it).
    posted = http.post(f"/api/v3_0/sensors/{sensor}/data", headers={**site.member.headers, "Prefer": "respond-async"},
                       json={"start": START, "duration": "PT30M", "values": [1, 2], "unit": "kW"})  # fmt: skip
    assert posted.status_code == 202 and posted.json()["status"] == "ACCEPTED"
    assert posted.headers["preference-applied"] == "respond-async"
    deleted = http.delete(f"/api/v3_0/sensors/{sensor}/data", headers=site.admin.headers)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert deleted.headers["content-type"] == "application/json"  # clients parse every answer as JSON
    assert values(http, site.member, sensor, duration="PT30M", unit="kW") == [None, None]
    # delete -> post -> get: the new data.
    assert http.delete(f"/api/v3_0/sensors/{sensor}/data", headers=site.admin.headers).status_code == 204
    assert post(http, site.member, sensor, duration="PT30M", values=[7, 8], unit="kW").status_code == 200
    assert values(http, site.member, sensor, duration="PT30M", unit="kW") == [7.0, 8.0]


async def test_delete_needs_the_delete_permission(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset)
    response = http.delete(f"/api/v3_0/sensors/{sensor}/data", headers=site.member.headers)
    assert (response.status_code, response.json()) == (403, E3)
    missing = http.delete("/api/v3_0/sensors/987654321/data", headers=site.admin.headers)
    assert missing.json() == e1("path", "id", "No sensor found with id 987654321.")


# --- errors in FlexMeasures' order: 401, 422 (or 404), 403 ----------------------------------------


async def test_error_order_and_shapes(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset)
    outsider = await factory.user(await factory.account())
    assert http.post(f"/api/v3_0/sensors/{sensor}/data", json={}).json() == E2
    missing = http.post(f"/api/v3_0/sensors/{sensor}/data", json={"unit": "kW"}, headers=outsider.headers)
    assert missing.status_code == 422  # validation before permission
    assert set(missing.json()["message"]["combined_sensor_data_description"]) == {"values", "start", "duration"}
    ok_body = {"duration": "PT15M", "values": [1], "unit": "kW"}
    assert post(http, outsider, sensor, **ok_body).json() == E3
    assert post(http, site.member, 987654321, **ok_body).json() == {
        "message": "Sensor 987654321 not found",
        "status": 404,
    }
    huge = post(http, site.member, 99999999999, **ok_body)  # beyond PostgreSQL's integer: still a plain 404
    assert huge.json() == {"message": "Sensor 99999999999 not found", "status": 404}
    assert post(http, site.member, sensor, **ok_body, extra=1).json() == e1(
        "combined_sensor_data_description", "extra", "Unknown field."
    )
    naive = post(http, site.member, sensor, duration="PT15M", values=[1], unit="kW", start="2025-03-01T00:00:00")
    assert naive.json() == e1("combined_sensor_data_description", "start", "Not a valid aware datetime.")
    boolean = post(http, site.member, sensor, duration="PT15M", values=[True], unit="kW")
    assert boolean.json()["message"]["combined_sensor_data_description"]["values"] == {"0": ["Not a valid number."]}
    old = http.post("/api/v3_0/sensors/data", json={"sensor": "ea1.2021-01.io.flexmeasures:fm1.987654321", **ok_body,
                                                    "start": START}, headers=site.member.headers)  # fmt: skip
    text = "sensor with entity address ea1.2021-01.io.flexmeasures:fm1.987654321 doesn't exist."
    assert old.json() == e1("json", "sensor", text)
    params = {"sensor": "ea1.2021-01.io", "start": START, "duration": "PT1H", "unit": "kW"}
    no_colon = http.get("/api/v3_0/sensors/data", params=params, headers=site.member.headers)
    assert no_colon.status_code == 422 and "sensor" in no_colon.json()["message"]["query"]
    meter = post(http, site.member, sensor, duration="PT15M", values=[1], unit="kW", type="PostMeterDataRequest",
                 horizon="PT1H")  # fmt: skip
    assert meter.json() == e1("combined_sensor_data_description", "_schema", "Meter data must lie in the past.")
    assert get(http, outsider, sensor, duration="PT1H", unit="kW").json() == E3


async def test_single_number_and_numeric_strings_are_values(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    assert post(http, site.member, sensor, duration="PT15M", values=2.5, unit="kW").json() == PROCESSED
    assert post(http, site.member, sensor, start="2025-03-01T00:15:00+01:00", duration="PT15M", values=["3.5"],
                unit="kW").json() == PROCESSED  # fmt: skip
    assert values(http, site.member, sensor, duration="PT30M", unit="kW") == [2.5, 3.5]


async def test_overwrite_allowed_by_setting(
    factory: Factory, site: Tenant, settings: Settings, service_logs: Path
) -> None:
    gateway = start_service("gateway", settings, service_logs, allow_data_overwrite="true")
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
            series = {"duration": "PT15M", "unit": "kW", "horizon": "PT0H"}
            assert post(client, site.member, sensor, values=[1], **series).json() == PROCESSED
            assert post(client, site.member, sensor, values=[2], **series).json() == PROCESSED
            assert values(client, site.member, sensor, duration="PT15M", unit="kW") == [2.0]
    finally:
        gateway.stop()


# --- the gateway's short-lived caches (token, sensor): its own changes evict them ---------------------


async def test_a_deleted_sensor_is_not_served_from_the_cache(
    http: httpx.Client, factory: Factory, site: Tenant
) -> None:
    sensor = await factory.sensor(site.asset)
    body = {"duration": "PT30M", "values": [1, 2], "unit": "kW"}
    assert post(http, site.admin, sensor, **body).json() == PROCESSED  # the sensor is now cached
    assert http.delete(f"/api/v3_0/sensors/{sensor}", headers=site.admin.headers).status_code == 204
    answer = post(http, site.admin, sensor, **body)
    assert (answer.status_code, answer.json()) == (404, {"message": f"Sensor {sensor} not found", "status": 404})


async def test_a_sensor_deleted_through_another_gateway_leaves_the_cache(
    factory: Factory, site: Tenant, settings: Settings, service_logs: Path, ingest: Service
) -> None:
    """Two gateways caching sensors for 10 minutes: a DELETE through one reaches the other's cache through the
    sensor events (outbox relay → flexstream.sensor-events.v1 → sensor_cache_evictor), long before the TTL."""
    gateways = [start_service("gateway", settings, service_logs, sensor_cache_ttl="PT10M") for _ in range(2)]
    try:
        with httpx.Client(base_url=gateways[0].url) as first, httpx.Client(base_url=gateways[1].url) as second:
            sensor = await factory.sensor(site.asset)
            assert get(second, site.admin, sensor, duration="PT15M", unit="kW").status_code == 200  # now cached
            assert first.delete(f"/api/v3_0/sensors/{sensor}", headers=site.admin.headers).status_code == 204
            deadline = time.monotonic() + 20
            while (answer := get(second, site.admin, sensor, duration="PT15M", unit="kW")).status_code == 200:
                assert time.monotonic() < deadline, "the other gateway still serves the deleted sensor"
                time.sleep(0.2)
            assert (answer.status_code, answer.json()) == (
                404,
                {"message": f"Sensor {sensor} not found", "status": 404},
            )
    finally:
        for gateway in gateways:
            gateway.stop()


async def test_a_changed_unit_is_seen_at_once(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset, unit="kW")
    assert post(http, site.admin, sensor, duration="PT15M", values=[1], unit="kW").json() == PROCESSED
    patched = http.patch(f"/api/v3_0/sensors/{sensor}", json={"unit": "EUR/MWh"}, headers=site.admin.headers)
    assert patched.status_code == 200
    read = http.get(
        f"/api/v3_0/sensors/{sensor}/data",
        params={"start": "2025-03-01T00:00:00+01:00", "duration": "PT15M", "unit": "EUR/MWh"},
        headers=site.admin.headers,
    )
    assert read.status_code == 200, read.text  # with a stale sensor (kW) this unit would be refused


def _sensor_lookups(gateway: Service) -> float:
    metrics = httpx.get(f"{gateway.url}/metrics").text
    return sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("flexstream_gateway_sensor_lookups_total ")
    )


async def test_concurrent_first_writes_to_a_sensor_read_it_from_the_database_once(
    gateway: Service, factory: Factory, site: Tenant
) -> None:
    """Twenty clients write to a sensor the gateway has not cached yet, all at once: one query reads the sensor
    and every request uses it (each used to read it for itself)."""
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15))
    before = _sensor_lookups(gateway)
    headers = {**site.member.headers, "Prefer": "respond-async"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        bodies = [{"start": f"2025-03-{day:02d}T00:00:00+00:00", "duration": "PT15M", "values": [day], "unit": "kW"}
                  for day in range(1, 21)]  # fmt: skip
        responses = await asyncio.gather(
            *(client.post(f"/api/v3_0/sensors/{sensor}/data", json=body, headers=headers) for body in bodies)
        )
    assert [r.status_code for r in responses] == [202] * 20, [r.text for r in responses if r.status_code != 202]
    assert _sensor_lookups(gateway) - before == 1
