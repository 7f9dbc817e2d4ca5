"""Scheduling: trigger a job and read its schedule (docs/api.md, "Scheduling").

The trigger validates synchronously with the same code the scheduler re-runs (``shared.flex``), creates the job
row (queued), produces ``TriggerSchedule`` to ``flexstream.schedule-triggers.v1`` keyed by sensor id and answers
with the job id. Reading a schedule follows the job's state; a job is "finished" only once ingest has stored its
beliefs (docs/architecture.md, "Scheduler"), so a finished job always has its values.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from aiokafka.errors import KafkaError
from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.failures import unavailable
from services.gateway.http.guards import (
    asset_owner,
    cached_sensor,
    current_user,
    require,
    require_on,
)
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import json_object, path_int, query
from services.gateway.http.responses import ApiError, ok, processed, unprocessable, validation_error
from services.gateway.sql import assets, jobs
from services.gateway.sql.assets import AssetRow
from services.gateway.sql.sensors import SensorRow, read_sensor, send_sensor
from services.gateway.state import State
from shared import db
from shared.errors import FlexRejected, TriggerRejected
from shared.flex import ScheduleRequest, SensorFacts, referenced_sensors, trigger_body, validate_trigger
from shared.flex.asset_trigger import (
    AssetScheduleRequest,
    asset_referenced_sensors,
    asset_trigger_body,
    check_membership,
    parse_asset_body,
    validate_asset_trigger,
)
from shared.messages import TriggerSchedule
from shared.sensor_facts import consumption_stored_negative, load_facts, read_facts, send_facts
from shared.time import DurationError, format_duration_hours, format_instant, parse_duration
from shared.topics import SCHEDULE_TRIGGERS, key_for

logger = logging.getLogger(__name__)

PROCESSED_JOB = "A scheduling job has been processed with your job ID,"
NO_JOB = "The message broker is unavailable; no job was created. Please try again."
DEFAULT_READ_DURATION = timedelta(hours=6)
NO_REASON = (
    "The job does not state why it failed. The worker may be missing an exception handler, or its exception handler "
    "is not storing the exception as job meta data."
)


# --- answers (FlexMeasures' USEF-style bodies) ------------------------------------------------------------------------


def unknown_schedule(detail: str) -> ApiError:
    message = f"No known schedule for this time period. {detail}"
    return ApiError(400, {"result": "Rejected", "status": "UNKNOWN_SCHEDULE", "message": message})


def unrecognized_event(event_id: str, event_type: str) -> ApiError:
    message = f"The requested UDI event (id = {event_id}, type = {event_type}) is not known."
    return ApiError(400, {"result": "Rejected", "status": "UNRECOGNIZED_UDI_EVENT", "message": message})


def invalid_period() -> ApiError:
    message = "A time period in your request doesn't seem right. Cannot parse 'duration' value."
    return ApiError(400, {"result": "Rejected", "status": "INVALID_PERIOD", "message": message})


# --- trigger ----------------------------------------------------------------------------------------------


def normalise_force_flag(body: dict[str, Any]) -> dict[str, Any]:
    """Accept ``force-new-job-creation`` as a spelling of ``force_new_job_creation`` (validated with the rest)."""
    if "force-new-job-creation" in body and "force_new_job_creation" not in body:
        body = dict(body)
        body["force_new_job_creation"] = body.pop("force-new-job-creation")
    return body


def _digest(identity: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).digest()


def request_hash(sensor_id: int, req: ScheduleRequest) -> bytes:
    """Identity of a trigger for de-duplication: sensor, window, resolution, prior and the flex-model and
    flex-context **as sent** (not merged with the stored flex-context)."""
    identity = {
        "sensor": sensor_id,
        "start": req.start.astimezone(UTC).isoformat(),  # the same instant in another offset is the same request
        "end": req.requested_end.astimezone(UTC).isoformat(),
        "resolution": req.resolution.total_seconds(),
        "prior": req.prior.astimezone(UTC).isoformat() if req.prior else None,
        "flex-model": req.flex_model,
        "flex-context": req.sent_flex_context,
    }
    return _digest(identity)


async def _sensor_and_facts(
    conn: AsyncConnection[Any], request: Request[State], body: dict[str, Any]
) -> tuple[SensorRow, SensorFacts, dict[int, SensorFacts]]:
    """The sensor in the path (or E1 at location ``path``, as ``sensor_from_path``), its facts and those of every
    sensor the body or the stored flex-context names: the sensor and the facts of those the body names in one round
    trip; a second one only for sensors that only the stored flex-context names."""
    sensor_id = path_int(request)
    if not db.is_db_id(sensor_id):
        raise unprocessable("path", "id", f"No sensor found with id {sensor_id}.")
    async with conn.pipeline():
        sent_sensor = await send_sensor(conn, sensor_id)
        sent_facts = await send_facts(conn, {sensor_id, *referenced_sensors(body)})
    sensor = await read_sensor(sent_sensor)
    found = await read_facts(sent_facts)
    if sensor is None:
        raise unprocessable("path", "id", f"No sensor found with id {sensor_id}.")
    own = found.get(sensor.id)
    if own is None:  # deleted since its row was read
        raise unprocessable("path", "id", f"No sensor found with id {sensor.id}.")
    referenced = referenced_sensors(body, own.flex_context)
    if missing := referenced - found.keys():
        found |= await load_facts(conn, missing)
    return sensor, own, {i: found[i] for i in referenced if i in found}


async def trigger_schedule(request: Request[State]) -> Response:
    """Queue a scheduling job for the sensor in the path (FlexMeasures 0.27 ``schedules/trigger``)."""
    user = await current_user(request)
    body = normalise_force_flag(await json_object(request))
    settings = request.state["settings"]
    async with request.state["data_offsets"].ahead() as ends, request.state["pool"].connection() as conn:
        sensor, facts, referenced = await _sensor_and_facts(conn, request, body)
        rejected: FlexRejected | None = None
        try:
            req = validate_trigger(
                body, facts, referenced, planning_horizon=settings.planning_horizon,
                max_planning_horizon=settings.max_planning_horizon_steps,
            )  # fmt: skip
        except TriggerRejected as exc:
            raise ApiError(422, exc.body()) from None
        except FlexRejected as exc:
            rejected = exc
        require(user, "create-children", sensor)
        if rejected is not None:
            raise ApiError(422, rejected.body())
        digest = request_hash(sensor.id, req)

        def new_job(job_id: UUID, offsets: dict[int, int]) -> tuple[TriggerSchedule, dict[str, Any], str]:
            trigger = TriggerSchedule(
                job_id=job_id, sensor_id=sensor.id, start=req.start, duration=req.requested_end - req.start,
                prior=req.prior, flex_model=req.flex_model, flex_context=req.flex_context, body=trigger_body(req),
                data_offsets=offsets,
            )  # fmt: skip
            return trigger, _stored_request(req, body), req.scheduler

        job_id, created = await _queue_job(
            conn, request, digest, force=req.force_new_job_creation, ends=ends, sensor_ids={sensor.id, *referenced},
            new_job=new_job,
        )  # fmt: skip
    if not created:
        return processed(schedule=str(job_id))
    logger.info("schedule triggered", extra={"job_id": str(job_id), "sensor_id": sensor.id})
    return processed(schedule=str(job_id))


def asset_request_hash(req: AssetScheduleRequest) -> bytes:
    """Identity of an asset-level trigger: the asset, its devices' flex-models as sent, the window, resolution,
    prior, sequential and the flex-context as sent."""
    identity = {
        "asset": req.asset_id,
        "devices": [[d.sensor_id, d.flex_model] for d in req.devices],
        "start": req.start.astimezone(UTC).isoformat(),
        "end": req.requested_end.astimezone(UTC).isoformat(),
        "resolution": req.resolution.total_seconds(),
        "prior": req.prior.astimezone(UTC).isoformat() if req.prior else None,
        "sequential": req.sequential,
        "flex-context": req.sent_flex_context,
    }
    return _digest(identity)


async def _asset_from_path(conn: AsyncConnection[Any], request: Request[State]) -> AssetRow:
    """The asset named by ``{id}``, or E1 at ``args_and_json`` (FlexMeasures validates it with the body)."""
    asset_id = path_int(request)
    asset = await assets.asset_by_id(conn, asset_id) if db.is_db_id(asset_id) else None
    if asset is None:
        raise unprocessable("args_and_json", "id", f"No asset found with ID {asset_id}.")
    return asset


async def trigger_asset_schedule(request: Request[State]) -> Response:
    """Queue one scheduling job for several devices of an asset (FlexMeasures 0.27 asset ``schedules/trigger``)."""
    user = await current_user(request)
    body = normalise_force_flag(await json_object(request))
    settings = request.state["settings"]
    async with request.state["data_offsets"].ahead() as ends, request.state["pool"].connection() as conn:
        asset = await _asset_from_path(conn, request)
        try:
            parsed = parse_asset_body(body, settings.planning_horizon)
        except TriggerRejected as exc:
            raise ApiError(422, exc.body()) from None
        context = await assets.merged_flex_context(conn, asset.id)
        sensors = await load_facts(conn, asset_referenced_sensors(body, context))
        subtree = set(await assets.subtree_ids(conn, asset.id))
        rejected: FlexRejected | None = None
        try:
            check_membership(parsed, asset.id, subtree, sensors)
            req = validate_asset_trigger(
                body, asset.id, context, sensors, planning_horizon=settings.planning_horizon,
                max_planning_horizon=settings.max_planning_horizon_steps,
            )  # fmt: skip
        except TriggerRejected as exc:
            raise ApiError(422, exc.body()) from None
        except FlexRejected as exc:
            rejected = exc
        require_on(user, "create-children", "asset", asset_owner(asset))
        if rejected is not None:
            raise ApiError(422, rejected.body())
        digest = asset_request_hash(req)
        first = req.devices[0]
        single = req.single

        def new_job(job_id: UUID, offsets: dict[int, int]) -> tuple[TriggerSchedule, dict[str, Any], str]:
            if single is not None:  # one device: exactly the job the sensor route would queue, with this flex-context
                stored = {**_stored_request(single, trigger_body(single)), "asset_id": asset.id}
                trigger = TriggerSchedule(
                    job_id=job_id, sensor_id=single.sensor_id, start=single.start,
                    duration=single.requested_end - single.start, prior=single.prior, flex_model=single.flex_model,
                    flex_context=single.flex_context, body=trigger_body(single), data_offsets=offsets,
                )  # fmt: skip
            else:
                stored = {
                    "start": req.start.isoformat(), "end": req.end.isoformat(),
                    "resolution": req.resolution.total_seconds(),
                    "prior": req.prior.isoformat() if req.prior else None, "body": body, "asset_id": asset.id,
                    "devices": req.sensor_ids, "sequential": req.sequential,
                }  # fmt: skip
                trigger = TriggerSchedule(
                    job_id=job_id, sensor_id=first.sensor_id, start=req.start, duration=req.requested_end - req.start,
                    prior=req.prior, flex_model={}, flex_context=first.flex_context, body=asset_trigger_body(req),
                    data_offsets=offsets, asset_id=asset.id, devices=req.sensor_ids, sequential=req.sequential,
                )  # fmt: skip
            return trigger, stored, first.scheduler

        job_id, created = await _queue_job(
            conn, request, digest, force=req.force_new_job_creation, ends=ends, sensor_ids=set(sensors),
            new_job=new_job,
        )  # fmt: skip
    if not created:
        return processed(schedule=str(job_id))
    extra = {"job_id": str(job_id), "asset_id": asset.id, "sensor_ids": req.sensor_ids, "sequential": req.sequential}
    logger.info("asset schedule triggered", extra=extra)
    return processed(schedule=str(job_id))


async def _queue_job(
    conn: AsyncConnection[Any],
    request: Request[State],
    digest: bytes,
    *,
    force: bool,
    ends: asyncio.Future[dict[int, int]],
    sensor_ids: set[int],
    new_job: Callable[[UUID, dict[int, int]], tuple[TriggerSchedule, dict[str, Any], str]],
) -> tuple[UUID, bool]:
    """In the request's transaction: the job of an identical trigger within the de-duplication window (unless
    ``force``), or a new job row (``new_job`` gives its trigger, stored request and scheduler, given the end offsets
    of the partitions of ``sensor_ids`` from ``ends``: ``DataOffsets.ahead``) with its trigger on the topic,
    committed. Returns the job id and whether it is new.

    One pipeline: the lock goes with the look-up (or, forced, is not waited for while ``ends`` arrive), the job row
    is on its way while the broker takes the trigger, and the commit follows the broker's acknowledgement."""
    async with conn.pipeline():
        await jobs.lock_request(conn, digest)
        existing = None if force else await jobs.recent_job(conn, digest, request.state["settings"].job_cache_ttl)
        if existing is not None:
            return existing, False
        job_id = uuid4()
        async with _broker(request):
            offsets = request.state["data_offsets"].marks(await ends, sensor_ids)
        trigger, stored, scheduler = new_job(job_id, offsets)
        await jobs.create_job(
            conn, job_id=job_id, sensor_id=trigger.sensor_id, request=stored, request_hash=digest,
            scheduler=scheduler,
        )  # fmt: skip
        await _produce(request, trigger)  # before the commit: a job row always has its trigger on the topic
        await conn.execute("COMMIT")  # with the pipeline's one sync (``conn.commit()`` would add a second)
    return job_id, True


