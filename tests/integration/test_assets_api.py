"""Assets: list, get, create, update and delete over HTTP, with the permission model (docs/api.md, "Sensors")."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.integration.conftest import Factory, UserHandle
from tests.integration.test_sensors_api import E2, E3, e1

ASSET_KEYS = {"id", "name", "account_id", "owner", "generic_asset_type_id", "generic_asset_type", "parent_asset_id",
              "child_assets", "sensors", "latitude", "longitude", "attributes", "flex_context",
              "sensors_to_show"}  # fmt: skip


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
    assert (asset["child_assets"], asset["sensors"], asset["sensors_to_show"]) == ([], [], "[]")
    assert asset["owner"]["id"] == t.account and asset["owner"]["name"]

    child_body = {
        "name": "child",
        "generic_asset_type_id": asset["generic_asset_type_id"],
        "parent_asset_id": asset["id"],
    }
    child = http.post("/api/v3_0/assets", json=child_body, headers=t.admin.headers)
    assert child.status_code == 201 and child.json()["parent_asset_id"] == asset["id"]

    # the client's workflow continues: a sensor on the new asset
    sensor_body = {"name": "power", "unit": "kW", "event_resolution": "PT15M", "generic_asset_id": asset["id"]}
    sensor = http.post("/api/v3_0/sensors", json=sensor_body, headers=t.member.headers)
    assert sensor.status_code == 201

    got = http.get(f"/api/v3_0/assets/{asset['id']}", headers=t.member.headers)
    assert got.status_code == 200
    child_ref = {"id": child.json()["id"], "name": "child", "account_id": t.account,
                 "generic_asset_type": asset["generic_asset_type"]}  # fmt: skip
    sensor_ref = {"id": sensor.json()["id"], "name": "power"}
    assert got.json() == {**asset, "child_assets": [child_ref], "sensors": [sensor_ref], "status": 200}
    listed = http.get("/api/v3_0/assets", headers=t.member.headers).json()
    assert [a["id"] for a in listed] == [t.asset, asset["id"], child.json()["id"]]
    assert all("status" not in a for a in listed) and listed[1]["child_assets"] == [child_ref]


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
    assert http.get("/api/v3_0/assets/99999999", headers=t.member.headers).json() == {
        "message": "No asset found with ID 99999999.", "status": 404}  # fmt: skip
    public_body = http.get(f"/api/v3_0/assets/{public}", headers=t.member.headers).json()
    assert public_body["owner"] is None and public_body["account_id"] is None
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


async def test_update(http: httpx.Client, factory: Factory) -> None:
    consultancy = await factory.account()
    t, other = await factory.tenant(consultancy), await factory.tenant()
    consultant = await factory.user(consultancy, ("consultant",))
    url = f"/api/v3_0/assets/{t.asset}"
    changes = {"name": "renamed", "latitude": 52.0, "longitude": 4.0, "attributes": '{"capacity_in_mw": 2}',
               "sensors_to_show": "[1, [2, 3]]", "flex_context": {"site-power-capacity": "2 MW"}}  # fmt: skip
    answer = http.patch(url, json=changes, headers=t.member.headers)  # members may update assets
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == 200 and set(body) == ASSET_KEYS | {"status"}
    assert (body["name"], body["latitude"], body["longitude"]) == ("renamed", 52.0, 4.0)
    assert json.loads(body["attributes"]) == {"capacity_in_mw": 2} and json.loads(body["sensors_to_show"]) == [
        1,
        [2, 3],
    ]
    assert json.loads(body["flex_context"]) == {"site-power-capacity": "2 MW"}
    assert http.get(url, headers=t.member.headers).json() == body
    assert http.patch(url, json={"latitude": None}, headers=consultant.headers).json()["latitude"] is None
    assert http.patch(url, json={}, headers=t.member.headers).json() == {**body, "latitude": None}

    sibling = await factory.asset(t.account, name="sibling")
    moved = http.patch(f"/api/v3_0/assets/{sibling}", json={"parent_asset_id": t.asset}, headers=t.admin.headers)
    assert moved.status_code == 200 and moved.json()["parent_asset_id"] == t.asset
    assert [c["id"] for c in http.get(url, headers=t.admin.headers).json()["child_assets"]] == [sibling]

    assert http.patch(url, json={"name": "x"}, headers=other.admin.headers).json() == E3
    assert http.patch(url, json={"name": "x"}).json() == E2
    unknown = http.patch("/api/v3_0/assets/99999999", json={"name": "x"}, headers=t.admin.headers)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"message": "No asset found with ID 99999999.", "status": 404},
    )
    kid = await factory.asset(t.account, name="kid", parent=t.asset)
    cases = [
        (url, {"account_id": other.account}, "account_id", "Unknown field."),
        (url, {"owner": {"id": 1}}, "owner", "Unknown field."),
        (url, {"generic_asset_type_id": 99999999}, "generic_asset_type_id",
         "GenericAssetType with id 99999999 doesn't exist."),
        (url, {"parent_asset_id": 99999999}, "parent_asset_id", "Parent GenericAsset with id 99999999 doesn't exist."),
        (url, {"parent_asset_id": other.asset}, "parent_asset_id", "The parent asset belongs to another account."),
        (url, {"parent_asset_id": sibling}, "parent_asset_id", "An asset cannot be its own ancestor."),
        (url, {"parent_asset_id": t.asset}, "parent_asset_id", "An asset cannot be its own ancestor."),
        (f"/api/v3_0/assets/{sibling}", {"name": "kid"}, "name",
         f"An asset with the name 'kid' already exists under parent asset {t.asset}."),
    ]  # fmt: skip
    for target, change, field, text in cases:
        refused = http.patch(target, json=change, headers=t.admin.headers)
        assert refused.status_code == 422 and refused.json() == e1("json", field, text), (change, refused.text)
    assert http.get(f"/api/v3_0/assets/{kid}", headers=t.admin.headers).json()["name"] == "kid"
    assert (
        http.patch(url, content=b"{x", headers={**t.admin.headers, "Content-Type": "application/json"}).status_code
        == 400
    )


async def test_delete(http: httpx.Client, factory: Factory) -> None:
    consultancy = await factory.account()
    t = await factory.tenant(consultancy)
    consultant = await factory.user(consultancy, ("consultant",))
    child = await factory.asset(t.account, parent=t.asset)
    sensor = await factory.sensor(child)
    url = f"/api/v3_0/assets/{t.asset}"
    assert http.delete(url, headers=t.member.headers).json() == E3  # deleting needs account-admin or consultant
    post = {"start": "2024-01-01T00:00:00Z", "duration": "PT30M", "values": [1, 2], "unit": "kW"}
    assert http.post(f"/api/v3_0/sensors/{sensor}/data", json=post, headers=t.member.headers).status_code == 200

    deleted = http.delete(url, headers=consultant.headers)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert deleted.headers["content-type"] == "application/json"
    assert http.get(url, headers=t.admin.headers).status_code == 404
    assert http.get(f"/api/v3_0/assets/{child}", headers=t.admin.headers).status_code == 404
    assert http.get(f"/api/v3_0/sensors/{sensor}", headers=t.admin.headers).status_code == 422
    assert http.delete(url, headers=t.admin.headers).status_code == 404


async def test_asset_types(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    await factory.asset(t.account, asset_type="heat pump")
    listed = http.get("/api/v3_0/assets/types", headers=t.member.headers)
    assert listed.status_code == 200
    names = [item["name"] for item in listed.json()]
    assert "heat pump" in names and len(names) == len(set(names))
    assert [item["id"] for item in listed.json()] == sorted(item["id"] for item in listed.json())
    assert http.get("/api/v3_0/assets/types").json() == E2
