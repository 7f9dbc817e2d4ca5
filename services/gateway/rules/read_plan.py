"""How a data GET reads (docs/api.md, "Reads"). Pure.

``plan_read`` turns the request into the window, filters and resampling mode the SQL in ``sql/beliefs.py``
runs; ``place_on_grid`` puts its rows on the output grid. ``http/series_body.py`` renders the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from services.gateway.schemas.data import GetFields

MAX_SLOTS = 1_000_000
# What a read window may span: the instants beliefs can have (shared/beliefs.py), so the window's arithmetic
# (start - resolution, start + duration) never leaves what Python's datetime and PostgreSQL hold.
EARLIEST = datetime(1677, 9, 22, tzinfo=UTC)
LATEST = datetime(2262, 4, 11, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Mode = Literal["exact", "downsample", "upsample"]


class ReadRejected(ValueError):
    """The request asks for something that cannot be read; the message is the client-facing text."""


@dataclass(frozen=True)
class ReadPlan:
    sensor_id: int
    start: datetime
    end: datetime
    step: timedelta
    resolution: timedelta  # the sensor's
    mode: Mode
    first_event: datetime  # event starts in [first_event, last_event] are read
    last_event: datetime
    prior: datetime | None = None
    min_horizon: timedelta | None = None
    max_horizon: timedelta | None = None
    source_id: int | None = None

    @property
    def slots(self) -> int:
        return math.ceil((self.end - self.start) / self.step)

    def params(self) -> dict[str, Any]:
        return {
            "sensor_id": self.sensor_id, "start": self.start, "end": self.end, "step": self.step,
            "resolution": self.resolution, "lo": self.first_event, "hi": self.last_event, "prior": self.prior,
            "min_horizon": self.min_horizon, "max_horizon": self.max_horizon, "source_id": self.source_id,
        }  # fmt: skip


def default_step(window: timedelta) -> timedelta:
    """Output step for instantaneous sensors when no resolution is asked for (as FlexMeasures 0.27)."""
    if window > timedelta(weeks=16):
        return timedelta(hours=168)
    if window > timedelta(days=14):
        return timedelta(hours=24)
    if window > timedelta(hours=48):
        return timedelta(hours=1)
    if window > timedelta(hours=8):
        return timedelta(minutes=15)
    return timedelta(minutes=5)


def plan_read(query: GetFields, sensor_id: int, resolution: timedelta) -> ReadPlan:
    try:
        end = query.start + query.duration
    except OverflowError:
        end = datetime.max.replace(tzinfo=UTC)
    if not (EARLIEST <= query.start and end <= LATEST and resolution < LATEST - EARLIEST):
        raise ReadRejected(
            f"The window must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (the instants data can have)."
        )
    start = query.start
    step = query.resolution or (resolution if resolution > timedelta(0) else default_step(query.duration))
    if resolution == timedelta(0) or step == resolution:
        mode: Mode = "exact"
    else:
        mode = "downsample" if step > resolution else "upsample"
    if resolution > timedelta(0):  # events overlapping [start, end): start - R < s < end
        first, last = start - resolution + _MICROSECOND, end - _MICROSECOND
    else:
        first, last = start, end
    min_horizon, max_horizon = query.horizon, None
    if query.type == "GetMeterDataRequest":
        max_horizon = timedelta(0)
    elif query.type == "GetPrognosisRequest":
        min_horizon = max(query.horizon or timedelta(0), timedelta(0))
    plan = ReadPlan(
        sensor_id, start, end, step, resolution, mode, first, last, query.prior, min_horizon, max_horizon, query.source
    )
    if plan.slots > MAX_SLOTS:
        raise ReadRejected(
            f"That is {plan.slots} values; at most {MAX_SLOTS} per request. Ask for a coarser resolution."
        )
    return plan


def place_on_grid(plan: ReadPlan, offsets: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """The grid's values (NaN: none) from values at offsets (microseconds) from the window start.

    Data not on the grid start, start + step, ... (< end) is dropped; when resampling, so is a slot that does
    not lie fully inside [start, end] (as FlexMeasures resamples).
    """
    grid = np.full(plan.slots, np.nan)
    step = plan.step // _MICROSECOND
    limit = plan.slots if plan.mode == "exact" else (plan.end - plan.start) // plan.step
    at = np.asarray(offsets, dtype=np.int64)
    slot = at // step
    keep = (at % step == 0) & (slot >= 0) & (slot < limit)
    grid[slot[keep]] = np.asarray(values, dtype=float)[keep]
    return grid
