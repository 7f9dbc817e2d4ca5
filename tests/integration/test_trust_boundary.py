"""The Kafka side as a trust boundary, against a real broker that authenticates (SASL/SCRAM) and authorizes
(StandardAuthorizer, no ACL = no access): a device credential from ``flexstream add-device-credential`` writes
its own account's sensors end to end; each way an attacker with a device credential (or none) tried to get around
the gateway's rules is refused, by the broker or by ingest as a dead letter with its reason, and the victim's
data stays as it was."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from aiokafka.structs import ConsumerRecord, RecordMetadata
from psycopg_pool import AsyncConnectionPool

from services.gateway.sql.data_sources import user_source_id
from services.ingest.handlers import record_command_id
from services.ingest.trust import device_source_name
from shared import kafka
from shared.messages import BeliefsIngested, DeadLetter, PostSensorData, ScheduleComputed
from shared.settings import Settings
from shared.topics import INGESTED, SCHEDULES, SENSOR_DATA, SENSOR_DATA_DLQ, key_for
from tests.integration.conftest import ROOT, Factory, SecureKafka, Service, UserHandle, service_env, start_service
from tests.integration.test_scheduling import BATTERY, job_of, schedule, target, trigger

START = datetime(2025, 3, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Device:
    account: int
    sensor: int  # a sensor of its account
    username: str
    password: str
    topic: str  # its account's device topic (full name)
    schedules: str  # its account's schedules topic (full name)


@dataclass(frozen=True)
class World:
    secure: SecureKafka
    attacker: Device  # a device of account A
    victim: Device  # a device of account B, whose sensor holds data written through the gateway's topic
    victim_source: int  # the data source of B's user, who wrote that data
    ingest: Service
    user: UserHandle  # a user of A (for the HTTP routes)

    def as_device(self, device: Device) -> Settings:
        return self.secure.as_principal(device.username, device.password)


def add_device_credential(secure: SecureKafka, account: int, sensor: int, name: str) -> Device:
    """``flexstream add-device-credential`` as an operator runs it (with the super user's settings)."""
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway.cli", "add-device-credential", name, "--account", str(account),
         "--json"],
        cwd=ROOT, env=service_env(secure.admin), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["account_id"] == account
    return Device(account, sensor, out["username"], out["password"], out["sensor_data_topic"], out["schedules_topic"])


@pytest.fixture(scope="module")
async def world(
    secure_kafka: SecureKafka, factory: Factory, pool: AsyncConnectionPool, service_logs: Path
) -> AsyncIterator[World]:
    a, b = await factory.tenant(), await factory.tenant()
    sensor_a, sensor_b = await factory.sensor(a.asset), await factory.sensor(b.asset)
    async with pool.connection() as conn:
        victim_source = await user_source_id(conn, b.member.id)
    attacker = await asyncio.to_thread(add_device_credential, secure_kafka, a.account, sensor_a, "meter-1")
    victim = await asyncio.to_thread(add_device_credential, secure_kafka, b.account, sensor_b, "meter-1")
    ingest = await asyncio.to_thread(
        start_service, "ingest", secure_kafka.admin, service_logs, kafka_sasl_username="ingest",
        kafka_sasl_password=secure_kafka.passwords["ingest"], ingest_topic_refresh_ms=1000,
    )  # fmt: skip
    world = World(secure_kafka, attacker, victim, victim_source, ingest, a.member)
    # B's history, written as the gateway writes (the gateway's principal, its command topic, B's user's source)
    history = PostSensorData(
        sensor_id=sensor_b, start=START, duration=4 * QUARTER, values=[1.0, 2.0, 3.0, 4.0], unit="kW",
        horizon=timedelta(0), source_id=victim_source,
    )  # fmt: skip
    [event] = await produce_and_collect(
        world, secure_kafka.as_principal("gateway"), SENSOR_DATA.full_name(secure_kafka.admin.topic_prefix),
        [(sensor_b, SENSOR_DATA.encode(history))],
    )  # fmt: skip
    assert isinstance(event, BeliefsIngested) and event.rows_written == 4, event
    yield world
    ingest.stop()


