"""Scheduling through the real gateway, broker, scheduler, ingest and database (docs/api.md, "Scheduling").

Each test triggers a job over HTTP and polls ``GET /sensors/<id>/schedules/<uuid>`` until the job left the queue,
so what it checks is what a client sees. Job states the pipeline only passes through briefly (queued, started,
deferred, failed without a stored reason) are set up as rows and read through the gateway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared import kafka
from shared.messages import TriggerSchedule
from shared.settings import Settings
from shared.topics import SCHEDULE_TRIGGERS, key_for
from tests.integration.conftest import Factory, Service, UserHandle, start_service
from tests.integration.test_sensors_api import E2, E3, e1

START = "2026-06-01T00:00:00+00:00"
T0 = datetime(2026, 6, 1, tzinfo=UTC)
M15 = timedelta(minutes=15)
UNKNOWN = {"result": "Rejected", "status": "UNKNOWN_SCHEDULE"}


@dataclass
class Site:
    account: int
    user: UserHandle
    asset: int


@pytest.fixture
async def site(factory: Factory, scheduler: Service) -> Site:
    account = await factory.account()
    return Site(account, await factory.user(account), await factory.asset(account))


def trigger(http: httpx.Client, user: UserHandle, sensor: int, **body: Any) -> httpx.Response:
    return http.post(f"/api/v3_0/sensors/{sensor}/schedules/trigger", json={"start": START, **body},
                     headers=user.headers)  # fmt: skip


def job_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "PROCESSED" and body["message"] == "Request has been processed.", body
    return str(uuid.UUID(body["schedule"]))


def schedule(
    http: httpx.Client, user: UserHandle, sensor: int, job: str, timeout: float = 30, **params: Any
) -> httpx.Response:
    """GET the schedule until the job is neither queued nor in progress."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(f"/api/v3_0/sensors/{sensor}/schedules/{job}", params=params, headers=user.headers)
        waiting = response.status_code == 400 and (
            "waiting to be processed" in response.text or "in progress" in response.text
        )
        if not waiting or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def post_data(http: httpx.Client, user: UserHandle, sensor: int, duration: str, values: list[float], unit: str) -> None:
    """Post without waiting for ingest (202 as soon as the command is durable in Kafka)."""
    response = http.post(
        f"/api/v3_0/sensors/{sensor}/data", json={"start": START, "duration": duration, "values": values, "unit": unit},
        headers={**user.headers, "Prefer": "respond-async"},
    )  # fmt: skip
    assert response.status_code == 202, response.text


BATTERY = {"soc-at-start": 10, "soc-unit": "kWh", "soc-min": 0, "soc-max": 100, "power-capacity": "20 kW"}


def target(hours: float, kwh: float) -> list[dict[str, Any]]:
    return [{"datetime": (T0 + timedelta(hours=hours)).isoformat(), "value": kwh}]


# --- the happy path ---------------------------------------------------------------------------------------------


async def test_prices_posted_just_before_the_trigger_are_used(http: httpx.Client, factory: Factory, site: Site) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    prices = await factory.sensor(site.asset, unit="EUR/MWh", resolution=timedelta(hours=1))
    post_data(http, site.user, prices, "PT2H", [50, 10], "EUR/MWh")  # answered before ingest stored it
    flex_model = {**BATTERY, "soc-targets": target(2, 30)}
    job = job_of(trigger(http, site.user, battery, duration="PT2H", **{"flex-model": flex_model,
                 "flex-context": {"consumption-price": {"sensor": prices}}}))  # fmt: skip

    response = schedule(http, site.user, battery, job)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "values": [0.0] * 4 + [20.0] * 4, "start": "2026-06-01T00:00:00+00:00", "duration": "PT2H", "unit": "kW",
        "scheduler_info": {"scheduler": "StorageScheduler"}, "status": "PROCESSED",
        "message": "Request has been processed. StorageScheduler was used.",
    }  # fmt: skip
    short = schedule(http, site.user, battery, job, duration="PT30M")
    assert (short.json()["values"], short.json()["duration"]) == ([0.0, 0.0], "PT30M")


