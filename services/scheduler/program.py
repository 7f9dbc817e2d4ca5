"""The storage scheduling problem as plain arrays: what ``problem.py`` builds and ``solve.py`` solves.

Internal units: power in MW (consumption positive), energy in MWh, prices per MWh (or per MW for breach and
peak prices), all in one shared currency. There are ``n`` slots of ``tau`` hours each; slot ``j`` runs from
instant ``t_j`` to ``t_{j+1}``, and every per-instant array (state-of-charge bounds, targets) is indexed by the
slot that *ends* at that instant, so index ``j`` means instant ``t_{j+1}``. Undefined entries are ``nan``;
unbounded limits are ``±inf``. Nothing here imports a solver: these types are the contract between the code
that reads flex-models and time series, and the code that optimises.

The program, for flexible devices ``d`` and slots ``j`` (see docs/scheduling.md for the derivation):

* variables ``p⁺[d,j] ≥ 0`` (charging), ``p⁻[d,j] ≤ 0`` (discharging), energy ``e[d,j+1]``, and a binary
  ``σ[d,j]`` that forbids charging and discharging in the same slot;
* ``e[d,j+1] = η_S e[d,j] + Λ(η_S) τ (η_C p⁺ + p⁻/η_D + gain)``, ``e[d,0] = soc_start``,
  with ``Λ(η) = 1`` for ``η = 1`` and ``(η − 1)/ln η`` otherwise;
* ``soc_lower ≤ e[d,j+1] ≤ soc_upper`` (targets already folded into the bounds by ``problem.py``);
* ``power_lower ≤ p⁺ + p⁻ ≤ power_upper``;
* site flow ``P[j] = Σ_d (p⁺ + p⁻) + inflexible[j]`` within ``[site_lower, site_upper]``;
* minimise the sum of the commitments' costs (each one a piecewise-linear penalty on a deviation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

Scope = Literal["site", "device_power", "device_energy"]
"""What a commitment is about: the site flow ``P[j]``, one device's flow ``p[d,j]``, or its energy ``e[d,j+1]``."""


@dataclass(frozen=True)
class Commitment:
    """A soft goal with a price on deviating from it.

    ``kind="each"``: per slot ``j`` with a defined ``quantity[j]``, ``x_j − q_j = δ↑_j + δ↓_j`` (``δ↑ ≥ 0``,
    ``δ↓ ≤ 0``), cost ``Σ_j up[j]·δ↑_j + down[j]·δ↓_j``. ``kind="any"``: one pair for the whole window,
    ``δ↑ ≥ max_j (x_j − q_j)``, ``δ↓ ≤ min_j (x_j − q_j)``, ``δ↑ ≥ 0 ≥ δ↓``, cost ``up[0]·δ↑ + down[0]·δ↓``
    (``up``/``down`` constant over the window). Penalties use ``down ≤ 0``.
    """

    name: str
    scope: Scope
    kind: Literal["each", "any"]
    quantity: Array  # length n, nan where the commitment does not apply
    up: Array  # length n: price per unit of upward deviation
    down: Array  # length n: price per unit of downward deviation (≤ 0 for a penalty)
    device: int = 0  # index into Program.devices, for the device scopes


@dataclass(frozen=True)
class Device:
    """One flexible storage device, every array of length ``n``."""

    sensor_id: int
    soc_start: float  # MWh at t_0
    soc_lower: Array  # MWh at t_{j+1}; -inf where unbounded
    soc_upper: Array  # MWh at t_{j+1}; +inf where unbounded
    power_lower: Array  # MW, ≤ 0 (−discharge limit; 0 for a consumer-only device)
    power_upper: Array  # MW, ≥ 0 (charge limit; 0 for a producer-only device)
    charging_efficiency: Array  # η_C, fraction
    discharging_efficiency: Array  # η_D, fraction
    storage_efficiency: Array  # η_S per slot, in [0, 1]
    gain: Array  # MW continuously added to the state of charge (soc-gain minus soc-usage)


@dataclass(frozen=True)
class Program:
    n: int
    tau: float  # slot length in hours
    devices: tuple[Device, ...]
    inflexible: Array  # MW, the summed flow of the inflexible devices (consumption positive)
    site_lower: Array  # MW, -inf where unbounded
    site_upper: Array  # MW, +inf where unbounded
    commitments: tuple[Commitment, ...] = field(default=())
    big_m: float = 1.0  # max(1, every |power bound| and |inflexible flow|): ties σ to p⁺/p⁻ where a bound is infinite


Status = Literal["optimal", "time_limit", "infeasible", "unbounded", "error", "fallback"]


@dataclass(frozen=True)
class Solution:
    """``status`` is ``"optimal"``, ``"time_limit"`` (``power`` holds the best solution found, if any),
    ``"infeasible"`` or ``"unbounded"``/``"error"`` (then ``power`` is empty and ``message`` says why), or
    ``"fallback"`` for the rule-based schedule that replaces an infeasible one (no optimisation)."""

    status: Status
    power: Array  # shape (len(devices), n), MW, consumption positive
    energy: Array  # shape (len(devices), n + 1), MWh, e[d,0] … e[d,n]
    objective: float
    message: str = ""
    used_milp: bool = False  # False when the LP relaxation sufficed (no simultaneous flow where it can pay)
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
