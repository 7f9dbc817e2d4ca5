"""``GET /sensors/<id>/stats`` and ``GET /sensors/<id>/status`` through the real gateway, with the stats
service keeping the aggregates (docs/api.md, "Sensor stats" and "Sensor status")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql import stats as stats_sql
from shared import kafka
from shared.messages import PostBeliefs
from shared.settings import Settings
from shared.topics import SENSOR_DATA, key_for
from tests.integration.conftest import Factory, Service, UserHandle
from tests.integration.test_sensors_api import E2, E3, e1
from tests.integration.test_stats_pipeline import start_stats, wait_until_caught_up


@pytest.fixture(scope="module")
def stats(settings: Settings, service_logs: Path, ingest: Service) -> Iterator[Service]:
    service = start_stats(settings, service_logs, f"flexstream-stats-routes-{uuid.uuid4().hex[:6]}")
    yield service
    service.stop()


async def _member(factory: Factory) -> tuple[UserHandle, int]:
    account = await factory.account()
    return await factory.user(account), await factory.asset(account)


def post(
    http: httpx.Client, user: UserHandle, sensor: int, start: str, values: list[float | None], **extra: Any
) -> None:
    body = {"start": start, "duration": f"PT{15 * len(values)}M", "values": values, "unit": "kW", **extra}
    response = http.post(f"/api/v3_0/sensors/{sensor}/data", json=body, headers=user.headers)
    assert response.status_code == 200, response.text


def stats_of(http: httpx.Client, user: UserHandle, sensor: int | str, **params: str) -> httpx.Response:
    return http.get(f"/api/v3_0/sensors/{sensor}/stats", params=params, headers=user.headers)


async def test_stats_answer(http: httpx.Client, factory: Factory, stats: Service, pool: AsyncConnectionPool) -> None:
    member, asset = await _member(factory)
    sensor = await factory.sensor(asset, unit="kW", resolution=timedelta(minutes=15), timezone="Europe/Amsterdam")
    assert stats_of(http, member, sensor).json() == {"status": 200}  # no data yet
    post(http, member, sensor, "2025-03-01T00:00:00+01:00", [1.0, None, 3.5, -2.0], prior="2025-03-02T00:00:00Z")
    post(http, member, sensor, "2025-03-03T00:00:00+01:00", [10.0], prior="2025-03-04T00:00:00Z")
    wait_until_caught_up(stats)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, name FROM data_sources WHERE user_id = %s", (member.id,))
        source = await cur.fetchone()
    assert source is not None
    key = f"{source[1]} (ID: {source[0]})"
    everything = stats_of(http, member, sensor)
    assert everything.status_code == 200
    assert everything.json() == {"status": 200, key: {
        "First event start": "2025-03-01T00:00:00+01:00", "Last event end": "2025-03-03T00:15:00+01:00",
        "Last recorded": "2025-03-04T01:00:00+01:00", "Min value": -2.0, "Max value": 10.0, "Mean value": 3.125,
        "Sum over values": 12.5, "Number of values": 4,
    }}  # fmt: skip
    # A window (lenient times: naive is UTC), as pairs in a fixed order.
    window = stats_of(
        http, member, sensor, event_start_time="2025-02-28 23:15", event_end_time="2025-03-02", sort="false"
    )
    assert window.json() == {"status": 200, key: [
        ["First event start", "2025-03-01T00:30:00+01:00"], ["Last event end", "2025-03-01T01:00:00+01:00"],
        ["Last recorded", "2025-03-02T01:00:00+01:00"], ["Min value", -2.0], ["Max value", 3.5], ["Mean value", 0.75],
        ["Sum over values", 1.5], ["Number of values", 2],
    ]}  # fmt: skip
    assert stats_of(http, member, sensor, event_start_time="2025-03-05T00:00:00Z").json() == {"status": 200}
    # Deleting the data empties the stats at once (ingest clears the aggregates with the beliefs).
    admin = await factory.user(member.account_id, ("account-admin",))
    assert http.delete(f"/api/v3_0/sensors/{sensor}/data", headers=admin.headers).status_code == 204
    assert stats_of(http, member, sensor).json() == {"status": 200}


async def test_stats_errors(http: httpx.Client, factory: Factory) -> None:
    member, asset = await _member(factory)
    sensor = await factory.sensor(asset)
    stranger, _ = await _member(factory)
    assert (stats_of(http, stranger, sensor).status_code, stats_of(http, stranger, sensor).json()) == (403, E3)
    anonymous = http.get(f"/api/v3_0/sensors/{sensor}/stats")
    assert (anonymous.status_code, anonymous.json()) == (401, E2)
    for params, field in [({"event_start_time": "soon"}, "event_start_time"), ({"sort": "maybe"}, "sort")]:
        response = stats_of(http, member, sensor, **params)
        assert response.status_code == 422 and list(response.json()["message"]["query"]) == [field], response.text
    # FlexMeasures answers 500 to the first three of these
    assert stats_of(http, stranger, sensor, event_end_time="13/13/13").status_code == 422  # 422 before 403
    assert stats_of(http, member, "abc").json() == e1("path", "id", "Not a valid integer.")
    assert stats_of(http, member, 987654321).json() == e1("path", "id", "No sensor found with id 987654321.")


def status_of(http: httpx.Client, user: UserHandle, sensor: int) -> httpx.Response:
    return http.get(f"/api/v3_0/sensors/{sensor}/status", headers=user.headers)


async def _forecaster(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO data_sources (name, type, model) VALUES (%s, 'forecaster', 'naive') RETURNING id",
            (f"Seita-{uuid.uuid4().hex[:6]}",),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_status(
    http: httpx.Client, factory: Factory, stats: Service, pool: AsyncConnectionPool, settings: Settings
) -> None:
    member, asset = await _member(factory)
    sensor = await factory.sensor(asset, resolution=timedelta(minutes=15), name="power")
    common = {"id": sensor, "name": "power", "resolution": "15 minutes", "relation": "sensor belongs to this asset"}
    [empty] = status_of(http, member, sensor).json()["sensors_data"]
    assert {**empty, "asset_name": None} == {
        "staleness": None, "stale": True, "staleness_since": None, "reason": "no data recorded", "source_type": None,
        "asset_name": None, **common,
    }  # fmt: skip
    # Measurements up to an event that ended 5 to 20 minutes ago (max staleness 2 resolutions: fresh).
    now = datetime.now(UTC)
    last_start = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 15) - timedelta(minutes=15)
    post(http, member, sensor, (last_start - timedelta(minutes=15)).isoformat(), [1.0, 2.0], horizon="PT0H")
    # A forecaster's beliefs about the coming 13 to 14 hours (max future staleness -12 h: fresh).
    forecaster = await _forecaster(pool)
    starts = [last_start + timedelta(hours=13, minutes=15 * q) for q in range(4)]
    async with kafka.open_producer(settings) as producer:
        command = PostBeliefs(sensor_id=sensor, source_id=forecaster, event_starts=starts, values=[1, 2, 3, 4])
        await producer.send_and_wait(SENSOR_DATA.full_name(settings.topic_prefix), SENSOR_DATA.encode(command),
                                     key=key_for(sensor))  # fmt: skip
    post(http, member, sensor, last_start.isoformat(), [None])  # ingest has handled the forecast too
    wait_until_caught_up(stats)
    response = status_of(http, member, sensor)
    assert response.status_code == 200 and response.json()["status"] == 200
    user, forecast = response.json()["sensors_data"]
    assert (user["source_type"], user["stale"], forecast["source_type"], forecast["stale"]) == (
        "user", False, "forecaster", False
    ), response.text  # fmt: skip
    assert user["reason"].startswith("most recent data is ") and user["reason"].endswith(
        " old, which is not more than 30 minutes old"
    )  # fmt: skip
    assert forecast["reason"].endswith("in the future, which is not less than 12 hours in the future")
    known = datetime.fromisoformat(user["staleness_since"])
    assert known == last_start + timedelta(minutes=15) and known.utcoffset() == timedelta(0)  # server timezone UTC
    assert datetime.fromisoformat(forecast["staleness_since"]) == starts[-1]
    assert {k: user[k] for k in common} == common


async def test_status_errors(http: httpx.Client, factory: Factory, pool: AsyncConnectionPool) -> None:
    member, asset = await _member(factory)
    bad = await factory.sensor(asset, attributes={"status_specs": {"max_staleness": "soon"}})
    response = status_of(http, member, bad)
    assert response.status_code == 422, response.text
    assert "status_specs 'max_staleness'" in response.json()["message"]["path"]["id"][0]
    stranger, _ = await _member(factory)
    assert (status_of(http, stranger, bad).status_code, status_of(http, stranger, bad).json()) == (403, E3)
    assert http.get(f"/api/v3_0/sensors/{bad}/status").status_code == 401
    assert status_of(http, member, 987654321).json() == e1("path", "id", "No sensor found with id 987654321.")


async def test_deleting_a_sensor_removes_its_aggregates(
    http: httpx.Client, factory: Factory, stats: Service, pool: AsyncConnectionPool
) -> None:
    member, asset = await _member(factory)
    admin = await factory.user(member.account_id, ("account-admin",))
    sensor = await factory.sensor(asset)
    post(http, member, sensor, "2025-03-01T00:00:00+01:00", [1.0, 2.0])
    wait_until_caught_up(stats)

    async def rows() -> tuple[int, int]:
        async with pool.connection() as conn:
            counts = []
            for table in ("sensor_stats", "sensor_stats_daily"):
                cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE sensor_id = %s", (sensor,))
                row = await cur.fetchone()
                assert row is not None
                counts.append(int(row[0]))
        return counts[0], counts[1]

    assert await rows() == (1, 1)
    assert http.delete(f"/api/v3_0/sensors/{sensor}", headers=admin.headers).status_code == 204
    assert await rows() == (0, 0)


async def test_latest_event_per_source_type_at_any_clock(
    http: httpx.Client, factory: Factory, stats: Service, pool: AsyncConnectionPool, settings: Settings
) -> None:
    """The status route's read (sql/stats.py) with a chosen ``now``, against the rule written directly in SQL:
    the latest event start among the beliefs formed by then, per source type."""
    member, asset = await _member(factory)
    sensor = await factory.sensor(asset, resolution=timedelta(minutes=15))
    post(http, member, sensor, "2025-03-01T00:00:00Z", [1.0, 2.0, 3.0], prior="2025-03-01T06:00:00Z")
    post(http, member, sensor, "2025-03-01T10:00:00Z", [4.0], prior="2025-03-02T00:00:00Z")  # same day, known later
    post(http, member, sensor, "2025-03-03T00:00:00Z", [5.0], prior="2025-03-04T00:00:00Z")
    forecaster = await _forecaster(pool)
    async with kafka.open_producer(settings) as producer:
        starts = [datetime(2025, 3, 5, h, tzinfo=UTC) for h in (1, 2)]
        command = PostBeliefs(sensor_id=sensor, source_id=forecaster, event_starts=starts, values=[1, 2],
                              prior=datetime(2025, 3, 1, 12, tzinfo=UTC))  # fmt: skip
        await producer.send_and_wait(SENSOR_DATA.full_name(settings.topic_prefix), SENSOR_DATA.encode(command),
                                     key=key_for(sensor))  # fmt: skip
    post(http, member, sensor, "2025-03-01T00:00:00Z", [None])
    wait_until_caught_up(stats)
    direct = """
        SELECT ds.type, max(tb.event_start) FROM timed_beliefs tb JOIN data_sources ds ON ds.id = tb.source_id
        WHERE tb.sensor_id = %s AND tb.belief_time <= %s GROUP BY ds.type"""
    for hour in (0, 6, 11, 12, 24, 47, 72, 100):
        now = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(hours=hour)
        async with pool.connection() as conn:
            served = await stats_sql.latest_by_source_type(conn, sensor, now, ("user", "forecaster"))
        async with pool.connection() as conn:
            rows = await (await conn.execute(direct, (sensor, now))).fetchall()
        expected: dict[str, datetime] = {row[0]: row[1] for row in rows}
        assert served == expected, now
    assert served == {"user": datetime(2025, 3, 3, tzinfo=UTC), "forecaster": starts[-1]}
