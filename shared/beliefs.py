"""From a posted series to belief rows: the pure rules of FlexMeasures' data POST (docs/api.md,
"Sensor data"). Used by the gateway to validate synchronously and by ingest to
write, so both sides agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from shared import units
from shared.errors import InvalidBeliefs, InvalidResolution, TooManyValues
from shared.messages import PostBeliefs, PostSensorData

_NS = np.timedelta64(1, "ns")
# The largest magnitude a stored value may have (after unit conversion): with at most 10**6 values per command,
# every sum over them stays a finite float, so no summary ingest writes can overflow to infinity.
MAX_MAGNITUDE = 1e300


@dataclass(frozen=True)
class SensorInfo:
    """What the belief rules need to know of a sensor."""

    id: int
    unit: str
    event_resolution: timedelta
    timezone: str = "UTC"
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BeliefRows:
    """Columns of the beliefs one command produces (nulls already dropped)."""

    event_starts: np.ndarray  # datetime64[ns], UTC
    belief_times: np.ndarray  # datetime64[ns], UTC
    values: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.values)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_RANGE_US = (-(2**63) // 1000 + 1, (2**63 - 1) // 1000)  # what datetime64[ns] holds: 1677-09-21 .. 2262-04-11


def _utc64(value: datetime) -> np.datetime64:
    """An aware datetime as a UTC datetime64[ns] (exact integer arithmetic; pandas costs 20x more here)."""
    micros = (value - _EPOCH) // timedelta(microseconds=1)
    if not _NS_RANGE_US[0] <= micros <= _NS_RANGE_US[1]:
        raise OverflowError(f"{value.isoformat()} is outside the supported range (1677-09-22 to 2262-04-11)")
    return np.datetime64(micros * 1000, "ns")


def check_resolution(n_values: int, duration: timedelta, resolution: timedelta) -> timedelta:
    """The step between posted values; refuses what FlexMeasures refuses (FlexMeasures 0.27's resolution checks)."""
    step = duration / n_values
    if resolution > timedelta(0):
        if step <= timedelta(0) or step % resolution:
            raise InvalidResolution(
                f"Resolution of {step} is incompatible with the sensor's required resolution of {resolution}."
            )
    elif n_values > 1 and step == timedelta(0):
        raise InvalidResolution(
            "Cannot save multiple instantaneous values that overlap. That is, two values spanning the same "
            "moment (a zero duration). Try sending a single value or definining a non-zero duration."
        )
    return step


def rows_for(command: PostSensorData | PostBeliefs, sensor: SensorInfo, *, max_values: int = 1_000_000) -> BeliefRows:
    """Upsample, convert units, place events and set belief times; drop nulls. Raises domain errors."""
    try:
        if isinstance(command, PostBeliefs):
            return _explicit_rows(command, sensor, max_values)
        return _series_rows(command, sensor, max_values)
    except (OverflowError, ValueError) as exc:  # out-of-range instants, a bad ``frequency`` attribute
        raise InvalidBeliefs(f"Cannot place these events: {exc}") from None


def _series_rows(command: PostSensorData, sensor: SensorInfo, max_values: int) -> BeliefRows:
    resolution = sensor.event_resolution
    step = check_resolution(len(command.values), command.duration, resolution)
    repeat = step // resolution if resolution > timedelta(0) else 1
    if len(command.values) * repeat > max_values:
        raise TooManyValues(f"{len(command.values) * repeat} values after upsampling; at most {max_values} per command")
    values = np.array(command.values, dtype=float)  # None → nan
    if repeat > 1:
        values = np.repeat(values, repeat)  # copy, not split (as FlexMeasures)
    values = _converted(values, command.unit, sensor)
    start = command.start
    frequency = sensor.attributes.get("frequency")
    if isinstance(frequency, str):
        start = pd.Timestamp(start).round(frequency).to_pydatetime()
    event_step = resolution if resolution > timedelta(0) else step
    offsets = np.arange(len(values), dtype=np.int64) * np.int64(event_step // timedelta(microseconds=1)) * 1000
    event_starts = _utc64(start) + offsets.astype("timedelta64[ns]")
    return _with_belief_times(command, sensor, event_starts, values)


def _explicit_rows(command: PostBeliefs, sensor: SensorInfo, max_values: int) -> BeliefRows:
    if len(command.values) > max_values:
        raise TooManyValues(f"{len(command.values)} values; at most {max_values} per command.")
    values = _converted(np.array(command.values, dtype=float), command.unit or sensor.unit, sensor)
    event_starts = np.array([_utc64(start) for start in command.event_starts], dtype="datetime64[ns]")
    if len(np.unique(event_starts)) != len(event_starts):
        raise InvalidBeliefs("Event starts must be unique within one command.")
    return _with_belief_times(command, sensor, event_starts, values)


def _converted(values: np.ndarray, unit: str, sensor: SensorInfo) -> np.ndarray:
    units.check_convertible(unit, sensor.unit)
    if np.isinf(values).any():
        raise InvalidBeliefs("Values must be finite numbers (or null).")
    if unit == sensor.unit:  # nothing to convert (the common case: no numpy error state to set up)
        converted = values
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow becomes inf, refused below; nan is null
            converted = units.convert(values, unit, sensor.unit, sensor.event_resolution)
    if (np.abs(converted) > MAX_MAGNITUDE).any():
        raise InvalidBeliefs(
            f"Values must be at most {MAX_MAGNITUDE:g} in magnitude in the sensor's unit ({sensor.unit})."
        )
    return converted


def _with_belief_times(
    command: PostSensorData | PostBeliefs, sensor: SensorInfo, event_starts: np.ndarray, values: np.ndarray
) -> BeliefRows:
    """Belief time: ``prior`` wins over ``horizon``, else the time the command was recorded."""
    if command.prior is not None:
        belief_times: np.ndarray = np.full(len(values), _utc64(command.prior))
    elif command.horizon is not None:
        # Default (ex-post) sensors know an event at its end: belief time = event end - horizon.
        belief_times = event_starts + np.timedelta64(sensor.event_resolution - command.horizon) // _NS * _NS
    else:
        belief_times = np.full(len(values), _utc64(command.recorded_at))
    keep = ~np.isnan(values)
    return BeliefRows(event_starts[keep], belief_times[keep], values[keep])
