"""Who is calling, and may they touch this sensor: the checks every v3_0 route starts with."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request

from services.gateway import auth
from services.gateway.permissions import Action, Owner, Principal, may
from services.gateway.responses import forbidden
from services.gateway.sql.sensors import SensorRow, sensor_by_id


async def current_user(request: Request) -> Principal:
    """The caller, or E2 (401). Runs before any input validation (api.md §0.2)."""
    async with request.state.pool.connection() as conn:
        return await auth.principal_for(conn, auth.token_from(request))


def sensor_owner(sensor: SensorRow) -> Owner:
    return Owner(account_id=sensor.account_id, consultancy_account_id=sensor.consultancy_account_id)


def require(user: Principal, action: Action, sensor: SensorRow) -> None:
    """E3 (403) unless ``user`` may do ``action`` on ``sensor``."""
    if not may(user, action, "sensor", sensor_owner(sensor)):
        raise forbidden()


async def load_sensor(conn: AsyncConnection[Any], sensor_id: int) -> SensorRow | None:
    return await sensor_by_id(conn, sensor_id)
