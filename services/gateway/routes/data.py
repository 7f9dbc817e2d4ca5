"""Sensor data: post, upload, read and delete (docs/api.md, "Sensor data", with the differences from FlexMeasures).

Every handler authenticates first (401), then parses and validates (422, or 404 for an unknown sensor on
the ≥0.28 ``/sensors/<id>/data`` routes), then checks the permission (403), then acts. Writes become Kafka
commands answered after ingest reports on them (``services/gateway/http/submit.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
from psycopg import AsyncConnection
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.guards import cached_sensor, current_user, require
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import json_object, path_int, query
from services.gateway.http.responses import already_received, http_error, ok, unprocessable, validation_error
from services.gateway.http.series_body import values_body
from services.gateway.http.submit import submit
from services.gateway.http.validation import parse
from services.gateway.rules import commands, csv_uploads, entity_address, read_plan
from services.gateway.rules.permissions import Principal
from services.gateway.rules.series_reads import read_series
from services.gateway.schemas.data import (
    GetFields,
    GetSensorDataByIdQuery,
    GetSensorDataQuery,
    PostFields,
    PostSensorDataBody,
    PostSensorDataByIdBody,
    SensorDataOut,
)
from services.gateway.schemas.fields import to_bool
from services.gateway.sql import data_sources
from services.gateway.sql.sensors import SensorRow
from services.gateway.state import State
from shared import db, units
from shared.errors import UnitMismatch
from shared.messages import PostSensorData

COMBINED = "combined_sensor_data_description"  # the E1 location of the ≥0.28 routes
UPLOAD = "path_and_files"
UPLOAD_FIELDS = ("uploaded-files", "belief-time-measured-instantly")
MAX_UPLOAD_FILES = 100  # files (and other form fields) per upload


# --- locating the sensor --------------------------------------------------------------------------


async def _sensor_by_address(request: Request[State], address: str, location: str) -> SensorRow:
    """The 0.27 routes: the sensor named by an entity address in the input, or E1 at ``location``."""
    try:
        sensor_id = entity_address.parse(address)
    except entity_address.EntityAddressError as exc:
        raise unprocessable(location, "sensor", str(exc)) from None
    sensor = await cached_sensor(request, sensor_id)
    if sensor is None:
        raise unprocessable(location, "sensor", f"sensor with entity address {address} doesn't exist.")
    return sensor


async def _sensor_or_404(request: Request[State]) -> SensorRow:
    """The ≥0.28 ``/sensors/{id}/data`` routes: the sensor in the path, or 404."""
    raw = str(request.path_params["id"])
    sensor = await cached_sensor(request, int(raw)) if raw.isascii() and raw.isdigit() else None
    if sensor is None:
        raise http_error(404, f"Sensor {raw} not found")
    return sensor


async def _sensor_in_path(request: Request[State], location: str) -> SensorRow:
    """Upload and delete: the sensor in the path, or E1 (field ``id``) at ``location``."""
    sensor_id = path_int(request)
    sensor = await cached_sensor(request, sensor_id)
    if sensor is None:
        raise unprocessable(location, "id", f"No sensor found with id {sensor_id}.")
    return sensor


async def _combined(request: Request[State], model: type[BaseModel]) -> dict[str, Any]:
    """Parameters of the ≥0.28 routes: path < query string < JSON body; unknown query parameters are ignored."""
    return {**{k: v for k, v in query(request).items() if k in model.model_fields}, **await json_object(request)}


# --- posting --------------------------------------------------------------------------------------


async def _post(
    request: Request[State], user: Principal, body: PostFields, sensor: SensorRow, location: str
) -> PostSensorData:
    """Validate (422), check the permission (403), resolve the user's data source: the command to send."""
    try:
        command = commands.post_command(body, sensor, replace=request.state["settings"].allow_data_overwrite)
    except commands.CommandRejected as exc:
        raise unprocessable(location, "_schema", str(exc)) from None
    require(user, "create-children", sensor)
    return command.model_copy(update={"source_id": await _user_source(request, user)})


async def _user_source(request: Request[State], user: Principal) -> int:
    """The caller's data source (created on first use); its id never changes, so it is kept per process."""
    sources = request.state["user_sources"]
    source_id = sources.get(user.user_id)
    if source_id is None:
        async with request.state["pool"].connection() as conn:
            source_id = sources[user.user_id] = await data_sources.user_source_id(conn, user.user_id)
    return source_id


