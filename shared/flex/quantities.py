"""The three forms a flex-model or flex-context value can take, parsed and converted to the field's target unit.

* a fixed quantity ``"25 kW"`` (a bare JSON number only where a unit for numbers is known),
* a sensor reference ``{"sensor": 7}`` (converted when the job reads the sensor's data),
* a time series: a list of segments ``{"value": ..., "start"/"end"/"duration"}`` or ``{"value": ..., "datetime"}``.

Errors are raised as ``FieldInvalid`` carrying marshmallow-shaped messages (a list of texts, or a dict keyed by
segment index and segment key), so the caller can place them under the field's wire name.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared import units
from shared.errors import InvalidUnit, UnitMismatch
from shared.time import DatetimeError, DurationError, parse_aware_datetime, parse_duration

UNKNOWN_FIELD = "Unknown field."
NOT_NEGATIVE = "Must be greater than or equal to 0."


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fixed(_Frozen):
    kind: Literal["fixed"] = "fixed"
    value: float  # in the field's target unit


class SensorRef(_Frozen):
    kind: Literal["sensor"] = "sensor"
    sensor: int


class Segment(_Frozen):
    """``value`` (target unit) from ``start`` to ``end``; an instant when they are equal."""

    start: AwareDatetime
    end: AwareDatetime
    value: float


class Series(_Frozen):
    kind: Literal["series"] = "series"
    segments: tuple[Segment, ...]


Variable = Annotated[Fixed | SensorRef | Series, Field(discriminator="kind")]


class FieldInvalid(Exception):
    """One field's errors, marshmallow-shaped: ``["text"]`` or ``{"0": {"start": ["text"]}}``."""

    def __init__(self, errors: list[str] | dict[str, Any]) -> None:
        super().__init__(str(errors))
        self.errors = errors


class HasUnit(Protocol):
    @property
    def unit(self) -> str: ...


@dataclass(frozen=True)
class Target:
    """What a field accepts. ``unit`` is the internal unit (``MW``, ``MWh``, ``dimensionless``) or, for prices,
    the denominator written ``/MWh`` or ``/MW`` (any currency). ``number_unit`` is the unit of bare JSON numbers
    (None: numbers are refused, except for dimensionless fields where they are fractions). ``instants`` marks
    state-of-charge fields: segments cover instants ``[start, end]`` and a lone ``datetime`` is allowed."""

    unit: str
    nonnegative: bool = False
    number_unit: str | None = None
    instants: bool = False
    fixed: bool = True
    sensor: bool = True
    series: bool = True
    timezone: str | None = None  # where known, segment durations may use months and years (grounded in it)

    @property
    def is_price(self) -> bool:
        return self.unit.startswith("/")


@dataclass(frozen=True)
class Parsed:
    value: Fixed | SensorRef | Series
    currency: str | None = None  # prices only: the currency the value (or the referenced sensor) is in


def parse_variable(raw: object, target: Target, sensors: Mapping[int, HasUnit]) -> Parsed:
    """Parse one field value; prices are converted to their own currency per the target denominator."""
    if isinstance(raw, dict) and target.sensor:
        return _sensor_reference(raw, target, sensors)
    if isinstance(raw, list) and target.series:
        return _series(raw, target)
    if isinstance(raw, str | int | float) and not isinstance(raw, bool) and target.fixed:
        value, currency = fixed_value(raw, target)
        return Parsed(Fixed(value=value), currency)
    allowed = [name for name, ok in (("dict", target.sensor), ("list", target.series), ("str", target.fixed)) if ok]
    raise FieldInvalid(
        [f"Unsupported value type. `{type(raw)}` was provided but only {', '.join(allowed)} are supported."]
    )


def fixed_value(raw: object, target: Target) -> tuple[float, str | None]:
    """A quantity string or (where allowed) a bare number, in the target unit, checked for sign."""
    currency: str | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if target.number_unit is not None:
            value = units.quantity_in(f"{raw} {target.number_unit}", target.unit)
        elif target.unit == "dimensionless":
            value = float(raw)
        else:
            raise FieldInvalid(
                [f"Unsupported value type. `{type(raw)}` was provided but a quantity with a unit is expected."]
            )
    elif isinstance(raw, str):
        if target.is_price:
            currency = units.currency_per(raw, target.unit[1:])
            if currency is None:
                _raise_quantity_error(raw, target.unit)
            value = _convert(raw, f"{currency}{target.unit}")
        else:
            value = _convert(raw, target.unit)
    else:
        raise FieldInvalid([f"Unsupported value type. `{type(raw)}` was provided but only str is supported."])
    if not math.isfinite(value):
        raise FieldInvalid(["Not a valid number: the value must be finite."])
    if target.nonnegative and value < 0:
        raise FieldInvalid([NOT_NEGATIVE])
    return value, currency


def _convert(text: str, unit: str) -> float:
    try:
        return units.quantity_in(text, unit)
    except UnitMismatch:
        raise FieldInvalid([f"Cannot convert value `{text}` to '{unit}'"]) from None
    except InvalidUnit as e:
        raise FieldInvalid([f"Cannot convert value '{text}' to a valid quantity. {e}"]) from None


def _raise_quantity_error(text: str, per: str) -> None:
    """A price that is no currency per ``per`` (``"/MWh"``): garbage gets pint's reason, the rest the target."""
    try:
        units.quantity_in(text, "dimensionless")
    except InvalidUnit as e:
        raise FieldInvalid([f"Cannot convert value '{text}' to a valid quantity. {e}"]) from None
    except UnitMismatch:
        pass
    raise FieldInvalid([f"Cannot convert value `{text}` to '{per}'"])


