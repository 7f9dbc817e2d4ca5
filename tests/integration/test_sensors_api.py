"""Sensor CRUD against the real gateway (docs/api.md, "Sensors"): success bodies field by field, every listed error."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from services.gateway.rules.entity_address import first_month_after
from tests.integration.conftest import Factory

E2 = {"message": "You could not be properly authenticated for this content or functionality.", "status": "UNAUTHORIZED"}
E3 = {"message": "You cannot be authorized for this content or functionality.", "result": "Rejected",
      "status": "INVALID_SENDER"}  # fmt: skip
SENSOR_KEYS = {"attributes", "entity_address", "event_resolution", "generic_asset_id", "id", "name", "timezone", "unit"}


def e1(location: str, field: str, *texts: str) -> dict[str, Any]:
    return {"message": {location: {field: list(texts)}}, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}


def local_address(sensor_id: int) -> str:
    return f"ea1.{first_month_after(datetime.now(UTC).date())}.127.0.0.1:fm1.{sensor_id}"


def new_sensor(asset: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"s-{uuid.uuid4().hex[:6]}", "unit": "kW", "event_resolution": "PT15M",
            "generic_asset_id": asset, **extra}  # fmt: skip


# --- create / get / patch / delete ----------------------------------------------------------------


async def test_crud_round_trip(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    body = new_sensor(t.asset, timezone="Europe/Amsterdam", attributes='{"consumption_is_positive": false}')
    created = http.post("/api/v3_0/sensors", json=body, headers=t.admin.headers)
    assert created.status_code == 201, created.text
    sensor = created.json()
    sensor_id = sensor["id"]
    assert sensor == {
        "attributes": '{"consumption_is_positive": false}',
        "entity_address": local_address(sensor_id),
        "event_resolution": "PT15M",
        "generic_asset_id": t.asset,
        "id": sensor_id,
        "name": body["name"],
        "timezone": "Europe/Amsterdam",
        "unit": "kW",
    }  # fmt: skip  (POST is not wrapped: no "status")
    assert created.headers["content-type"] == "application/json"
    assert created.text.startswith('{\n  "attributes"')  # pretty-printed, sorted keys

    got = http.get(f"/api/v3_0/sensors/{sensor_id}", headers=t.member.headers)
    assert got.status_code == 200 and got.json() == {**sensor, "status": 200}

    patched = http.patch(
        f"/api/v3_0/sensors/{sensor_id}",
        json={"name": "renamed", "unit": "MW", "event_resolution": "P1DT1H", "attributes": '{"a": 1}'},
        headers=t.admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json() == {**sensor, "name": "renamed", "unit": "MW", "event_resolution": "P1DT1H",
                              "attributes": '{"a": 1}', "status": 200}  # fmt: skip

    deleted = http.delete(f"/api/v3_0/sensors/{sensor_id}", headers=t.admin.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert deleted.headers["content-type"] == "application/json"  # clients parse every answer as JSON
    gone = http.get(f"/api/v3_0/sensors/{sensor_id}", headers=t.admin.headers)
    assert gone.status_code == 422 and gone.json() == e1("path", "id", f"No sensor found with id {sensor_id}.")


async def test_defaults_and_rendering(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    created = http.post("/api/v3_0/sensors", json=new_sensor(t.asset, event_resolution="PT0M", unit="m³/h"),
                        headers=t.member.headers)  # fmt: skip
    assert created.status_code == 201, created.text  # plain members may create sensors (create-children on asset)
    body = created.json()
    assert (body["timezone"], body["attributes"], body["event_resolution"]) == ("UTC", "{}", "P0D")
    assert '"m\\u00b3/h"' in created.text  # non-ASCII escaped


async def test_entity_address_follows_the_request_host(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    sensor_id = await factory.sensor(t.asset)
    configured = http.get(f"/api/v3_0/sensors/{sensor_id}", headers={**t.member.headers, "Host": "www.flexmeasures.io"})
    assert configured.json()["entity_address"] == f"ea1.2021-01.io.flexmeasures:fm1.{sensor_id}"
    unknown = http.get(f"/api/v3_0/sensors/{sensor_id}", headers={**t.member.headers, "Host": "example.com"})
    assert unknown.json()["entity_address"] == "no entity address available"


async def test_attributes_may_be_a_json_object(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    created = http.post(
        "/api/v3_0/sensors", json=new_sensor(t.asset, attributes={"b": [1, 2]}), headers=t.admin.headers
    )
    assert created.status_code == 201 and created.json()["attributes"] == '{"b": [1, 2]}'


async def test_create_errors(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    h = t.admin.headers

    def post(body: Any, **kwargs: Any) -> httpx.Response:
        return http.post("/api/v3_0/sensors", json=body, headers=h, **kwargs)

    missing = ["Missing data for required field."]
    assert post({}).json() == {"message": {"json": {"name": missing, "unit": missing, "event_resolution": missing,
                                                    "generic_asset_id": missing}},
                               "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}  # fmt: skip
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"unit": "blorp"}, "unit", "Unit 'blorp' cannot be handled."),
        ({"event_resolution": "PT1M30S"}, "event_resolution", "FlexMeasures only support multiples of 1 minute."),
        ({"attributes": "{nope"}, "attributes", "Not a valid JSON string."),
        ({"id": 5}, "id", "Unknown field."),
        ({"entity_address": "x"}, "entity_address", "Unknown field."),
        ({"auth_token": t.admin.token}, "auth_token", "Unknown field."),
        ({"generic_asset_id": 999999}, "generic_asset_id", "Generic asset with id 999999 doesn't exist."),
    ]
    for change, field, text in cases:
        answer = post(new_sensor(t.asset, **change))
        assert answer.status_code == 422 and answer.json() == e1("json", field, text), (change, answer.text)
    bad_tz = post(new_sensor(t.asset, timezone="Nowhere/Special"))
    assert bad_tz.status_code == 422 and "timezone" in bad_tz.json()["message"]["json"]

    not_json = http.post(
        "/api/v3_0/sensors", content=json.dumps(new_sensor(t.asset)), headers={**h, "Content-Type": "text/plain"}
    )
    assert not_json.status_code == 422 and not_json.json()["message"]["json"]["name"] == missing
    broken = http.post("/api/v3_0/sensors", content=b"{nope", headers={**h, "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json() == {
        "message": "The browser (or proxy) sent a request that this server could not understand.",
        "status": 400,
    }
    not_object = post([1, 2])
    assert not_object.status_code == 422 and not_object.json() == e1("json", "_schema", "Invalid input type.")


async def test_duplicate_name_is_a_422_not_a_500(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    body = new_sensor(t.asset)
    assert http.post("/api/v3_0/sensors", json=body, headers=t.admin.headers).status_code == 201
    again = http.post("/api/v3_0/sensors", json=body, headers=t.admin.headers)
    assert again.status_code == 422
    assert again.json() == e1("json", "name", f"A sensor named '{body['name']}' already exists on asset {t.asset}.")
    other = await factory.sensor(t.asset)
    rename = http.patch(f"/api/v3_0/sensors/{other}", json={"name": body["name"]}, headers=t.admin.headers)
    assert rename.status_code == 422 and rename.json()["message"]["json"]["name"][0].startswith("A sensor named")


async def test_patch_errors(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    sensor_id = await factory.sensor(t.asset)
    url = f"/api/v3_0/sensors/{sensor_id}"
    for body, field, text in [
        ({"generic_asset_id": t.asset}, "generic_asset_id", "Unknown field."),
        ({"id": 1}, "id", "Unknown field."),
        ({"entity_address": "x"}, "entity_address", "Unknown field."),
        ({"name": None}, "name", "Field may not be null."),
        ({"unit": "blorp"}, "unit", "Unit 'blorp' cannot be handled."),
    ]:
        answer = http.patch(url, json=body, headers=t.admin.headers)
        assert answer.status_code == 422 and answer.json() == e1("json", field, text), answer.text
    unknown = http.patch("/api/v3_0/sensors/99999999", json={"name": "x"}, headers=t.admin.headers)
    assert unknown.status_code == 422 and unknown.json() == e1("path", "id", "No sensor found with id 99999999.")
    empty = http.patch(url, json={}, headers=t.admin.headers)  # nothing to change is fine
    assert empty.status_code == 200 and empty.json()["id"] == sensor_id


async def test_attributes_are_replaced_not_merged(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    sensor_id = await factory.sensor(t.asset, attributes={"a": 1, "b": 2})
    answer = http.patch(f"/api/v3_0/sensors/{sensor_id}", json={"attributes": '{"c": 3}'}, headers=t.admin.headers)
    assert answer.json()["attributes"] == '{"c": 3}'


async def test_non_numeric_and_unknown_ids(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    for method in ("GET", "PATCH", "DELETE"):
        answer = http.request(
            method, "/api/v3_0/sensors/abc", headers=t.admin.headers, json={} if method == "PATCH" else None
        )
        assert answer.status_code == 422 and answer.json() == e1("path", "id", "Not a valid integer."), method
        unknown = http.request(
            method, "/api/v3_0/sensors/0", headers=t.admin.headers, json={} if method == "PATCH" else None
        )
        assert unknown.status_code == 422 and unknown.json() == e1("path", "id", "No sensor found with id 0."), method
    assert http.get("/api/v3_0/sensors/", headers=t.admin.headers).status_code == 404  # no trailing slash
    not_allowed = http.post("/api/v3_0/sensors/5", headers=t.admin.headers)
    assert not_allowed.status_code == 405 and not_allowed.json()["status"] == 405


async def test_validation_comes_before_permission(http: httpx.Client, factory: Factory) -> None:
    """FlexMeasures' order: 401, then 422, then 403."""
    t, stranger = await factory.tenant(), await factory.tenant()
    sensor_id = await factory.sensor(t.asset)
    invalid = new_sensor(t.asset, unit="blorp")
    assert http.post("/api/v3_0/sensors", json=invalid).status_code == 401
    assert http.post("/api/v3_0/sensors", json=invalid, headers=stranger.admin.headers).status_code == 422
    assert http.post("/api/v3_0/sensors", json=new_sensor(t.asset), headers=stranger.admin.headers).json() == E3
    patch_url = f"/api/v3_0/sensors/{sensor_id}"
    assert http.patch(patch_url, json={"unit": "blorp"}, headers=stranger.admin.headers).status_code == 422
    assert http.patch(patch_url, json={"unit": "kW"}, headers=stranger.admin.headers).status_code == 403
    assert http.get("/api/v3_0/sensors?page=0", headers=stranger.admin.headers).status_code == 422
    assert (
        http.get(f"/api/v3_0/sensors?account_id={t.account}&page=0", headers=stranger.admin.headers).status_code == 422
    )
    assert http.get(f"/api/v3_0/sensors?account_id={t.account}", headers=stranger.admin.headers).status_code == 403


async def test_delete_removes_the_beliefs(http: httpx.Client, factory: Factory, pool: AsyncConnectionPool) -> None:
    t = await factory.tenant()
    sensor_id = await factory.sensor(t.asset)
    async with pool.connection() as conn:
        row = await (await conn.execute(
            "INSERT INTO data_sources (name, type) VALUES (%s, 'script') RETURNING id", [f"src-{uuid.uuid4().hex[:6]}"]
        )).fetchone()  # fmt: skip
        assert row is not None
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(3):
            await conn.execute(
                "INSERT INTO timed_beliefs (sensor_id, event_start, belief_time, source_id, event_value)"
                " VALUES (%s, %s, %s, %s, %s)",
                [sensor_id, start + timedelta(minutes=15 * i), start, row[0], float(i)],
            )
    assert http.delete(f"/api/v3_0/sensors/{sensor_id}", headers=t.admin.headers).status_code == 204
    async with pool.connection() as conn:
        left = await (
            await conn.execute("SELECT count(*) FROM timed_beliefs WHERE sensor_id = %s", [sensor_id])
        ).fetchone()
    assert left == (0,)
