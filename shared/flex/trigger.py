"""Validating a schedule trigger: the body's top-level fields (E1), then flex-context and flex-model (E6).

The gateway calls ``validate_trigger`` before it queues a job and the scheduler worker calls it again before it
computes; both give it the sensor and every sensor the body names (``referenced_sensors``), loaded by their SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.errors import FlexRejected, TriggerRejected
from shared.flex.context import FlexContext, parse_boolean, parse_flex_context, referenced_in_context
from shared.flex.process import ProcessFlexModel, parse_process_flex_model
from shared.flex.quantities import UNKNOWN_FIELD, FieldInvalid
from shared.flex.storage import StorageFlexModel, parse_storage_flex_model, referenced_in_storage
from shared.flex.window import check_soc_instants, extended_end, max_horizon
from shared.time import DatetimeError, DurationError, format_duration_hours, parse_aware_datetime, parse_duration

SchedulerName = Literal["StorageScheduler", "ProcessScheduler"]
PROCESS_ASSET_TYPES = ("process", "load")
BODY_FIELDS = {"start", "duration", "prior", "flex-model", "flex-context", "force_new_job_creation"}


@dataclass(frozen=True)
class SensorFacts:
    """What validation and problem building need to know about one sensor. ``flex_context`` is the stored
    flex-context of the sensor's asset, already merged over the asset's ancestors."""

    id: int
    unit: str
    event_resolution: timedelta
    timezone: str
    attributes: dict[str, Any] = field(default_factory=dict)
    asset_id: int | None = None
    asset_type: str | None = None
    asset_attributes: dict[str, Any] = field(default_factory=dict)
    flex_context: dict[str, Any] = field(default_factory=dict)


class ScheduleRequest(BaseModel):
    """A validated trigger. ``end`` includes the extension to the last soc-target; ``requested_end`` is
    start + duration as asked. ``flex_model`` is the raw flex-model as sent, ``flex_context`` the raw merged one,
    ``sent_flex_context`` the request's own (the de-duplication key uses what was sent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheduler: SchedulerName
    sensor_id: int
    start: AwareDatetime
    end: AwareDatetime
    requested_end: AwareDatetime
    resolution: timedelta
    prior: AwareDatetime | None
    force_new_job_creation: bool = False
    flex_model: dict[str, Any]
    flex_context: dict[str, Any]
    sent_flex_context: dict[str, Any]
    context: FlexContext
    storage: StorageFlexModel | None = None
    process: ProcessFlexModel | None = None


def referenced_sensors(body: Mapping[str, Any], stored_flex_context: Mapping[str, Any] | None = None) -> set[int]:
    """Every sensor id the body's flex-model and flex-context (and the stored flex-context, when given) name."""
    found: set[int] = set()
    flex_model, flex_context = body.get("flex-model"), body.get("flex-context")
    if isinstance(flex_model, dict):
        found |= referenced_in_storage(flex_model)
    merged = {**(stored_flex_context or {}), **(flex_context if isinstance(flex_context, dict) else {})}
    return found | referenced_in_context(merged)


def scheduler_for(sensor: SensorFacts) -> SchedulerName:
    if "custom-scheduler" in sensor.attributes:
        raise FlexRejected(
            "Custom schedulers (the sensor attribute 'custom-scheduler') are not supported by FlexStream; "
            "remove the attribute to use the storage or process scheduler."
        )
    return "ProcessScheduler" if sensor.asset_type in PROCESS_ASSET_TYPES else "StorageScheduler"


@dataclass(frozen=True)
class _Body:
    start: datetime
    duration: timedelta
    prior: datetime | None
    flex_model: dict[str, Any]
    flex_context: dict[str, Any]
    force: bool


