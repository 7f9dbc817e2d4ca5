"""The ``flexstream`` CLI (python -m services.gateway.cli) against the test database: 0 on success, 1 on refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import httpx

from shared.settings import Settings
from tests.integration.conftest import ROOT, service_env


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.gateway.cli", *args], cwd=ROOT, env=service_env(settings),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def ok(settings: Settings, *args: str) -> Any:
    done = cli(settings, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refused(settings: Settings, *args: str) -> str:
    done = cli(settings, *args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: "), done.stderr
    return done.stderr


def test_operator_workflow(settings: Settings, http: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:6]
    consultancy = ok(settings, "add-account", f"Consultancy {tag}")
    account = ok(settings, "add-account", f"Client {tag}", "--consultancy", f"Consultancy {tag}")
    assert account["name"] == f"Client {tag}"
    email = f"ops-{tag}@example.com"
    user = ok(settings, "add-user", email, "--account", str(account["account_id"]), "--password", "s3cret",
              "--role", "account-admin", "--role", "consultant")  # fmt: skip
    assert user["roles"] == ["account-admin", "consultant"] and user["account_id"] == account["account_id"]
    asset = ok(settings, "add-asset", f"battery {tag}", "--account", f"Client {tag}", "--latitude", "52",
               "--attributes", '{"capacity_in_mw": 1}')  # fmt: skip
    child = ok(settings, "add-asset", "child", "--account", f"Client {tag}", "--parent", str(asset["asset_id"]))
    sensor = ok(settings, "add-sensor", "power", "--asset", str(child["asset_id"]), "--unit", "kW",
                "--resolution", "PT1H", "--timezone", "Europe/Amsterdam")  # fmt: skip
    assert sensor["event_resolution"] == "PT1H"

    token = ok(settings, "issue-token", email)
    assert token["user_id"] == user["user_id"]
    answer = http.get(f"/api/v3_0/sensors/{sensor['sensor_id']}", headers={"Authorization": token["auth_token"]})
    assert answer.status_code == 200 and answer.json()["timezone"] == "Europe/Amsterdam"
    login = http.post("/api/requestAuthToken", json={"email": email, "password": "s3cret"})
    assert login.status_code == 200

    assert {"id": account["account_id"], "name": f"Client {tag}",
            "consultancy_account_id": consultancy["account_id"]} in ok(settings, "list-accounts")  # fmt: skip
    users = ok(settings, "list-users", "--account", f"Client {tag}")
    assert [u["email"] for u in users] == [email] and "password_hash" not in users[0]
    assets = ok(settings, "list-assets", "--account", str(account["account_id"]))
    assert [a["id"] for a in assets] == [asset["asset_id"], child["asset_id"]]
    sensors = ok(settings, "list-sensors", "--asset", str(asset["asset_id"]))  # with descendants
    assert [s["id"] for s in sensors] == [sensor["sensor_id"]]
    assert sensor["sensor_id"] in [s["id"] for s in ok(settings, "list-sensors")]
    plain = cli(settings, "list-sensors", "--asset", str(asset["asset_id"]))
    assert plain.returncode == 0 and f"id={sensor['sensor_id']}" in plain.stdout


def test_refusals(settings: Settings) -> None:
    tag = uuid.uuid4().hex[:6]
    account = ok(settings, "add-account", f"Refusals {tag}")["account_id"]
    email = f"dup-{tag}@example.com"
    ok(settings, "add-user", email, "--account", str(account), "--password", "pw")
    assert "already exists" in refused(settings, "add-user", email, "--account", str(account), "--password", "pw")
    assert "unknown account" in refused(settings, "add-user", f"x-{tag}@example.com", "--account", "no such account",
                                        "--password", "pw")  # fmt: skip
    assert "already exists" in refused(settings, "add-account", f"Refusals {tag}")
    assert "unknown account" in refused(settings, "add-account", f"Other {tag}", "--consultancy", "999999")
    assert "attributes" in refused(settings, "add-asset", "a", "--account", str(account), "--attributes", "{x")
    assert "unknown parent" in refused(settings, "add-asset", "a", "--account", str(account), "--parent", "99999999")
    asset = ok(settings, "add-asset", f"asset {tag}", "--account", str(account))["asset_id"]
    assert "unknown asset" in refused(settings, "add-sensor", "s", "--asset", "99999999", "--unit", "kW")
    assert "cannot be handled" in refused(settings, "add-sensor", "s", "--asset", str(asset), "--unit", "blorp")
    assert "minute" in refused(
        settings, "add-sensor", "s", "--asset", str(asset), "--unit", "kW", "--resolution", "PT5S"
    )
    assert "timezone" in refused(
        settings, "add-sensor", "s", "--asset", str(asset), "--unit", "kW", "--timezone", "X/Y"
    )
    ok(settings, "add-sensor", "s", "--asset", str(asset), "--unit", "kW")
    assert "already exists" in refused(settings, "add-sensor", "s", "--asset", str(asset), "--unit", "kW")
    assert "no user" in refused(settings, "issue-token", "nobody@example.com")
    inactive = f"inactive-{tag}@example.com"
    ok(settings, "add-user", inactive, "--account", str(account), "--password", "pw", "--inactive")
    assert "inactive" in refused(settings, "issue-token", inactive)
    assert cli(settings, "add-sensor").returncode == 2  # usage error: typer's own


def test_demo_still_works(settings: Settings) -> None:
    first = ok(settings, "demo")
    again = ok(settings, "demo")  # idempotent apart from the new token
    assert {k: v for k, v in first.items() if k != "auth_token"} == {
        k: v for k, v in again.items() if k != "auth_token"
    }
