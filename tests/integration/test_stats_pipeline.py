"""The stats aggregates through the real pipeline: gateway (with data overwrite on) → Kafka → ingest →
TimescaleDB → ``flexstream.ingested.v1`` → the stats service, compared with the same aggregation written
directly in SQL over ``timed_beliefs``.

Probabilistic beliefs cannot be posted (neither the API nor ``PostBeliefs`` carries a cumulative
probability), so the test writes them straight into ``timed_beliefs`` and announces them on the ingested
topic itself, as any other writer of beliefs would.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql.stats import SourceStats, read_stats
from services.stats import lag
from shared import kafka
from shared.messages import BeliefsIngested, PostBeliefs
from shared.settings import Settings
from shared.topics import INGESTED, SENSOR_DATA, key_for
from tests.integration.conftest import Factory, Service, UserHandle, start_service
from tests.processes import free_port

DAY0 = datetime(2025, 3, 1, tzinfo=UTC)
RESOLUTION = timedelta(minutes=15)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")  # the sensors' timezone
PRIORS = [DAY0 + timedelta(days=10, hours=h) for h in range(3)]  # a few belief times, so posts can replace

ORACLE = """
SELECT source_id, count(*), sum(event_value), min(event_value), max(event_value),
       min(event_start), max(event_start), max(belief_time)
FROM timed_beliefs
WHERE sensor_id = %(sensor)s
  AND (%(start)s::timestamptz IS NULL OR event_start >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR event_start < %(end)s)
GROUP BY source_id ORDER BY source_id
"""


@dataclass(frozen=True)
class World:
    settings: Settings
    gateway: Service  # allow_data_overwrite on
    member: UserHandle
    admin: UserHandle
    asset: int
    forecaster: int  # a data source of type forecaster, for PostBeliefs and probabilistic rows


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _world_rows(settings: Settings) -> tuple[UserHandle, UserHandle, int, int]:
    async with AsyncConnectionPool(settings.database_url.get_secret_value(), min_size=1, open=False) as pool:
        factory = Factory(pool)
        account = await factory.account()
        member = await factory.user(account)
        admin = await factory.user(account, ("account-admin",))
        asset = await factory.asset(account)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO data_sources (name, type, model, version) VALUES (%s, 'forecaster', 'naive', '1.2') "
                "RETURNING id",
                (f"Seita-{uuid.uuid4().hex[:6]}",),
            )
            row = await cur.fetchone()
            assert row is not None
        return member, admin, asset, int(row[0])


@pytest.fixture(scope="module")
def world(settings: Settings, ingest: Service, service_logs: Path) -> Iterator[World]:
    gateway = start_service("gateway", settings, service_logs, allow_data_overwrite="true")
    member, admin, asset, forecaster = run(_world_rows(settings))
    try:
        yield World(settings, gateway, member, admin, asset, forecaster)
    finally:
        gateway.stop()


def start_stats(settings: Settings, logs: Path, app_id: str) -> Service:
    return start_service("stats", settings, logs, stats_app_id=app_id, stats_data_dir=str(logs / app_id))


async def _new_sensor(settings: Settings, asset: int) -> int:
    async with AsyncConnectionPool(settings.database_url.get_secret_value(), min_size=1, open=False) as pool:
        return await Factory(pool).sensor(asset, unit="kW", resolution=RESOLUTION, timezone="Europe/Amsterdam")


# --- talking to the pipeline ---------------------------------------------------------------------------


def post(world: World, client: httpx.Client, user: UserHandle, sensor: int, start: datetime,
         values: list[float | None], prior: datetime | None) -> None:  # fmt: skip
    body: dict[str, Any] = {
        "sensor": f"ea1.2021-01.io.flexmeasures:fm1.{sensor}", "start": start.isoformat(),
        "duration": f"PT{15 * len(values)}M", "unit": "kW", "values": values,
    }  # fmt: skip
    if prior is not None:
        body["prior"] = prior.isoformat()
    response = client.post("/api/v3_0/sensors/data", json=body, headers=user.headers)
    assert response.status_code == 200, response.text


async def _send_beliefs(
    settings: Settings, sensor: int, source: int, starts: list[datetime], values: list[float]
) -> None:
    command = PostBeliefs(sensor_id=sensor, source_id=source, event_starts=starts, values=values, unit="kW",
                          prior=PRIORS[0])  # fmt: skip
    async with kafka.open_producer(settings) as producer:
        await producer.send_and_wait(SENSOR_DATA.full_name(settings.topic_prefix), SENSOR_DATA.encode(command),
                                     key=key_for(sensor))  # fmt: skip


async def _write_probabilistic(
    settings: Settings, sensor: int, source: int, start: datetime, values: list[float]
) -> None:
    """Rows at cumulative probabilities 0.1/0.5/0.9 straight into the table, then the event announcing them."""
    rows = [
        (sensor, start + i * RESOLUTION, source, PRIORS[1], p, v + k)
        for i, v in enumerate(values) for k, p in enumerate((0.1, 0.5, 0.9))
    ]  # fmt: skip
    async with await psycopg.AsyncConnection.connect(settings.database_url.get_secret_value()) as conn:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO timed_beliefs VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", rows
            )
    event = BeliefsIngested(command_id=uuid.uuid4(), sensor_id=sensor, source_id=source, outcome="processed",
                            rows_written=len(rows), event_start=start,
                            event_end=start + len(values) * RESOLUTION)  # fmt: skip
    async with kafka.open_producer(settings) as producer:
        await producer.send_and_wait(INGESTED.full_name(settings.topic_prefix), INGESTED.encode(event),
                                     key=key_for(sensor))  # fmt: skip


def events_counted(stats: Service) -> float:
    """The valid events this stats process has aggregated (its Prometheus counter)."""
    prefix = 'flexstream_stats_ingested_events_total{valid="true"} '
    lines = httpx.get(f"{stats.url}/metrics", timeout=10).text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(prefix))


def wait_until_caught_up(stats: Service, timeout: float = 30) -> None:
    """Until the stats service has committed every ingested event (its /health reports lag 0)."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        body = httpx.get(f"{stats.url}/health", timeout=10).json()
        if body.get("lag") == 0:
            return
        time.sleep(0.2)
    pytest.fail(f"stats service did not catch up in {timeout} s: {body}")


