"""Integration fixtures: a fresh database and topic prefix per test session, the real services as
subprocesses, and factories for accounts, users (with tokens), assets and sensors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from services.gateway import auth
from services.gateway.sql import accounts, assets, sensors
from shared import kafka
from shared.migrate import migrate
from shared.settings import Settings
from tests import processes
from tests.processes import ROOT, Service, service_env

__all__ = ["ROOT", "Service", "service_env", "start_service"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `make test`, which provisions Kafka and the database")
    return value


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def database_url(run_id: str) -> Iterator[str]:
    """A database of its own for this session, migrated; dropped afterwards."""
    server_url = _require("FLEXSTREAM_DATABASE_URL")
    name = f"flexstream_test_{run_id}"
    url = make_conninfo(server_url, dbname=name)
    migrate(url)
    yield url
    admin = make_conninfo(server_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def settings(database_url: str, run_id: str) -> Iterator[Settings]:
    """The broker's security settings come from FLEXSTREAM_KAFKA_* (``scripts/infra.sh`` exports the super
    user's for the local authenticated broker, whose ACLs for this session's topics are created here). At the end
    the session's topics (every one under its prefix) are deleted, so a broker kept between runs does not collect
    them."""
    settings = Settings(
        kafka_bootstrap=_require("FLEXSTREAM_KAFKA_BOOTSTRAP"),
        database_url=database_url,
        topic_prefix=f"t{run_id}.",
        log_json=True,
    )
    processes.provision_acls(settings)
    yield settings
    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the session's own event loop
    try:
        loop.run_until_complete(kafka.delete_prefixed_topics(settings))
    finally:
        loop.close()


def start_service(name: str, settings: Settings, tmp: Path, **extra: Any) -> Service:
    """``tests.processes.start_service``, failing the test (with the service's log) if it does not come up."""
    try:
        return processes.start_service(name, settings, tmp, **extra)
    except processes.ServiceFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def service_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def ingest(settings: Settings, service_logs: Path) -> Iterator[Service]:
    service = start_service("ingest", settings, service_logs)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def gateway(settings: Settings, service_logs: Path, ingest: Service) -> Iterator[Service]:
    """The gateway (with ingest running behind it), as a real process on a free port."""
    service = start_service("gateway", settings, service_logs)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def scheduler(settings: Settings, service_logs: Path, ingest: Service) -> Iterator[Service]:
    """The scheduler service (with ingest running, which stores the schedules it computes)."""
    service = start_service("scheduler", settings, service_logs)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def http(gateway: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(
        settings.database_url.get_secret_value(), min_size=1, max_size=4, open=False
    ) as pool:
        yield pool


@pytest.fixture(scope="session")
async def topics(settings: Settings) -> list[str]:
    return await kafka.ensure_topics(settings)


@dataclass(frozen=True)
class UserHandle:
    id: int
    account_id: int
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.token}


@dataclass(frozen=True)
class Tenant:
    """An account with an account-admin, a plain member and one asset."""

    account: int
    admin: UserHandle  # account-admin
    member: UserHandle
    asset: int


class Factory:
    """Creates accounts, users, assets and sensors straight in the test database (unique names)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def account(self, name: str | None = None, consultancy_account_id: int | None = None) -> int:
        async with self.pool.connection() as conn:
            return await accounts.create_account(
                conn, name or f"account-{uuid.uuid4().hex[:8]}", consultancy_account_id
            )

    async def user(self, account_id: int, roles: tuple[str, ...] = (), *, active: bool = True) -> UserHandle:
        email = f"user-{uuid.uuid4().hex[:8]}@example.com"
        password = uuid.uuid4().hex
        async with self.pool.connection() as conn:
            user_id = await accounts.create_user(
                conn, email=email, username=email, password_hash=auth.hash_password(password),
                account_id=account_id, roles=list(roles), active=active,
            )  # fmt: skip
            token = await auth.issue_token(conn, user_id, timedelta(hours=6))
        return UserHandle(user_id, account_id, email, password, token)

    async def asset(
        self, account_id: int | None, name: str | None = None, parent: int | None = None, asset_type: str = "battery"
    ) -> int:
        async with self.pool.connection() as conn:
            return await assets.create_asset(
                conn, name=name or f"asset-{uuid.uuid4().hex[:8]}", asset_type=asset_type, account_id=account_id,
                parent_asset_id=parent,
            )  # fmt: skip

    async def tenant(self, consultancy_account_id: int | None = None) -> Tenant:
        account = await self.account(consultancy_account_id=consultancy_account_id)
        admin = await self.user(account, ("account-admin",))
        member = await self.user(account)
        return Tenant(account, admin, member, await self.asset(account))

    async def sensor(
        self,
        asset_id: int,
        *,
        unit: str = "kW",
        resolution: timedelta = timedelta(minutes=15),
        name: str | None = None,
        timezone: str = "UTC",
        attributes: dict[str, Any] | None = None,
    ) -> int:
        async with self.pool.connection() as conn:
            return await sensors.create_sensor(
                conn, name=name or f"sensor-{uuid.uuid4().hex[:8]}", unit=unit, event_resolution=resolution,
                generic_asset_id=asset_id, timezone=timezone, attributes=attributes,
            )  # fmt: skip


@pytest.fixture(scope="session")
def factory(pool: AsyncConnectionPool) -> Factory:
    return Factory(pool)


@pytest.fixture
async def site(factory: Factory) -> Tenant:
    """A fresh tenant for a test that needs one."""
    return await factory.tenant()


@dataclass(frozen=True)
class SecureKafka:
    """An authenticated broker with ACLs on: ``admin`` settings (its super user, this session's topic prefix and
    database, ACLs of every service created) and each local principal's password."""

    admin: Settings
    passwords: dict[str, str]

    def as_principal(self, name: str, password: str | None = None) -> Settings:
        secret = SecretStr(password if password is not None else self.passwords[name])
        return self.admin.model_copy(update={"kafka_sasl_username": name, "kafka_sasl_password": secret})

    def anonymous(self) -> Settings:
        return self.admin.model_copy(update={"kafka_security_protocol": "PLAINTEXT", "kafka_sasl_username": ""})


@pytest.fixture(scope="session")
def secure_kafka(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    """The session's broker where it authenticates (``make test`` provisions one: scripts/infra.sh); otherwise (an
    external broker without authentication, FLEXSTREAM_KAFKA_BOOTSTRAP alone) a broker of its own, started with
    scripts/kafka.sh on free ports, its state in a temporary directory, and stopped afterwards."""
    own_topics = f"{settings.topic_prefix}trust."  # topics, groups and ACLs of their own, whichever broker
    passwords = processes.local_credentials()
    if settings.kafka_sasl and passwords:
        admin = settings.model_copy(update={"topic_prefix": own_topics})
        processes.provision_acls(admin)
        yield SecureKafka(admin, passwords)
        return
    state = tmp_path_factory.mktemp("kafka-sasl")
    port, controller = processes.free_port(), processes.free_port()
    env = {**os.environ, "FLEXSTREAM_KAFKA_PORT": str(port), "FLEXSTREAM_KAFKA_CONTROLLER_PORT": str(controller),
           "FLEXSTREAM_KAFKA_STATE": str(state), "FLEXSTREAM_KAFKA_SECURITY": "sasl"}  # fmt: skip
    script = str(ROOT / "scripts" / "kafka.sh")
    started = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True, timeout=180)
    try:
        if started.returncode:
            pytest.fail(f"could not start an authenticated broker: {started.stderr[-2000:]}")
        credentials = state / f"kafka-{port}.credentials"
        passwords = dict(line.split(maxsplit=1) for line in credentials.read_text().splitlines() if line.strip())
        admin = settings.model_copy(
            update={"kafka_bootstrap": f"127.0.0.1:{port}", "kafka_security_protocol": "SASL_PLAINTEXT",
                    "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "admin",
                    "kafka_sasl_password": SecretStr(passwords["admin"]), "topic_prefix": own_topics}
        )  # fmt: skip
        processes.provision_acls(admin)
        yield SecureKafka(admin, passwords)
    finally:
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True, timeout=60)
