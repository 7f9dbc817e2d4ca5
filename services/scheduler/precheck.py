"""The constraint pre-check: can the state of charge meet its hard bounds and targets with the power available?

Done in physical units: starting from ``soc_start``, the interval of energy contents reachable at each instant is
propagated with the same recursion the solver uses (full discharge at the lower power bound, full charge at the
upper one, storage losses and gains included) and intersected with the hard bounds. An empty intersection, or a
lower bound above the upper one, is a conflict the solver could only report as "infeasible"; here the job fails
with lines a user can act on. Site limits and inflexible devices are not part of this check (the solver and its
fallback handle those).
"""

from __future__ import annotations

import math

import numpy as np

from services.scheduler.program import Array, Device
from services.scheduler.series import Grid
from shared.errors import SchedulingFailed

PREFIX = "The input data yields an infeasible problem. Constraint validation has found the following issues:\n"
MAX_LINES = 20


def decay_factor(eta: float) -> float:
    """Λ(η) = 1 for η = 1, (η − 1)/ln η otherwise (0 for η = 0: everything is lost at once)."""
    if eta == 1:
        return 1.0
    if eta <= 0:
        return 0.0
    return (eta - 1) / math.log(eta)


def check(device: Device, grid: Grid, targets: Array) -> None:
    """Raise ``SchedulingFailed`` listing every instant whose bounds or targets cannot be met."""
    keep, fall, rise = _steps(device, grid)
    lowers, uppers = device.soc_lower.tolist(), device.soc_upper.tolist()
    issues: list[str] = []
    low = high = device.soc_start
    for j in range(grid.n):
        lower, upper = lowers[j], uppers[j]
        reach_low, reach_high = keep[j] * low + fall[j], keep[j] * high + rise[j]
        if lower > upper:
            issues.append(f"t={_at(grid, j)} | {_bounds_conflict(lower, upper, targets[j])}")
            low, high = reach_low, reach_high
        elif reach_high < lower - 1e-9 or reach_low > upper + 1e-9:
            issues.append(
                f"t={_at(grid, j)} | {_unreachable(device, grid, j, targets[j], (low, high), (reach_low, reach_high))}"
            )
            low, high = max(lower, min(reach_low, upper)), min(upper, max(reach_high, lower))
        else:
            low, high = max(lower, reach_low), min(upper, reach_high)
    if issues:
        shown = issues[:MAX_LINES]
        if len(issues) > MAX_LINES:
            shown.append(f"... and {len(issues) - MAX_LINES} more")
        raise SchedulingFailed("ValueError", PREFIX + "\n".join(shown))


def _steps(device: Device, grid: Grid) -> tuple[list[float], list[float], list[float]]:
    """Per slot: the fraction of energy kept, and the change from full discharge and from full charge."""
    keep = device.storage_efficiency
    factor = np.array([decay_factor(float(eta)) for eta in keep]) * grid.tau
    discharge = np.minimum(0.0, device.power_lower) / device.discharging_efficiency
    charge = np.maximum(0.0, device.power_upper) * device.charging_efficiency
    fall = factor * (discharge + device.gain)
    rise = factor * (charge + device.gain)
    return keep.tolist(), fall.tolist(), rise.tolist()


def _at(grid: Grid, j: int) -> str:
    return grid.slot_start(j).isoformat()


def _bounds_conflict(lower: float, upper: float, target: float) -> str:
    target_note = f" (soc-target {target:.6g} MWh)" if not np.isnan(target) else ""
    return f"soc lower bound {lower:.6g} MWh > soc upper bound {upper:.6g} MWh{target_note}"


def _unreachable(
    device: Device, grid: Grid, j: int, target: float, start: tuple[float, float], reach: tuple[float, float]
) -> str:
    lower, upper = device.soc_lower[j], device.soc_upper[j]
    what = f"soc-target {target:.6g} MWh" if not np.isnan(target) else f"[{lower:.6g}, {upper:.6g}] MWh"
    return (
        f"{what} at {grid.slot_start(j + 1).isoformat()} is out of reach: "
        f"from [{start[0]:.6g}, {start[1]:.6g}] MWh the device can reach [{reach[0]:.6g}, {reach[1]:.6g}] MWh "
        f"in one slot (power between {device.power_lower[j]:.6g} and {device.power_upper[j]:.6g} MW)"
    )