async def produce_and_collect(
    world: World, producer_settings: Settings, topic: str, messages: list[tuple[int, bytes]], timeout: float = 60
) -> list[BeliefsIngested | DeadLetter]:
    """Produce ``messages`` (sensor id, value) to ``topic``; return what ingest answered for each, in order: its
    ``ingested`` event or its dead letter (matched by the record's position)."""
    admin = world.secure.admin
    async with kafka.open_consumer(admin, [INGESTED, SENSOR_DATA_DLQ], None, auto_offset_reset="latest") as watch:
        await kafka.position_at_end(watch)
        async with kafka.open_producer(producer_settings) as producer:
            sent = [await producer.send_and_wait(topic, value, key=key_for(sensor)) for sensor, value in messages]
        ids = [_given_command_id(value) for _, value in messages]
        return await _answers(watch, admin, sent, ids, timeout)


def _given_command_id(value: bytes) -> UUID | None:
    given = json.loads(value).get("command_id")
    return UUID(given) if given else None


@dataclass(frozen=True)
class _Position:
    topic: str
    partition: int
    offset: int


async def _answers(
    watch: AIOKafkaConsumer, admin: Settings, sent: list[RecordMetadata], ids: list[UUID | None], timeout: float
) -> list[BeliefsIngested | DeadLetter]:
    """Ingest's answers to ``sent``: ingested events by command id (``ids``: the one each message gave, if any,
    else the one ingest derives from the record's position), dead letters by position."""
    wanted = {ids[i] or record_command_id(_Position(m.topic, m.partition, m.offset)): i for i, m in enumerate(sent)}
    by_position = {(m.topic, m.partition, m.offset): i for i, m in enumerate(sent)}
    found: dict[int, BeliefsIngested | DeadLetter] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(sent):
        assert time.monotonic() < deadline, f"only {len(found)} of {len(sent)} answers within {timeout} s"
        batch = await watch.getmany(timeout_ms=500)
        for record in (r for records in batch.values() for r in records):
            _match(record, admin, wanted, by_position, found)
    return [found[i] for i in range(len(sent))]


def _match(
    record: ConsumerRecord[bytes, bytes], admin: Settings, wanted: dict[Any, int],
    by_position: dict[tuple[str, int, int], int], found: dict[int, BeliefsIngested | DeadLetter],
) -> None:  # fmt: skip
    if record.topic == INGESTED.full_name(admin.topic_prefix):
        event = INGESTED.decode(record.value)
        if event.command_id in wanted:
            found[wanted[event.command_id]] = event
    else:
        letter = SENSOR_DATA_DLQ.decode(record.value)
        if (letter.topic, letter.partition, letter.offset) in by_position:
            found[by_position[(letter.topic, letter.partition, letter.offset)]] = letter


async def beliefs(pool: AsyncConnectionPool, sensor: int) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_start, belief_time, source_id, event_value FROM timed_beliefs WHERE sensor_id = %s "
            "ORDER BY 1, 2, 3",
            (sensor,),
        )
        return await cur.fetchall()


def post(sensor: int, **fields: Any) -> bytes:
    """A device's PostSensorData as raw JSON, with exactly the fields given (what a hand-written producer sends)."""
    body = {"type": "PostSensorData", "sensor_id": sensor, "start": START.isoformat(), "duration": "PT1H",
            "values": [9.0, 9.0, 9.0, 9.0], "unit": "kW", "horizon": "PT0H"} | fields  # fmt: skip
    return json.dumps(body).encode()


