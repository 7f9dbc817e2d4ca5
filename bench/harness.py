"""What the benchmark runs on: a fresh database and topic prefix, the services as subprocesses, the fixtures
(account, user with token, asset, sensors) the gateway needs. Mirrors ``tests/integration/conftest.py``."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from aiokafka.errors import KafkaError
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool
from pydantic import TypeAdapter

from services.gateway import auth
from services.gateway.sql import accounts, assets, sensors
from shared import kafka
from shared.migrate import migrate
from shared.settings import Settings
from shared.topics import Topic
from tests import processes
from tests.processes import ROOT, Service

__all__ = ["ROOT", "Service", "start_service"]

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/flexstream_bench"


class BenchError(RuntimeError):
    """The benchmark cannot go on (a service did not start, data did not land in time)."""


def bench_settings(database: str | None = None) -> Settings:
    """Broker and database from ``FLEXSTREAM_*`` (as ``infra.sh up flexstream_bench`` exports), own topic prefix;
    ``database``: another database on the same server instead (a ``flexstream_bench*`` name)."""
    url = os.environ.get("FLEXSTREAM_DATABASE_URL", DEFAULT_DATABASE_URL)
    return Settings(
        kafka_bootstrap=os.environ.get("FLEXSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        database_url=make_conninfo(url, dbname=database) if database else url,
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
    )


def reset_database(url: str) -> None:
    """Drop and re-create the benchmark's own database (only one named ``flexstream_bench*``), then migrate."""
    name = str(conninfo_to_dict(url).get("dbname") or "")
    if name.startswith("flexstream_bench"):
        with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    migrate(url)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        checkpoint_now(conn)


# A run starts without the checkpoint debt of an earlier one: the WAL a run (or a test suite) wrote before would
# otherwise force a checkpoint in the middle of the next run's first rows (seen as runs alternating by ±20 %).
CHECKPOINT = "CHECKPOINT"


