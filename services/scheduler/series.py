"""Per-slot and per-instant arrays from flex-model/flex-context values (fixed, sensor data, listed segments).

Slot ``j`` is ``[t_j, t_{j+1})``; instant index ``j`` means ``t_{j+1}`` (the end of slot ``j``), as in program.py.
Sensor data arrives in the sensor's own unit, one value per slot (``flow``) or per instant ``t_0 … t_N``
(``instant``), ``nan`` where nothing is known; here it is converted to the internal unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from services.scheduler.program import Array
from shared import units
from shared.errors import InvalidUnit, SchedulingFailed, UnitMismatch
from shared.flex.quantities import Fixed, SensorRef, Variable
from shared.flex.trigger import SensorFacts

Combine = Literal["last", "min", "max"]


@dataclass(frozen=True)
class SeriesNeed:
    """One sensor's data the job needs: ``flow`` = one value per slot, ``instant`` = one per instant t_0 … t_N."""

    sensor_id: int
    kind: Literal["flow", "instant"]


@dataclass(frozen=True)
class Grid:
    start: datetime
    resolution: timedelta
    n: int

    @property
    def tau(self) -> float:
        return self.resolution / timedelta(hours=1)

    def slot_start(self, j: int) -> datetime:
        return self.start + j * self.resolution


@dataclass(frozen=True)
class Inputs:
    sensors: Mapping[int, SensorFacts]
    series: Mapping[SeriesNeed, Array]
    grid: Grid


def _sensor_values(inputs: Inputs, ref: SensorRef, kind: Literal["flow", "instant"], unit: str) -> Array:
    need = SeriesNeed(ref.sensor, kind)
    expected = inputs.grid.n if kind == "flow" else inputs.grid.n + 1
    raw = np.asarray(inputs.series.get(need, np.full(expected, np.nan)), dtype=float)
    if raw.shape != (expected,):
        raise ValueError(f"{need} needs {expected} values, got {raw.shape}")
    sensor = inputs.sensors[ref.sensor]
    resolution = inputs.grid.resolution if kind == "flow" else timedelta(0)
    try:
        values = np.asarray(units.convert(raw, sensor.unit, unit, resolution), dtype=float)
    except (UnitMismatch, InvalidUnit) as e:
        raise SchedulingFailed(
            "UnitConversionError", f"Cannot use sensor {ref.sensor} (unit '{sensor.unit}') as '{unit}': {e}"
        ) from None
    return values if kind == "flow" else values[1:]


def per_slot(value: Variable | None, unit: str, inputs: Inputs, combine: Combine = "last") -> Array:
    """One value per slot in ``unit``; a listed segment covers the slots whose start lies in [start, end)."""
    return _on_grid(value, unit, inputs, combine, "flow")


def per_instant(value: Variable | None, unit: str, inputs: Inputs, combine: Combine = "last") -> Array:
    """One value per instant t_1 … t_N in ``unit``; a listed segment covers the grid instants in [start, end]."""
    return _on_grid(value, unit, inputs, combine, "instant")


def _on_grid(
    value: Variable | None, unit: str, inputs: Inputs, combine: Combine, kind: Literal["flow", "instant"]
) -> Array:
    grid = inputs.grid
    out = np.full(grid.n, np.nan)
    if value is None:
        return out
    if isinstance(value, Fixed):
        out[:] = value.value
    elif isinstance(value, SensorRef):
        out = _sensor_values(inputs, value, kind, unit)
    else:
        for segment in value.segments:
            if kind == "flow":  # slots j with t_j in [start, end)
                first = max(0, _ceil_index(segment.start - grid.start, grid.resolution))
                stop = min(grid.n, _ceil_index(segment.end - grid.start, grid.resolution))
            else:  # instants t_i (index i - 1) with t_i in [start, end], i ≥ 1
                first = max(1, _ceil_index(segment.start - grid.start, grid.resolution)) - 1
                stop = min(grid.n, _floor_index(segment.end - grid.start, grid.resolution))
            _write(out, first, stop, segment.value, combine)
    return out


def _write(out: Array, first: int, stop: int, value: float, combine: Combine) -> None:
    if stop <= first:
        return
    current = out[first:stop]
    if combine == "last":
        out[first:stop] = value
    elif combine == "min":
        out[first:stop] = np.fmin(current, value)
    else:
        out[first:stop] = np.fmax(current, value)


def _ceil_index(offset: timedelta, resolution: timedelta) -> int:
    return -((-offset) // resolution)


def _floor_index(offset: timedelta, resolution: timedelta) -> int:
    return offset // resolution


def fill_edges(values: Array) -> Array:
    """Leading gaps take the first known value, trailing gaps the last one; interior gaps stay ``nan``."""
    known = np.flatnonzero(~np.isnan(values))
    if not known.size:
        return values
    out = values.copy()
    out[: known[0]] = values[known[0]]
    out[known[-1] + 1 :] = values[known[-1]]
    return out


def forward_fill(values: Array) -> Array:
    """Edges as ``fill_edges``; an interior gap keeps the value before it."""
    out = fill_edges(values)
    known = np.where(np.isnan(out), 0, np.arange(out.size))
    return out[np.maximum.accumulate(known)] if out.size else out


def interior_gaps(values: Array) -> list[int]:
    known = np.flatnonzero(~np.isnan(values))
    if not known.size:
        return []
    return [int(j) for j in range(known[0], known[-1]) if np.isnan(values[j])]
