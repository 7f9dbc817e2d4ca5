"""scripts/kafka.sh on storage that a broker without authentication formatted (FLEXSTREAM_KAFKA_SECURITY=none, or
the script before brokers authenticated by default): the next default start adds the SCRAM credentials and keeps the
topics. Before, it refused to start, and `make test` on a machine with such a cache ran the suite without a broker.

The broker here is one of the test's own: its own state folder and ports, never the broker the suite shares.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from tests.integration.conftest import ROOT

PORT = int(os.environ.get("FLEXSTREAM_SCRIPT_KAFKA_PORT", "18892"))
CONTROLLER_PORT = int(os.environ.get("FLEXSTREAM_SCRIPT_KAFKA_CONTROLLER_PORT", "18893"))

pytestmark = pytest.mark.slow


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    _script(tmp_path, "stop")


def _script(state: Path, action: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "FLEXSTREAM_KAFKA_STATE": str(state),
        "FLEXSTREAM_KAFKA_PORT": str(PORT),
        "FLEXSTREAM_KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
        **env,
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "kafka.sh"), action], env=environment, text=True, capture_output=True,
        timeout=300,
    )  # fmt: skip


def _sasl(username: str, password: str) -> dict[str, str]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


async def test_storage_formatted_without_authentication_gets_credentials_and_keeps_its_topics(state: Path) -> None:
    bootstrap = f"127.0.0.1:{PORT}"
    plain = _script(state, "start", FLEXSTREAM_KAFKA_SECURITY="none")
    assert plain.returncode == 0, plain.stderr
    topic = f"kept-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"written before authentication")
    finally:
        await producer.stop()
    assert _script(state, "stop").returncode == 0

    upgraded = _script(state, "start")  # the default: SASL/SCRAM and ACLs
    assert upgraded.returncode == 0, upgraded.stderr
    assert "adding them" in upgraded.stderr
    credentials_file = _script(state, "credentials").stdout.strip()
    credentials = dict(line.split(" ", 1) for line in Path(credentials_file).read_text().splitlines())
    assert set(credentials) == {"admin", "gateway", "ingest", "scheduler", "stats"}

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
        **_sasl("admin", credentials["admin"]),
    )  # fmt: skip
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"written before authentication"

    for name in ("gateway", "ingest", "scheduler", "stats"):  # every principal authenticates (what it may do: ACLs)
        client = AIOKafkaProducer(bootstrap_servers=bootstrap, **_sasl(name, credentials[name]))
        await client.start()
        await client.stop()
    wrong = AIOKafkaProducer(bootstrap_servers=bootstrap, **_sasl("admin", "not-the-password"))
    with pytest.raises(KafkaError):
        await wrong.start()
    await wrong.stop()

    again = _script(state, "stop"), _script(state, "start")  # a restart does not add them again
    assert again[1].returncode == 0, again[1].stderr
    assert "adding them" not in again[1].stderr
