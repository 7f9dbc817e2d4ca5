"""scripts/timescaledb.sh on a second port while the suite's server runs: each port has a cluster of its own.

Before, every port shared one cluster folder whose port was fixed when it was first initialised: a start on another
port said "already running" and then "does not answer". Stopping the second server must also leave the first one
working (in the Debian 13 root, the shared /dev stays mounted while any cluster runs).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import psycopg
import pytest

from tests.integration.conftest import ROOT

PORT = int(os.environ.get("FLEXSTREAM_SCRIPT_PG_PORT", "18832"))

pytestmark = pytest.mark.slow


def _script(action: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "FLEXSTREAM_PG_PORT": str(PORT)}
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "timescaledb.sh"), action], env=environment, text=True, capture_output=True,
        timeout=600,
    )  # fmt: skip


@pytest.fixture
def second_server() -> Iterator[str]:
    started = _script("start")
    assert started.returncode == 0, started.stderr
    try:
        yield f"postgresql://postgres@127.0.0.1:{PORT}/postgres"
    finally:
        assert _script("stop").returncode == 0


def test_a_second_port_gets_a_cluster_of_its_own(second_server: str, database_url: str) -> None:
    with psycopg.connect(second_server, connect_timeout=10) as conn:
        port = conn.execute("SHOW port").fetchone()
        timescaledb = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    assert port == (str(PORT),)
    assert timescaledb == (1,)
    with psycopg.connect(database_url, connect_timeout=10) as conn:  # the suite's own server is untouched
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stopping_the_second_server_leaves_the_first_working(database_url: str) -> None:
    started = _script("start")
    assert started.returncode == 0, started.stderr
    assert _script("stop").returncode == 0
    with psycopg.connect(database_url, connect_timeout=10) as conn:  # a new backend, with randomness from /dev
        row = conn.execute("SELECT length(gen_random_uuid()::text)").fetchone()
    assert row == (36,)
