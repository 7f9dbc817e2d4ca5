"""The process flex-model (assets of type ``process`` or ``load``): run ``power`` for ``duration``, in one block,
in blocks, or as early as allowed, avoiding ``time-restrictions``. Described in docs/scheduling.md."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.errors import FlexRejected
from shared.flex.quantities import UNKNOWN_FIELD
from shared.time import DatetimeError, DurationError, parse_aware_datetime, parse_duration

ProcessType = Literal["INFLEXIBLE", "SHIFTABLE", "BREAKABLE"]
PROCESS_TYPES: tuple[ProcessType, ...] = ("INFLEXIBLE", "SHIFTABLE", "BREAKABLE")
KNOWN_FIELDS = {"duration", "power", "process-type", "time-restrictions", "optimization-sense"}
REQUIRED = "Missing data for required field."


class TimeRestriction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    start: AwareDatetime
    duration: timedelta


class ProcessFlexModel(BaseModel):
    """``power`` is in the power sensor's unit (as given); ``duration`` is the process's run time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration: timedelta
    power: float
    process_type: ProcessType = "INFLEXIBLE"
    time_restrictions: tuple[TimeRestriction, ...] = ()
    optimization_sense: Literal["MIN", "MAX"] = "MIN"


def parse_process_flex_model(raw: object, attributes: Mapping[str, Any]) -> ProcessFlexModel:
    """``attributes``: the sensor's attributes over its asset's (for the default ``process-type``)."""
    if not isinstance(raw, dict):
        raise FlexRejected({"flex-model": {"_schema": ["Invalid input type."]}})
    errors: dict[str, Any] = {key: [UNKNOWN_FIELD] for key in raw if key not in KNOWN_FIELDS}
    values: dict[str, Any] = {}
    if "duration" not in raw:
        errors["duration"] = [REQUIRED]
    else:
        try:
            values["duration"] = _duration(raw["duration"])
        except ValueError as e:
            errors["duration"] = [str(e)]
    if "power" not in raw:
        errors["power"] = [REQUIRED]
    elif not isinstance(raw["power"], int | float) or isinstance(raw["power"], bool):
        errors["power"] = ["Not a valid number."]
    else:
        values["power"] = float(raw["power"])
    process_type = raw.get("process-type", attributes.get("process-type", "INFLEXIBLE"))
    if process_type not in PROCESS_TYPES:
        errors["process-type"] = [f"Must be one of: {', '.join(PROCESS_TYPES)}."]
    values["process_type"] = process_type
    if "optimization-sense" in raw:
        if raw["optimization-sense"] not in ("MIN", "MAX"):
            errors["optimization-sense"] = ["Must be one of: MIN, MAX."]
        values["optimization_sense"] = raw["optimization-sense"]
    if "time-restrictions" in raw:
        restrictions, restriction_errors = _restrictions(raw["time-restrictions"])
        if restriction_errors:
            errors["time-restrictions"] = restriction_errors
        values["time_restrictions"] = restrictions
    if errors:
        raise FlexRejected(errors)
    return ProcessFlexModel(**values)


def _duration(raw: object) -> timedelta:
    if not isinstance(raw, str):
        raise ValueError("Not a valid duration.")
    try:
        value = parse_duration(raw)
    except DurationError as e:
        raise ValueError(str(e)) from None
    if value <= timedelta(0):
        raise ValueError("Duration must be positive.")
    return value


def _restrictions(raw: object) -> tuple[tuple[TimeRestriction, ...], Any]:
    if not isinstance(raw, list):
        return (), ["Not a valid list."]
    found: list[TimeRestriction] = []
    errors: dict[str, Any] = {}
    for index, item in enumerate(raw):
        item_errors: dict[str, Any] = {}
        if not isinstance(item, dict):
            errors[str(index)] = {"_schema": ["Invalid input type."]}
            continue
        item_errors.update({key: [UNKNOWN_FIELD] for key in item if key not in ("start", "duration")})
        start: datetime | None = None
        duration: timedelta | None = None
        try:
            start = parse_aware_datetime(item["start"]) if "start" in item else None
            if start is None:
                item_errors["start"] = [REQUIRED]
        except DatetimeError as e:
            item_errors["start"] = [str(e)]
        try:
            duration = _duration(item["duration"]) if "duration" in item else None
            if duration is None:
                item_errors["duration"] = [REQUIRED]
        except ValueError as e:
            item_errors["duration"] = [str(e)]
        if item_errors:
            errors[str(index)] = item_errors
        elif start is not None and duration is not None:
            found.append(TimeRestriction(start=start, duration=duration))
    return tuple(found), errors
