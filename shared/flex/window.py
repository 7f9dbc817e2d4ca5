"""The planning window: start, end (possibly extended to reach the last soc-target) and the slot grid."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from shared.errors import FlexRejected
from shared.flex.quantities import Series, Variable
from shared.flex.storage import SOC_FIELDS, StorageFlexModel


def slot_count(start: datetime, end: datetime, resolution: timedelta) -> int:
    """N = ⌈(end − start) / Δ⌉."""
    return math.ceil((end - start) / resolution)


def max_horizon(value: int | timedelta | None, resolution: timedelta) -> timedelta | None:
    """The max planning horizon as a duration: an integer counts slots of the sensor's resolution."""
    if isinstance(value, int):
        return value * resolution
    return value


def extended_end(start: datetime, end: datetime, model: StorageFlexModel, horizon: timedelta | None) -> datetime:
    """Move the end to the last soc-target instant when that lies later, but no further than start + horizon.

    Only listed targets extend the window; targets from a sensor do not.
    """
    targets = model.soc_targets
    if not isinstance(targets, Series) or not targets.segments:
        return end
    latest = max(segment.end for segment in targets.segments)
    if latest <= end:
        return end
    return latest if horizon is None else min(latest, start + horizon)


def check_soc_instants(model: StorageFlexModel, start: datetime, end: datetime, resolution: timedelta) -> None:
    """Refuse SoC segments that would silently do nothing.

    A target after the (possibly extended) end is refused, naming the max planning horizon. A minimum, maximum or
    target segment inside the window that covers none of the grid instants t_1 … t_N (because it sits at the
    schedule start or between grid instants) is refused, naming the grid.
    """
    n = slot_count(start, end, resolution)
    last = start + n * resolution
    errors: dict[str, list[str]] = {}
    for wire in SOC_FIELDS:
        value: Variable | None = getattr(model, wire.replace("-", "_"))
        if not isinstance(value, Series):
            continue
        for segment in value.segments:
            if wire == "soc-targets" and segment.end > end:
                errors.setdefault(wire, []).append(
                    f"Target at {segment.end.isoformat()} lies beyond the end of the planning window "
                    f"({end.isoformat()}); ask for a longer duration (the max planning horizon applies)."
                )
                continue
            if segment.end < start or segment.start > last:
                continue  # a bound entirely outside the window does not apply
            first_index = max(1, math.ceil((segment.start - start) / resolution))
            if start + first_index * resolution > min(segment.end, last):
                errors.setdefault(wire, []).append(
                    f"The segment {_span(segment.start, segment.end)} covers no instant of the schedule grid "
                    f"(every {_minutes(resolution)} from {start.isoformat()}, excluding the start itself)."
                )
    if errors:
        raise FlexRejected(dict(errors))


def _span(start: datetime, end: datetime) -> str:
    return start.isoformat() if start == end else f"{start.isoformat()} – {end.isoformat()}"


def _minutes(resolution: timedelta) -> str:
    return f"{int(resolution.total_seconds() // 60)} minutes"
