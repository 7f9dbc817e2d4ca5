"""Who is calling, and may they touch this sensor: the checks every v3_0 route starts with."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request

from services.gateway import auth
from services.gateway.http.metrics import SENSOR_LOOKUPS
from services.gateway.http.request_input import path_int
from services.gateway.http.responses import forbidden, unprocessable
from services.gateway.rules.permissions import Action, Kind, Owner, Principal, may
from services.gateway.sql.accounts import AccountRow
from services.gateway.sql.assets import AssetRow
from services.gateway.sql.sensors import SensorRow, sensor_by_id, sensor_for_update
from services.gateway.state import State
from shared import db


async def current_user(request: Request[State]) -> Principal:
    """The caller, or E2 (401). Runs before any input validation (FlexMeasures' order: 401, 422, 403)."""
    token = auth.token_from(request)
    cache = request.state["principals"]
    key = auth.token_hash(token) if token else None
    if key is not None and (cached := cache.get(key)) is not None:
        return cached
    async with request.state["pool"].connection() as conn:
        principal = await auth.principal_for(conn, token)
    if key is not None:
        cache[key] = principal
    return principal


async def cached_sensor(request: Request[State], sensor_id: int) -> SensorRow | None:
    """The sensor, reused for ``sensor_cache_ttl`` (a hot path asks no query then; the sensor's change event evicts
    it sooner); requests that miss it at the same time share one query. Ingest, which decides what is stored,
    always reads the current row."""
    if not db.is_db_id(sensor_id):
        return None
    cache = request.state["sensors"]
    sensor = cache.get(sensor_id)
    if sensor is not None:
        return sensor

    async def load() -> SensorRow | None:
        SENSOR_LOOKUPS.inc()
        async with db.single_statement(request.state["pool"]) as conn:
            found = await sensor_by_id(conn, sensor_id)
        if found is not None:
            cache[sensor_id] = found
        return found

    return await request.state["sensor_loads"].load(sensor_id, load)


def sensor_owner(sensor: SensorRow) -> Owner:
    return Owner(account_id=sensor.account_id, consultancy_account_id=sensor.consultancy_account_id)


def require(user: Principal, action: Action, sensor: SensorRow) -> None:
    """E3 (403) unless ``user`` may do ``action`` on ``sensor``."""
    if not may(user, action, "sensor", sensor_owner(sensor)):
        raise forbidden()


def require_on(user: Principal, action: Action, kind: Kind, owner: Owner) -> None:
    """E3 (403) unless ``user`` may do ``action`` on the ``kind`` object owned by ``owner``."""
    if not may(user, action, kind, owner):
        raise forbidden()


def asset_owner(asset: AssetRow) -> Owner:
    return Owner(account_id=asset.account_id, consultancy_account_id=asset.consultancy_account_id)


def account_owner(account: AccountRow) -> Owner:
    return Owner(account_id=account.id, consultancy_account_id=account.consultancy_account_id)


async def sensor_from_path(conn: AsyncConnection[Any], request: Request[State], *, lock: bool = False) -> SensorRow:
    """The sensor named by the ``{id}`` path segment, or E1 at location ``path`` (as FlexMeasures' sensor routes)."""
    sensor_id = path_int(request)
    if not db.is_db_id(sensor_id):
        raise unprocessable("path", "id", f"No sensor found with id {sensor_id}.")
    sensor = await (sensor_for_update(conn, sensor_id) if lock else sensor_by_id(conn, sensor_id))
    if sensor is None:
        raise unprocessable("path", "id", f"No sensor found with id {sensor_id}.")
    return sensor