def _stored_request(req: ScheduleRequest, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "start": req.start.isoformat(), "end": req.end.isoformat(), "resolution": req.resolution.total_seconds(),
        "prior": req.prior.isoformat() if req.prior else None, "body": body,
    }  # fmt: skip


async def _produce(request: Request[State], trigger: TriggerSchedule) -> None:
    state = request.state
    topic = SCHEDULE_TRIGGERS.full_name(state["settings"].topic_prefix)
    async with _broker(request):
        await (await state["producer"].send(topic, SCHEDULE_TRIGGERS.encode(trigger), key=key_for(trigger.sensor_id)))


@asynccontextmanager
async def _broker(request: Request[State]) -> AsyncIterator[None]:
    """A trigger's work with the broker, bounded by ``FLEXSTREAM_BROKER_TIMEOUT``: a broker that fails or does not
    answer in time is a 503 with ``Retry-After``, and no job is created (the request's transaction rolls back)."""
    settings = request.state["settings"]
    try:
        async with asyncio.timeout(settings.broker_timeout):
            yield
    except (KafkaError, TimeoutError) as exc:
        logger.warning("schedule trigger refused, the broker is unavailable: %s", exc or type(exc).__name__)
        raise unavailable(NO_JOB, settings.retry_after) from None


# --- reading a schedule -----------------------------------------------------------------------------------