# --- comparing with the direct aggregation ---------------------------------------------------------------


async def _both(settings: Settings, sensor: int, start: datetime | None, end: datetime | None) -> tuple[Any, Any]:
    async with await psycopg.AsyncConnection.connect(settings.database_url.get_secret_value()) as conn:
        served: list[SourceStats] = await read_stats(conn, sensor, start, end)
        cur = await conn.execute(ORACLE, {"sensor": sensor, "start": start, "end": end})
        return served, await cur.fetchall()


def assert_served_over_http(
    world: World, client: httpx.Client, sensor: int, start: datetime | None, end: datetime | None
) -> None:
    """The stats route renders the same numbers (times in the sensor's timezone)."""
    params = {k: v.isoformat() for k, v in (("event_start_time", start), ("event_end_time", end)) if v is not None}
    response = client.get(f"/api/v3_0/sensors/{sensor}/stats", params=params, headers=world.member.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.pop("status") == 200
    _, direct = run(_both(world.settings, sensor, start, end))
    assert sorted(int(key.rsplit("(ID: ", 1)[1][:-1]) for key in body) == [row[0] for row in direct]
    by_source = {int(key.rsplit("(ID: ", 1)[1][:-1]): value for key, value in body.items()}
    for source, count, total, low, high, first, last, recorded in direct:
        served = by_source[source]
        assert (served["Number of values"], served["Min value"], served["Max value"]) == (count, low, high)
        assert math.isclose(served["Sum over values"], total, rel_tol=1e-9, abs_tol=1e-9)
        assert served["First event start"] == first.astimezone(AMSTERDAM).isoformat()
        assert served["Last event end"] == (last + RESOLUTION).astimezone(AMSTERDAM).isoformat()
        assert served["Last recorded"] == recorded.astimezone(AMSTERDAM).isoformat()


def assert_matches(settings: Settings, sensor: int, start: datetime | None, end: datetime | None) -> int:
    """The served stats equal the direct SQL aggregation; returns the number of sources."""
    served, direct = run(_both(settings, sensor, start, end))
    assert [s.source_id for s in served] == [row[0] for row in direct], (start, end)
    for s, (_, count, total, low, high, first, last, recorded) in zip(served, direct, strict=True):
        window = (start, end, s.source_id)
        assert (s.count, s.min, s.max) == (count, low, high), window
        assert (s.first_event_start, s.last_event_start, s.last_belief_time) == (first, last, recorded), window
        assert math.isclose(float(s.sum), total, rel_tol=1e-9, abs_tol=1e-9), window
        assert math.isclose(float(s.sum / s.count), total / count, rel_tol=1e-9, abs_tol=1e-9), window
    return len(served)


# --- the property test ------------------------------------------------------------------------------------

instants = st.builds(lambda d, q: DAY0 + timedelta(days=d, minutes=15 * q), st.integers(0, 4), st.integers(0, 95))
values = st.floats(-1000, 1000, allow_nan=False).map(lambda v: round(v, 3))
posts = st.tuples(st.just("post"), st.sampled_from(["member", "admin"]), instants,
                  st.lists(st.none() | values, min_size=1, max_size=12), st.sampled_from([None, *PRIORS]))  # fmt: skip
beliefs = st.tuples(st.just("beliefs"), st.lists(instants, min_size=1, max_size=6, unique=True),
                    st.lists(values, min_size=6, max_size=6))  # fmt: skip
probabilistic = st.tuples(st.just("probabilistic"), instants, st.lists(values, min_size=1, max_size=5))
deletion = st.tuples(st.just("delete"))
operations = st.lists(st.one_of(posts, posts, beliefs, probabilistic, deletion), min_size=3, max_size=9)
windows = st.lists(
    st.tuples(st.none() | instants.map(lambda t: t + timedelta(minutes=7)), st.none() | instants),
    min_size=4,
    max_size=8,
)


@pytest.fixture(scope="module")
def stats(world: World, service_logs: Path) -> Iterator[Service]:
    service = start_stats(world.settings, service_logs, "flexstream-stats-property")
    yield service
    service.stop()


def test_stats_equal_the_direct_aggregation(world: World, stats: Service) -> None:
    examples = 0

    @hypothesis_settings(max_examples=6, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(operations, windows)
    def check(ops: list[tuple[Any, ...]], chosen: list[tuple[datetime | None, datetime | None]]) -> None:
        nonlocal examples
        examples += 1
        sensor = run(_new_sensor(world.settings, world.asset))
        users = {"member": world.member, "admin": world.admin}
        with httpx.Client(base_url=world.gateway.url, timeout=30) as client:
            for op in ops:
                if op[0] == "post":
                    post(world, client, users[op[1]], sensor, op[2], op[3], op[4])
                elif op[0] == "beliefs":
                    run(_send_beliefs(world.settings, sensor, world.forecaster, op[1], op[2][: len(op[1])]))
                elif op[0] == "probabilistic":
                    run(_write_probabilistic(world.settings, sensor, world.forecaster, op[1], op[2]))
                else:
                    deleted = client.delete(f"/api/v3_0/sensors/{sensor}/data", headers=world.admin.headers)
                    assert deleted.status_code == 204, deleted.text
            # A last command on the sensor: when it is answered, ingest has handled every earlier one.
            post(world, client, world.member, sensor, DAY0, [None], None)
        wait_until_caught_up(stats)
        assert_matches(world.settings, sensor, None, None)
        for start, end in chosen:
            assert_matches(world.settings, sensor, start, end)
        with httpx.Client(base_url=world.gateway.url, timeout=30) as client:
            for start, end in [(None, None), *chosen[:2]]:
                assert_served_over_http(world, client, sensor, start, end)

    check()
    assert examples >= 3


# --- killed and restarted -----------------------------------------------------------------------------------


async def _stream_posts(settings: Settings, sensor: int, source: int, n: int) -> None:
    """``n`` overlapping PostBeliefs commands (replacing each other), sent without waiting."""
    async with kafka.open_producer(settings) as producer:
        for i in range(n):
            starts = [DAY0 + timedelta(hours=(i * 7) % 120 + q) for q in range(8)]
            values = [float(i * 10 + q) for q in range(8)]
            command = PostBeliefs(sensor_id=sensor, source_id=source, event_starts=starts, unit="kW",
                                  values=values, prior=PRIORS[i % 3], replace=True)  # fmt: skip
            await producer.send(SENSOR_DATA.full_name(settings.topic_prefix), SENSOR_DATA.encode(command),
                                key=key_for(sensor))  # fmt: skip
        await producer.flush()


def test_killed_stats_service_converges_without_double_counting(world: World, service_logs: Path) -> None:
    sensor = run(_new_sensor(world.settings, world.asset))
    app_id = f"flexstream-stats-restart-{uuid.uuid4().hex[:6]}"
    stats = start_stats(world.settings, service_logs, app_id)
    run(_stream_posts(world.settings, sensor, world.forecaster, 400))
    # Killed as soon as it has aggregated a few events: offsets are committed once a second, so what it did
    # in its last moments is not committed and is replayed after the restart.
    deadline = time.monotonic() + 30
    while events_counted(stats) < 20:
        assert time.monotonic() < deadline, stats.tail()
        time.sleep(0.05)
    stats.process.send_signal(signal.SIGKILL)
    stats.process.wait(10)
    assert stats.process.returncode == -signal.SIGKILL
    run(_stream_posts(world.settings, sensor, world.forecaster, 100))  # more while it is down
    restarted = start_stats(world.settings, service_logs, app_id)  # same group: resumes from its commits
    try:
        with httpx.Client(base_url=world.gateway.url, timeout=30) as client:
            post(world, client, world.member, sensor, DAY0, [None], None)  # ingest has handled the stream
        wait_until_caught_up(restarted, timeout=60)
        assert events_counted(restarted) >= 100  # at least what was sent while it was down
        assert assert_matches(world.settings, sensor, None, None) == 1
        for start, end in [(DAY0 + timedelta(hours=5, minutes=30), DAY0 + timedelta(days=3, hours=2)),
                           (None, DAY0 + timedelta(days=2)), (DAY0 + timedelta(hours=30), None)]:  # fmt: skip
            assert_matches(world.settings, sensor, start, end)
    finally:
        restarted.stop()


async def test_lag_probe_reports_an_unreachable_broker_and_a_missing_group(settings: Settings) -> None:
    topic = INGESTED.full_name(settings.topic_prefix)
    unreachable = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    assert await lag.probe(unreachable, topic, "any-group") is None  # /health: "kafka": "down"
    async with kafka.open_producer(settings) as producer:
        await producer.send_and_wait(topic, b"{}", key=key_for(1))  # at least one message on the topic
    behind = await lag.probe(settings, topic, f"never-consumed-{uuid.uuid4().hex[:6]}")
    assert behind is not None and behind >= 1  # a group without commits is behind by everything
