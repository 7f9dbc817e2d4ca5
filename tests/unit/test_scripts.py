"""The shell entry points stop when the broker or the database cannot start.

`scripts/test.sh` once ran `eval "$(scripts/infra.sh up ...)"`: the exit status of that line is eval's, so a broker
that refused to start was ignored and the whole suite ran without FLEXSTREAM_DATABASE_URL (CI failed with 287
fixture errors instead of the broker's own message). A `java` and `mvn` that fail stand in for a broker that cannot
start; nothing here reaches the network or a server.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _environment(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("java", "mvn"):
        fake = bin_dir / tool
        fake.write_text("#!/bin/sh\necho 'cannot run here' >&2\nexit 1\n")
        fake.chmod(0o755)
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"FLEXSTREAM_KAFKA_BOOTSTRAP", "FLEXSTREAM_DATABASE_URL", "FLEXSTREAM_KAFKA_STATE"}
    }
    return {
        **environment,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FLEXSTREAM_CACHE": str(tmp_path / "cache"),
        "FLEXSTREAM_KAFKA_PORT": "18992",  # nothing listens there; the fake tools fail before anything binds
        "FLEXSTREAM_KAFKA_CONTROLLER_PORT": "18993",
    }


def test_infra_up_fails_when_the_broker_cannot_start(tmp_path: Path) -> None:
    run = subprocess.run(
        ["bash", "scripts/infra.sh", "up", "flexstream_test"], cwd=ROOT, env=_environment(tmp_path),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert "FLEXSTREAM_DATABASE_URL" not in run.stdout


@pytest.mark.parametrize(
    "command", [["scripts/test.sh", "--collect-only", "-q"], ["bench/run.sh", "--help"], ["scripts/stack.sh", "up"]]
)
def test_entry_points_stop_when_infra_fails(tmp_path: Path, command: list[str]) -> None:
    run = subprocess.run(
        ["bash", *command], cwd=ROOT, env=_environment(tmp_path),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode != 0, run.stderr
    assert "Maven resolution failed" in run.stderr
    assert "[test] pass 1" not in run.stderr
    assert "collected" not in run.stdout
    assert "step 3/5" not in run.stderr  # make run: no migrations, no services
