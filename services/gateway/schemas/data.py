"""Input models of the sensor-data routes (docs/api.md, "Sensor data") with FlexMeasures' error texts.

The 0.27 routes name the sensor by entity address (``sensor``); the ≥0.28 routes take it from the path and
drop a ``sensor`` or ``id`` sent along.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)

from services.gateway.schemas.fields import MAX_UNIT, Int, check_string, string, to_float
from shared.time import DatetimeError, DurationError, parse_aware_datetime, parse_duration

PostType = Literal[
    "PostSensorDataRequest", "PostMeterDataRequest", "PostPrognosisRequest", "PostPriceDataRequest",
    "PostWeatherDataRequest",
]  # fmt: skip
GetType = Literal["GetSensorDataRequest", "GetMeterDataRequest", "GetPrognosisRequest", "GetPriceDataRequest"]


def to_instant(value: Any) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    try:
        return parse_aware_datetime(value)
    except DatetimeError as exc:
        raise ValueError(str(exc)) from None


def to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("Not a valid string.")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


def to_positive_duration(value: Any) -> timedelta:
    duration = to_duration(value)
    if duration <= timedelta(0):
        raise ValueError("Must be a positive duration.")
    return duration


def to_non_negative_duration(value: Any) -> timedelta:
    duration = to_duration(value)
    if duration < timedelta(0):
        raise ValueError("Must not be a negative duration.")
    return duration


def to_value(value: Any) -> float | None:
    if value is None:
        return None
    number = to_float(value)
    if not math.isfinite(number):
        raise ValueError("Special numeric values (nan or infinity) are not permitted.")
    return number


_PLAIN = frozenset({float, int, type(None)})  # what json.loads makes of the numbers and nulls of a values list


def plain_values(value: Any, handler: ValidatorFunctionWrapHandler) -> list[float | None]:
    """The common case in one pass: a list of finite numbers and nulls, as ``json.loads`` gives them, is taken as it
    is (integers as floats). Anything else (a single number, booleans, strings, non-finite numbers, an empty list)
    goes through ``to_values`` and ``to_value`` element by element, which name the element at fault. Calling
    ``to_value`` on each of a day's 96 values was a large share of a POST's CPU (docs/performance.md, finding 30)."""
    if type(value) is list and value:
        kinds = set(map(type, value))
        if kinds <= _PLAIN:
            try:
                values = [float(v) if type(v) is int else v for v in value] if int in kinds else value
            except OverflowError:  # an integer beyond any float: refused element by element
                return handler(value)  # type: ignore[no-any-return]
            numbers = [v for v in values if v is not None] if type(None) in kinds else values
            if math.isfinite(sum(numbers)):  # an infinite element makes the sum infinite (or a finite overflow does)
                return values
    return handler(value)  # type: ignore[no-any-return]


def to_values(value: Any) -> list[Any]:
    """A single number counts as a one-element list (as in FlexMeasures)."""
    if isinstance(value, list):
        if not value:
            raise ValueError("Shorter than minimum length 1.")
        return value
    return [value]


def to_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("Not a valid string.")
    return check_string(value, MAX_UNIT)


_INSTANT = {"type": "string", "format": "date-time", "examples": ["2024-03-01T10:00:00+01:00"]}
_DURATION = {"type": "string", "format": "duration", "examples": ["PT1H"], "description": "ISO 8601 duration"}
Instant = Annotated[datetime, BeforeValidator(to_instant), WithJsonSchema(_INSTANT)]
Duration = Annotated[timedelta, BeforeValidator(to_non_negative_duration), WithJsonSchema(_DURATION)]
PositiveDuration = Annotated[timedelta, BeforeValidator(to_positive_duration), WithJsonSchema(_DURATION)]
SignedDuration = Annotated[timedelta, BeforeValidator(to_duration), WithJsonSchema(_DURATION)]
Value = Annotated[float | None, BeforeValidator(to_value)]
Values = Annotated[
    list[Value],
    BeforeValidator(to_values),
    WrapValidator(plain_values),  # runs first (the outer validator): the common case skips the two above
    WithJsonSchema(
        {"anyOf": [{"type": "array", "items": {"type": ["number", "null"]}, "minItems": 1}, {"type": "number"}]}
    ),
]
Text = Annotated[str, BeforeValidator(to_text), WithJsonSchema({"type": "string", "maxLength": MAX_UNIT})]
EntityAddress = Annotated[
    str, string(255), WithJsonSchema({"type": "string", "examples": ["ea1.2021-01.io.flexmeasures:fm1.1"]})
]


class PostFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: Values = Field(description="Values spanning [start, start + duration) evenly; null for gaps.")
    start: Instant
    duration: Duration
    unit: Text = Field(description="Unit of the values; must equal or be convertible to the sensor's unit.")
    horizon: SignedDuration | None = Field(None, description="Belief horizon of every value (e.g. PT0H).")
    prior: Instant | None = Field(None, description="Belief time of every value (wins over horizon).")
    type: PostType | None = None


class PostSensorDataBody(PostFields):
    """Body of ``POST /api/v3_0/sensors/data`` (FlexMeasures 0.27)."""

    sensor: EntityAddress = Field(description="Entity address of the sensor (fm1 scheme).")


class PostSensorDataByIdBody(PostFields):
    """Body of ``POST /api/v3_0/sensors/<id>/data``; a ``sensor`` or ``id`` sent along is ignored."""

    sensor: Any = Field(None, json_schema_extra={"deprecated": True})
    id: Any = Field(None, json_schema_extra={"deprecated": True})


class GetFields(BaseModel):
    start: Instant
    duration: PositiveDuration
    unit: Text = Field(description="Unit to express the values in; the sensor's unit must be convertible to it.")
    resolution: PositiveDuration | None = Field(None, description="Output step (default: the sensor's resolution).")
    horizon: SignedDuration | None = Field(None, description="Only beliefs with at least this belief horizon.")
    prior: Instant | None = Field(None, description="Only beliefs formed at or before this time.")
    source: Int | None = Field(None, description="Only beliefs of this data source.")
    type: GetType | None = None


class GetSensorDataQuery(GetFields):
    """Query string of ``GET /api/v3_0/sensors/data``; unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    sensor: EntityAddress


class GetSensorDataByIdQuery(GetFields):
    """Parameters of ``GET /api/v3_0/sensors/<id>/data`` (path < query string < JSON body)."""

    model_config = ConfigDict(extra="forbid")

    sensor: Any = Field(None, json_schema_extra={"deprecated": True})
    id: Any = Field(None, json_schema_extra={"deprecated": True})


class SensorDataOut(BaseModel):
    """A series as ``GET .../data`` returns it."""

    values: list[float | None]
    start: str
    duration: str
    unit: str
    resolution: str
    status: str = "PROCESSED"
    message: str = "Request has been processed."
