"""Every kind of request side by side: the gateway of an older commit and of this checkout must answer byte for byte
the same (status, content type and body), for reads, writes and error routes.

    .venv/bin/python -m bench.http_compare --before c0b9bb5        (broker and database as for bench/get_compare.py)

It provisions its own database (``flexstream_bench_http``, dropped and re-created) and topic prefix, starts one
ingest and two gateways (``--before`` checked out with ``git worktree`` into a temporary folder, and this checkout,
or ``--after``), then sends each request of ``cases()`` to both. A read goes to the same sensor on both gateways; a
write goes to a sensor of each gateway's own, created alike (so both answers describe the same first write).
Values that are random by design (new tokens, command ids, the ids of created rows) are replaced by a placeholder
before comparing; every replacement is listed. Prints one line per request and the differences, if any.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from bench import harness
from bench.get_compare import checkouts, comparison_arguments, side_by_side
from services.gateway import auth
from services.gateway.sql import accounts, assets, sensors

logger = logging.getLogger("bench.http_compare")
DATABASE = "flexstream_bench_http"
PASSWORD = "compare-password"
START = "2025-03-01T00:00:00+01:00"
RANDOM_KEYS = ("auth_token", "command_id", "command_ids")  # random by design; replaced by "<random>"
# where the id of a gateway's own sensor (or asset) shows in an answer; replaced by "<ownN>" ("<own-asset>")
ID_PLACES = (
    rb'"id": %d\b',
    rb"fm1\.%d\b",
    rb"with id %d\b",
    rb"Sensor %d not",
    rb'"generic_asset_id": %d\b',
    rb"on asset %d\b",
)


@dataclass(frozen=True)
class World:
    """What the requests refer to. ``own[g]`` are gateway ``g``'s write sensors (``g`` 0: before, 1: after)."""

    token: str
    email: str
    other_token: str  # a user of another account
    read: int  # a sensor with data, read by both
    empty: int
    foreign: int  # a sensor of the other account
    own: tuple[list[int], list[int]]
    own_assets: tuple[int, int]  # the assets of the own sensors (one per gateway, sensors named alike)


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # may hold {read}, {empty}, {foreign} and {own0}..{ownN} (the gateway's own write sensors)
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    data: dict[str, str] | None = None
    auth: str = "user"  # user, other or none
    wait: float = 0.0  # seconds to wait before sending (to let earlier writes land)
    changed: str = ""  # why the answer is meant to differ (then it is listed, not counted as a difference)


def address(sensor_id: int) -> str:
    return f"ea1.2021-01.io.flexmeasures:fm1.{sensor_id}"


def series(n: int, start: int = 0) -> list[float]:
    return [round(((i * 37) % 101) / 7 - 3, 4) for i in range(start, start + n)]