async def post_sensor_data(request: Request[State]) -> Response:
    """Post a series of values for a sensor named by entity address (FlexMeasures 0.27)."""
    user = await current_user(request)
    body = parse(PostSensorDataBody, await json_object(request), "json")
    sensor = await _sensor_by_address(request, body.sensor, "json")
    command = await _post(request, user, body, sensor, "json")
    return await submit(request, [command], "json")


async def post_sensor_data_by_id(request: Request[State]) -> Response:
    """Post a series of values for the sensor in the path (FlexMeasures ≥0.28)."""
    user = await current_user(request)
    sensor = await _sensor_or_404(request)
    body = parse(PostSensorDataByIdBody, await _combined(request, PostSensorDataByIdBody), COMBINED)
    command = await _post(request, user, body, sensor, COMBINED)
    return await submit(request, [command], COMBINED)


# --- uploading ------------------------------------------------------------------------------------


async def upload_sensor_data(request: Request[State]) -> Response:
    """Upload CSV files (multipart field ``uploaded-files``, repeatable) for the sensor in the path.

    Unlike the other writes, the permission is checked before the body is read (an upload can be large); the
    files are parsed off the event loop, each at most ``upload_file_max_bytes`` (413)."""
    user = await current_user(request)
    sensor = await _sensor_in_path(request, UPLOAD)
    require(user, "create-children", sensor)
    form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES)
    errors: dict[str, Any] = {key: ["Unknown field."] for key in form if key not in UPLOAD_FIELDS}
    files = form.getlist("uploaded-files")
    if not files:
        errors["uploaded-files"] = ["Missing data for required field."]
    if errors:
        raise validation_error({UPLOAD: errors})
    measured_instantly = _measured_instantly(form.get("belief-time-measured-instantly"))
    file_limit = request.state["settings"].upload_file_max_bytes
    if any(isinstance(file, UploadFile) and (file.size or 0) > file_limit for file in files):
        raise http_error(413, f"An uploaded file is larger than {file_limit} bytes.")
    series = csv_uploads.combine(await _read_files(files, sensor))
    if len(series.values) > commands.MAX_VALUES:
        raise unprocessable(UPLOAD, "uploaded-files", f"At most {commands.MAX_VALUES} values per upload.")
    source_id = await _user_source(request, user)
    if not series.values:  # nothing but empty cells: nothing to save, as FlexMeasures answers it
        return already_received()
    batch = commands.upload_commands(
        sensor, series.event_starts, series.values, source_id=source_id,
        replace=request.state["settings"].allow_data_overwrite, measured_instantly=measured_instantly,
    )  # fmt: skip
    return await submit(request, batch, UPLOAD)


def _measured_instantly(value: Any) -> bool:
    if value is None:
        return False
    try:
        return to_bool(value)
    except ValueError:
        raise unprocessable(UPLOAD, "belief-time-measured-instantly", "Not a valid boolean.") from None


async def _read_files(files: list[Any], sensor: SensorRow) -> list[pd.Series]:
    problems: dict[str, list[str]] = {}
    for i, file in enumerate(files):
        if not isinstance(file, UploadFile):
            problems[str(i)] = ["Not a valid file."]
        elif texts := csv_uploads.check_file(file.filename or "", file.content_type or ""):
            problems[str(i)] = texts
    if problems:
        raise validation_error({UPLOAD: {"uploaded-files": problems}})
    series = []
    for i, file in enumerate(files):
        try:  # parsing and resampling a large file takes a while: off the event loop
            series.append(await asyncio.to_thread(_parse_file, await file.read(), file.filename or "", sensor))
        except csv_uploads.UploadError as exc:
            message = f"Invalid content in file: {file.filename}. Failed with: {exc}"
            raise validation_error({UPLOAD: {str(i): message}}) from None
    return series


def _parse_file(content: bytes, filename: str, sensor: SensorRow) -> pd.Series:
    raw = csv_uploads.read_file(content, filename, sensor.timezone)
    return csv_uploads.to_resolution(raw, sensor.event_resolution, sensor.timezone)


# --- reading --------------------------------------------------------------------------------------


async def _read(
    request: Request[State], conn: AsyncConnection[Any], user: Principal, q: GetFields, sensor: SensorRow, location: str
) -> Response:
    try:
        units.check_convertible(q.unit, sensor.unit)
    except UnitMismatch as exc:
        raise unprocessable(location, "_schema", str(exc)) from None
    try:
        commands.check_type(q.type, q.unit)
        plan = read_plan.plan_read(q, sensor.id, sensor.event_resolution)
    except (commands.CommandRejected, read_plan.ReadRejected) as exc:
        raise unprocessable(location, "_schema", str(exc)) from None
    if q.source is not None and not (db.is_db_id(q.source) and await data_sources.source_exists(conn, q.source)):
        raise unprocessable(location, "source", f"No data source found with id {q.source}.")
    require(user, "read", sensor)
    values, found = await read_series(
        conn, plan, timescale=request.state["timescale"], general_plan_sensors=request.state["general_plan_sensors"]
    )
    return ok(values_body(plan, values, found, sensor.unit, q.unit))