def _sensor_reference(raw: dict[str, Any], target: Target, sensors: Mapping[int, HasUnit]) -> Parsed:
    errors: dict[str, Any] = {key: [UNKNOWN_FIELD] for key in raw if key != "sensor"}
    sensor_id = raw.get("sensor")
    if "sensor" not in raw:
        errors["sensor"] = ["Missing data for required field."]
    elif not isinstance(sensor_id, int) or isinstance(sensor_id, bool):
        errors["sensor"] = ["Not a valid integer."]
    if errors:
        raise FieldInvalid(errors)
    assert isinstance(sensor_id, int)
    sensor = sensors.get(sensor_id)
    if sensor is None:
        raise FieldInvalid([f"No sensor found with id {sensor_id}."])
    currency = None
    if target.is_price:
        currency = units.currency_per(sensor.unit, target.unit[1:])
    elif not units.convertible(sensor.unit, target.unit):
        raise FieldInvalid([f"Cannot convert sensor {sensor_id} unit '{sensor.unit}' to '{target.unit}'."])
    return Parsed(SensorRef(sensor=sensor_id), currency)


def _series(raw: list[Any], target: Target) -> Parsed:
    segments: list[Segment] = []
    errors: dict[str, Any] = {}
    currencies: set[str] = set()
    for index, item in enumerate(raw):
        try:
            segment, currency = _segment(item, target)
        except FieldInvalid as e:
            errors[str(index)] = e.errors
            continue
        segments.append(segment)
        if currency is not None:
            currencies.add(currency)
    if errors:
        raise FieldInvalid(errors)
    if len(currencies) > 1:
        raise FieldInvalid([f"All segments must share the same unit; found the currencies {sorted(currencies)}."])
    return Parsed(Series(segments=tuple(segments)), currencies.pop() if currencies else None)


_SEGMENT_KEYS = {"value", "datetime", "start", "end", "duration"}


def _segment(item: object, target: Target) -> tuple[Segment, str | None]:
    if not isinstance(item, dict):
        raise FieldInvalid({"_schema": ["Invalid input type."]})
    errors: dict[str, Any] = {key: [UNKNOWN_FIELD] for key in item if key not in _SEGMENT_KEYS}
    value: float | None = None
    currency: str | None = None
    if "value" not in item:
        errors["value"] = ["Missing data for required field."]
    else:
        try:
            value, currency = fixed_value(item["value"], target)
        except FieldInvalid as e:
            errors["value"] = e.errors
    times: dict[str, datetime] = {}
    for key in ("datetime", "start", "end"):
        if key in item:
            try:
                times[key] = parse_aware_datetime(item[key])
            except DatetimeError as e:
                errors[key] = [str(e)]
    duration: Nominal | None = None
    if "duration" in item:
        try:
            duration = _duration(item["duration"], target)
        except DurationError as e:
            errors["duration"] = [str(e)]
    if errors:
        raise FieldInvalid(errors)
    start, end = _timing(item, times, duration, target)
    assert value is not None
    return Segment(start=start, end=end, value=value), currency


_NOMINAL = re.compile(r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?P<rest>(?:\d+W)?(?:\d+D)?(?:T.+)?)$")


@dataclass(frozen=True)
class Nominal:
    """A duration of whole months (years count 12) plus an absolute part."""

    months: int
    rest: timedelta

    def shift(self, instant: datetime, timezone: str | None, sign: int = 1) -> datetime:
        if not self.months:
            return instant + sign * self.rest
        assert timezone is not None
        local = instant.astimezone(ZoneInfo(timezone))
        years, month_index = divmod(local.month - 1 + sign * self.months, 12)
        year, month = local.year + years, month_index + 1
        day = min(local.day, calendar.monthrange(year, month)[1])
        moved = local.replace(tzinfo=None, year=year, month=month, day=day).replace(tzinfo=ZoneInfo(timezone))
        return moved + sign * self.rest


def _duration(raw: object, target: Target) -> Nominal:
    """An ISO 8601 duration; months and years only where a timezone grounds them (SoC fields of the flex-model)."""
    if not isinstance(raw, str):
        raise DurationError("Not a valid duration.")
    match = _NOMINAL.match(raw.strip())
    if target.timezone is None or match is None or not (match.group("years") or match.group("months")):
        return Nominal(0, parse_duration(raw))
    rest = parse_duration("P" + match.group("rest")) if match.group("rest") else timedelta(0)
    return Nominal(12 * int(match.group("years") or 0) + int(match.group("months") or 0), rest)


def _timing(
    item: dict[str, Any], times: dict[str, datetime], duration: Nominal | None, target: Target
) -> tuple[datetime, datetime]:
    given = {key for key in ("datetime", "start", "end", "duration") if key in item}
    if "datetime" in given:
        if given != {"datetime"}:
            raise FieldInvalid({"_schema": ["If using 'datetime', do not also pass 'start', 'end' or 'duration'."]})
        if not target.instants:
            raise FieldInvalid(
                {
                    "_schema": [
                        "A segment with only a 'datetime' is an instant and covers no time slot; "
                        "give 'start' and 'end' (or one of them with 'duration') for this field."
                    ]
                }
            )
        return times["datetime"], times["datetime"]
    if len(given) != 2:
        raise FieldInvalid({"_schema": ["Pass either 'datetime', or exactly two of 'start', 'end' and 'duration'."]})
    if "start" in times and "end" in times:
        start, end = times["start"], times["end"]
    elif "start" in times:
        assert duration is not None
        start, end = times["start"], duration.shift(times["start"], target.timezone)
    else:
        assert duration is not None
        start, end = duration.shift(times["end"], target.timezone, -1), times["end"]
    if end < start or (end == start and not target.instants):
        raise FieldInvalid({"_schema": [f"The segment must end after it starts ({start.isoformat()})."]})
    return start, end