def cases() -> list[Case]:
    """Reads, writes and error routes. Each write case uses its own sensor slot (``{ownN}``) where order matters."""
    post = "/api/v3_0/sensors/{%s}/data"
    body = {"start": START, "duration": "PT1H", "values": [1, 2, None, 4], "unit": "kW"}
    csv = b"event_start,value\n2025-03-01T00:00:00+01:00,1.5\n2025-03-01T00:15:00+01:00,2.5\n"
    get = {"start": START, "duration": "PT6H", "unit": "kW"}
    c = [
        # --- health, docs, auth --------------------------------------------------------------------------
        Case("health", "GET", "/health", auth="none"),
        Case("openapi.json", "GET", "/api/v3_0/openapi.json", auth="none",
             changed="docs route summary names Swagger UI; two model descriptions cite docs/api.md, not the handout"),
        Case("docs page", "GET", "/api/v3_0/docs", auth="none", changed="Swagger UI instead of the hand-written page"),
        Case("docs: swagger-ui.css", "GET", "/api/v3_0/docs/static/swagger-ui.css", auth="none",
             changed="new: Swagger UI's files, served by the gateway"),
        Case("token: no json", "POST", "/api/requestAuthToken", content=b"email=x", auth="none"),
        Case("token: no email", "POST", "/api/requestAuthToken", json={"password": "x"}, auth="none"),
        Case("token: unknown user", "POST", "/api/requestAuthToken", json={"email": "no@x.org", "password": "x"},
             auth="none"),
        Case("token: wrong password", "POST", "/api/requestAuthToken", json={"email": "{email}", "password": "x"},
             auth="none"),
        Case("token: ok", "POST", "/api/requestAuthToken", json={"email": "{email}", "password": PASSWORD},
             auth="none"),
        # --- sensors and assets (reads) -------------------------------------------------------------------
        Case("sensor", "GET", "/api/v3_0/sensors/{read}"),
        Case("sensor: no token", "GET", "/api/v3_0/sensors/{read}", auth="none"),
        Case("sensor: bad token", "GET", "/api/v3_0/sensors/{read}", headers={"Authorization": "nope"}, auth="none"),
        Case("sensor: foreign", "GET", "/api/v3_0/sensors/{foreign}"),
        Case("sensor: unknown", "GET", "/api/v3_0/sensors/2147483647"),
        Case("sensor: beyond integer", "GET", "/api/v3_0/sensors/99999999999"),
        Case("sensor: not a number", "GET", "/api/v3_0/sensors/abc"),
        Case("sensors: list", "GET", "/api/v3_0/sensors"),
        Case("sensors: list filtered", "GET", "/api/v3_0/sensors", params={"filter": "compare-read", "unit": "kW"}),
        Case("sensors: bad asset", "GET", "/api/v3_0/sensors", params={"asset_id": "x"}),
        Case("sensors: trailing slash", "GET", "/api/v3_0/sensors/"),
        Case("assets: list", "GET", "/api/v3_0/assets"),
        Case("unknown path", "GET", "/api/v3_0/nothing"),
        Case("method not allowed", "PUT", "/api/v3_0/sensors/{read}"),
        # --- data reads -----------------------------------------------------------------------------------
        Case("data: exact", "GET", post % "read", params=get, wait=2),
        Case("data: upsample", "GET", post % "read", params={**get, "resolution": "PT5M", "duration": "PT1H"}),
        Case("data: downsample kWh", "GET", post % "read", params={**get, "resolution": "PT1H", "unit": "kWh"}),
        Case("data: MW meter", "GET", post % "read", params={**get, "unit": "MW", "type": "GetMeterDataRequest"}),
        Case("data: prior and horizon", "GET", post % "read",
             params={**get, "prior": "2026-01-01T00:00:00+00:00", "horizon": "PT0H"}),
        Case("data: empty sensor", "GET", post % "empty", params=get),
        Case("data: 0.27 form", "GET", "/api/v3_0/sensors/data",
             params={**get, "sensor": "ea1.2021-01.io.flexmeasures:fm1.{read}"}),
        Case("data: bad unit", "GET", post % "read", params={**get, "unit": "m"}),
        Case("data: bad duration PT", "GET", post % "read", params={**get, "duration": "PT"}),
        Case("data: months", "GET", post % "read", params={**get, "duration": "P1M"}),
        Case("data: seconds", "GET", post % "read", params={**get, "duration": "PT30S"}),
        Case("data: no start", "GET", post % "read", params={"duration": "PT1H", "unit": "kW"}),
        Case("data: too many", "GET", post % "read", params={**get, "duration": "P3000D", "resolution": "PT1M"}),
        Case("data: unknown source", "GET", post % "read", params={**get, "source": "2147483647"}),
        Case("data: huge source", "GET", post % "read", params={**get, "source": "99999999999"}),
        Case("data: unknown sensor 404", "GET", "/api/v3_0/sensors/2147483647/data", params=get),
        Case("data: huge sensor 404", "GET", "/api/v3_0/sensors/99999999999/data", params=get),
        Case("data: foreign 403", "GET", post % "foreign", params=get),
        Case("data: 0.27 bad address", "GET", "/api/v3_0/sensors/data", params={**get, "sensor": "fm1.x"}),
        Case("data: 0.27 unknown address", "GET", "/api/v3_0/sensors/data",
             params={**get, "sensor": address(2147483647)}),
        # --- data writes (each on the gateway's own sensor) -----------------------------------------------
        Case("post: processed", "POST", post % "own0", json=body),
        Case("post: already received", "POST", post % "own0", json=body, wait=0.5),
        Case("post: 0.27 form", "POST", "/api/v3_0/sensors/data",
             json={**body, "sensor": "ea1.2021-01.io.flexmeasures:fm1.{own1}"}),
        Case("post: W into kW", "POST", post % "own2", json={**body, "unit": "W"}),
        Case("post: incompatible unit", "POST", post % "own3", json={**body, "unit": "EUR/MWh"}),
        Case("post: meter data in the future", "POST", post % "own3",
             json={**body, "start": "2099-01-01T00:00:00+00:00", "type": "PostMeterDataRequest"}),
        Case("post: wrong resolution", "POST", post % "own3", json={**body, "values": [1, 2, 3]}),
        Case("post: unknown field", "POST", post % "own3", json={**body, "colour": "red"}),
        Case("post: broken json", "POST", post % "own3", content=b"{broken",
             headers={"Content-Type": "application/json"}),
        Case("post: not json", "POST", post % "own3", content=b"values=1", headers={"Content-Type": "text/plain"}),
        Case("post: foreign 403", "POST", post % "foreign", json=body),
        Case("post: unknown sensor 404", "POST", "/api/v3_0/sensors/2147483647/data", json=body),
        Case("post: no token", "POST", post % "own3", json=body, auth="none"),
        Case("post: respond-async 202", "POST", post % "own4", json=body, headers={"Prefer": "respond-async"}),
        Case("upload: csv", "POST", post % "own5" + "/upload", files=[("uploaded-files", ("a.csv", csv, "text/csv"))]),
        Case("upload: no files", "POST", post % "own6" + "/upload", data={"x": "1"}),
        Case("upload: bad type", "POST", post % "own6" + "/upload",
             files=[("uploaded-files", ("a.txt", b"x", "text/plain"))]),
        Case("upload: unknown sensor", "POST", "/api/v3_0/sensors/2147483647/data/upload",
             files=[("uploaded-files", ("a.csv", csv, "text/csv"))]),
        Case("upload: huge sensor id", "POST", "/api/v3_0/sensors/99999999999/data/upload",
             files=[("uploaded-files", ("a.csv", csv, "text/csv"))]),
        Case("delete data", "DELETE", post % "own7"),
        Case("delete data: unknown sensor", "DELETE", "/api/v3_0/sensors/2147483647/data"),
        Case("delete data: huge sensor id", "DELETE", "/api/v3_0/sensors/99999999999/data"),
        Case("delete data: foreign 403", "DELETE", post % "foreign"),
        Case("delete data: as the owner", "DELETE", post % "foreign", auth="other"),
        # --- reading back what was written ----------------------------------------------------------------
        Case("read back: posted", "GET", post % "own0", params=get, wait=1),
        Case("read back: W into kW", "GET", post % "own2", params=get),
        Case("read back: 202", "GET", post % "own4", params=get, wait=2),
        Case("read back: upload", "GET", post % "own5", params=get),
        Case("read back: deleted", "GET", post % "own7", params=get),
        # --- sensor metadata writes -----------------------------------------------------------------------
        Case("patch sensor", "PATCH", "/api/v3_0/sensors/{own8}", json={"name": "compare-renamed"}),
        Case("patch sensor: name taken", "PATCH", "/api/v3_0/sensors/{own8}", json={"name": "compare-own-7"}),
        Case("patch sensor: bad field", "PATCH", "/api/v3_0/sensors/{own8}", json={"unit": "kWh"}),
        Case("patch sensor: foreign", "PATCH", "/api/v3_0/sensors/{foreign}", json={"name": "x"}),
        Case("create sensor: invalid", "POST", "/api/v3_0/sensors", json={"name": "x", "unit": "kW"}),
        Case("delete sensor", "DELETE", "/api/v3_0/sensors/{own9}"),
        Case("delete sensor: gone", "DELETE", "/api/v3_0/sensors/{own9}"),
    ]  # fmt: skip
    return c


