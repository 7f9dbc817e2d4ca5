"""Every input a hostile but careful client sent to freeze or crash the gateway answers a FlexMeasures-shaped 4xx
quickly, and the connection stays usable (or is closed with ``Connection: close``)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from tests.integration.conftest import Factory, Service, Tenant, start_service

DAY = "2025-01-01T00:00:00+01:00"
DEEP = "[" * 5_000 + "]" * 5_000


def deep_object(key: str) -> str:
    return '{"' + key + '": ' + DEEP + "}"


def assert_4xx(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (400, 413, 422)), (response.status_code, response.text[:300])
    body = response.json()
    assert isinstance(body, dict) and "message" in body or "errors" in body, body
    return dict(body)


@pytest.fixture
async def sensor(factory: Factory, site: Tenant) -> int:
    return await factory.sensor(site.asset, unit="MW", resolution=timedelta(hours=1))


# --- 1. values that become infinite after unit conversion ------------------------------------------------------


async def test_values_infinite_in_the_sensor_unit_are_refused(http: httpx.Client, site: Tenant, sensor: int) -> None:
    body = {"values": [1e306, 1e306, 1, 2], "start": DAY, "duration": "PT4H", "unit": "GW"}
    answer = assert_4xx(http.post(f"/api/v3_0/sensors/{sensor}/data", json=body, headers=site.admin.headers), 422)
    assert "magnitude" in json.dumps(answer)
    # ingest still works for everyone afterwards (it used to crash-loop on this record)
    ok = http.post(
        f"/api/v3_0/sensors/{sensor}/data", json={**body, "values": [1, 2, 3, 4]}, headers=site.admin.headers
    )
    assert ok.status_code == 200, ok.text


# --- 2. freezing the gateway -------------------------------------------------------------------------------------


async def test_a_long_unit_is_refused_at_once(http: httpx.Client, site: Tenant, sensor: int) -> None:
    started = time.monotonic()
    body = {"values": [1], "start": DAY, "duration": "PT1H", "unit": "k" * 32_000 + "W"}
    assert_4xx(http.post(f"/api/v3_0/sensors/{sensor}/data", json=body, headers=site.admin.headers), 422)
    query = {"start": DAY, "duration": "PT1H", "unit": "k" * 32_000 + "W"}
    assert_4xx(http.get(f"/api/v3_0/sensors/{sensor}/data", params=query, headers=site.admin.headers), 422, 414)
    for unit in ["9**9**9", "10^10^10", "/\u00a5\u0093{J"]:  # the unit parser evaluates powers exactly
        body["unit"] = unit
        assert_4xx(http.post(f"/api/v3_0/sensors/{sensor}/data", json=body, headers=site.admin.headers), 422)
    assert time.monotonic() - started < 2


def _raw_exchange(gateway: Service, request: bytes, then: bytes | None = None) -> tuple[bytes, bytes]:
    """Send ``request`` on one connection, read its answer, then (when given) send ``then`` on the same one."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(request)
        first = _read_answer(sock)
        second = b""
        if then is not None:
            try:
                sock.sendall(then)
                second = _read_answer(sock)
            except OSError:
                second = b""
    return first, second


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


async def test_an_oversized_body_is_refused_before_it_is_read(
    http: httpx.Client, gateway: Service, site: Tenant, sensor: int
) -> None:
    """A body announced at 200 MB answers 413 without the gateway waiting for it; the connection is closed
    with ``Connection: close`` (the body was not read), and /health stays fast meanwhile."""
    for path, token in [(f"/api/v3_0/sensors/{sensor}/data", site.admin.token), ("/api/requestAuthToken", "")]:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: {token}\r\n"
            f"Content-Length: 200000000\r\n\r\n"
        ).encode() + b"[" * 1000
        started = time.monotonic()
        answer, _ = _raw_exchange(gateway, request)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"connection: close" in answer.lower()
        assert time.monotonic() - started < 2
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert body["status"] == 413 and body["message"]
    # a chunked body without a length is counted as it arrives
    big = json.dumps({"values": [1.0] * 1_000_000, "start": DAY, "duration": "PT1000000H", "unit": "MW"})
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        chunked = client.post(
            f"/api/v3_0/sensors/{sensor}/data",
            content=iter([big.encode()[i : i + 65536] for i in range(0, len(big), 65536)]),
            headers={**site.admin.headers, "Content-Type": "application/json"},
        )
    assert_4xx(chunked, 413)
    assert http.get("/health").status_code == 200


