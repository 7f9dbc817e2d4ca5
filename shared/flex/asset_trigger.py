"""Validating an asset-level schedule trigger (docs/api.md, "POST /api/v3_0/assets/<id>/schedules/trigger").

The body names several flexible devices, each by its power sensor in a list of flex-models, under one flex-context
(the asset's). ``parse_asset_body`` checks the top-level fields (E1); ``validate_asset_trigger`` checks each device
with the single-device rules (``validate_trigger``, E6) and what a joint problem needs: one storage scheduler, one
event resolution and one planning window for every device. The gateway and the scheduler worker both call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.errors import FlexRejected, TriggerRejected
from shared.flex.context import parse_boolean, parse_flex_context
from shared.flex.quantities import UNKNOWN_FIELD, FieldInvalid
from shared.flex.trigger import (
    ScheduleRequest,
    SensorFacts,
    parse_body,
    referenced_sensors,
    scheduler_for,
    validate_trigger,
)
from shared.time import format_duration_hours

ASSET_BODY_FIELDS = {"start", "duration", "prior", "flex-model", "flex-context", "sequential", "force_new_job_creation"}


@dataclass(frozen=True)
class DeviceModel:
    sensor_id: int
    flex_model: dict[str, Any]  # the device's flex-model without ``sensor``


@dataclass(frozen=True)
class AssetBody:
    start: datetime
    duration: timedelta
    prior: datetime | None
    devices: tuple[DeviceModel, ...]
    flex_context: dict[str, Any]
    sequential: bool
    force: bool


class AssetScheduleRequest(BaseModel):
    """A validated asset-level trigger: one ``ScheduleRequest`` per device, in flex-model order, all with the same
    window (``end`` is the latest end any device's soc-targets need) and resolution. Several devices are all storage
    devices; a single device may also be a process (``single`` then says to run it as that device's own job)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: int
    devices: tuple[ScheduleRequest, ...]
    sequential: bool
    force_new_job_creation: bool
    start: AwareDatetime
    end: AwareDatetime
    requested_end: AwareDatetime
    resolution: timedelta
    prior: AwareDatetime | None
    sent_flex_context: dict[str, Any]

    @property
    def sensor_ids(self) -> list[int]:
        return [device.sensor_id for device in self.devices]

    @property
    def single(self) -> ScheduleRequest | None:
        """The one device's request when only one device is named: it runs as an ordinary single-device job."""
        return self.devices[0] if len(self.devices) == 1 else None


def _devices(raw: object, errors: dict[str, Any]) -> tuple[DeviceModel, ...]:
    if raw is None:
        errors["flex-model"] = ["Missing data for required field."]
        return ()
    if not isinstance(raw, list):
        errors["flex-model"] = ["Not a valid list."]
        return ()
    found: list[DeviceModel] = []
    item_errors: dict[str, Any] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            item_errors[str(index)] = {"_schema": ["Invalid input type."]}
            continue
        sensor = item.get("sensor")
        if "sensor" not in item:
            item_errors[str(index)] = {"sensor": ["Missing data for required field."]}
        elif isinstance(sensor, bool) or not isinstance(sensor, int):
            item_errors[str(index)] = {"sensor": ["Not a valid integer."]}
        else:
            found.append(DeviceModel(sensor, {k: v for k, v in item.items() if k != "sensor"}))
    if item_errors:
        errors["flex-model"] = item_errors
    elif not found:
        errors["flex-model"] = ["Name at least one device (a flex-model with a 'sensor')."]
    return tuple(found)


def parse_asset_body(body: object, planning_horizon: timedelta) -> AssetBody:
    """The top-level fields; failures raise ``TriggerRejected`` with the E1 message ``{"json": {...}}``."""
    if not isinstance(body, dict):
        raise TriggerRejected({"json": {"_schema": ["Invalid input type."]}})
    errors: dict[str, Any] = {key: [UNKNOWN_FIELD] for key in body if key not in ASSET_BODY_FIELDS}
    devices = _devices(body.get("flex-model"), errors)
    sequential = False
    if "sequential" in body:
        try:
            sequential = parse_boolean(body["sequential"])
        except FieldInvalid as e:
            errors["sequential"] = e.errors
    # the fields the single-device trigger shares are checked by its own parser
    shared = {k: v for k, v in body.items() if k in ("start", "duration", "prior", "flex-context")}
    shared.update({k: body[k] for k in ("force_new_job_creation",) if k in body})
    try:
        parsed = parse_body(shared, planning_horizon)
    except TriggerRejected as exc:
        json_errors = exc.location_errors.get("json")
        if isinstance(json_errors, dict):
            errors.update(json_errors)
        parsed = None
    seen: set[int] = set()
    for device in devices:
        if device.sensor_id in seen and "flex-model" not in errors:
            errors["_schema"] = [f"Sensor {device.sensor_id} is named by more than one flex-model; name it once."]
        seen.add(device.sensor_id)
    if errors or parsed is None:
        raise TriggerRejected({"json": errors})
    return AssetBody(parsed.start, parsed.duration, parsed.prior, devices, parsed.flex_context, sequential,
                     parsed.force)  # fmt: skip


def device_body(parsed: AssetBody, device: DeviceModel) -> dict[str, Any]:
    """The single-device trigger body of one device (what ``validate_trigger`` takes)."""
    body: dict[str, Any] = {
        "start": parsed.start.isoformat(),
        "duration": format_duration_hours(parsed.duration),
        "flex-model": device.flex_model,
        "flex-context": parsed.flex_context,
    }
    if parsed.prior is not None:
        body["prior"] = parsed.prior.isoformat()
    return body


def asset_referenced_sensors(body: Mapping[str, Any], stored_flex_context: Mapping[str, Any]) -> set[int]:
    """Every sensor id the devices' flex-models, the body's flex-context and the stored flex-context name (the
    devices' own power sensors included)."""
    found: set[int] = set()
    models = body.get("flex-model")
    context = body.get("flex-context")
    for item in models if isinstance(models, list) else []:
        if isinstance(item, dict):
            if isinstance(item.get("sensor"), int) and not isinstance(item.get("sensor"), bool):
                found.add(item["sensor"])
            model = {k: v for k, v in item.items() if k != "sensor"}
            found |= referenced_sensors({"flex-model": model, "flex-context": context}, stored_flex_context)
    return found | referenced_sensors({"flex-context": context}, stored_flex_context)


def check_membership(parsed: AssetBody, asset_id: int, subtree: set[int], facts: Mapping[int, SensorFacts]) -> None:
    """Every device is a known sensor of the asset or of an asset below it (E1 otherwise)."""
    errors: dict[str, Any] = {}
    for index, device in enumerate(parsed.devices):
        if device.sensor_id not in facts:
            errors[str(index)] = {"sensor": [f"No sensor found with id {device.sensor_id}."]}
    if errors:
        raise TriggerRejected({"json": {"flex-model": errors}})
    outside = [d.sensor_id for d in parsed.devices if facts[d.sensor_id].asset_id not in subtree]
    if outside:
        names = ", ".join(str(s) for s in outside)
        raise TriggerRejected({"json": {"_schema": [
            f"Sensor(s) {names} are not devices of asset {asset_id} or of an asset below it; an asset-level "
            "schedule can only include the asset's own sensors and those of its descendants."
        ]}})  # fmt: skip


def validate_asset_trigger(
    body: object,
    asset_id: int,
    asset_flex_context: Mapping[str, Any],
    sensors: Mapping[int, SensorFacts],
    *,
    planning_horizon: timedelta = timedelta(hours=48),
    max_planning_horizon: int | timedelta | None = 2520,
) -> AssetScheduleRequest:
    """Each device validated as a single-device storage trigger under the asset's merged flex-context, then aligned
    on one window. ``sensors`` holds the devices and every sensor the body or the flex-context names."""
    parsed = parse_asset_body(body, planning_horizon)
    missing = [d.sensor_id for d in parsed.devices if d.sensor_id not in sensors]
    if missing:
        raise TriggerRejected({"json": {"flex-model": {
            str(i): {"sensor": [f"No sensor found with id {d.sensor_id}."]}
            for i, d in enumerate(parsed.devices) if d.sensor_id in missing
        }}})  # fmt: skip
    # the flex-context is the same for every device: its errors are reported once, as the single-device route does
    parse_flex_context({**asset_flex_context, **parsed.flex_context}, sensors)
    requests: list[ScheduleRequest] = []
    for index, device in enumerate(parsed.devices):
        facts = sensors[device.sensor_id]
        own = SensorFacts(
            id=facts.id, unit=facts.unit, event_resolution=facts.event_resolution, timezone=facts.timezone,
            attributes=facts.attributes, asset_id=facts.asset_id, asset_type=facts.asset_type,
            asset_attributes=facts.asset_attributes, flex_context=dict(asset_flex_context),
        )  # fmt: skip
        if scheduler_for(own) != "StorageScheduler" and len(parsed.devices) > 1:
            raise FlexRejected(
                f"Sensor {device.sensor_id} belongs to a process asset; several devices are scheduled together only "
                "when all are storage devices. Trigger the process on its own."
            )
        try:
            request = validate_trigger(
                device_body(parsed, device), own, sensors, planning_horizon=planning_horizon,
                max_planning_horizon=max_planning_horizon,
            )  # fmt: skip
        except FlexRejected as exc:
            if isinstance(exc.payload, str):
                raise FlexRejected(f"Device sensor {device.sensor_id}: {exc.payload}") from None
            raise FlexRejected({"flex-model": {str(index): exc.payload}}) from None
        requests.append(request)
    resolutions = {r.resolution for r in requests}
    if len(resolutions) > 1:
        listed = ", ".join(f"sensor {r.sensor_id}: {format_duration_hours(r.resolution)}" for r in requests)
        raise FlexRejected(
            f"The devices of one asset-level schedule must share one event resolution ({listed}); schedule devices "
            "with another resolution in a separate trigger."
        )
    end = max(r.end for r in requests)
    aligned = tuple(r.model_copy(update={"end": end}) for r in requests)
    first = aligned[0]
    return AssetScheduleRequest(
        asset_id=asset_id, devices=aligned, sequential=parsed.sequential, force_new_job_creation=parsed.force,
        start=first.start, end=end, requested_end=first.requested_end, resolution=first.resolution,
        prior=first.prior, sent_flex_context=parsed.flex_context,
    )  # fmt: skip


def asset_trigger_body(request: AssetScheduleRequest) -> dict[str, Any]:
    """The asset trigger body a request was validated from, for the worker to validate again."""
    body: dict[str, Any] = {
        "start": request.start.isoformat(),
        "duration": format_duration_hours(request.requested_end - request.start),
        "flex-model": [{"sensor": d.sensor_id, **d.flex_model} for d in request.devices],
        "flex-context": request.sent_flex_context,
        "sequential": request.sequential,
    }
    if request.prior is not None:
        body["prior"] = request.prior.isoformat()
    return body