OWN_SLOTS = 10


def fill(value: Any, world: World, gateway: int) -> Any:
    names = {"read": world.read, "empty": world.empty, "foreign": world.foreign, "email": world.email}
    names.update({f"own{i}": sensor for i, sensor in enumerate(world.own[gateway])})
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(names.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: fill(v, world, gateway) for k, v in value.items()}
    return value


def masked(body: bytes, world: World, gateway: int | None) -> tuple[bytes, list[str]]:
    """The body with random-by-design values (and the ids of ``gateway``'s own sensors) replaced, and what was."""
    out, replaced = body, []
    own = [] if gateway is None else [(f"own{i}", sensor) for i, sensor in enumerate(world.own[gateway])]
    for name, number in [*own, *([("own-asset", world.own_assets[gateway])] if gateway is not None else [])]:
        for place in ID_PLACES:
            pattern = re.compile(place % number)
            if pattern.search(out):
                out = pattern.sub(
                    lambda m, n=name, k=number: m.group(0).replace(str(k).encode(), f"<{n}>".encode()), out
                )
                if name not in replaced:
                    replaced.append(name)
    for key in RANDOM_KEYS:
        pattern = re.compile(rb'("%s": )("[^"]*"|\[[^\]]*\])' % key.encode())
        if pattern.search(out):
            out = pattern.sub(rb'\1"<random>"', out)
            replaced.append(key)
    return out, replaced


async def send(client: httpx.AsyncClient, case: Case, world: World, gateway: int) -> httpx.Response:
    token = {"user": world.token, "other": world.other_token, "none": None}[case.auth]
    headers = {**({"Authorization": token} if token else {}), **case.headers}
    return await client.request(
        case.method, fill(case.path, world, gateway), params=fill(case.params, world, gateway), headers=headers,
        json=fill(case.json, world, gateway), content=case.content, files=case.files, data=case.data,
    )  # fmt: skip


