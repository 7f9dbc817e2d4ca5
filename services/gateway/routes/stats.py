"""``GET /api/v3_0/sensors/{id}/stats`` and ``GET /api/v3_0/sensors/{id}/status``, answered from the
aggregates the stats service keeps (docs/api.md, "Sensor stats" and "Sensor status").

Order as every sensor route: authenticate (401), read path and query (422), check read permission (403).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.guards import current_user, require, sensor_from_path
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import query
from services.gateway.http.responses import ok, unprocessable
from services.gateway.rules import sensor_stats, sensor_status
from services.gateway.sql import stats
from services.gateway.state import State
from shared.errors import InvalidStatusSpecs


class StatsQueryDoc(BaseModel):
    """The query of the stats route, for the OpenAPI document (parsed leniently by ``sensor_stats``)."""

    event_start_time: str | None = None
    event_end_time: str | None = None
    sort: bool = True


async def get_stats(request: Request[State]) -> Response:
    user = await current_user(request)
    try:
        q = sensor_stats.parse_query(query(request))
    except sensor_stats.QueryError as exc:
        raise unprocessable("query", exc.field, exc.message) from None
    async with request.state["pool"].connection() as conn:
        sensor = await sensor_from_path(conn, request)
        require(user, "read", sensor)
        rows = await stats.read_stats(conn, sensor.id, q.start, q.end)
    body = sensor_stats.answer(rows, sensor.event_resolution, sensor.timezone, sort=q.sort)
    return ok(body, with_status=True)


async def get_status(request: Request[State]) -> Response:
    user = await current_user(request)
    now = datetime.now(UTC)
    async with request.state["pool"].connection() as conn:
        sensor = await sensor_from_path(conn, request)
        require(user, "read", sensor)
        inputs = await stats.status_inputs(conn, sensor.id)
    async with request.state["pool"].connection() as conn:  # a fresh transaction: one snapshot for the reads
        latest = await stats.latest_by_source_type(conn, sensor.id, now, sensor_status.SOURCE_TYPES)
    if inputs is None:  # deleted between the two queries
        raise unprocessable("path", "id", f"No sensor found with id {sensor.id}.")
    try:
        spec = sensor_status.status_spec(sensor.attributes, sensor.knowledge_horizon_fnc, sensor.event_resolution)

        def knowledge_time(event_start: datetime) -> datetime:
            return sensor_status.knowledge_time(
                event_start, sensor.event_resolution, sensor.knowledge_horizon_fnc, inputs.knowledge_horizon_par
            )

        found = sensor_status.statuses(latest, spec, now, knowledge_time)
    except InvalidStatusSpecs as exc:
        raise unprocessable("path", "id", f"Sensor {sensor.id} has invalid status settings: {exc}") from None
    relation = sensor_status.relation(sensor.id, inputs.flex_context)
    tz = ZoneInfo(request.state["settings"].server_timezone)
    entries = [
        sensor_status.entry(
            status,
            sensor_id=sensor.id,
            name=sensor.name,
            resolution=sensor.event_resolution,
            asset_name=sensor.asset_name,
            relation=relation,
            tz=tz,
        )  # fmt: skip
        for status in found
    ]
    return ok({"sensors_data": entries}, with_status=True)


_TAG = "sensors"
ROUTES = [
    ApiRoute("/api/v3_0/sensors/{id}/stats", get_stats, methods=["GET"], doc=RouteDoc(
        "Statistics of a sensor's data per data source", tag=_TAG, query=StatsQueryDoc, errors=(401, 403, 422),
        description="Count, sum, mean, min, max, first event start, last event end and last recorded per source, "
        "over all stored beliefs or those starting in [event_start_time, event_end_time).",
    )),
    ApiRoute("/api/v3_0/sensors/{id}/status", get_status, methods=["GET"], doc=RouteDoc(
        "Staleness of a sensor's data per source type", tag=_TAG, errors=(401, 403, 422),
    )),
]  # fmt: skip
