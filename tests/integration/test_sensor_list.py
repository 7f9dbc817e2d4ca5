"""GET /api/v3_0/sensors (docs/api.md, `GET /api/v3_0/sensors`): every parameter, both response shapes, ascending id."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import Factory
from tests.integration.test_sensors_api import E3, e1

URL = "/api/v3_0/sensors"


def ids(answer: httpx.Response) -> list[int]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [s["id"] for s in (body["data"] if isinstance(body, dict) else body)]


def get(http: httpx.Client, headers: dict[str, str], **params: Any) -> httpx.Response:
    return http.get(URL, params=params, headers=headers)


async def test_default_is_the_callers_own_account_even_for_admins(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    s1, s2 = await factory.sensor(t.asset), await factory.sensor(t.asset)
    answer = get(http, t.member.headers)
    assert ids(answer) == [s1, s2]  # a bare array, ascending id
    assert isinstance(answer.json(), list) and set(answer.json()[0]) >= {"id", "entity_address", "attributes"}
    admin = await factory.user(await factory.account(), ("admin",))
    assert ids(get(http, admin.headers)) == []
    assert ids(get(http, admin.headers, account_id=t.account)) == [s1, s2]


async def test_account_and_asset_errors(http: httpx.Client, factory: Factory) -> None:
    t, other = await factory.tenant(), await factory.tenant()
    assert get(http, t.member.headers, account_id=99999999).json() == {"message": "Account 99999999 not found",
                                                                       "status": 404}  # fmt: skip
    unknown_asset = get(http, t.member.headers, asset_id=99999999)
    assert unknown_asset.status_code == 422
    assert unknown_asset.json() == e1("query", "asset_id", "No asset found with ID 99999999.")
    both = get(http, t.member.headers, account_id=t.account, asset_id=other.asset)
    assert both.status_code == 422
    assert both.json() == {"message": "Please provide either an account or an asset ID, not both", "status": 422}
    assert get(http, t.member.headers, account_id=other.account).json() == E3
    assert get(http, t.member.headers, asset_id=other.asset).json() == E3
    assert get(http, t.member.headers, account_id="x").json() == e1("query", "account_id", "Not a valid integer.")


async def test_asset_mode_includes_all_descendants(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    child = await factory.asset(t.account, parent=t.asset)
    grandchild = await factory.asset(t.account, parent=child)
    elsewhere = await factory.asset(t.account)
    on_top, on_child, on_grandchild = [await factory.sensor(a) for a in (t.asset, child, grandchild)]
    await factory.sensor(elsewhere)
    assert ids(get(http, t.member.headers, asset_id=t.asset)) == [on_top, on_child, on_grandchild]
    assert ids(get(http, t.member.headers, asset_id=child)) == [on_child, on_grandchild]
    # both given and consistent: the account is dropped, the asset is used
    assert ids(get(http, t.member.headers, asset_id=child, account_id=t.account)) == [on_child, on_grandchild]


async def test_consultancy_clients(http: httpx.Client, factory: Factory) -> None:
    consultancy = await factory.account()
    consultant = await factory.user(consultancy, ("consultant",))
    plain = await factory.user(consultancy)
    own_asset = await factory.asset(consultancy)
    own = await factory.sensor(own_asset)
    client = await factory.tenant(consultancy)
    client_sensor = await factory.sensor(client.asset)
    assert ids(get(http, consultant.headers)) == [own]
    assert ids(get(http, consultant.headers, include_consultancy_clients="true")) == [own, client_sensor]
    assert ids(get(http, plain.headers, include_consultancy_clients="yes")) == [own]  # silently ignored
    assert ids(get(http, consultant.headers, account_id=client.account)) == [client_sensor]
    assert get(http, plain.headers, account_id=client.account).status_code == 403


async def test_public_assets(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    mine = await factory.sensor(t.asset)
    public = await factory.sensor(await factory.asset(None))
    with_public = ids(get(http, t.member.headers, include_public_assets="on"))
    assert mine in with_public and public in with_public and with_public == sorted(with_public)
    assert public not in ids(get(http, t.member.headers))


async def test_filter_and_unit(http: httpx.Client, factory: Factory) -> None:
    tag = uuid.uuid4().hex[:6]
    account = await factory.account(f"Acme {tag}")
    user = await factory.user(account)
    battery = await factory.asset(account, name=f"battery {tag}")
    pv = await factory.asset(account, name=f"roof pv {tag}")
    power = await factory.sensor(battery, name="power", unit="kW")
    soc = await factory.sensor(battery, name="state of charge", unit="MWh")
    pv_power = await factory.sensor(pv, name="production 100%_x", unit="MW")
    h = user.headers
    assert ids(get(http, h, filter="POWER")) == [power]  # case-insensitive, sensor name
    assert ids(get(http, h, filter="roof")) == [pv_power]  # asset name
    assert ids(get(http, h, filter="acme")) == [power, soc, pv_power]  # account name
    assert ids(get(http, h, filter="power charge")) == [power, soc]  # any term
    assert ids(get(http, h, filter='"of charge"')) == [soc]  # quotes group words
    assert ids(get(http, h, filter="100%_")) == [pv_power]  # LIKE wildcards are literal
    assert ids(get(http, h, filter="0%_x0")) == []
    assert get(http, h, filter='"unbalanced').json() == e1("query", "filter", "Invalid filter: No closing quotation.")
    assert ids(get(http, h, unit="MW")) == [pv_power]  # exact string equality
    assert ids(get(http, h, unit="kW", filter="power")) == [power]
    assert get(http, h, unit="blorp").json() == e1("query", "unit", "Invalid unit: blorp")
    assert ids(get(http, h, unknown_parameter="ignored")) == [power, soc, pv_power]


async def test_pagination(http: httpx.Client, factory: Factory) -> None:
    t = await factory.tenant()
    sensors = [await factory.sensor(t.asset) for _ in range(5)]
    first = get(http, t.member.headers, page=1, per_page=2)
    assert first.json() == {"data": first.json()["data"], "num-records": 5, "filtered-records": 5, "status": 200}
    assert ids(first) == sensors[:2]
    assert ids(get(http, t.member.headers, page=3, per_page=2)) == sensors[4:]
    assert ids(get(http, t.member.headers, page=1)) == sensors  # per_page defaults to 10
    beyond = get(http, t.member.headers, page=4, per_page=2)
    assert beyond.status_code == 404 and beyond.json()["status"] == 404
    empty = get(http, t.member.headers, page=1, filter="zzqqxx")
    assert empty.json() == {"data": [], "num-records": 0, "filtered-records": 0, "status": 200}
    assert get(http, t.member.headers, page=1, per_page=0).json() == e1(
        "query", "per_page", "Must be greater than or equal to 1."
    )
