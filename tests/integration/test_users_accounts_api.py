"""Users and accounts (read side) and the service listing, against the real gateway, with FlexMeasures 0.27's
bodies and permissions: account C consults account A; B is unrelated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.gateway.http.server_version import FLEXMEASURES_VERSION
from tests.integration.conftest import Factory, UserHandle
from tests.integration.test_sensors_api import E2, E3

USER_KEYS = {"id", "email", "username", "account_id", "active", "timezone", "flexmeasures_roles", "last_login_at",
             "last_seen_at", "status"}  # fmt: skip
ACCOUNT_KEYS = {"id", "name", "account_roles", "consultancy_account_id", "primary_color", "secondary_color",
                "logo_url"}  # fmt: skip


@dataclass
class World:
    a: int
    b: int
    c: int
    a_member: UserHandle
    a_admin: UserHandle
    a_inactive: UserHandle
    b_member: UserHandle
    consultant: UserHandle  # in C, consultant of A
    c_member: UserHandle  # in C, not a consultant
    admin: UserHandle  # site admin, in B
    reader: UserHandle  # admin-reader, in B


async def world(factory: Factory) -> World:
    c = await factory.account()
    a, b = await factory.account(consultancy_account_id=c), await factory.account()
    return World(
        a, b, c,
        await factory.user(a), await factory.user(a, ("account-admin",)), await factory.user(a, active=False),
        await factory.user(b), await factory.user(c, ("consultant",)), await factory.user(c),
        await factory.user(b, ("admin",)), await factory.user(b, ("admin-reader",)),
    )  # fmt: skip


def ids(body: Any) -> set[int]:
    return {item["id"] for item in body}


def test_service_listing_is_public(http: httpx.Client) -> None:
    answer = http.get("/api/")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"flexmeasures_version", "message", "status", "versions"}
    assert (body["flexmeasures_version"], body["status"], body["versions"]) == (FLEXMEASURES_VERSION, 200, ["v3_0"])
    assert answer.headers["FlexMeasures-Version"] == FLEXMEASURES_VERSION


async def test_users_list_covers_the_readable_accounts(http: httpx.Client, factory: Factory) -> None:
    w = await world(factory)
    own = http.get("/api/v3_0/users", headers=w.a_member.headers)
    assert own.status_code == 200
    assert ids(own.json()) == {w.a_member.id, w.a_admin.id}  # active users only
    item = next(u for u in own.json() if u["id"] == w.a_admin.id)
    assert item["flexmeasures_roles"] == ["account-admin"] and item["account"]["id"] == w.a
    assert set(item["account"]) == ACCOUNT_KEYS and item["last_seen_at"] == "never"
    assert item["last_login_at"] == "now" or item["last_login_at"].endswith(" ago")  # the factory logged in
    with_inactive = http.get("/api/v3_0/users?include_inactive=true", headers=w.a_member.headers).json()
    assert ids(with_inactive) == {w.a_member.id, w.a_admin.id, w.a_inactive.id}

    consultant = ids(http.get("/api/v3_0/users", headers=w.consultant.headers).json())
    assert {w.a_member.id, w.a_admin.id, w.consultant.id, w.c_member.id} <= consultant
    assert w.b_member.id not in consultant
    assert w.a_member.id not in ids(http.get("/api/v3_0/users", headers=w.c_member.headers).json())
    assert {w.a_member.id, w.b_member.id} <= ids(http.get("/api/v3_0/users", headers=w.admin.headers).json())
    assert {w.a_member.id, w.b_member.id} <= ids(http.get("/api/v3_0/users", headers=w.reader.headers).json())


async def test_users_list_by_account(http: httpx.Client, factory: Factory) -> None:
    w = await world(factory)
    query = f"/api/v3_0/users?account_id={w.a}"
    assert ids(http.get(query, headers=w.consultant.headers).json()) == {w.a_member.id, w.a_admin.id}
    assert ids(http.get(query, headers=w.admin.headers).json()) == {w.a_member.id, w.a_admin.id}
    refused = http.get(query, headers=w.b_member.headers)
    assert (refused.status_code, refused.json()) == (403, E3)
    assert http.get(query, headers=w.c_member.headers).status_code == 403
    unknown = http.get("/api/v3_0/users?account_id=999999", headers=w.admin.headers)
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Account 999999 not found", "status": 404})
    assert http.get("/api/v3_0/users").json() == E2


async def test_users_list_pages_filter_and_sort(http: httpx.Client, factory: Factory) -> None:
    w = await world(factory)
    base = f"/api/v3_0/users?account_id={w.a}&include_inactive=true"
    page = http.get(base + "&page=1&per_page=2&sort_by=email&sort_dir=desc", headers=w.admin.headers).json()
    emails = sorted([w.a_member.email, w.a_admin.email, w.a_inactive.email], reverse=True)
    assert [u["email"] for u in page["data"]] == emails[:2]
    assert (page["num-records"], page["filtered-records"], page["status"]) == (3, 3, 200)
    assert http.get(base + "&page=1", headers=w.admin.headers).json()["data"][0]["email"] in emails  # per_page 1
    beyond = http.get(base + "&page=9&per_page=2", headers=w.admin.headers)
    assert beyond.status_code == 404
    term = w.a_admin.email.split("@")[0]
    found = http.get(base + f"&page=1&per_page=5&filter={term}", headers=w.admin.headers).json()
    assert ids(found["data"]) == {w.a_admin.id} and (found["num-records"], found["filtered-records"]) == (3, 1)
    bad = http.get(base + "&sort_by=age&sort_dir=asc", headers=w.admin.headers)
    assert bad.status_code == 422 and "sort_by" in bad.json()["message"]["query"]


async def test_get_user(http: httpx.Client, factory: Factory) -> None:
    w = await world(factory)
    answer = http.get(f"/api/v3_0/users/{w.a_admin.id}", headers=w.a_member.headers)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == USER_KEYS and body["status"] == 200
    assert (body["email"], body["account_id"], body["active"]) == (w.a_admin.email, w.a, True)
    assert len(body["flexmeasures_roles"]) == 1 and isinstance(body["flexmeasures_roles"][0], int)  # role ids
    assert body["timezone"] == "Europe/Amsterdam"
    assert http.get(f"/api/v3_0/users/{w.a_admin.id}", headers=w.reader.headers).status_code == 200
    for outsider in (w.b_member, w.consultant):  # consultants may not read client users one by one (as in 0.27)
        refused = http.get(f"/api/v3_0/users/{w.a_admin.id}", headers=outsider.headers)
        assert (refused.status_code, refused.json()) == (403, E3)
    unknown = http.get("/api/v3_0/users/999999", headers=w.admin.headers)
    assert (unknown.status_code, unknown.json()) == (404, {"message": "User 999999 not found", "status": 404})


async def test_accounts_list_and_get(http: httpx.Client, factory: Factory) -> None:
    w = await world(factory)
    assert ids(http.get("/api/v3_0/accounts", headers=w.a_member.headers).json()) == {w.a}
    assert ids(http.get("/api/v3_0/accounts", headers=w.consultant.headers).json()) == {w.c, w.a}
    assert ids(http.get("/api/v3_0/accounts", headers=w.c_member.headers).json()) == {w.c}
    assert {w.a, w.b, w.c} <= ids(http.get("/api/v3_0/accounts", headers=w.reader.headers).json())

    page = http.get("/api/v3_0/accounts?page=1&per_page=5", headers=w.consultant.headers).json()
    assert [a["id"] for a in page["data"]] == sorted([w.a, w.c])
    counts = {a["id"]: (a["user_count"], a["asset_count"]) for a in page["data"]}
    assert counts == {w.a: (3, 0), w.c: (2, 0)}
    assert (page["num-records"], page["filtered-records"], page["status"]) == (2, 2, 200)

    got = http.get(f"/api/v3_0/accounts/{w.a}", headers=w.consultant.headers)
    assert got.status_code == 200
    body = got.json()
    assert set(body) == ACCOUNT_KEYS | {"status"}
    assert (body["consultancy_account_id"], body["account_roles"], body["logo_url"]) == (w.c, [], None)
    for outsider in (w.b_member, w.c_member):
        refused = http.get(f"/api/v3_0/accounts/{w.a}", headers=outsider.headers)
        assert (refused.status_code, refused.json()) == (403, E3)
    unknown = http.get("/api/v3_0/accounts/999999", headers=w.a_member.headers)
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Account 999999 not found", "status": 404})
