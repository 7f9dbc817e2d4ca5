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
    issues: list[str] = []
    low = high = device.soc_start
    for j in range(grid.n):
        t = grid.slot_start(j).isoformat()
        lower, upper = device.soc_lower[j], device.soc_upper[j]
        if lower > upper:
            target_note = f" (soc-target {targets[j]:.6g} MWh)" if not np.isnan(targets[j]) else ""
            issues.append(f"t={t} | soc lower bound {lower:.6g} MWh > soc upper bound {upper:.6g} MWh{target_note}")
            low, high = _step(device, grid, j, low, high)
            continue
        reach_low, reach_high = _step(device, grid, j, low, high)
        if reach_high < lower - 1e-9 or reach_low > upper + 1e-9:
            what = f"soc-target {targets[j]:.6g} MWh" if not np.isnan(targets[j]) else f"[{lower:.6g}, {upper:.6g}] MWh"
            issues.append(
                f"t={t} | {what} at {grid.slot_start(j + 1).isoformat()} is out of reach: "
                f"from [{low:.6g}, {high:.6g}] MWh the device can reach [{reach_low:.6g}, {reach_high:.6g}] MWh "
                f"in one slot (power between {device.power_lower[j]:.6g} and {device.power_upper[j]:.6g} MW)"
            )
            low, high = max(lower, min(reach_low, upper)), min(upper, max(reach_high, lower))
        else:
            low, high = max(lower, reach_low), min(upper, reach_high)
    if issues:
        shown = issues[:MAX_LINES]
        if len(issues) > MAX_LINES:
            shown.append(f"... and {len(issues) - MAX_LINES} more")
        raise SchedulingFailed("ValueError", PREFIX + "\n".join(shown))


def _step(device: Device, grid: Grid, j: int, low: float, high: float) -> tuple[float, float]:
    eta_s = float(device.storage_efficiency[j])
    factor = decay_factor(eta_s) * grid.tau
    gain = float(device.gain[j])
    discharge = min(0.0, float(device.power_lower[j])) / float(device.discharging_efficiency[j])
    charge = max(0.0, float(device.power_upper[j])) * float(device.charging_efficiency[j])
    return eta_s * low + factor * (discharge + gain), eta_s * high + factor * (charge + gain)