async def test_an_upload_is_checked_for_permission_and_size_before_it_is_parsed(
    http: httpx.Client, factory: Factory, site: Tenant, sensor: int
) -> None:
    stranger = await factory.tenant()
    csv = b"event_start,value\n" + b"2025-01-01T00:00:00+00:00,1\n" * 10
    files = [("uploaded-files", ("a.csv", csv, "text/csv"))]
    url = f"/api/v3_0/sensors/{sensor}/data/upload"
    assert_4xx(http.post(url, files=files, headers=stranger.admin.headers), 403)
    huge = [("uploaded-files", ("a.csv", csv * 400_000, "text/csv"))]  # about 180 MB
    assert_4xx(http.post(url, files=huge, headers=site.admin.headers), 413)


# --- 3. inputs that answered 500 ---------------------------------------------------------------------------------


async def test_deeply_nested_json_is_refused(http: httpx.Client, site: Tenant, sensor: int) -> None:
    headers = {**site.admin.headers, "Content-Type": "application/json"}
    assert_4xx(http.post(f"/api/v3_0/sensors/{sensor}/data", content=deep_object("values"), headers=headers))
    assert_4xx(http.post("/api/v3_0/sensors", content=deep_object("name"), headers=headers))
    assert_4xx(http.post("/api/requestAuthToken", content=deep_object("email"), headers=headers))
    assert_4xx(http.post("/api/requestAuthToken", content=DEEP, headers=headers))


async def test_huge_numbers_and_instants_are_refused(http: httpx.Client, site: Tenant, sensor: int) -> None:
    headers = {**site.admin.headers, "Content-Type": "application/json"}
    body = '{"values": [1' + "0" * 400 + '], "start": "' + DAY + '", "duration": "PT1H", "unit": "MW"}'
    assert_4xx(http.post(f"/api/v3_0/sensors/{sensor}/data", content=body, headers=headers), 422)
    url = f"/api/v3_0/sensors/{sensor}/data/upload"
    for csv in [b"event_start,value\n2025-01-01T00:00:00+00:00,1" + b"0" * 500 + b"\n",
                b"event_start,value\n0001-01-01T00:00:00+00:00,1\n"]:  # fmt: skip
        files = [("uploaded-files", ("a.csv", csv, "text/csv"))]
        assert_4xx(http.post(url, files=files, headers=site.admin.headers), 422)


@pytest.mark.parametrize(
    "params",
    [
        {"duration": "P99999999D"},
        {"start": "0001-01-01T00:00:00+00:00"},
        {"start": "9999-12-31T23:30:00+00:00"},
        {"horizon": "P9999999999D"},
    ],
)
async def test_extreme_read_windows_are_refused(
    http: httpx.Client, site: Tenant, sensor: int, params: dict[str, str]
) -> None:
    query = {"start": DAY, "duration": "PT4H", "unit": "MW", **params}
    assert_4xx(http.get(f"/api/v3_0/sensors/{sensor}/data", params=query, headers=site.admin.headers), 422)


@pytest.mark.parametrize(
    "params",
    [{"horizon": "P99999999D"}, {"horizon": "-P99999999D"}, {"resolution": "P99999999D"},
     {"prior": "0001-01-01T00:00:00+00:00"}, {"prior": "9999-12-31T23:59:59+00:00"}],
)  # fmt: skip
async def test_extreme_but_valid_reads_are_answered(
    http: httpx.Client, site: Tenant, sensor: int, params: dict[str, str]
) -> None:
    query = {"start": DAY, "duration": "PT4H", "unit": "MW", **params}
    answer = http.get(f"/api/v3_0/sensors/{sensor}/data", params=query, headers=site.admin.headers)
    assert answer.status_code in (200, 422), answer.text


@pytest.mark.parametrize(
    "params",
    [
        {"page": "1e30"},
        {"page": str(2**62), "per_page": str(2**62)},
        {"filter": "\x00"},
        {"page": "1", "per_page": "100000"},
    ],
)
async def test_sensor_list_limits(http: httpx.Client, site: Tenant, params: dict[str, str]) -> None:
    assert_4xx(http.get("/api/v3_0/sensors", params=params, headers=site.admin.headers), 422)


