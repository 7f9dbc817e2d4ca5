"""Who may do what over HTTP (docs/api.md, "Sensors" and "Scheduling"): one cell per (caller, operation), each with its
expected status.

Account A is consulted by account C; B is unrelated. The sensor lives on an asset of A, except in the
"public" rows where it lives on a public asset (no account).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.integration.conftest import Factory
from tests.integration.test_auth import expire
from tests.integration.test_sensors_api import E2, E3

OPERATIONS = ("GET sensor", "PATCH sensor", "DELETE sensor", "POST sensor", "GET sensors", "POST asset trigger")

# the asset trigger needs create-children on the asset, as POST sensor does
MATRIX: dict[str, tuple[int, int, int, int, int, int]] = {
    "member of A": (200, 403, 403, 201, 200, 200),
    "account-admin of A": (200, 200, 204, 201, 200, 200),
    "account-admin of B": (403, 403, 403, 403, 403, 403),
    "consultant of A (in C)": (200, 200, 204, 201, 200, 200),
    "member of C, not consultant": (403, 403, 403, 403, 403, 403),
    "consultant in B": (403, 403, 403, 403, 403, 403),
    "admin (in B)": (200, 200, 204, 201, 200, 200),
    "admin-reader (in B)": (200, 403, 403, 403, 200, 403),
    "public asset, member of B": (200, 403, 403, 403, 200, 403),
    "public asset, admin": (200, 200, 204, 201, 200, 200),
    "no token": (401, 401, 401, 401, 401, 401),
    "expired token": (401, 401, 401, 401, 401, 401),
    "inactive member of A": (401, 401, 401, 401, 401, 401),
}

CELLS = [(who, op, expected[i]) for who, expected in MATRIX.items() for i, op in enumerate(OPERATIONS)]


@dataclass
class World:
    a: int
    b: int
    c: int
    asset: int
    sensor: int


async def caller(who: str, w: World, factory: Factory, pool: AsyncConnectionPool) -> dict[str, str]:
    roles: dict[str, tuple[int, tuple[str, ...]]] = {
        "member of A": (w.a, ()),
        "account-admin of A": (w.a, ("account-admin",)),
        "account-admin of B": (w.b, ("account-admin",)),
        "consultant of A (in C)": (w.c, ("consultant",)),
        "member of C, not consultant": (w.c, ()),
        "consultant in B": (w.b, ("consultant",)),
        "admin (in B)": (w.b, ("admin",)),
        "admin-reader (in B)": (w.b, ("admin-reader",)),
        "public asset, member of B": (w.b, ()),
        "public asset, admin": (w.b, ("admin",)),
        "expired token": (w.a, ("account-admin",)),
    }
    if who == "no token":
        return {}
    if who == "inactive member of A":
        return (await factory.user(w.a, ("account-admin",), active=False)).headers
    account, user_roles = roles[who]
    user = await factory.user(account, user_roles)
    if who == "expired token":
        await expire(pool, user.token)
    return user.headers


def request(http: httpx.Client, op: str, w: World, headers: dict[str, str], public: bool) -> httpx.Response:
    sensor_url = f"/api/v3_0/sensors/{w.sensor}"
    if op == "GET sensor":
        return http.get(sensor_url, headers=headers)
    if op == "PATCH sensor":
        return http.patch(sensor_url, json={"name": f"renamed-{uuid.uuid4().hex[:6]}"}, headers=headers)
    if op == "DELETE sensor":
        return http.delete(sensor_url, headers=headers)
    if op == "POST sensor":
        body = {"name": f"new-{uuid.uuid4().hex[:6]}", "unit": "kW", "event_resolution": "PT15M",
                "generic_asset_id": w.asset}  # fmt: skip
        return http.post("/api/v3_0/sensors", json=body, headers=headers)
    if op == "POST asset trigger":
        device = {"sensor": w.sensor, "soc-at-start": 0, "soc-unit": "kWh", "soc-max": 1, "power-capacity": "1 kW"}
        body = {"start": "2026-06-01T00:00:00+00:00", "duration": "PT1H", "flex-model": [device],
                "flex-context": {"consumption-price": "1 EUR/MWh"}}  # fmt: skip
        return http.post(f"/api/v3_0/assets/{w.asset}/schedules/trigger", json=body, headers=headers)
    params = {"asset_id": w.asset} if public else {"account_id": w.a}
    return http.get("/api/v3_0/sensors", params=params, headers=headers)


@pytest.mark.parametrize(("who", "op", "expected"), CELLS, ids=[f"{w}|{o}" for w, o, _ in CELLS])
async def test_cell(
    http: httpx.Client, factory: Factory, pool: AsyncConnectionPool, who: str, op: str, expected: int
) -> None:
    c = await factory.account()
    a, b = await factory.account(consultancy_account_id=c), await factory.account()
    public = who.startswith("public asset")
    asset = await factory.asset(None if public else a)
    w = World(a, b, c, asset, await factory.sensor(asset))
    answer = request(http, op, w, await caller(who, w, factory, pool), public)
    assert answer.status_code == expected, answer.text
    if expected == 401:
        assert answer.json() == E2
    elif expected == 403:
        assert answer.json() == E3
    elif op == "GET sensors":
        assert [s["id"] for s in answer.json()] == [w.sensor]
