"""What a given schedule does under a ``Program``: its state of charge and the cost of its commitments.

Used for schedules that do not come from the solver (the fallback) and to cross-check the solver's objective.
"""

from __future__ import annotations

import numpy as np

from services.scheduler.program import Array, Commitment, Device, Program
from services.scheduler.solve import decay_factor


def state_of_charge(device: Device, power: Array, tau: float) -> Array:
    """``e_0 … e_n`` (MWh) under ``power`` (MW per slot, consumption positive), step by step through the recursion."""
    eta_s = np.clip(device.storage_efficiency, 0.0, 1.0)
    stored = (
        decay_factor(eta_s)
        * tau
        * (
            device.charging_efficiency * np.maximum(power, 0.0)
            + np.minimum(power, 0.0) / device.discharging_efficiency
            + device.gain
        )
    )
    energy = np.empty(len(power) + 1)
    energy[0] = device.soc_start
    for j in range(len(power)):
        energy[j + 1] = eta_s[j] * energy[j] + stored[j]
    return energy


def _scope(program: Program, commitment: Commitment, power: Array, energy: Array) -> Array:
    if commitment.scope == "site":
        site: Array = power.sum(axis=0) + program.inflexible
        return site
    if commitment.scope == "device_power":
        return np.asarray(power[commitment.device], dtype=np.float64)
    return np.asarray(energy[commitment.device, 1:], dtype=np.float64)


def commitment_cost(program: Program, commitment: Commitment, power: Array, energy: Array) -> float:
    """The commitment's cost at the optimum of its deviation variables (``up ≥ down`` per slot)."""
    defined = np.isfinite(commitment.quantity)
    deviation = (_scope(program, commitment, power, energy) - commitment.quantity)[defined]
    if not deviation.size:
        return 0.0
    if commitment.kind == "each":
        ups, downs = commitment.up[defined], commitment.down[defined]
        return float(ups @ np.maximum(deviation, 0.0) + downs @ np.minimum(deviation, 0.0))
    up, down = float(np.max(commitment.up[defined])), float(np.min(commitment.down[defined]))
    return up * max(0.0, float(deviation.max())) + down * min(0.0, float(deviation.min()))


def total_cost(program: Program, power: Array, energy: Array) -> float:
    """The program's objective for a schedule: the sum of its commitments' costs."""
    return sum((commitment_cost(program, c, power, energy) for c in program.commitments), 0.0)
