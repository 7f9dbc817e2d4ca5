"""Schemathesis against the served OpenAPI document, with a valid token and without: no server error (5xx).

The run is bounded in time (``MAX_TIME`` per pass, ``FLEXSTREAM_SCHEMATHESIS_MAX_TIME`` to change it) and uses its
own gateway (short write wait, so posts do not wait for ingest long). docs/reliability.md has the command to
rerun it by hand, for longer, and the last summary.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.integration.conftest import Factory, Service, start_service

MAX_TIME = int(os.environ.get("FLEXSTREAM_SCHEMATHESIS_MAX_TIME", "60"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed_gateway(settings: Settings, service_logs: Path, ingest: Service) -> Iterator[Service]:
    service = start_service("gateway", settings, service_logs, write_wait="PT1S")
    yield service
    service.stop()


def schemathesis(gateway: Service, tmp_path: Path, *headers: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(SCHEMATHESIS), "run", f"{gateway.url}/api/v3_0/openapi.json", "--url", gateway.url,
        "--checks", "not_a_server_error", "--max-time", str(MAX_TIME), "--max-examples", "50", "--seed", "1",
        "--workers", "1", "--request-timeout", "30", "--generation-allow-x00", "true", "--generation-database", "none",
        "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path), *(arg for h in headers for arg in ("--header", h)),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=MAX_TIME * 3 + 120)


@pytest.mark.parametrize("with_token", [True, False])
async def test_no_server_errors(fuzzed_gateway: Service, factory: Factory, tmp_path: Path, with_token: bool) -> None:
    headers = [f"Authorization: {(await factory.tenant()).admin.token}"] if with_token else []
    run = await asyncio.to_thread(schemathesis, fuzzed_gateway, tmp_path, *headers)
    tail = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, tail
    assert "server error" not in run.stdout.lower().replace("not_a_server_error", ""), tail
