"""Outages while clients post and read: the database stops, comes back, then the broker stops and comes back.

This test starts a PostgreSQL and a Kafka broker of its own (the project's scripts, on their own ports; never the
servers the rest of the suite shares) and stops and restarts them under a running gateway and ingest. Every
answer must be 200, 202 or 503 (with ``Retry-After``) within a bounded time, ``/health`` must name the dependency
that is down, everything acknowledged (200 or 202) must be stored in the end, and no service may need a restart.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from shared.migrate import migrate
from shared.settings import Settings
from tests.integration.conftest import ROOT, Factory, Service, Tenant, start_service

PG_PORT = int(os.environ.get("FLEXSTREAM_FAULT_PG_PORT", "18732"))
KAFKA_PORT = int(os.environ.get("FLEXSTREAM_FAULT_KAFKA_PORT", "18792"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("FLEXSTREAM_FAULT_KAFKA_CONTROLLER_PORT", "18793"))
WRITE_WAIT = 3.0  # seconds the gateway waits for ingest before answering 202
BOUND = WRITE_WAIT + 4.0  # no answer may take longer (write wait + broker timeout + slack)
OUTAGE = 8.0  # seconds each dependency stays down
START = datetime(2025, 3, 1, tzinfo=UTC)

pytestmark = pytest.mark.slow


def _script(name: str, action: str) -> None:
    env = {
        **os.environ,
        "FLEXSTREAM_PLAIN_PG_PORT": str(PG_PORT),
        "FLEXSTREAM_KAFKA_PORT": str(KAFKA_PORT),
        "FLEXSTREAM_KAFKA_CONTROLLER_PORT": str(KAFKA_CONTROLLER_PORT),
        "FLEXSTREAM_KAFKA_SECURITY": "none",  # a plain broker: this test is about outages, not authentication
    }
    subprocess.run(["bash", str(ROOT / "scripts" / name), action], env=env, check=True, timeout=180)


def database(action: str) -> None:
    _script("plain-postgres.sh", action)


def broker(action: str) -> None:
    _script("kafka.sh", action)


@dataclass
class Stack:
    settings: Settings
    gateway: Service
    ingest: Service
    tenant: Tenant
    sensor: int


@pytest.fixture(scope="module")
def stack(service_logs: Path) -> Iterator[Stack]:
    database("start")
    broker("start")
    name = f"flexstream_fault_{uuid.uuid4().hex[:8]}"
    url = make_conninfo(f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres", dbname=name)
    services: list[Service] = []
    try:
        migrate(url)
        settings = Settings(
            kafka_bootstrap=f"127.0.0.1:{KAFKA_PORT}", kafka_security_protocol="PLAINTEXT", kafka_sasl_username="",
            database_url=url, topic_prefix="fault.",
        )  # fmt: skip
        tenant, sensor = asyncio.run(_tenant(url))
        services.append(start_service("ingest", settings, service_logs))
        services.append(
            start_service(
                "gateway",
                settings,
                service_logs,
                write_wait=f"PT{WRITE_WAIT:g}S",
                auth_cache_ttl="PT0S",
                sensor_cache_ttl="PT0S",
            )  # fmt: skip
        )
        yield Stack(settings, services[1], services[0], tenant, sensor)
    finally:
        for service in services:
            service.stop()
        broker("stop")
        database("stop")


async def _tenant(url: str) -> tuple[Tenant, int]:
    async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
        factory = Factory(pool)
        tenant = await factory.tenant()
        return tenant, await factory.sensor(tenant.asset, unit="kW", resolution=timedelta(minutes=15))


@dataclass
class Clients:
    """Clients posting (one new value per request) and reading, until stopped; every answer is recorded."""

    stack: Stack
    answers: list[tuple[str, int, float, dict[str, str], str]] = field(default_factory=list)  # kind, status, s
    acknowledged: dict[int, float] = field(default_factory=dict)  # slot → value (answered 200 or 202)
    stop: threading.Event = field(default_factory=threading.Event)
    slot: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _next_slot(self) -> int:
        with self.lock:
            self.slot += 1
            return self.slot

    def _record(self, kind: str, started: float, response: httpx.Response | None) -> int:
        elapsed = time.monotonic() - started
        status = response.status_code if response is not None else 0
        headers = dict(response.headers) if response is not None else {}
        text = response.text[:300] if response is not None else "no answer"
        with self.lock:
            self.answers.append((kind, status, elapsed, headers, text))
        return status

    def post_loop(self) -> None:
        url = f"/api/v3_0/sensors/{self.stack.sensor}/data"
        with httpx.Client(base_url=self.stack.gateway.url, timeout=BOUND + 20) as client:
            while not self.stop.is_set():
                slot = self._next_slot()
                value = float(slot)
                body = {"values": [value], "start": (START + slot * timedelta(minutes=15)).isoformat(),
                        "duration": "PT15M", "unit": "kW", "horizon": "PT0H"}  # fmt: skip
                started = time.monotonic()
                try:
                    response: httpx.Response | None = client.post(
                        url, json=body, headers=self.stack.tenant.admin.headers
                    )
                except httpx.HTTPError:
                    response = None
                if self._record("post", started, response) in (200, 202):
                    with self.lock:
                        self.acknowledged[slot] = value
                time.sleep(0.05)

    def read_loop(self) -> None:
        url = f"/api/v3_0/sensors/{self.stack.sensor}/data"
        query = {"start": START.isoformat(), "duration": "P7D", "unit": "kW"}
        with httpx.Client(base_url=self.stack.gateway.url, timeout=BOUND + 20) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response: httpx.Response | None = client.get(
                        url, params=query, headers=self.stack.tenant.admin.headers
                    )
                except httpx.HTTPError:
                    response = None
                self._record("read", started, response)
                time.sleep(0.1)


def health(service: Service) -> tuple[int, dict[str, object]]:
    try:
        answer = httpx.get(f"{service.url}/health", timeout=10)
    except httpx.HTTPError:
        return 0, {}
    return answer.status_code, answer.json()


def wait_for_health(service: Service, part: str, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, body = health(service)
        if body.get(part) == state and (status == 200) == (state == "ok"):
            return
        assert time.monotonic() < deadline, f"{service.name} /health never said {part}: {state}: {status} {body}"
        time.sleep(0.5)


def wait_for_a_stored_post(clients: Clients, since: int, timeout: float = 90) -> None:
    """Until a post sent after answer number ``since`` is answered 200 (the pipeline works end to end again)."""
    deadline = time.monotonic() + timeout
    while not any(kind == "post" and status == 200 for kind, status, *_ in clients.answers[since:]):
        assert time.monotonic() < deadline, f"no post stored after the outage: {clients.answers[-3:]}"
        time.sleep(0.5)


def stored(settings: Settings, sensor: int) -> dict[datetime, float]:
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        rows = conn.execute("SELECT event_start, event_value FROM timed_beliefs WHERE sensor_id = %s", (sensor,))
        return {row[0]: row[1] for row in rows.fetchall()}


def jobs_of(settings: Settings, sensor: int) -> int:
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        row = conn.execute("SELECT count(*) FROM schedule_jobs WHERE sensor_id = %s", (sensor,)).fetchone()
        return int(row[0]) if row else 0


def trigger(stack: Stack) -> tuple[httpx.Response, float]:
    """A forced schedule trigger for the stack's sensor (a battery's); the answer and how long it took."""
    body = {"start": START.isoformat(), "duration": "PT4H", "force_new_job_creation": True,
            "flex-model": {"soc-at-start": 10, "soc-unit": "kWh", "soc-min": 0, "soc-max": 100,
                           "power-capacity": "20 kW"},
            "flex-context": {"consumption-price": "10 EUR/MWh"}}  # fmt: skip
    started = time.monotonic()
    response = httpx.post(
        f"{stack.gateway.url}/api/v3_0/sensors/{stack.sensor}/schedules/trigger", json=body,
        headers=stack.tenant.admin.headers, timeout=BOUND + 20,
    )  # fmt: skip
    return response, time.monotonic() - started


def test_database_then_broker_outage(stack: Stack) -> None:
    clients = Clients(stack)
    threads = [threading.Thread(target=clients.post_loop), threading.Thread(target=clients.read_loop)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        database("stop")
        time.sleep(1)
        wait_for_health(stack.gateway, "db", "down")
        wait_for_health(stack.ingest, "db", "down")
        time.sleep(OUTAGE)
        mark = len(clients.answers)
        database("start")
        wait_for_health(stack.gateway, "db", "ok")
        wait_for_a_stored_post(clients, mark)

        broker("stop")
        wait_for_health(stack.gateway, "kafka", "down")
        wait_for_health(stack.ingest, "kafka", "down")
        jobs_before = jobs_of(stack.settings, stack.sensor)
        refused, took = trigger(stack)  # no job without its trigger on the topic
        time.sleep(OUTAGE)
        mark = len(clients.answers)
        broker("start")
        wait_for_health(stack.gateway, "kafka", "ok", timeout=60)
        wait_for_health(stack.ingest, "kafka", "ok", timeout=60)
        wait_for_a_stored_post(clients, mark)
        accepted, _ = trigger(stack)
    finally:
        clients.stop.set()
        for thread in threads:
            thread.join(BOUND + 30)

    statuses = sorted({status for _, status, *_ in clients.answers})
    assert set(statuses) <= {200, 202, 503}, [a for a in clients.answers if a[1] not in (200, 202, 503)][:3]
    assert 503 in statuses, "no outage was noticed: the test did not test anything"
    slow = [a for a in clients.answers if a[2] > BOUND]
    assert not slow, f"{len(slow)} answers took longer than {BOUND} s: {slow[:3]}"
    for kind, status, _, headers, text in clients.answers:
        if status == 503:
            assert headers.get("retry-after") and '"status": 503' in text, (kind, headers, text)
    assert stack.ingest.process.poll() is None and stack.gateway.process.poll() is None, "a service exited"
    assert refused.status_code == 503 and refused.headers.get("retry-after"), (refused.status_code, refused.text)
    assert took <= BOUND, f"a trigger during the broker outage took {took:.1f} s"
    assert accepted.status_code == 200, accepted.text
    assert jobs_of(stack.settings, stack.sensor) == jobs_before + 1, "the refused trigger left a job row"

    deadline = time.monotonic() + 60  # everything acknowledged is stored (ingest catches up)
    expected = {START + slot * timedelta(minutes=15): value for slot, value in clients.acknowledged.items()}
    while (missing := {k: v for k, v in expected.items() if stored(stack.settings, stack.sensor).get(k) != v}) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    assert not missing, f"{len(missing)} of {len(expected)} acknowledged values were not stored"