async def test_nul_characters_are_refused(http: httpx.Client, site: Tenant, sensor: int) -> None:
    headers = site.admin.headers
    created = {"name": "a\x00b", "unit": "kW", "event_resolution": "PT15M", "generic_asset_id": site.asset}
    assert_4xx(http.post("/api/v3_0/sensors", json=created, headers=headers), 422)
    asset = {"name": "a\x00b", "generic_asset_type": "battery", "account_id": site.account}
    assert_4xx(http.post("/api/v3_0/assets", json=asset, headers=headers), 422)
    shown = {**asset, "name": "shows-nul", "sensors_to_show": [1, {"a\x00": []}]}  # jsonb refuses \u0000
    assert_4xx(http.post("/api/v3_0/assets", json=shown, headers=headers), 422)
    assert_4xx(http.patch(f"/api/v3_0/sensors/{sensor}", json={"unit": "k\x00W"}, headers=headers), 422)
    assert_4xx(http.post("/api/requestAuthToken", json={"email": "a\x00@example.com", "password": "x"}), 400, 401, 422)


async def test_nan_in_attributes_is_refused(http: httpx.Client, site: Tenant, sensor: int) -> None:
    body = {"name": "nan-sensor", "unit": "kW", "event_resolution": "PT15M", "generic_asset_id": site.asset,
            "attributes": '{"a": NaN}'}  # fmt: skip
    assert_4xx(http.post("/api/v3_0/sensors", json=body, headers=site.admin.headers), 422)
    patched = http.patch(
        f"/api/v3_0/sensors/{sensor}", json={"attributes": '{"a": Infinity}'}, headers=site.admin.headers
    )
    assert_4xx(patched, 422)


async def test_an_absurd_event_resolution_is_refused(http: httpx.Client, site: Tenant) -> None:
    body = {"name": "slow-sensor", "unit": "kW", "event_resolution": "P999999999D", "generic_asset_id": site.asset}
    assert_4xx(http.post("/api/v3_0/sensors", json=body, headers=site.admin.headers), 422)


async def test_an_error_keeps_the_connection_usable(gateway: Service, site: Tenant, sensor: int) -> None:
    """After a 4xx the next request on the same connection is answered (no reset)."""
    bad = (
        f"GET /api/v3_0/sensors/{sensor}/data?start=0001-01-01T00:00:00%2B00:00&duration=PT1H&unit=MW HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: {site.admin.token}\r\n\r\n"
    ).encode()
    good = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    first, second = _raw_exchange(gateway, bad, good)
    assert first.startswith(b"HTTP/1.1 422"), first[:200]
    assert second.startswith(b"HTTP/1.1 200"), second[:200]


# --- 5. login throttling -----------------------------------------------------------------------------------------


async def test_failed_logins_are_throttled_per_email_and_per_address(
    settings: Settings, service_logs: Path, ingest: Service, factory: Factory
) -> None:
    tenant = await factory.tenant()
    gateway = await asyncio.to_thread(
        start_service, "gateway", settings, service_logs, login_failures_per_email=3, login_failures_per_address=5,
        login_failure_window="PT3S",
    )  # fmt: skip
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            url, user = "/api/requestAuthToken", tenant.member
            wrong = {"email": user.email, "password": "wrong"}
            assert [client.post(url, json=wrong).status_code for _ in range(3)] == [401, 401, 401]
            refused = client.post(url, json={"email": user.email, "password": user.password})  # right, but too late
            assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 3, refused.text
            assert refused.json() == {"errors": [refused.json()["errors"][0]], "status": 429}
            # other e-mails from the same address: two more failures fill the address's quota
            for _ in range(2):
                assert client.post(url, json={"email": "nobody@example.com", "password": "x"}).status_code == 404
            assert client.post(url, json={"email": tenant.admin.email, "password": "x"}).status_code == 429
            time.sleep(3.1)  # the window passes: a correct login works again
            ok = client.post(url, json={"email": user.email, "password": user.password})
            assert ok.status_code == 200, ok.text
    finally:
        gateway.stop()


@pytest.mark.parametrize("path", ["/api/v3_0/users", "/api/v3_0/accounts", "/api/v3_0/sensors"])
async def test_huge_pages_are_refused_on_every_list(http: httpx.Client, site: Tenant, path: str) -> None:
    """``page`` × ``per_page`` beyond a bigint made the OFFSET overflow in PostgreSQL (500); found by schemathesis."""
    params = {"page": "3776578681370359", "per_page": "693475294366", "account_id": str(site.account)}
    assert_4xx(http.get(path, params=params, headers=site.admin.headers), 422)
