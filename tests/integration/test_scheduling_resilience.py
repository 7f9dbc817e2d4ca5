"""Scheduling jobs are never lost: a scheduler SIGKILLed mid-job is replaced and the job completes (a job left
``started`` is run again by the partition's next owner); a solve that hits its time limit ends, flagged or failed.

These tests run their own gateway, ingest and scheduler on a topic prefix of their own (same database), so
stopping and killing processes does not disturb the session's services.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings
from tests import processes
from tests.integration.conftest import Factory, Service, UserHandle, start_service
from tests.integration.test_scheduling import BATTERY, job_of, post_data, schedule, target, trigger


@pytest.fixture(scope="module")
def own(settings: Settings) -> Settings:
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}r{uuid.uuid4().hex[:4]}."})
    processes.provision_acls(own)  # topics of its own: their ACLs too (where the broker authorizes)
    return own


@pytest.fixture(scope="module")
def stack(own: Settings, service_logs: Path) -> Iterator[dict[str, Service]]:
    services = {"ingest": start_service("ingest", own, service_logs)}
    services["gateway"] = start_service("gateway", own, service_logs)
    yield services
    for service in services.values():
        if service.process.poll() is None:
            service.stop()


async def _status(pool: AsyncConnectionPool, job: str) -> tuple[str, int, bool]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT status, attempts, time_limit_hit FROM schedule_jobs WHERE id = %s", (job,))
        row = await cur.fetchone()
    assert row is not None
    return str(row[0]), int(row[1]), bool(row[2])


async def _until_started(pool: AsyncConnectionPool, job: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (await _status(pool, job))[0] != "started":
        assert time.monotonic() < deadline, "the job was never started"
        await asyncio.sleep(0.1)


async def _battery_with_prices(factory: Factory) -> tuple[UserHandle, int, int]:
    """A user of a new account, and a kW battery and an hourly price sensor on one of its assets."""
    account = await factory.account()
    asset = await factory.asset(account)
    battery = await factory.sensor(asset, unit="kW")
    prices = await factory.sensor(asset, unit="EUR/MWh", resolution=timedelta(hours=1))
    return await factory.user(account), battery, prices


async def test_a_killed_scheduler_is_replaced_and_the_job_completes_with_the_posted_prices(
    own: Settings, stack: dict[str, Service], service_logs: Path, factory: Factory, pool: AsyncConnectionPool
) -> None:
    user, battery, prices = await _battery_with_prices(factory)
    scheduler = start_service("scheduler", own, service_logs, scheduler_ingest_wait="PT120S")
    with httpx.Client(base_url=stack["gateway"].url, timeout=30) as http:
        assert stack["ingest"].stop() == 0  # ingest down: the prices stay in Kafka, the job must wait for them
        post_data(http, user, prices, "PT2H", [50, 10], "EUR/MWh")
        body = {"flex-model": {**BATTERY, "soc-targets": target(2, 30)},
                "flex-context": {"consumption-price": {"sensor": prices}}}  # fmt: skip
        job = job_of(trigger(http, user, battery, duration="PT2H", **body))
        await _until_started(pool, job)
        scheduler.process.kill()  # SIGKILL mid-job: its trigger offset was never committed
        scheduler.process.wait()
        assert (await _status(pool, job))[0] == "started"

        stack["ingest"] = start_service("ingest", own, service_logs)
        replacement = start_service("scheduler", own, service_logs)
        try:
            response = schedule(http, user, battery, job, timeout=60)
            assert response.status_code == 200, response.text
            assert response.json()["values"] == [0.0] * 4 + [20.0] * 4
            status, attempts, _ = await _status(pool, job)
            assert (status, attempts) == ("finished", 2)
        finally:
            assert replacement.stop() == 0


async def test_a_solve_that_hits_its_time_limit_ends_flagged_or_failed_never_stuck(
    own: Settings, stack: dict[str, Service], service_logs: Path, factory: Factory, pool: AsyncConnectionPool
) -> None:
    account = await factory.account()
    user = await factory.user(account)
    battery = await factory.sensor(await factory.asset(account), unit="kW")
    scheduler = start_service("scheduler", own, service_logs, scheduler_time_limit="PT0S")
    try:
        with httpx.Client(base_url=stack["gateway"].url, timeout=30) as http:
            body = {"flex-model": {**BATTERY, "soc-targets": target(24, 60)},
                    "flex-context": {"consumption-price": "30 EUR/MWh"}}  # fmt: skip
            job = job_of(trigger(http, user, battery, duration="P1D", **body))
            response = schedule(http, user, battery, job, timeout=60)
        status, _, flagged = await _status(pool, job)
        if response.status_code == 200:
            assert (status, flagged) == ("finished", True)
        else:
            assert status == "failed", response.text
            assert "Scheduling job failed with SolverTimeLimitExceeded: The solver found no schedule within its " \
                   "time limit of 0 s." in response.json()["message"]  # fmt: skip
    finally:
        assert scheduler.stop() == 0


async def test_a_job_waiting_for_a_stopped_ingest_fails_with_a_reason_after_the_wait(
    own: Settings, stack: dict[str, Service], service_logs: Path, factory: Factory, pool: AsyncConnectionPool
) -> None:
    user, battery, prices = await _battery_with_prices(factory)
    scheduler = start_service("scheduler", own, service_logs, scheduler_ingest_wait="PT1S")
    try:
        with httpx.Client(base_url=stack["gateway"].url, timeout=30) as http:
            assert stack["ingest"].stop() == 0
            post_data(http, user, prices, "PT2H", [50, 10], "EUR/MWh")
            body = {"flex-model": BATTERY, "flex-context": {"consumption-price": {"sensor": prices}}}
            job = job_of(trigger(http, user, battery, duration="PT2H", **body))
            response = schedule(http, user, battery, job, timeout=30)
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert message.startswith("No known schedule for this time period. Scheduling job failed with IngestBehind: ")
        assert "has not been stored within 1 s" in message and "trigger the schedule again" in message
    finally:
        stack["ingest"] = start_service("ingest", own, service_logs)
        assert scheduler.stop() == 0


async def test_a_scheduler_stopped_while_a_job_waits_exits_at_once_and_leaves_the_job_to_its_successor(
    own: Settings, stack: dict[str, Service], service_logs: Path, factory: Factory, pool: AsyncConnectionPool
) -> None:
    user, battery, prices = await _battery_with_prices(factory)
    scheduler = start_service("scheduler", own, service_logs, scheduler_ingest_wait="PT120S")
    with httpx.Client(base_url=stack["gateway"].url, timeout=30) as http:
        assert stack["ingest"].stop() == 0
        post_data(http, user, prices, "PT2H", [50, 10], "EUR/MWh")
        body = {"flex-model": {**BATTERY, "soc-targets": target(2, 30)},
                "flex-context": {"consumption-price": {"sensor": prices}}}  # fmt: skip
        job = job_of(trigger(http, user, battery, duration="PT2H", **body))
        await _until_started(pool, job)
        stopping = time.monotonic()
        assert scheduler.stop(timeout=10) == 0  # SIGTERM: no waiting out the 120 s
        assert time.monotonic() - stopping < 10 and (await _status(pool, job))[0] == "started"

        stack["ingest"] = start_service("ingest", own, service_logs)
        successor = start_service("scheduler", own, service_logs)
        try:
            response = schedule(http, user, battery, job, timeout=60)
            assert response.status_code == 200, response.text
            assert response.json()["values"] == [0.0] * 4 + [20.0] * 4
        finally:
            assert successor.stop() == 0