async def get_sensor_data(request: Request[State]) -> Response:
    """Read a sensor's data, named by entity address, from the query string (FlexMeasures 0.27)."""
    user = await current_user(request)
    q = parse(GetSensorDataQuery, query(request), "query")
    sensor = await _sensor_by_address(request, q.sensor, "query")
    async with request.state["pool"].connection() as conn:
        return await _read(request, conn, user, q, sensor, "query")


async def get_sensor_data_by_id(request: Request[State]) -> Response:
    """Read the data of the sensor in the path (FlexMeasures ≥0.28)."""
    user = await current_user(request)
    sensor = await _sensor_or_404(request)
    q = parse(GetSensorDataByIdQuery, await _combined(request, GetSensorDataByIdQuery), COMBINED)
    async with request.state["pool"].connection() as conn:
        return await _read(request, conn, user, q, sensor, COMBINED)


# --- deleting -------------------------------------------------------------------------------------


# Newer FlexMeasures releases (0.33) delete part of the data by these keys, and flexmeasures-client sends them to
# any server; FlexStream deletes all or nothing, so it refuses them rather than delete more than was asked for.
PARTIAL_DELETE_KEYS = ("source", "start", "until")
PARTIAL_DELETE_TEXT = (
    "Deleting part of a sensor's data (by source, start or until) is not supported; send no filters to delete "
    "all of its data."
)


def check_delete_body(body: dict[str, Any]) -> None:
    """E1 for any key in the body of a data deletion: it takes none."""
    if body:
        raise validation_error(
            {"json": {k: [PARTIAL_DELETE_TEXT if k in PARTIAL_DELETE_KEYS else "Unknown field."] for k in body}}
        )


async def delete_sensor_data(request: Request[State]) -> Response:
    """Delete every belief of the sensor, after every write sent before (204 once done)."""
    user = await current_user(request)
    sensor = await _sensor_in_path(request, "path")
    check_delete_body(await json_object(request))
    require(user, "delete", sensor)
    return await submit(request, [commands.delete_command(sensor.id)], "path")


_WRITE_ERRORS = (401, 403, 422)
_WRITE_DESCRIPTION = (
    "Answers once ingest has stored the data (read-your-writes), as FlexMeasures does. Waits at most "
    "FLEXSTREAM_WRITE_WAIT (default 10 s); after that, or at once with the header `Prefer: respond-async` or the "
    "query parameter `wait=false`, the answer is 202 with the command id (the data is durable and will be stored)."
)

ROUTES = [
    ApiRoute("/api/v3_0/sensors/data", post_sensor_data, methods=["POST"], doc=RouteDoc(
        "Post sensor data (sensor by entity address)", tag="sensor data", body=PostSensorDataBody,
        description=_WRITE_DESCRIPTION, errors=_WRITE_ERRORS)),
    ApiRoute("/api/v3_0/sensors/data", get_sensor_data, methods=["GET"], doc=RouteDoc(
        "Get sensor data (sensor by entity address)", tag="sensor data", query=GetSensorDataQuery,
        response=SensorDataOut, errors=(401, 403, 422))),
    ApiRoute("/api/v3_0/sensors/{id}/data", post_sensor_data_by_id, methods=["POST"], doc=RouteDoc(
        "Post sensor data", tag="sensor data", body=PostFields, description=_WRITE_DESCRIPTION,
        errors=(401, 403, 404, 422))),
    ApiRoute("/api/v3_0/sensors/{id}/data", get_sensor_data_by_id, methods=["GET"], doc=RouteDoc(
        "Get sensor data", tag="sensor data", query=GetFields, response=SensorDataOut, errors=(401, 403, 404, 422))),
    ApiRoute("/api/v3_0/sensors/{id}/data", delete_sensor_data, methods=["DELETE"], doc=RouteDoc(
        "Delete all data of a sensor", tag="sensor data", success=204, description=_WRITE_DESCRIPTION,
        errors=_WRITE_ERRORS)),
    ApiRoute("/api/v3_0/sensors/{id}/data/upload", upload_sensor_data, methods=["POST"], doc=RouteDoc(
        "Upload sensor data as CSV files", tag="sensor data", description=_WRITE_DESCRIPTION,
        errors=_WRITE_ERRORS)),
]  # fmt: skip