async def test_a_device_writes_its_own_sensor_end_to_end(world: World, pool: AsyncConnectionPool) -> None:
    device = world.attacker
    value = post(device.sensor, start=(START + timedelta(days=1)).isoformat(), values=[1.5, 2.5, None, 4.0])
    [event] = await produce_and_collect(world, world.as_device(device), device.topic, [(device.sensor, value)])
    assert isinstance(event, BeliefsIngested), event
    assert (event.outcome, event.rows_written) == ("processed", 3)
    rows = await beliefs(pool, device.sensor)
    assert [row[3] for row in rows] == [1.5, 2.5, 4.0]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT name, type FROM data_sources WHERE id = %s", (event.source_id,))
        assert await cur.fetchone() == (device_source_name(device.account), "device")
    assert {row[2] for row in rows} == {event.source_id}


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("another account's sensor", "sensor_not_in_account"),
        ("another user's data source", "source_not_allowed"),
        ("a data source by name", "source_not_allowed"),
        ("replace with the original recorded_at", "field_not_allowed"),
        ("replace", "replace_not_allowed"),
        ("backdated prior", "backdated_belief"),
        ("backdated forecast horizon", "backdated_belief"),
        ("delete", "deletion_not_allowed"),
        ("a command id of its choosing", "field_not_allowed"),
    ],
)
async def test_each_attack_through_a_device_topic_is_a_dead_letter(
    world: World, pool: AsyncConnectionPool, attack: str, reason: str
) -> None:
    """Each attack as its own record on the attacker's own device topic, which the broker lets it write; ingest
    refuses it with the reason; the victim's data and the attacker's sensor are unchanged."""
    victim, own = world.victim, world.attacker.sensor
    recorded = (START + timedelta(hours=1)).isoformat()  # the victim's history's belief times
    values: dict[str, bytes] = {
        "another account's sensor": post(victim.sensor),
        "another user's data source": post(own, source_id=world.victim_source),
        "a data source by name": post(own, source_name=device_source_name(victim.account)),
        "replace with the original recorded_at": post(victim.sensor, replace=True, recorded_at=recorded),
        "replace": post(own, replace=True),
        "backdated prior": post(own, prior=START.isoformat(), horizon=None),
        "backdated forecast horizon": post(own, start=(START + timedelta(days=800)).isoformat(), horizon="P900D"),
        "delete": json.dumps({"type": "DeleteSensorData", "sensor_id": victim.sensor}).encode(),
        "a command id of its choosing": post(own, command_id="00000000-0000-0000-0000-000000000001"),
    }
    before_victim, before_own = await beliefs(pool, victim.sensor), await beliefs(pool, own)
    [answer] = await produce_and_collect(
        world, world.as_device(world.attacker), world.attacker.topic, [(own, values[attack])]
    )
    assert isinstance(answer, DeadLetter), f"{attack}: {answer}"
    assert answer.reason == reason, answer
    assert answer.topic == world.attacker.topic
    assert await beliefs(pool, victim.sensor) == before_victim
    assert await beliefs(pool, own) == before_own


async def _refused(action: Callable[[], Any]) -> KafkaError:
    try:
        await action()
    except KafkaError as exc:
        return exc
    raise AssertionError("the broker allowed it")


async def test_the_broker_refuses_a_device_other_topics(world: World, pool: AsyncConnectionPool) -> None:
    """A device writes only its account's device topic: not the gateway's command topic (whose commands ingest
    trusts), not another account's device topic; and it reads nothing but its account's schedules."""
    prefix, attacker, victim = world.secure.admin.topic_prefix, world.attacker, world.victim
    before = await beliefs(pool, victim.sensor)
    forged = PostSensorData(
        sensor_id=victim.sensor, start=START, duration=4 * QUARTER, values=[0.0] * 4, unit="kW",
        horizon=timedelta(0), source_id=world.victim_source, replace=True,
    )  # fmt: skip
    async with kafka.open_producer(world.as_device(attacker), request_timeout_ms=10_000) as producer:
        for topic in (SENSOR_DATA.full_name(prefix), victim.topic, INGESTED.full_name(prefix)):
            try:
                await producer.send_and_wait(topic, SENSOR_DATA.encode(forged), key=key_for(victim.sensor))
            except TopicAuthorizationFailedError:
                continue
            raise AssertionError(f"the broker let a device write {topic}")
    for topic in (SENSOR_DATA.full_name(prefix), INGESTED.full_name(prefix), victim.topic, victim.schedules,
                  attacker.topic, SCHEDULES.full_name(prefix)):  # fmt: skip
        assert isinstance(await _read_error(world.as_device(attacker), topic), TopicAuthorizationFailedError), topic
    assert await _read_error(world.as_device(attacker), attacker.schedules) is None  # its own schedules: allowed
    await asyncio.sleep(2)  # had anything reached ingest, it would be stored by now
    assert await beliefs(pool, victim.sensor) == before