async def test_fixed_prices_sensor_timezone_and_state_of_charge_sensor(
    http: httpx.Client, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    battery = await factory.sensor(site.asset, unit="MW", timezone="Europe/Amsterdam")
    soc = await factory.sensor(site.asset, unit="kWh", resolution=timedelta(0))
    flex_model = {**BATTERY, "soc-targets": target(1, 15), "state-of-charge": {"sensor": soc}}
    body = {"flex-model": flex_model, "flex-context": {"consumption-price": "30 EUR/MWh"}}
    job = job_of(trigger(http, site.user, battery, duration="PT1H", **body))

    response = schedule(http, site.user, battery, job)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["start"] == "2026-06-01T02:00:00+02:00" and result["unit"] == "MW"
    assert sum(result["values"]) * 0.25 == pytest.approx(0.005)  # MWh charged: from 10 to 15 kWh
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT b.event_start, b.event_value, ds.name, ds.model, ds.version FROM timed_beliefs b"
            " JOIN data_sources ds ON ds.id = b.source_id WHERE b.sensor_id = %s ORDER BY b.event_start",
            (soc,),
        )
        rows = await cur.fetchall()
    assert [r[0] for r in rows] == [T0 + i * M15 for i in range(5)]
    assert rows[0][1] == pytest.approx(10) and rows[-1][1] == pytest.approx(15)
    assert {r[2:] for r in rows} == {("Seita", "StorageScheduler", "5")}


async def test_an_inflexible_device_and_the_site_capacity_limit_the_battery(
    http: httpx.Client, factory: Factory, site: Site
) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    building = await factory.sensor(site.asset, unit="kW")
    post_data(http, site.user, building, "PT1H", [-15, -15, -15, -15], "kW")  # stored with consumption negative
    body = {
        "flex-model": {**BATTERY, "soc-targets": target(1, 15)},
        "flex-context": {"consumption-price": "30 EUR/MWh", "inflexible-device-sensors": [building],
                         "site-power-capacity": "20 kW"},
    }  # fmt: skip
    response = schedule(http, site.user, battery, job_of(trigger(http, site.user, battery, duration="PT1H", **body)))
    assert response.status_code == 200, response.text
    assert response.json()["values"] == [5.0, 5.0, 5.0, 5.0]


