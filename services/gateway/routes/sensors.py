"""Sensor CRUD under ``/api/v3_0/sensors`` (docs/api.md, "Sensors").

Every handler authenticates first (401), then parses path, query and body (422; lookups of referenced
objects included), then checks the permission (403), then acts. Changes write a ``SensorChanged`` event to
the outbox in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.guards import (
    account_owner,
    asset_owner,
    current_user,
    require,
    require_on,
    sensor_from_path,
)
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import json_object, query
from services.gateway.http.responses import ApiError, http_error, no_content, ok, page_not_found, unprocessable
from services.gateway.http.validation import parse
from services.gateway.rules import sensor_events
from services.gateway.rules.permissions import Principal
from services.gateway.schemas.sensors import (
    SensorCreate,
    SensorListQuery,
    SensorOut,
    SensorPage,
    SensorUpdate,
    changed_fields,
    sensor_json,
)
from services.gateway.sql import accounts, assets, sensors
from services.gateway.sql.sensors import SensorRow, SensorSelection
from services.gateway.state import State


def _render(request: Request[State], row: SensorRow) -> dict[str, Any]:
    settings = request.state["settings"]
    return sensor_json(row, request.url.hostname or "", settings.hosts_and_auth_start, datetime.now(UTC).date())


def _duplicate_name(name: str, asset_id: int) -> ApiError:
    return unprocessable("json", "name", f"A sensor named '{name}' already exists on asset {asset_id}.")


async def _selection(conn: AsyncConnection[Any], user: Principal, q: SensorListQuery) -> SensorSelection:
    """Resolve account/asset (404/422 when unknown) and check read access on it (403), in FlexMeasures' order."""
    account = asset = None
    if q.account_id is not None:
        account = await accounts.account_by_id(conn, q.account_id)
        if account is None:
            raise http_error(404, f"Account {q.account_id} not found")
    if q.asset_id is not None:
        asset = await assets.asset_by_id(conn, q.asset_id)
        if asset is None:
            raise unprocessable("query", "asset_id", f"No asset found with ID {q.asset_id}.")
        if account is not None and asset.account_id != account.id:
            raise http_error(422, "Please provide either an account or an asset ID, not both")
    common: dict[str, Any] = {"with_public": q.include_public_assets, "terms": tuple(q.filter or ()), "unit": q.unit}
    if asset is not None:
        require_on(user, "read", "asset", asset_owner(asset))
        return SensorSelection(asset_id=asset.id, **common)
    if account is None:
        account = await accounts.account_by_id(conn, user.account_id)
        assert account is not None  # the caller's own account (users cascade with their account)
    require_on(user, "read", "account", account_owner(account))
    with_clients = q.include_consultancy_clients and "consultant" in user.roles
    return SensorSelection(account_id=account.id, with_clients=with_clients, **common)


async def list_sensors(request: Request[State]) -> Response:
    user = await current_user(request)
    q = parse(SensorListQuery, query(request), "query")
    async with request.state["pool"].connection() as conn:
        selection = await _selection(conn, user, q)
        if q.page is None:
            rows = await sensors.select_sensors(conn, selection)
        else:
            rows = await sensors.select_sensors(conn, selection, limit=q.per_page, offset=(q.page - 1) * q.per_page)
            if not rows and q.page != 1:
                raise page_not_found()
            total = await sensors.count_sensors(conn, selection)
    for row in rows:  # as FlexMeasures: one unreadable sensor refuses the whole request
        require(user, "read", row)
    data = [_render(request, row) for row in rows]
    if q.page is None:
        return ok(data)
    return ok({"data": data, "num-records": total, "filtered-records": total}, with_status=True)


async def get_sensor(request: Request[State]) -> Response:
    user = await current_user(request)
    async with request.state["pool"].connection() as conn:
        sensor = await sensor_from_path(conn, request)
    require(user, "read", sensor)
    return ok(_render(request, sensor), with_status=True)