def parse_body(body: object, planning_horizon: timedelta) -> _Body:
    """The top-level fields; failures raise ``TriggerRejected`` with the E1 message ``{"json": {...}}``."""
    if not isinstance(body, dict):
        raise TriggerRejected({"json": {"_schema": ["Invalid input type."]}})
    errors: dict[str, Any] = {key: [UNKNOWN_FIELD] for key in body if key not in BODY_FIELDS}
    start: datetime | None = None
    if "start" not in body:
        errors["start"] = ["Missing data for required field."]
    else:
        try:
            start = parse_aware_datetime(body["start"])
        except DatetimeError as e:
            errors["start"] = [str(e)]
    duration = planning_horizon
    if body.get("duration") is not None:
        try:
            if not isinstance(body["duration"], str):
                raise DurationError("Not a valid duration.")
            duration = parse_duration(body["duration"])
        except DurationError as e:
            errors["duration"] = [str(e)]
    prior: datetime | None = None
    if body.get("prior") is not None:
        try:
            prior = parse_aware_datetime(body["prior"])
        except DatetimeError as e:
            errors["prior"] = [str(e)]
    force = False
    if "force_new_job_creation" in body:
        try:
            force = parse_boolean(body["force_new_job_creation"])
        except FieldInvalid as e:
            errors["force_new_job_creation"] = e.errors
    objects: dict[str, dict[str, Any]] = {}
    for key in ("flex-model", "flex-context"):
        value = body.get(key)
        if value is None:
            objects[key] = {}
        elif isinstance(value, dict):
            objects[key] = value
        else:
            errors[key] = ["Not a valid mapping type."]
    if errors:
        raise TriggerRejected({"json": errors})
    assert start is not None
    return _Body(start, duration, prior, objects["flex-model"], objects["flex-context"], force)


def validate_trigger(
    body: object,
    sensor: SensorFacts,
    referenced: Mapping[int, SensorFacts],
    *,
    planning_horizon: timedelta = timedelta(hours=48),
    max_planning_horizon: int | timedelta | None = 2520,
) -> ScheduleRequest:
    """Everything FlexMeasures checks before queuing a job (and a few things it only finds out later)."""
    parsed = parse_body(body, planning_horizon)
    scheduler = scheduler_for(sensor)
    start, end = parsed.start, parsed.start + parsed.duration
    if end < start:
        raise FlexRejected(f"Start {start} cannot be after end {end}.")
    if end == start:
        raise FlexRejected("The planning window is empty: the duration must be positive.")
    resolution = sensor.event_resolution
    if resolution <= timedelta(0):
        raise FlexRejected(f"Sensor {sensor.id} is instantaneous (event resolution 0) and cannot receive a schedule.")
    sensors = {**referenced, sensor.id: sensor}
    merged = {**sensor.flex_context, **parsed.flex_context}
    context = parse_flex_context(merged, sensors)
    storage: StorageFlexModel | None = None
    process: ProcessFlexModel | None = None
    final_end = end
    if scheduler == "StorageScheduler":
        storage = parse_storage_flex_model(parsed.flex_model, sensor, sensors, start)
        final_end = extended_end(start, end, storage, max_horizon(max_planning_horizon, resolution))
        check_soc_instants(storage, start, final_end, resolution)
    else:
        process = parse_process_flex_model(parsed.flex_model, {**sensor.asset_attributes, **sensor.attributes})
    return ScheduleRequest(
        scheduler=scheduler,
        sensor_id=sensor.id,
        start=start,
        end=final_end,
        requested_end=end,
        resolution=resolution,
        prior=parsed.prior,
        force_new_job_creation=parsed.force,
        flex_model=parsed.flex_model,
        flex_context=merged,
        sent_flex_context=parsed.flex_context,
        context=context,
        storage=storage,
        process=process,
    )


def trigger_body(request: ScheduleRequest) -> dict[str, Any]:
    """The trigger body a request was validated from (with the request's own flex-context), so the worker can run
    ``validate_trigger`` again against the sensors as they are when the job runs."""
    body: dict[str, Any] = {
        "start": request.start.isoformat(),
        "duration": format_duration_hours(request.requested_end - request.start),
        "flex-model": request.flex_model,
        "flex-context": request.sent_flex_context,
    }
    if request.prior is not None:
        body["prior"] = request.prior.isoformat()
    if request.force_new_job_creation:
        body["force_new_job_creation"] = True
    return body
