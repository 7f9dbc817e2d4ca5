"""Authentication: POST /api/requestAuthToken (docs/api.md, "Authentication") and tokens on every v3_0 route."""

from __future__ import annotations

import re

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from services.gateway import auth
from services.gateway.routes import ROUTES
from tests.integration.conftest import Factory, UserHandle
from tests.integration.test_sensors_api import E2

URL = "/api/requestAuthToken"


def errors(status: int, text: str) -> dict[str, object]:
    return {"errors": [text], "status": status}


async def expire(pool: AsyncConnectionPool, token: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE auth_tokens SET expires_at = now() - interval '1 minute' WHERE token_hash = %s",
            [auth.token_hash(token)],
        )


async def test_request_auth_token_every_row(http: httpx.Client, factory: Factory) -> None:
    user = await factory.user(await factory.account())
    other = await factory.user(await factory.account())
    # 1. not JSON
    answer = http.post(
        URL, content=f"email={user.email}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (answer.status_code, answer.json()) == (400, errors(400, "Content-type of request must be application/json"))
    # 2. no email
    answer = http.post(URL, json={"password": user.password})
    assert (answer.status_code, answer.json()) == (400, errors(400, "Please provide the 'email' parameter."))
    # 4. unknown user
    answer = http.post(URL, json={"email": "nobody@example.com", "password": "x"})
    assert (answer.status_code, answer.json()) == (
        404,
        errors(404, "User with email 'nobody@example.com' does not exist"),
    )
    # 5. no password
    answer = http.post(URL, json={"email": user.email})
    assert (answer.status_code, answer.json()) == (400, errors(400, "Please provide the 'password' parameter."))
    # 6. wrong password
    answer = http.post(URL, json={"email": user.email, "password": "wrong"})
    assert (answer.status_code, answer.json()) == (401, errors(401, "User password does not match."))
    # 7. success
    answer = http.post(URL, json={"email": user.email, "password": user.password})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"auth_token", "user_id", "status"} and body["user_id"] == user.id and body["status"] == 200
    assert http.get("/api/v3_0/sensors", headers={"Authorization": body["auth_token"]}).status_code == 200
    # 3. already authenticated as that same email: no password needed; as another user it is
    same = http.post(URL, json={"email": user.email}, headers=user.headers)
    assert same.status_code == 200 and same.json()["user_id"] == user.id
    assert same.json()["auth_token"] != user.token  # a fresh token each time
    cross = http.post(URL, json={"email": user.email}, headers=other.headers)
    assert (cross.status_code, cross.json()) == (400, errors(400, "Please provide the 'password' parameter."))


async def test_email_lookup_ignores_case(http: httpx.Client, factory: Factory) -> None:
    user = await factory.user(await factory.account())
    answer = http.post(URL, json={"email": user.email.upper(), "password": user.password})
    assert answer.status_code == 200 and answer.json()["user_id"] == user.id


async def test_token_sources(http: httpx.Client, factory: Factory) -> None:
    user = await factory.user(await factory.account())
    assert http.get("/api/v3_0/sensors", headers={"Authorization": user.token}).status_code == 200
    assert http.get("/api/v3_0/sensors", params={"auth_token": user.token}).status_code == 200
    assert http.get("/api/v3_0/sensors", headers={"Authorization": f"Bearer {user.token}"}).status_code == 200
    assert http.get("/api/v3_0/sensors", headers={"Authorization": "not-a-token"}).json() == E2


async def test_expired_token_is_refused(http: httpx.Client, factory: Factory, pool: AsyncConnectionPool) -> None:
    user = await factory.user(await factory.account())
    await expire(pool, user.token)
    answer = http.get("/api/v3_0/sensors", headers=user.headers)
    assert (answer.status_code, answer.json()) == (401, E2)


async def test_inactive_user_gets_a_token_that_authenticates_nothing(http: httpx.Client, factory: Factory) -> None:
    user = await factory.user(await factory.account(), active=False)
    answer = http.post(URL, json={"email": user.email, "password": user.password})
    assert answer.status_code == 200  # as FlexMeasures: a token is issued
    refused = http.get("/api/v3_0/sensors", headers={"Authorization": answer.json()["auth_token"]})
    assert (refused.status_code, refused.json()) == (401, E2)


PUBLIC = {"/api/v3_0/openapi.json", "/api/v3_0/docs"}  # the docs are readable without a token (docs/api.md)


def _v3_operations() -> list[tuple[str, str]]:
    out = []
    for route in ROUTES:
        path = getattr(route, "path", "")
        if path.startswith("/api/v3_0/") and path not in PUBLIC:
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    out.append((method, re.sub(r"{[^}]+}", "1", path)))
    return out


@pytest.mark.parametrize(("method", "path"), _v3_operations())
async def test_every_v3_route_needs_a_valid_token(
    http: httpx.Client, factory: Factory, pool: AsyncConnectionPool, method: str, path: str
) -> None:
    """401 comes before everything, also before validating a (here: invalid) body (as FlexMeasures)."""
    expired: UserHandle = await factory.user(await factory.account())
    await expire(pool, expired.token)
    inactive = await factory.user(await factory.account(), active=False)
    for headers in ({}, expired.headers, inactive.headers, {"Authorization": "garbage"}):
        answer = http.request(method, path, json={"no such": "field"}, headers=headers)
        assert (answer.status_code, answer.json()) == (401, E2), (method, path, headers)
