"""The fallback schedule that replaces an infeasible storage schedule: simple rules, no optimisation.

Charge power is the smallest upper power bound over the window when the device is a consumer (else 0); discharge
power is the smallest (in magnitude) lower bound when it is a producer (else 0), so a device flagged as neither
stays idle. Then, in this order:

* the first state-of-charge target above the start → charge each slot as long as the energy charged so far
  (``τ·Σ p``, before losses) does not exceed the difference, then idle; below the start → discharge likewise;
* else the first upper bound below the start → discharge until the energy discharged reaches the difference
  (the slot that crosses it included: the point is to get back within bounds);
* else the first lower bound above the start → charge until it is reached, likewise;
* else idle.
"""

from __future__ import annotations

import numpy as np

from services.scheduler.evaluate import state_of_charge, total_cost
from services.scheduler.program import Array, Program, Solution


def _until_target(rate: float, tau: float, n: int, difference: float) -> Array:
    """``rate`` in every slot whose cumulative energy stays within ``difference`` (same sign as ``rate``)."""
    cumulative = tau * rate * np.arange(1, n + 1)
    return np.where(np.abs(cumulative) <= abs(difference) + 1e-12, rate, 0.0)


def _until_bound(rate: float, tau: float, n: int, difference: float) -> Array:
    """``rate`` in every slot that starts before the cumulative energy has reached ``difference``."""
    before = tau * rate * np.arange(n)
    return np.where(np.abs(before) < abs(difference), rate, 0.0)


def fallback(program: Program, first_target: float | None, *, is_consumer: bool, is_producer: bool) -> Solution:
    """The fallback schedule for a single-device ``program``.

    ``first_target`` is the first defined state-of-charge target in MWh (None without targets); the program's
    bounds alone do not tell targets apart from minima and maxima. The result has status ``"fallback"``, the
    state of charge simulated step by step and the objective the schedule would cost.
    """
    if len(program.devices) != 1:
        raise ValueError("the fallback schedules exactly one device")
    device, n, tau = program.devices[0], program.n, program.tau
    charge = float(np.min(device.power_upper)) if is_consumer and n else 0.0
    discharge = float(np.max(device.power_lower)) if is_producer and n else 0.0
    charge, discharge = max(charge, 0.0), min(discharge, 0.0)
    start = device.soc_start
    upper = device.soc_upper[np.isfinite(device.soc_upper)]
    lower = device.soc_lower[np.isfinite(device.soc_lower)]

    if first_target is not None and first_target > start:
        power, rule = _until_target(charge, tau, n, first_target - start), "charging towards the first target"
    elif first_target is not None and first_target < start:
        power, rule = _until_target(discharge, tau, n, first_target - start), "discharging towards the first target"
    elif upper.size and upper[0] < start:
        power, rule = _until_bound(discharge, tau, n, upper[0] - start), "discharging below the first upper bound"
    elif lower.size and lower[0] > start:
        power, rule = _until_bound(charge, tau, n, lower[0] - start), "charging above the first lower bound"
    else:
        power, rule = np.zeros(n), "idle"
    schedule = power.reshape(1, n)
    energy = state_of_charge(device, power, tau).reshape(1, n + 1)
    objective = total_cost(program, schedule, energy)
    return Solution("fallback", schedule, energy, objective, f"fallback schedule: {rule}")
