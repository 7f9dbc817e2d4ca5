"""The gateway's read-your-writes on the real database: ingest's announcements reach a ``Waiter`` through the
gateway's listener, a command announced by its id alone (a dead letter) is answered from the result ingest
recorded, and while nothing listens the waiting writes read their results themselves; and the same through the
running gateway and ingest."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka.structs import ConsumerRecord
from psycopg_pool import AsyncConnectionPool

from services.gateway.workers.listener import open_listener
from services.gateway.workers.write_waiter import Waiter, open_waiter
from services.ingest import handlers
from shared.messages import BeliefsIngested, DeadLetter, PostSensorData
from shared.settings import Settings
from shared.topics import SENSOR_DATA, key_for
from tests.integration.conftest import Factory, Service, Tenant
from tests.integration.test_sensor_data_api import PROCESSED

START = datetime(2025, 4, 1, tzinfo=UTC)
NO_SENSOR = 2_000_000_000


def command(sensor: int) -> PostSensorData:
    return PostSensorData(
        sensor_id=sensor, start=START, duration=timedelta(minutes=30), values=[1.0, 2.0], unit="kW",
        prior=START + timedelta(days=1), source_name="write-waiter",
    )  # fmt: skip


async def finish(pool: AsyncConnectionPool, *commands: PostSensorData) -> handlers.Results:
    """Ingest's batch of ``commands``, committed (and so announced)."""
    records = []
    for offset, c in enumerate(commands):
        value = SENSOR_DATA.encode(c)
        records.append(ConsumerRecord("t", 0, offset, 0, 0, key_for(c.sensor_id), value, None, 0, len(value), []))
    async with pool.connection() as conn, conn.transaction():
        return await handlers.ingest_batch(conn, records, max_values=10**6)


async def test_a_dead_letter_announced_by_its_id_answers_with_the_letter_ingest_recorded(
    factory: Factory, pool: AsyncConnectionPool, settings: Settings
) -> None:
    asset = await factory.asset(await factory.account())
    stored, refused = command(await factory.sensor(asset)), command(NO_SENSOR)
    async with open_waiter(pool) as waiter, open_listener(settings, [waiter]):
        event, letter = waiter.expect(stored.command_id), waiter.expect(refused.command_id)
        await finish(pool, stored, refused)
        async with asyncio.timeout(5):
            got_event, got_letter = await event, await letter
    assert isinstance(got_event, BeliefsIngested) and got_event.outcome == "processed"
    assert isinstance(got_letter, DeadLetter) and got_letter.reason == "unknown_sensor"
    assert got_letter.command_id == refused.command_id


async def test_while_nothing_listens_a_waiting_write_reads_its_result(
    factory: Factory, pool: AsyncConnectionPool
) -> None:
    asset = await factory.asset(await factory.account())
    posted = command(await factory.sensor(asset))
    async with open_waiter(pool) as waiter:  # no listener: nothing is announced to it
        waiting = waiter.expect(posted.command_id)
        await finish(pool, posted)
        async with asyncio.timeout(5):
            outcome = await waiting
    assert isinstance(outcome, BeliefsIngested) and outcome.command_id == posted.command_id


async def test_a_command_finished_while_nothing_listened_is_read_when_listening_begins(
    factory: Factory, pool: AsyncConnectionPool
) -> None:
    asset = await factory.asset(await factory.account())
    posted = command(await factory.sensor(asset))
    waiter = Waiter(pool)  # its poll is not running: only ``up`` reads
    waiting = waiter.expect(posted.command_id)
    await finish(pool, posted)
    await asyncio.sleep(0.2)
    assert not waiting.done()
    waiter.up()
    async with asyncio.timeout(5):
        outcome = await waiting
    await waiter.close()
    assert isinstance(outcome, BeliefsIngested) and outcome.command_id == posted.command_id


async def test_a_post_that_ingest_dead_letters_answers_422_with_its_reason(
    http: httpx.Client, factory: Factory, site: Tenant, pool: AsyncConnectionPool
) -> None:
    """Through the running gateway and ingest: a sensor deleted behind the gateway's back (its cache still holds
    it) is refused by ingest, and the POST waiting for that answers with the dead letter's text."""
    sensor = await factory.sensor(site.asset)
    body = {"start": "2025-04-01T00:00:00+00:00", "duration": "PT30M", "values": [1, 2], "unit": "kW"}
    url, headers = f"/api/v3_0/sensors/{sensor}/data", site.admin.headers
    assert http.post(url, json=body, headers=headers).status_code == 200  # the sensor is now cached
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM sensors WHERE id = %s", (sensor,))
    refused = http.post(url, json=body | {"values": [3, 4]}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"] == {
        "combined_sensor_data_description": {"_schema": [f"Sensor {sensor} does not exist (it may have been deleted)."]}
    }


def write_reports(gateway: Service) -> dict[str, float]:
    """``flexstream_gateway_write_reports_total`` by its ``via`` label."""
    reports: dict[str, float] = {}
    for line in httpx.get(f"{gateway.url}/metrics").text.splitlines():
        if line.startswith("flexstream_gateway_write_reports_total{"):
            via = line.split('via="')[1].split('"')[0]
            reports[via] = float(line.split()[-1])
    return reports


def answered_since(gateway: Service, before: dict[str, float]) -> dict[str, float]:
    after = write_reports(gateway)
    return {via: after[via] - before.get(via, 0.0) for via in after}


def post_days(http: httpx.Client, site: Tenant, sensor: int, days: range) -> None:
    for day in days:
        body = {"start": f"2025-05-{day + 1:02d}T00:00:00+00:00", "duration": "PT30M", "values": [1, 2], "unit": "kW"}
        response = http.post(f"/api/v3_0/sensors/{sensor}/data", json=body, headers=site.admin.headers)
        assert response.json() == PROCESSED, response.text


async def test_writes_are_answered_from_the_announced_event(
    http: httpx.Client, gateway: Service, factory: Factory, site: Tenant
) -> None:
    sensor = await factory.sensor(site.asset, unit="kW")
    before = write_reports(gateway)
    post_days(http, site, sensor, range(5))
    assert answered_since(gateway, before).get("announcement", 0.0) >= 5  # other tests' writes may count too


async def test_writes_are_answered_while_the_gateway_does_not_listen(
    http: httpx.Client, gateway: Service, factory: Factory, site: Tenant, pool: AsyncConnectionPool
) -> None:
    """The gateway's listening connection is cut: POSTs right after it (the gateway listens again 0.5 s later)
    are answered from the results ingest recorded, 200 as ever, not 202 after the wait."""
    sensor = await factory.sensor(site.asset, unit="kW")
    listeners = (
        "SELECT pid FROM pg_stat_activity"
        " WHERE query LIKE 'LISTEN %%flexstream_ingested%%' AND datname = current_database()"
    )
    async with pool.connection() as conn:
        cut = [row[0] for row in await (await conn.execute(listeners)).fetchall()]
        assert cut, "no gateway listens for stored commands"
        before = write_reports(gateway)
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", (cut,))
    began = time.monotonic()
    post_days(http, site, sensor, range(3))
    assert time.monotonic() - began < 5
    assert answered_since(gateway, before).get("ingested_commands", 0.0) >= 1
