"""Assets: list, get and create over HTTP, with the sensor permission model (docs/api.md, "Sensors")."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.integration.conftest import Factory, UserHandle
from tests.integration.test_sensors_api import E2, E3, e1

ASSET_KEYS = {"id", "name", "account_id", "generic_asset_type_id", "generic_asset_type", "parent_asset_id", "latitude",
              "longitude", "attributes", "flex_context", "sensors_to_show"}  # fmt: skip


def new_asset(**extra: Any) -> dict[str, Any]:
    return {"name": f"asset-{uuid.uuid4().hex[:6]}", "generic_asset_type": "battery", **extra}


async def test_create_get_list(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    body = new_asset(latitude=52.1, longitude=5.2, attributes='{"capacity_in_mw": 0.5}',
                     flex_context={"site-power-capacity": "1 MW"})  # fmt: skip
    created = http.post("/api/v3_0/assets", json=body, headers=t.admin.headers)
    assert created.status_code == 201, created.text
    asset = created.json()
    assert set(asset) == ASSET_KEYS
    assert asset["account_id"] == t.account and asset["parent_asset_id"] is None
    assert asset["generic_asset_type"]["name"] == "battery"
    assert asset["generic_asset_type_id"] == asset["generic_asset_type"]["id"]
    assert (asset["latitude"], asset["longitude"]) == (52.1, 5.2)
    assert json.loads(asset["attributes"]) == {"capacity_in_mw": 0.5}
    assert json.loads(asset["flex_context"]) == {"site-power-capacity": "1 MW"}

    child_body = {
        "name": "child",
        "generic_asset_type_id": asset["generic_asset_type_id"],
        "parent_asset_id": asset["id"],
    }
    child = http.post("/api/v3_0/assets", json=child_body, headers=t.admin.headers)
    assert child.status_code == 201 and child.json()["parent_asset_id"] == asset["id"]

    got = http.get(f"/api/v3_0/assets/{asset['id']}", headers=t.member.headers)
    assert got.status_code == 200 and got.json() == asset
    listed = http.get("/api/v3_0/assets", headers=t.member.headers).json()
    assert [a["id"] for a in listed] == [t.asset, asset["id"], child.json()["id"]]

    # the client's workflow continues: a sensor on the new asset
    sensor_body = {"name": "power", "unit": "kW", "event_resolution": "PT15M", "generic_asset_id": asset["id"]}
    sensor = http.post("/api/v3_0/sensors", json=sensor_body, headers=t.member.headers)
    assert sensor.status_code == 201


async def test_list_parameters_and_permissions(http: httpx.Client, factory: Factory) -> None:
    t, other = await factory.tenant(), await factory.tenant()
    public = await factory.asset(None)
    assert public in [
        a["id"] for a in http.get("/api/v3_0/assets?include_public=true", headers=t.member.headers).json()
    ]
    assert public not in [a["id"] for a in http.get("/api/v3_0/assets", headers=t.member.headers).json()]
    assert http.get(f"/api/v3_0/assets?account_id={other.account}", headers=t.member.headers).json() == E3
    admin = await factory.user(await factory.account(), ("admin",))
    theirs = http.get(f"/api/v3_0/assets?account_id={other.account}", headers=admin.headers).json()
    assert [a["id"] for a in theirs] == [other.asset]
    assert http.get("/api/v3_0/assets?account_id=99999999", headers=admin.headers).json() == {
        "message": "Account 99999999 not found", "status": 404}  # fmt: skip
    assert http.get("/api/v3_0/assets").json() == E2
    assert http.get(f"/api/v3_0/assets/{other.asset}", headers=t.member.headers).json() == E3
    assert http.get(f"/api/v3_0/assets/{public}", headers=t.member.headers).status_code == 200
    assert http.get("/api/v3_0/assets/99999999", headers=t.member.headers).json() == e1(
        "path", "id", "No asset found with ID 99999999.")  # fmt: skip
    assert http.get("/api/v3_0/assets/x", headers=t.member.headers).json() == e1("path", "id", "Not a valid integer.")


async def test_create_permissions(http: httpx.Client, factory: Factory) -> None:
    consultancy = await factory.account()
    t, other = await factory.tenant(consultancy), await factory.tenant()
    consultant = await factory.user(consultancy, ("consultant",))
    admin = await factory.user(await factory.account(), ("admin",))

    def post(body: dict[str, Any], user: UserHandle) -> httpx.Response:
        return http.post("/api/v3_0/assets", json=body, headers=user.headers)

    assert post(new_asset(), t.member).json() == E3  # create-children on the account: account-admins
    assert post(new_asset(account_id=t.account), consultant).status_code == 201
    assert post(new_asset(account_id=other.account), t.admin).json() == E3
    assert post(new_asset(account_id=None), t.admin).json() == E3  # public assets: admins only
    public = post(new_asset(account_id=None), admin)
    assert public.status_code == 201 and public.json()["account_id"] is None


async def test_create_errors(http: httpx.Client, factory: Factory) -> None:
    t, other = await factory.tenant(), await factory.tenant()
    h = t.admin.headers
    cases = [
        (new_asset(generic_asset_type_id=99999999, generic_asset_type=None), "generic_asset_type_id",
         "GenericAssetType with id 99999999 doesn't exist."),
        (new_asset(account_id=99999999), "account_id", "Account with Id 99999999 doesn't exist."),
        (new_asset(parent_asset_id=99999999), "parent_asset_id", "Parent GenericAsset with id 99999999 doesn't exist."),
        (new_asset(parent_asset_id=other.asset), "parent_asset_id", "The parent asset belongs to another account."),
        (new_asset(attributes="{x"), "attributes", "Not a valid JSON string."),
        (new_asset(id=3), "id", "Unknown field."),
    ]  # fmt: skip
    for body, field, text in cases:
        body = {k: v for k, v in body.items() if v is not None or k != "generic_asset_type"}
        answer = http.post("/api/v3_0/assets", json=body, headers=h)
        assert answer.status_code == 422 and answer.json() == e1("json", field, text), answer.text
    assert "name" in http.post("/api/v3_0/assets", json={}, headers=h).json()["message"]["json"]
    child = new_asset(parent_asset_id=t.asset)
    assert http.post("/api/v3_0/assets", json=child, headers=h).status_code == 201
    duplicate = http.post("/api/v3_0/assets", json=child, headers=h)
    text = f"An asset with the name '{child['name']}' already exists under parent asset {t.asset}."
    assert duplicate.status_code == 422 and duplicate.json() == e1("json", "name", text)