async def create_sensor(request: Request[State]) -> Response:
    user = await current_user(request)
    body = parse(SensorCreate, await json_object(request), "json")
    settings = request.state["settings"]
    async with request.state["pool"].connection() as conn:
        asset = await assets.asset_by_id(conn, body.generic_asset_id)
        if asset is None:
            message = f"Generic asset with id {body.generic_asset_id} doesn't exist."
            raise unprocessable("json", "generic_asset_id", message)
        require_on(user, "create-children", "asset", asset_owner(asset))
        try:
            async with conn.transaction():
                sensor_id = await sensors.create_sensor(
                    conn, name=body.name, unit=body.unit, event_resolution=body.event_resolution,
                    generic_asset_id=asset.id, timezone=body.timezone, attributes=body.attributes,
                )  # fmt: skip
                row = await sensors.sensor_by_id(conn, sensor_id)
                assert row is not None
                await sensor_events.record(conn, settings.topic_prefix, sensor_events.event_for("created", row.id, row))
        except UniqueViolation:
            raise _duplicate_name(body.name, asset.id) from None
    return ok(_render(request, row), 201)


async def update_sensor(request: Request[State]) -> Response:
    user = await current_user(request)
    body = parse(SensorUpdate, await json_object(request), "json")
    settings = request.state["settings"]
    async with request.state["pool"].connection() as conn:
        sensor = await sensor_from_path(conn, request, lock=True)
        require(user, "update", sensor)
        new = {
            "name": sensor.name, "unit": sensor.unit, "timezone": sensor.timezone,
            "event_resolution": sensor.event_resolution, "attributes": sensor.attributes, **changed_fields(body),
        }  # fmt: skip
        try:
            async with conn.transaction():
                await sensors.update_sensor(conn, sensor.id, **new)
                row = await sensors.sensor_by_id(conn, sensor.id)
                assert row is not None
                await sensor_events.record(conn, settings.topic_prefix, sensor_events.event_for("updated", row.id, row))
        except UniqueViolation:
            raise _duplicate_name(new["name"], sensor.generic_asset_id) from None
    request.state["sensors"].pop(sensor.id, None)  # this process's data routes see the change at once
    return ok(_render(request, row), with_status=True)


async def delete_sensor(request: Request[State]) -> Response:
    user = await current_user(request)
    settings = request.state["settings"]
    async with request.state["pool"].connection() as conn:
        sensor = await sensor_from_path(conn, request, lock=True)
        require(user, "delete", sensor)
        async with conn.transaction():
            await sensors.delete_sensor(conn, sensor.id)
            await sensor_events.record(conn, settings.topic_prefix, sensor_events.event_for("deleted", sensor.id, None))
    request.state["sensors"].pop(sensor.id, None)
    return no_content()


_TAG = "sensors"
ROUTES = [
    ApiRoute("/api/v3_0/sensors", list_sensors, methods=["GET"], doc=RouteDoc(
        "List accessible sensors", tag=_TAG, query=SensorListQuery, response=list[SensorOut] | SensorPage,
        errors=(401, 403, 404, 422),
        description="Without `page` a bare array; with `page` the paginated object. Ascending id.",
    )),
    ApiRoute("/api/v3_0/sensors", create_sensor, methods=["POST"], doc=RouteDoc(
        "Create a sensor", tag=_TAG, body=SensorCreate, response=SensorOut, success=201, errors=(400, 401, 403, 422),
    )),
    ApiRoute("/api/v3_0/sensors/{id}", get_sensor, methods=["GET"], doc=RouteDoc(
        "Get a sensor", tag=_TAG, response=SensorOut, errors=(401, 403, 422),
    )),
    ApiRoute("/api/v3_0/sensors/{id}", update_sensor, methods=["PATCH"], doc=RouteDoc(
        "Update a sensor", tag=_TAG, body=SensorUpdate, response=SensorOut, errors=(400, 401, 403, 422),
    )),
    ApiRoute("/api/v3_0/sensors/{id}", delete_sensor, methods=["DELETE"], doc=RouteDoc(
        "Delete a sensor and all its data", tag=_TAG, success=204, errors=(401, 403, 422),
    )),
]  # fmt: skip