async def test_infeasible_problem_fails_and_the_fallback_takes_its_place(
    http: httpx.Client, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    battery = await factory.sensor(site.asset, unit="kW", attributes={"is_consumer": True})
    building = await factory.sensor(site.asset, unit="kW")
    post_data(http, site.user, building, "PT1H", [-15, -15, -15, -15], "kW")
    body = {
        "flex-model": {**BATTERY, "soc-targets": target(1, 30)},  # needs 20 kW, the site leaves 5
        "flex-context": {"consumption-price": "30 EUR/MWh", "inflexible-device-sensors": [building],
                         "site-power-capacity": "20 kW"},
    }  # fmt: skip
    job = job_of(trigger(http, site.user, battery, duration="PT1H", **body))

    response = schedule(http, site.user, battery, job)

    assert response.status_code == 200, response.text
    assert response.json()["scheduler_info"] == {"scheduler": "StorageFallbackScheduler"}
    assert response.json()["message"] == "Request has been processed. StorageFallbackScheduler was used."
    assert response.json()["values"] == [20.0, 20.0, 20.0, 20.0]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT status, error_class, fallback_job_id FROM schedule_jobs WHERE id = %s", (job,))
        row = await cur.fetchone()
    assert row is not None and row[:2] == ("failed", "InfeasibleProblemException") and row[2] is not None


async def test_missing_prices_fail_the_job_with_a_reason(http: httpx.Client, factory: Factory, site: Site) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    prices = await factory.sensor(site.asset, unit="EUR/MWh", resolution=timedelta(hours=1))
    body = {"flex-model": BATTERY, "flex-context": {"consumption-price": {"sensor": prices}}}
    response = schedule(http, site.user, battery, job_of(trigger(http, site.user, battery, duration="PT1H", **body)))
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert message.startswith("No known schedule for this time period. Scheduling job failed with UnknownPrices")
    assert str(prices) in message and message.endswith(". StorageScheduler was used.")


async def test_process_scheduler_shifts_the_process_to_the_cheapest_hour(
    http: httpx.Client, factory: Factory, site: Site
) -> None:
    process_asset = await factory.asset(site.account, asset_type="process")
    power = await factory.sensor(process_asset, unit="kW")
    prices = await factory.sensor(site.asset, unit="EUR/MWh", resolution=timedelta(hours=1))
    post_data(http, site.user, prices, "PT3H", [50, 10, 30], "EUR/MWh")
    body = {
        "flex-model": {"duration": "PT1H", "power": 10, "process-type": "SHIFTABLE"},
        "flex-context": {"consumption-price": {"sensor": prices}},
    }
    response = schedule(http, site.user, power, job_of(trigger(http, site.user, power, duration="PT3H", **body)))
    assert response.status_code == 200, response.text
    assert response.json()["scheduler_info"] == {"scheduler": "ProcessScheduler"}
    assert response.json()["values"] == [0.0] * 4 + [10.0] * 4 + [0.0] * 4


# --- de-duplication ---------------------------------------------------------------------------------------------


async def test_identical_triggers_share_a_job_unless_forced(http: httpx.Client, factory: Factory, site: Site) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    body = {"duration": "PT1H", "flex-model": BATTERY, "flex-context": {"consumption-price": "30 EUR/MWh"}}
    first = job_of(trigger(http, site.user, battery, **body))
    assert job_of(trigger(http, site.user, battery, **body)) == first
    forced = job_of(trigger(http, site.user, battery, force_new_job_creation=True, **body))
    hyphenated = job_of(trigger(http, site.user, battery, **{"force-new-job-creation": True}, **body))
    assert len({first, forced, hyphenated}) == 3
    other = job_of(trigger(http, site.user, battery, **{**body, "duration": "PT2H"}))
    assert other != first
    for job in (first, forced, hyphenated):
        assert schedule(http, site.user, battery, job).status_code == 200


# --- validation -------------------------------------------------------------------------------------------------


async def test_trigger_errors_in_processing_order(http: httpx.Client, factory: Factory, site: Site) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    stranger = await factory.user(await factory.account())
    url = f"/api/v3_0/sensors/{battery}/schedules/trigger"
    assert http.post(url, json={"start": START}).json() == E2
    missing = http.post(url, json={"flex-model": BATTERY}, headers=stranger.headers)
    assert (missing.status_code, missing.json()) == (422, e1("json", "start", "Missing data for required field."))
    unknown = trigger(http, site.user, battery, colour="blue", **{"flex-model": BATTERY})
    assert unknown.json() == e1("json", "colour", "Unknown field.")
    assert trigger(http, stranger, battery, **{"flex-model": BATTERY}).json() == E3
    bad_soc = trigger(http, site.user, battery, **{"flex-model": {**BATTERY, "soc-min": "x"}})
    assert bad_soc.status_code == 422 and list(bad_soc.json()["message"]["json"]) == ["soc-min"]
    no_max = trigger(http, site.user, battery, **{"flex-model": {"power-capacity": "1 kW"}})
    assert no_max.json() == {
        "message": {"json": "Need maximal permitted state of charge, please specify soc-max or some soc-targets."},
        "result": "Rejected", "status": "UNPROCESSABLE_ENTITY",
    }  # fmt: skip
    backwards = trigger(http, site.user, battery, duration="-PT1H", **{"flex-model": BATTERY})
    assert backwards.status_code == 422 and "cannot be after end" in backwards.json()["message"]["json"]
    nowhere = http.post("/api/v3_0/sensors/987654321/schedules/trigger", json={"start": START},
                        headers=site.user.headers)  # fmt: skip
    assert nowhere.json() == e1("path", "id", "No sensor found with id 987654321.")


# --- reading every job state ------------------------------------------------------------------------------------


async def _job_row(pool: AsyncConnectionPool, sensor: int, status: str, **columns: Any) -> str:
    job_id = uuid.uuid4()
    fields = {"id": job_id, "sensor_id": sensor, "status": status, "request": Jsonb({"start": START}),
              "scheduler": "StorageScheduler", **columns}  # fmt: skip
    names = ", ".join(fields)
    async with pool.connection() as conn:
        await conn.execute(
            f"INSERT INTO schedule_jobs ({names}) VALUES ({', '.join(['%s'] * len(fields))})",  # noqa: S608
            list(fields.values()),
        )
    return str(job_id)


async def test_every_job_state_reads_as_the_reference_says(
    http: httpx.Client, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    battery = await factory.sensor(site.asset, unit="kW")

    def detail(job: str, **params: Any) -> tuple[int, Any]:
        response = http.get(f"/api/v3_0/sensors/{battery}/schedules/{job}", params=params, headers=site.user.headers)
        return response.status_code, response.json()

    def unknown(text: str) -> tuple[int, Any]:
        return 400, {**UNKNOWN, "message": f"No known schedule for this time period. {text}"}

    queued = await _job_row(pool, battery, "queued")
    assert detail(queued) == unknown("Scheduling job waiting to be processed. StorageScheduler was used.")
    started = await _job_row(pool, battery, "started", scheduler=None)
    assert detail(started) == unknown("Scheduling job in progress.  was used.")
    deferred = await _job_row(pool, battery, "deferred")
    assert detail(deferred) == unknown(
        "Scheduling job waiting for unknown job to be processed. StorageScheduler was used."
    )
    silent = await _job_row(pool, battery, "failed")
    assert detail(silent) == unknown(
        "Scheduling job failed with Exception: The job does not state why it failed. The worker may be missing an "
        "exception handler, or its exception handler is not storing the exception as job meta data.. "
        "StorageScheduler was used."
    )
    lost_fallback = await _job_row(pool, battery, "failed", fallback_job_id=uuid.uuid4(), error_class="X")
    code, body = detail(lost_fallback)
    assert code == 400 and body["status"] == "UNRECOGNIZED_UDI_EVENT" and "type = fallback-job" in body["message"]
    no_source = await _job_row(pool, battery, "finished")
    assert detail(no_source) == unknown(
        "A scheduling job has been processed with your job ID, but no data source could be found for None. "
        "StorageScheduler was used."
    )
    missing = str(uuid.uuid4())
    assert detail(missing) == (400, {
        "result": "Rejected", "status": "UNRECOGNIZED_UDI_EVENT",
        "message": f"The requested UDI event (id = {missing}, type = job) is not known.",
    })  # fmt: skip
    assert detail("not-a-uuid")[1]["status"] == "UNRECOGNIZED_UDI_EVENT"
    shouted = str(uuid.uuid4()).upper()  # quoted as the path gives it, not as the UUID prints
    assert detail(shouted)[1]["message"] == f"The requested UDI event (id = {shouted}, type = job) is not known."
    assert detail(queued, duration="PT0H") == (400, {
        "result": "Rejected", "status": "INVALID_PERIOD",
        "message": "A time period in your request doesn't seem right. Cannot parse 'duration' value.",
    })  # fmt: skip
    code, body = detail(queued, duration="soon")
    assert code == 422 and list(body["message"]) == ["args_and_json"]
    assert detail(queued, id="3") == (422, {"message": ["id already set in the URL path"], "result": "Rejected",
                                            "status": "UNPROCESSABLE_ENTITY"})  # fmt: skip
    stranger = await factory.user(await factory.account())
    forbidden = http.get(f"/api/v3_0/sensors/{battery}/schedules/{queued}", headers=stranger.headers)
    assert forbidden.json() == E3


async def _until_a_read_waits(gateway: Service, timeout: float = 30) -> None:
    """Until the gateway has a schedule GET registered for its job's end (its ``schedule_reads_waiting`` gauge)."""
    deadline = time.monotonic() + timeout
    while "flexstream_gateway_schedule_reads_waiting 1.0" not in httpx.get(f"{gateway.url}/metrics").text:
        assert time.monotonic() < deadline, "no schedule GET waits for its job"
        await asyncio.sleep(0.01)


async def _read_while_the_job_fails(
    gateway: Service, pool: AsyncConnectionPool, user: UserHandle, sensor: int
) -> httpx.Response:
    """GET a queued job's schedule and, once that GET waits, fail the job: the answer the GET gives."""
    job = await _job_row(pool, sensor, "queued")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        reading = asyncio.create_task(client.get(f"/api/v3_0/sensors/{sensor}/schedules/{job}", headers=user.headers))
        await _until_a_read_waits(gateway)
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE schedule_jobs SET status = 'failed', error_class = 'X', error_message = 'it broke'"
                " WHERE id = %s",
                (uuid.UUID(job),),
            )
        return await reading


FAILED_WHILE_WAITING = {
    **UNKNOWN,
    "message": "No known schedule for this time period. Scheduling job failed with X: it broke. "
    "StorageScheduler was used.",
}


async def test_a_get_waits_for_its_job_and_answers_how_it_ended(
    gateway: Service, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    """A GET of a job that has not ended waits for its end (``schedule_read_wait``, 2 s by default) and answers
    that: the job's end, announced by PostgreSQL when it commits, wakes it. (Had it answered at once, it would say
    "waiting to be processed".)"""
    battery = await factory.sensor(site.asset, unit="kW")
    response = await _read_while_the_job_fails(gateway, pool, site.user, battery)
    assert (response.status_code, response.json()) == (400, FAILED_WHILE_WAITING)


async def test_the_gateway_listens_again_after_losing_its_listening_connection(
    gateway: Service, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    listeners = (
        "SELECT pid FROM pg_stat_activity"
        " WHERE query LIKE 'LISTEN %%flexstream_schedule_jobs%%' AND datname = current_database()"
    )
    async with pool.connection() as conn:
        before = {row[0] for row in await (await conn.execute(listeners)).fetchall()}
        assert before, "no gateway listens for job ends"
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(before),)
        )
    deadline = time.monotonic() + 30
    while True:  # the gateway listens again (0.5 s after the loss, then doubling)
        async with pool.connection() as conn:
            if {row[0] for row in await (await conn.execute(listeners)).fetchall()} - before:
                break
        assert time.monotonic() < deadline, "the gateway did not listen again"
        await asyncio.sleep(0.05)
    response = await _read_while_the_job_fails(gateway, pool, site.user, battery)
    assert (response.status_code, response.json()) == (400, FAILED_WHILE_WAITING)


async def test_reading_caps_at_48_hours_and_defaults_to_6(http: httpx.Client, factory: Factory, site: Site) -> None:
    battery = await factory.sensor(site.asset, unit="kW", resolution=timedelta(hours=1))
    body = {"duration": "P3D", "flex-model": {**BATTERY, "power-capacity": "1 kW"},
            "flex-context": {"consumption-price": "30 EUR/MWh"}}  # fmt: skip
    job = job_of(trigger(http, site.user, battery, **body))
    default = schedule(http, site.user, battery, job)
    assert default.status_code == 200, default.text
    assert (len(default.json()["values"]), default.json()["duration"]) == (6, "PT6H")
    capped = schedule(http, site.user, battery, job, duration="P3D")
    assert (len(capped.json()["values"]), capped.json()["duration"]) == (48, "PT48H")


async def test_fallback_redirect_answers_303_when_configured(
    settings: Settings, service_logs: Path, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    fallback = await _job_row(pool, battery, "queued", scheduler="StorageFallbackScheduler")
    failed = await _job_row(
        pool, battery, "failed", error_class="InfeasibleProblemException",
        error_message="The constraints cannot all be met", fallback_job_id=uuid.UUID(fallback),
    )  # fmt: skip
    redirecting = start_service("gateway", settings, service_logs, fallback_redirect="true")
    try:
        with httpx.Client(base_url=redirecting.url, headers=site.user.headers) as http:
            response = http.get(f"/api/v3_0/sensors/{battery}/schedules/{failed}")
    finally:
        redirecting.stop()
    assert response.status_code == 303
    assert response.json() == {
        "result": "Rejected", "status": "UNKNOWN_SCHEDULE",
        "message": "Scheduling job failed with InfeasibleProblemException: The constraints cannot all be met. "
        "StorageScheduler was used.",
    }  # fmt: skip
    assert response.headers["location"] == f"{redirecting.url}/api/v3_0/sensors/{battery}/schedules/{fallback}"


async def test_a_trigger_older_than_the_job_ttl_fails_unrun(
    settings: Settings, http: httpx.Client, factory: Factory, site: Site, pool: AsyncConnectionPool
) -> None:
    battery = await factory.sensor(site.asset, unit="kW")
    job = await _job_row(pool, battery, "queued", created_at=datetime.now(UTC) - timedelta(days=2))
    message = TriggerSchedule(job_id=uuid.UUID(job), sensor_id=battery, start=T0, duration=timedelta(hours=1),
                              body={"start": START, "flex-model": BATTERY})  # fmt: skip
    async with kafka.open_producer(settings) as producer:
        topic = SCHEDULE_TRIGGERS.full_name(settings.topic_prefix)
        await producer.send_and_wait(topic, SCHEDULE_TRIGGERS.encode(message), key=key_for(battery))
    response = schedule(http, site.user, battery, job)
    assert response.status_code == 400
    reason = "The job waited longer than 24 h (FLEXSTREAM_JOB_TTL) in the queue and was not run; trigger it again"
    expected = f"Scheduling job failed with JobExpired: {reason}. StorageScheduler was used."
    assert response.json()["message"] == f"No known schedule for this time period. {expected}"
