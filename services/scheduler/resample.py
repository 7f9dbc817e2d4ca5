"""Placing a sensor's events on the schedule's grid (pure): one value per slot or per instant, ``nan`` if unknown.

Times are integer microseconds since the epoch. ``"flow"``: the value of slot ``[t_j, t_j + Δ)`` is the
time-weighted mean of the events overlapping it (an event as long as the slot and aligned with it gives its own
value, a longer event covers several slots, shorter ones are averaged); instantaneous events (resolution 0)
count when they start inside the slot. ``"instant"``: the value at ``t_i`` is the event that covers it
(``s ≤ t_i < s + r``), or for instantaneous events the one at exactly ``t_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    return (value - _EPOCH) // _US


def on_grid(
    events: Sequence[tuple[datetime, float]],
    event_resolution: timedelta,
    start: datetime,
    step: timedelta,
    n: int,
    kind: str,
) -> Array:
    """``n`` slot values (``kind="flow"``) or ``n + 1`` instant values (``kind="instant"``)."""
    size = n + 1 if kind == "instant" else n
    out = np.full(size, np.nan)
    if not events or n <= 0:
        return out
    t0, dt, r = micros(start), step // _US, event_resolution // _US
    starts = np.fromiter((micros(s) for s, _ in events), dtype=np.int64, count=len(events))
    values = np.fromiter((v for _, v in events), dtype=np.float64, count=len(events))
    if kind == "instant":
        return _instants(starts, values, r, t0, dt, size)
    if r == dt and np.all((starts - t0) % dt == 0):  # the common case: the sensor has the schedule's grid
        idx = (starts - t0) // dt
        keep = (idx >= 0) & (idx < n)
        out[idx[keep]] = values[keep]
        return out
    if r == 0:
        return _instant_flows(starts, values, t0, dt, n)
    return _weighted(starts, values, r, t0, dt, n)


def _instants(starts: npt.NDArray[np.int64], values: Array, r: int, t0: int, dt: int, size: int) -> Array:
    out = np.full(size, np.nan)
    instants = t0 + dt * np.arange(size, dtype=np.int64)
    pos = np.searchsorted(starts, instants, side="right") - 1  # the last event starting at or before each instant
    valid = pos >= 0
    found = np.where(valid, pos, 0)
    covers = valid & ((instants < starts[found] + r) if r > 0 else (starts[found] == instants))
    out[covers] = values[found[covers]]
    return out


def _instant_flows(starts: npt.NDArray[np.int64], values: Array, t0: int, dt: int, n: int) -> Array:
    idx = np.floor_divide(starts - t0, dt)
    keep = (idx >= 0) & (idx < n)
    sums = np.bincount(idx[keep], weights=values[keep], minlength=n)
    counts = np.bincount(idx[keep], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _weighted(starts: npt.NDArray[np.int64], values: Array, r: int, t0: int, dt: int, n: int) -> Array:
    weighted = np.zeros(n)
    covered = np.zeros(n)
    for s, v in zip(starts.tolist(), values.tolist(), strict=True):
        first = max((s - t0) // dt, 0)
        last = min((s + r - 1 - t0) // dt, n - 1)
        for j in range(first, last + 1):
            lo, hi = t0 + j * dt, t0 + (j + 1) * dt
            overlap = min(hi, s + r) - max(lo, s)
            if overlap > 0:
                weighted[j] += v * overlap
                covered[j] += overlap
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(covered > 0, weighted / np.maximum(covered, 1), np.nan)
