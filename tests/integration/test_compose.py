"""compose.yaml is valid for `docker compose` (checked without an engine)."""

import subprocess

from tests.integration.conftest import ROOT


def test_compose_file_is_valid() -> None:
    result = subprocess.run(["bash", "scripts/compose-check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