async def _read_error(settings: Settings, topic: str) -> KafkaError | None:
    """What reading ``topic`` from its start gives: None when allowed (nothing or records), else the error."""
    consumer = AIOKafkaConsumer(topic, **kafka.connection_options(settings), group_id=None,
                                auto_offset_reset="earliest", request_timeout_ms=10_000)  # fmt: skip
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=3000)
        await consumer.getmany(timeout_ms=1000)
        return None
    except KafkaError as exc:
        return exc
    finally:
        await consumer.stop()


async def test_anonymous_and_wrong_credentials_are_refused(world: World) -> None:
    anonymous, topic = world.secure.anonymous(), world.attacker.topic
    producer = AIOKafkaProducer(**kafka.connection_options(anonymous), request_timeout_ms=5000)
    assert isinstance(await _refused(producer.start), KafkaError)
    await producer.stop()
    assert await _read_error(anonymous, topic) is not None
    wrong = world.secure.as_principal(world.attacker.username, "not-the-password")
    producer = AIOKafkaProducer(**kafka.connection_options(wrong), request_timeout_ms=5000)
    assert isinstance(await _refused(producer.start), KafkaError)
    await producer.stop()
    assert await _read_error(wrong, topic) is not None


async def test_a_new_credential_replaces_the_old_password(world: World) -> None:
    """add-device-credential again for the same device name rotates its password: the old one stops working."""
    account, sensor = world.victim.account, world.victim.sensor
    first = await asyncio.to_thread(add_device_credential, world.secure, account, sensor, "meter-2")
    second = await asyncio.to_thread(add_device_credential, world.secure, account, sensor, "meter-2")
    assert second.username == first.username and second.password != first.password
    assert await _read_error(world.secure.as_principal(first.username, first.password), first.schedules) is not None
    assert await _read_error(world.secure.as_principal(second.username, second.password), first.schedules) is None


@pytest.fixture(scope="module")
def scheduling(world: World, service_logs: Path) -> Iterator[httpx.Client]:
    """The gateway and the scheduler on the authenticated broker, each as its own principal (ingest runs already)."""
    services = [
        start_service(name, world.secure.admin, service_logs, kafka_sasl_username=name,
                      kafka_sasl_password=world.secure.passwords[name])
        for name in ("gateway", "scheduler")
    ]  # fmt: skip
    with httpx.Client(base_url=services[0].url, timeout=30) as client:
        yield client
    for service in services:
        service.stop()


async def test_a_device_reads_its_account_schedule_from_its_schedules_topic(
    world: World, scheduling: httpx.Client, factory: Factory, pool: AsyncConnectionPool
) -> None:
    """A schedule computed for a sensor of account A reaches A's device schedules topic, where A's device reads
    it (and B's device, reading its own, does not see it)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT generic_asset_id FROM sensors WHERE id = %s", (world.attacker.sensor,))
        asset = (await cur.fetchone() or (0,))[0]
    battery = await factory.sensor(asset, unit="kW")
    device, other = world.as_device(world.attacker), world.as_device(world.victim)
    async with (
        kafka.open_consumer(device, [], None, auto_offset_reset="latest") as mine,
        kafka.open_consumer(other, [], None, auto_offset_reset="latest") as theirs,
    ):
        mine.subscribe([world.attacker.schedules])
        theirs.subscribe([world.victim.schedules])
        await kafka.position_at_end(mine)
        await kafka.position_at_end(theirs)
        body = {
            "flex-model": {**BATTERY, "soc-targets": target(1, 15)},
            "flex-context": {"consumption-price": "30 EUR/MWh"},
        }
        job = job_of(await asyncio.to_thread(trigger, scheduling, world.user, battery, duration="PT1H", **body))
        answer = await asyncio.to_thread(schedule, scheduling, world.user, battery, job)
        assert answer.status_code == 200, answer.text
        found = await _schedules(mine, job, timeout=30)
        as_stored = [-value for value in answer.json()["values"]]  # the message keeps the stored sign convention
        assert [(m.sensor_id, m.status, m.values, m.consumption_positive) for m in found] == [
            (battery, "finished", as_stored, False)
        ]
        assert await _schedules(theirs, job, timeout=3) == []


async def _schedules(consumer: AIOKafkaConsumer, job: str, timeout: float) -> list[ScheduleComputed]:
    found: list[ScheduleComputed] = []
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        found = [
            m for records in batch.values() for r in records if str((m := SCHEDULES.decode(r.value)).job_id) == job
        ]
    return found
