"""CSV uploads through the real gateway (docs/api.md, "Sensor data"): several files, resampling, timezones, errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from tests.integration.conftest import ROOT, Factory, Service, Tenant, UserHandle
from tests.integration.test_sensor_data_api import PROCESSED, values

UPLOAD = "path_and_files"


def upload(
    http: httpx.Client, user: UserHandle, sensor: int, files: list[tuple[str, str]], **form: Any
) -> httpx.Response:
    parts = [("uploaded-files", (name, content.encode(), "text/csv")) for name, content in files]
    return http.post(f"/api/v3_0/sensors/{sensor}/data/upload", files=parts, data=form, headers=user.headers)


async def test_several_files_resampled_to_the_sensor_resolution(
    http: httpx.Client, factory: Factory, site: Tenant
) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(minutes=15), timezone="Europe/Amsterdam")
    five_minutely = "event_start,value\n" + "".join(
        f"2025-03-01T00:{minute:02d}:00,{minute}\n" for minute in range(0, 30, 5)
    )  # naive: Amsterdam time; averaged into two quarter hours
    half_hourly = (  # aware timestamps; each row repeated into two quarter hours
        "event_start,belief_time,value\n2025-03-01T00:30:00+01:00,2025-03-01T00:00:00+01:00,7\n"
        "2025-03-01T00:00:00Z,2025-03-01T00:00:00+01:00,9\n"
    )
    response = upload(http, site.member, sensor, [("fine.csv", five_minutely), ("coarse.CSV", half_hourly)],
                      **{"belief-time-measured-instantly": "true"})  # fmt: skip
    assert (response.status_code, response.json()) == (200, PROCESSED), response.text
    assert values(http, site.member, sensor, duration="PT1H30M", unit="kW") == [5.0, 20.0, 7.0, 7.0, 9.0, 9.0]


async def test_measured_instantly_sets_horizon_zero(
    http: httpx.Client, factory: Factory, site: Tenant, pool: AsyncConnectionPool
) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(hours=1))
    csv = "t,v\n2025-03-01T00:00:00Z,1\n2025-03-01T01:00:00Z,2\n"
    assert upload(http, site.member, sensor, [("a.csv", csv)], **{"belief-time-measured-instantly": "on"}).json() == (
        PROCESSED
    )
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT bool_and(belief_time = event_start + interval '1 hour') FROM timed_beliefs WHERE sensor_id = %s",
            (sensor,),
        )
        row = await cur.fetchone()
    assert row is not None and row[0] is True


async def test_upload_errors(http: httpx.Client, factory: Factory, site: Tenant) -> None:
    sensor = await factory.sensor(site.asset)
    bad_value = upload(http, site.member, sensor, [("ok.csv", "t,v\n2025-03-01T00:00:00Z,1\n"),
                                                  ("bad.csv", "t,v\n2025-03-01T00:00:00Z,abc\n")])  # fmt: skip
    assert bad_value.status_code == 422
    message = bad_value.json()["message"][UPLOAD]["1"]
    assert message.startswith("Invalid content in file: bad.csv. Failed with: Non-numeric value")
    wrong_extension = upload(http, site.member, sensor, [("data.txt", "t,v\n")])
    assert list(wrong_extension.json()["message"][UPLOAD]["uploaded-files"]) == ["0"]
    missing = http.post(f"/api/v3_0/sensors/{sensor}/data/upload", data={"x": "1"}, headers=site.member.headers)
    assert missing.json()["message"][UPLOAD] == {"x": ["Unknown field."],
                                                 "uploaded-files": ["Missing data for required field."]}  # fmt: skip
    unknown = upload(http, site.member, 987654321, [("a.csv", "t,v\n")])
    assert unknown.json()["message"] == {UPLOAD: {"id": ["No sensor found with id 987654321."]}}
    outsider = await factory.user(await factory.account())
    assert upload(http, outsider, sensor, [("a.csv", "t,v\n2025-03-01T00:00:00Z,1\n")]).status_code == 403
    assert http.post(f"/api/v3_0/sensors/{sensor}/data/upload").status_code == 401


async def test_cli_upload_sends_files_in_chunks(
    http: httpx.Client, gateway: Service, factory: Factory, site: Tenant, tmp_path: Path
) -> None:
    sensor = await factory.sensor(site.asset, unit="kW", resolution=timedelta(hours=1))
    csv = tmp_path / "year.csv"
    start = datetime(2025, 1, 1, tzinfo=UTC)
    csv.write_text("event_start,value\n" + "".join(
        f"{(start + timedelta(hours=h)).isoformat()},{h}\n" for h in range(24 * 3)
    ))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "services.gateway.cli", "upload", str(csv), "--sensor", str(sensor),
         "--url", gateway.url, "--token", site.member.token, "--chunk-rows", "10", "--measured-instantly"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sent 72 rows from 1 file(s)" in result.stdout
    got = values(http, site.member, sensor, start="2025-01-01T00:00:00+00:00", duration="P3D", unit="kW")
    assert got == [float(h) for h in range(72)]