def read_duration(params: dict[str, str]) -> timedelta:
    """The ``duration`` query parameter (default 6 h); E1 at ``args_and_json`` when unparsable, 400 for zero."""
    for name in ("id", "uuid"):
        if name in params:
            raise validation_error([f"{name} already set in the URL path"])
    if "duration" not in params:
        return DEFAULT_READ_DURATION
    try:
        duration = parse_duration(params["duration"])
    except DurationError as exc:
        raise unprocessable("args_and_json", "duration", str(exc)) from None
    if duration <= timedelta(0):
        raise invalid_period()
    return duration


def _job_id(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None


NOT_ENDED = frozenset({"queued", "started", "deferred"})  # a GET waits for these (``get_schedule``)


def job_state_detail(job: jobs.JobRow, used: str) -> str:
    """The detail of a job that is not finished (docs/api.md, "GET /api/v3_0/sensors/<id>/schedules/<uuid>")."""
    if job.status == "failed":
        return f"Scheduling job failed with {job.error_class or 'Exception'}: {job.error_message or NO_REASON}. {used}"
    if job.status == "started":
        return f"Scheduling job in progress. {used}"
    if job.status == "queued":
        return f"Scheduling job waiting to be processed. {used}"
    if job.status == "deferred":
        return f"Scheduling job waiting for unknown job to be processed. {used}"
    return f"Scheduling job has an unknown status. {used}"


async def get_schedule(request: Request[State]) -> Response:
    """Read the schedule computed by a job (FlexMeasures 0.27 ``GET schedules/<uuid>``). A job that has not ended is
    waited for, up to ``schedule_read_wait``, without holding a database connection (``workers/job_ends.py``)."""
    user = await current_user(request)
    duration = read_duration(query(request))
    settings = request.state["settings"]
    raw_id = str(request.path_params["uuid"])
    sensor_id = path_int(request)
    sensor = await cached_sensor(request, sensor_id)
    if sensor is None:
        raise unprocessable("path", "id", f"No sensor found with id {sensor_id}.")
    require(user, "read", sensor)
    job_id = _job_id(raw_id)
    if job_id is None:
        raise unrecognized_event(raw_id, "job")
    ends = request.state["job_ends"]
    wait = settings.schedule_read_wait.total_seconds()
    deadline = time.monotonic() + wait
    watched, waited = job_id, False
    unended: jobs.JobRow | None = None
    for _ in range(3):  # a read; a second one on the fallback job, if that is what was read; one after the wait
        # registered before the read: an end committed right after it still wakes this GET
        with ends.watch(watched) if wait > 0 else nullcontext(None) as ended:
            read = await _read_schedule(request, sensor, job_id, raw_id, duration)
            if isinstance(read, Response):
                return read
            unended = read
            if waited or ended is None:
                break
            if read.id != watched:  # the fallback job of a failed one: watch that one, and read again
                watched = read.id
                continue
            try:
                await asyncio.wait_for(asyncio.shield(ended), deadline - time.monotonic())
            except TimeoutError:
                pass
            waited = True
    assert unended is not None  # the loop ran, and every other way out returned
    raise unknown_schedule(job_state_detail(unended, f"{unended.scheduler or ''} was used."))


async def _read_schedule(
    request: Request[State], sensor: SensorRow, job_id: UUID, raw_id: str, duration: timedelta
) -> Response | jobs.JobRow:
    """The answer to a schedule GET, or the job read (the job or its fallback) when it has not ended yet. ``raw_id``
    is the job id as the path gives it (errors quote it)."""
    settings = request.state["settings"]
    async with db.single_statement(request.state["pool"]) as conn:  # reads only: no BEGIN or COMMIT
        horizon = min(duration, settings.planning_horizon)
        async with conn.pipeline():  # the job and the sensor's facts in one round trip (the pipeline's sync)
            sent_job = await jobs.send_job(conn, job_id, settings.planning_ttl)
            sent_facts = await send_facts(conn, [sensor.id])
        job = await jobs.read_job(sent_job)
        if job is None:
            raise unrecognized_event(raw_id, "job")
        if job.status == "failed" and job.fallback_job_id is not None:
            if settings.fallback_redirect:
                used = f"{job.scheduler or ''} was used."
                detail = f"Scheduling job failed with {job.error_class or 'Exception'}: {job.error_message}. {used}"
                location = str(request.url_for("get_schedule", id=str(sensor.id), uuid=str(job.fallback_job_id)))
                body = {"result": "Rejected", "status": "UNKNOWN_SCHEDULE", "message": detail}
                raise ApiError(303, body, headers={"Location": location})
            fallback = await jobs.job_by_id(conn, job.fallback_job_id, settings.planning_ttl)
            if fallback is None:
                raise unrecognized_event(str(job.fallback_job_id), "fallback-job")
            job = fallback
        used = f"{job.scheduler or ''} was used."
        if job.status in NOT_ENDED:
            return job
        if job.status != "finished":
            raise unknown_schedule(job_state_detail(job, used))
        if job.data_source_id is None:
            raise unknown_schedule(f"{PROCESSED_JOB} but no data source could be found for None. {used}")
        start = datetime.fromisoformat(job.request["start"])
        facts = (await read_facts(sent_facts)).get(sensor.id)
        if facts is None:  # deleted since it was cached
            raise unprocessable("path", "id", f"No sensor found with id {sensor.id}.")
        events = await jobs.schedule_values(conn, job, sensor.id, start, start + horizon, sensor.event_resolution)
    if not events:
        raise unknown_schedule(f"{PROCESSED_JOB} but  the schedule was not found in the database. {used}")  # sic
    first, last = events[0][0], events[-1][0]
    shown = min(duration, last + sensor.event_resolution - first)
    sign = -1.0 if consumption_stored_negative(facts) else 1.0  # consumption reads positive
    values = [
        sign * value + 0.0 for event_start, value in events if event_start <= first + shown - sensor.event_resolution
    ]
    return ok({
        "values": values,
        "start": format_instant(first.astimezone(ZoneInfo(sensor.timezone))),
        "duration": format_duration_hours(shown),
        "unit": sensor.unit,
        "scheduler_info": {"scheduler": job.scheduler},
        "status": "PROCESSED",
        "message": f"Request has been processed. {used}",
    })  # fmt: skip


_TAG = "scheduling"
ROUTES = [
    ApiRoute("/api/v3_0/sensors/{id}/schedules/trigger", trigger_schedule, methods=["POST"], doc=RouteDoc(
        "Trigger a schedule", tag=_TAG, success=200, errors=(400, 401, 403, 422, 503),
        description="Validates the flex-model and flex-context, queues a job and answers its id (`schedule`).",
    )),
    ApiRoute("/api/v3_0/assets/{id}/schedules/trigger", trigger_asset_schedule, methods=["POST"], doc=RouteDoc(
        "Trigger a schedule for several devices of an asset", tag=_TAG, success=200, errors=(400, 401, 403, 422, 503),
        description="A list of device flex-models (each naming its power `sensor`, a device of the asset or of an "
        "asset below it) and one flex-context; scheduled jointly, or one after another with `sequential`. The job "
        "id (`schedule`) answers `GET /sensors/<device>/schedules/<uuid>` for every device.",
    )),
    ApiRoute("/api/v3_0/sensors/{id}/schedules/{uuid}", get_schedule, methods=["GET"], doc=RouteDoc(
        "Get a schedule", tag=_TAG, success=200, errors=(303, 400, 401, 403, 422),
        description="The schedule of a finished job; other job states answer 400 UNKNOWN_SCHEDULE with the reason.",
    )),
]  # fmt: skip