def checkpoint_now(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.execute(CHECKPOINT)
    except psycopg.errors.InsufficientPrivilege:  # a database the benchmark does not own: run as it is
        logger.warning("no privilege to run CHECKPOINT; earlier writes may force one during the run")


async def checkpoint(conn: psycopg.AsyncConnection[Any]) -> None:
    try:
        await conn.execute(CHECKPOINT)
    except psycopg.errors.InsufficientPrivilege:
        logger.warning("no privilege to run CHECKPOINT; the fill may force one during the rows after it")


async def delete_topics(settings: Settings) -> None:
    """Remove this run's prefixed topics (nobody else uses the prefix)."""
    try:
        await kafka.delete_prefixed_topics(settings)
    except KafkaError as exc:
        logger.warning("could not delete topics %s: %s", settings.topic_prefix, exc)


LOG_DIR = Path(tempfile.gettempdir()) / "flexstream-bench"


def start_service(
    name: str, settings: Settings, *, profile: bool = False, root: Path = ROOT, log_level: str = "WARNING",
    **extra: Any,
) -> Service:  # fmt: skip
    """The test harness' ``start_service`` (a real subprocess on a free port, healthy), logging warnings and up
    (or ``log_level``) into ``LOG_DIR``. With ``profile``, the process runs under cProfile (``<log>.prof``);
    ``root`` is the checkout to run (e.g. an older commit, for a side-by-side comparison)."""
    try:
        return processes.start_service(
            name, settings, LOG_DIR, profile=profile, root=root, log_level=log_level, **extra
        )
    except processes.ServiceFailed as exc:
        raise BenchError(str(exc)) from None


@dataclass(frozen=True)
class Fixtures:
    account_id: int
    asset_id: int
    user_id: int
    token: str
    sensor_ids: list[int]
    raw_source_id: int


async def create_fixtures(pool: AsyncConnectionPool, n_sensors: int) -> Fixtures:
    """One account with a user (token), one asset with ``n_sensors`` 15-minute kW sensors, and a data source
    for the raw COPY rows (so they never collide with what the services store)."""
    tag = uuid.uuid4().hex[:8]
    async with pool.connection() as conn:
        account_id = await accounts.create_account(conn, f"bench-{tag}")
        email = f"bench-{tag}@example.com"
        user_id = await accounts.create_user(
            conn, email=email, username=email, password_hash=auth.hash_password(uuid.uuid4().hex),
            account_id=account_id, roles=[],
        )  # fmt: skip
        token = await auth.issue_token(conn, user_id, timedelta(hours=6))
        asset_id = await assets.create_asset(conn, name=f"bench-{tag}", asset_type="battery", account_id=account_id)
        sensor_ids = [
            await sensors.create_sensor(
                conn, name=f"bench-{i}", unit="kW", event_resolution=timedelta(minutes=15), generic_asset_id=asset_id
            )
            for i in range(n_sensors)
        ]
        cur = await conn.execute(
            "INSERT INTO data_sources (name, type) VALUES ('bench raw COPY', 'bench') RETURNING id"
        )
        row = await cur.fetchone()
        assert row is not None
    return Fixtures(account_id, asset_id, user_id, token, sensor_ids, int(row[0]))


async def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    """Await ``predicate()`` until it is true, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def ensure_topics(settings: Settings) -> None:
    """The run's topics and, where the broker authenticates, every service's ACLs on them."""
    await kafka.ensure_topics(settings)
    processes.provision_acls(settings)


# A topic of the run's own, read by a consumer group and a group-less follower, as the services' topics are.
WARMUP = Topic[bytes]("bench.broker-warmup", TypeAdapter(bytes))
WARMUP_CLIENTS = 16  # concurrent producers, each waiting for its acknowledgement: many small produce requests


async def warm_broker(settings: Settings, seconds: float) -> int:
    """Before anything is measured: ``seconds`` of the broker requests the measured paths make (idempotent
    ``acks=all`` produce of small batches, fetch by a group and by a group-less reader, offset commits).

    A broker that has just started compiles its request paths for minutes (docs/performance.md, finding 16); a
    broker in service is long past that, and without a warm-up the first rows would measure the compiler. The
    messages are one byte each, and the topic is deleted afterwards, so that the warm-up leaves no write-back
    to the disk behind for the measured rows. Returns the messages sent."""
    if seconds <= 0:
        return 0
    await kafka.ensure_topics(settings, [WARMUP])
    topic = WARMUP.full_name(settings.topic_prefix)
    deadline = time.monotonic() + seconds
    sent = 0

    async def produce(producer: Any) -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            await (await producer.send(topic, b"w", key=str(sent % 200).encode()))
            sent += 1

    async def consume(consumer: Any) -> None:
        while time.monotonic() < deadline:
            if await consumer.getmany(timeout_ms=100):
                await consumer.commit()

    async with (
        kafka.open_producer(settings) as producer,
        kafka.open_consumer(settings, [WARMUP], "bench-warmup") as consumer,
        kafka.following(settings, [WARMUP], lambda _: None),
    ):
        await asyncio.gather(*(produce(producer) for _ in range(WARMUP_CLIENTS)), consume(consumer))
    admin = kafka.admin_client(settings)
    await admin.start()
    try:  # its log files go (one-byte messages: a few MB), so no write-back of them meets the measurements
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    return sent


def ingest_group(settings: Settings) -> str:
    """The consumer group of a benchmark's own ingest: the default group is shared with every other ingest on the
    broker (test runs included), whose joins and leaves would rebalance it mid-measurement. The ingest ACLs cover
    this name, and the scheduler reads its committed offsets."""
    return f"flexstream-ingest-{settings.topic_prefix}"


TWIN_DATABASE = "flexstream_bench_twin"


@dataclass(frozen=True)
class Twin:
    """An empty database beside the benchmark's own, on the same server, with its own fixtures, topic prefix,
    ingest and gateway: what the large table is compared with, measured in turn with it."""

    settings: Settings
    pool: AsyncConnectionPool
    fx: Fixtures
    ingest: Service
    gateway: Service


@asynccontextmanager
async def twin(n_sensors: int, ports: Iterator[int] | None) -> AsyncIterator[Twin]:
    """``TWIN_DATABASE`` dropped and re-created with ``n_sensors`` sensors, and its services; stopped, and the
    topics deleted, afterwards."""
    settings = bench_settings(TWIN_DATABASE)
    url = settings.database_url.get_secret_value()
    reset_database(url)
    await ensure_topics(settings)
    services: list[Service] = []
    try:
        async with AsyncConnectionPool(url, min_size=1, max_size=4, open=False) as pool:
            fx = await create_fixtures(pool, n_sensors)
            group = ingest_group(settings)
            services.append(start_service("ingest", settings, port=next(ports) if ports else None, ingest_group=group))
            services.append(start_service("gateway", settings, port=next(ports) if ports else None))
            yield Twin(settings, pool, fx, services[0], services[1])
    finally:
        for service in reversed(services):
            service.stop()
        await delete_topics(settings)