async def provision(pool: AsyncConnectionPool) -> World:
    tag = uuid.uuid4().hex[:6]
    async with pool.connection() as conn:
        account = await accounts.create_account(conn, f"compare-{tag}")
        other_account = await accounts.create_account(conn, f"compare-other-{tag}")
        email = f"compare-{tag}@example.com"
        user = await accounts.create_user(
            conn, email=email, username=email, password_hash=auth.hash_password(PASSWORD), account_id=account,
            roles=["account-admin"],
        )  # fmt: skip
        other = await accounts.create_user(
            conn, email=f"other-{tag}@example.com", username=f"other-{tag}", account_id=other_account,
            password_hash=auth.hash_password(PASSWORD), roles=["account-admin"],
        )  # fmt: skip
        tokens = [await auth.issue_token(conn, u, timedelta(hours=1)) for u in (user, other)]
        asset = await assets.create_asset(conn, name=f"compare-{tag}", asset_type="battery", account_id=account)
        other_asset = await assets.create_asset(
            conn, name=f"other-{tag}", asset_type="battery", account_id=other_account
        )

        own_assets = (
            await assets.create_asset(conn, name=f"compare-own-{tag}-0", asset_type="battery", account_id=account),
            await assets.create_asset(conn, name=f"compare-own-{tag}-1", asset_type="battery", account_id=account),
        )

        async def sensor(name: str, asset_id: int = asset) -> int:
            return await sensors.create_sensor(
                conn, name=name, unit="kW", event_resolution=timedelta(minutes=15), generic_asset_id=asset_id
            )

        read, empty, foreign = (
            await sensor("compare-read"),
            await sensor("compare-empty"),
            await sensor("f", other_asset),
        )
        own: tuple[list[int], list[int]] = ([], [])
        for mine, own_asset in zip(own, own_assets, strict=True):
            mine.extend([await sensor(f"compare-own-{i}", own_asset) for i in range(OWN_SLOTS)])
    return World(tokens[0], email, tokens[1], read, empty, foreign, own, own_assets)


async def compare(before: Path, after: Path, port: int) -> tuple[list[str], int]:
    async with side_by_side(DATABASE, before, after, port) as run:
        async with AsyncConnectionPool(run.database_url, open=False) as pool:
            await pool.open()
            world = await provision(pool)
        lines, differences = [], 0
        async with (
            httpx.AsyncClient(base_url=run.old.url, timeout=60) as old,
            httpx.AsyncClient(base_url=run.new.url, timeout=60) as new,
        ):
            seed = {"start": START, "duration": "PT6H", "values": series(24), "unit": "kW"}
            # the read sensor's data: six hours through one gateway, a correction of one hour through the other
            path, headers = f"/api/v3_0/sensors/{world.read}/data", {"Authorization": world.token}
            later = {**seed, "start": "2025-03-01T02:00:00+01:00", "duration": "PT1H", "values": [9, 8, 7, 6]}
            for client, body in ((new, seed), (old, later)):
                response = await client.post(path, json=body, headers=headers)
                if response.status_code != 200:
                    raise harness.BenchError(f"seeding the read sensor: {response.status_code} {response.text[:200]}")
            for case in cases():
                if case.wait:
                    await asyncio.sleep(case.wait)
                answers = [await send(client, case, world, g) for g, client in enumerate((old, new))]
                shown = []
                own_ids = "{own" in f"{case.path}{case.json}"  # a write on each gateway's own sensor
                for g, response in enumerate(answers):
                    body, replaced = masked(response.content, world, g if own_ids else None)
                    shown.append((response.status_code, response.headers.get("content-type"), body, replaced))
                same = shown[0] == shown[1]
                differences += not same and not case.changed
                note = f" (replaced: {', '.join(shown[0][3])})" if shown[0][3] else ""
                verdict = "same" if same else ("changed" if case.changed else "DIFFERENT")
                status = "/".join(str(response.status_code) for response in answers)
                lines.append(
                    f"{verdict:9s} {status:7s} {case.name}{note}{f' -- {case.changed}' if case.changed else ''}"
                )
                if not same and not case.changed:
                    lines.append(f"    before: {shown[0][0]} {shown[0][1]} {shown[0][2][:400]!r}")
                    lines.append(f"    after:  {shown[1][0]} {shown[1][1]} {shown[1][2][:400]!r}")
        return lines, differences


def main(argv: Sequence[str] | None = None) -> int:
    parser = comparison_arguments(__doc__)
    parser.add_argument("--port", type=int, default=18100, help="first of three ports to use (default 18100)")
    args = parser.parse_args(argv)
    with checkouts(args.before, args.after) as (before, after):
        lines, differences = asyncio.run(compare(before, after, args.port))
    header = f"before = {args.before}, after = {args.after or 'this checkout'}: {len(lines)} lines"
    print("\n".join([header, *lines, f"{differences} of {len(cases())} requests answered differently"]))  # noqa: T201
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
