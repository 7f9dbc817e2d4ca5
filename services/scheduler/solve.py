"""Solve a storage ``Program`` with HiGHS: arrays in, arrays out, no modelling layer.

The program is built directly as a sparse column-wise matrix with numpy. Per flexible device ``d`` there are
three blocks of ``n`` columns: charging ``p⁺``, discharging ``p⁻`` and the state of charge ``e[d,1..n]`` (the
start ``e[d,0]`` is a constant). Rows: one recursion row per device and slot, a net-power row only where a power
bound is not already implied by the column bounds, one site row per slot with a finite site limit, and the rows
of the commitments (see ``_add_each`` and ``_add_any``).

Strategy: the LP relaxation (without the binaries) is solved first. If its optimum charges and discharges no
device at once in a slot where that could pay (``_waste_may_pay``; elsewhere ``_without_waste`` replaces such
flows at no extra cost), it is optimal for the MILP. Otherwise binaries ``σ`` with their two rows per device and
slot, and the headroom rows (``_add_headroom_rows``), are added to the same HiGHS instance and the MILP is solved.
Device-flow commitments at ``q = 0`` are costed on ``p⁺``/``p⁻`` directly (``_add_each``). ``solve(...,
plain=True)`` keeps the plain formulation for comparison. See docs/scheduling.md, "The optimisation program".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import numpy.typing as npt

from services.scheduler.program import Array, Commitment, Program, Solution, Status

IntArray = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

SIMULTANEITY_TOLERANCE = 1e-6
"""MW: charging and discharging the same device in one slot counts as simultaneous above this (HiGHS' default
MIP feasibility tolerance), relative to ``max(1, big_m)``."""

MIP_RELATIVE_GAP = 1e-7
"""HiGHS' default (1e-4) would stop up to 0.01 % above the optimum, more than the tie-breakers weigh."""

MIP_HEURISTICS_OFF = ("mip_heuristic_run_rins", "mip_heuristic_run_rens")
"""Sub-MIP heuristics that cost more than they find here: without them HiGHS spends about half the CPU time on the
MILPs of negative-price weeks (measured with highspy 1.16 on this project's benchmark programs)."""

_M = highspy.HighsModelStatus


@dataclass
class _Layout:
    """Where each device's columns start; ``n`` columns per block."""

    charge: list[int] = field(default_factory=list)
    discharge: list[int] = field(default_factory=list)
    energy: list[int] = field(default_factory=list)


class _Builder:
    """Collects columns, rows and matrix entries (as coordinates) and turns them into a HiGHS model."""

    def __init__(self) -> None:
        self.n_cols = 0
        self.n_rows = 0
        self.cost: list[Array] = []
        self.col_lower: list[Array] = []
        self.col_upper: list[Array] = []
        self.row_lower: list[Array] = []
        self.row_upper: list[Array] = []
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[Array] = []
        self.offset = 0.0

    def add_cols(self, cost: Array, lower: Array, upper: Array) -> int:
        first = self.n_cols
        self.cost.append(np.asarray(cost, dtype=np.float64))
        self.col_lower.append(np.asarray(lower, dtype=np.float64))
        self.col_upper.append(np.asarray(upper, dtype=np.float64))
        self.n_cols += len(cost)
        return first

    def add_rows(self, lower: Array, upper: Array) -> int:
        first = self.n_rows
        self.row_lower.append(np.asarray(lower, dtype=np.float64))
        self.row_upper.append(np.asarray(upper, dtype=np.float64))
        self.n_rows += len(lower)
        return first

    def add_entries(self, rows: IntArray, cols: IntArray, vals: Array | float) -> None:
        self.rows.append(rows)
        self.cols.append(cols)
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), rows.shape))

    def add_cost(self, cols: IntArray, cost: Array) -> None:
        """Add ``cost`` to existing columns (repeated columns accumulate)."""
        total = np.concatenate(self.cost)
        np.add.at(total, cols, cost)
        self.cost = [total]

    def lp(self) -> highspy.HighsLp:
        rows, cols, vals = _concat_int(self.rows), _concat_int(self.cols), _concat(self.vals)
        order = np.lexsort((rows, cols))
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = self.n_rows
        lp.col_cost_ = _concat(self.cost)
        lp.col_lower_ = _concat(self.col_lower)
        lp.col_upper_ = _concat(self.col_upper)
        lp.row_lower_ = _concat(self.row_lower)
        lp.row_upper_ = _concat(self.row_upper)
        lp.offset_ = self.offset
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = self.n_cols
        lp.a_matrix_.num_row_ = self.n_rows
        lp.a_matrix_.start_ = _starts(cols, self.n_cols)
        lp.a_matrix_.index_ = rows[order].astype(np.int32)
        lp.a_matrix_.value_ = vals[order]
        return lp


def _concat(parts: list[Array]) -> Array:
    return np.concatenate(parts) if parts else np.empty(0)


def _concat_int(parts: list[IntArray]) -> IntArray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _starts(cols: IntArray, n_cols: int) -> npt.NDArray[np.int32]:
    starts = np.zeros(n_cols + 1, dtype=np.int32)
    np.cumsum(np.bincount(cols, minlength=n_cols), out=starts[1:])
    return starts


def decay_factor(storage_efficiency: Array) -> Array:
    """``Λ(η) = (η − 1)/ln η`` (1 at η = 1, 0 at η = 0): the share of a uniform in-slot flow still stored at the
    slot's end when a fraction ``η`` of the content survives the whole slot."""
    eta = np.asarray(storage_efficiency, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = (eta - 1.0) / np.log(eta)
    return np.where(eta == 1.0, 1.0, np.where(eta <= 0.0, 0.0, factor))


def _invalid(program: Program) -> str:
    """Why the arrays break the contract in ``program.py`` (empty when they do not)."""
    n = program.n
    if not np.all(np.isfinite(program.inflexible)) or program.inflexible.shape != (n,):
        return f"inflexible flow must be {n} finite values"
    for name in ("site_lower", "site_upper"):
        if getattr(program, name).shape != (n,):
            return f"{name} must have {n} values"
    for k, d in enumerate(program.devices):
        for name in (
            "power_lower",
            "power_upper",
            "charging_efficiency",
            "discharging_efficiency",
            "storage_efficiency",
            "gain",
        ):
            values = getattr(d, name)
            if values.shape != (n,) or np.isnan(values).any():
                return f"device {k} (sensor {d.sensor_id}): {name} must be {n} values without nan"
        if (d.discharging_efficiency <= 0).any():
            return f"device {k} (sensor {d.sensor_id}): discharging efficiency must be positive"
        if d.soc_lower.shape != (n,) or d.soc_upper.shape != (n,) or not np.isfinite(d.soc_start):
            return f"device {k} (sensor {d.sensor_id}): state-of-charge bounds must have {n} values"
    for c in program.commitments:
        if c.scope != "site" and not 0 <= c.device < len(program.devices):
            return f"commitment {c.name!r} names device {c.device}, which does not exist"
        if c.quantity.shape != (n,) or c.up.shape != (n,) or c.down.shape != (n,):
            return f"commitment {c.name!r} must have {n} quantities and prices"
        defined = np.isfinite(c.quantity)
        if not (np.isfinite(c.up[defined]).all() and np.isfinite(c.down[defined]).all()):
            return f"commitment {c.name!r} has no price in a slot where it applies"
    return ""


def _build(program: Program, *, split: bool) -> tuple[_Builder, _Layout]:
    n, tau = program.n, program.tau
    b, layout = _Builder(), _Layout()
    slots = np.arange(n, dtype=np.int64)
    for d in program.devices:
        lower = np.minimum(d.power_lower, 0.0)
        upper = np.maximum(d.power_upper, 0.0)
        charge = b.add_cols(np.zeros(n), np.zeros(n), upper)
        discharge = b.add_cols(np.zeros(n), lower, np.zeros(n))
        energy = b.add_cols(
            np.zeros(n), np.nan_to_num(d.soc_lower, nan=-np.inf), np.nan_to_num(d.soc_upper, nan=np.inf)
        )
        layout.charge.append(charge)
        layout.discharge.append(discharge)
        layout.energy.append(energy)

        # e[j+1] − η_S e[j] − Λ τ η_C p⁺ − Λ τ p⁻/η_D = Λ τ g  (+ η_S e[0] on the first row)
        eta_s = np.clip(d.storage_efficiency, 0.0, 1.0)
        lam_tau = decay_factor(eta_s) * tau
        rhs = lam_tau * d.gain
        rhs[0] += eta_s[0] * d.soc_start
        first = b.add_rows(rhs, rhs)
        rows = first + slots
        b.add_entries(rows, energy + slots, 1.0)
        b.add_entries(rows[1:], energy + slots[:-1], -eta_s[1:])
        b.add_entries(rows, charge + slots, -lam_tau * d.charging_efficiency)
        b.add_entries(rows, discharge + slots, -lam_tau / d.discharging_efficiency)

        # The net bounds are implied by the column bounds unless a bound forces a direction.
        forced = np.flatnonzero((d.power_lower > 0) | (d.power_upper < 0))
        if forced.size:
            first = b.add_rows(d.power_lower[forced], d.power_upper[forced])
            rows = first + np.arange(forced.size, dtype=np.int64)
            b.add_entries(rows, charge + forced, 1.0)
            b.add_entries(rows, discharge + forced, 1.0)

    site_lower = np.nan_to_num(program.site_lower, nan=-np.inf)
    site_upper = np.nan_to_num(program.site_upper, nan=np.inf)
    limited = np.flatnonzero(np.isfinite(site_lower) | np.isfinite(site_upper))
    if limited.size:  # Σ_d p[d,j] within the site limits minus the inflexible flow
        flow = program.inflexible[limited]
        first = b.add_rows(site_lower[limited] - flow, site_upper[limited] - flow)
        _add_scope(b, program, layout, "site", 0, first + np.arange(limited.size, dtype=np.int64), limited)

    for c in program.commitments:
        if c.kind == "each":
            _add_each(b, program, layout, c, split=split)
        else:
            _add_any(b, program, layout, c)
    return b, layout


def _scope_columns(program: Program, layout: _Layout, scope: str, device: int, slots: IntArray) -> list[IntArray]:
    """The columns whose sum is the commitment's scope ``x_j`` at ``slots`` (each with coefficient 1)."""
    if scope == "site":
        return [first + slots for k in range(len(program.devices)) for first in (layout.charge[k], layout.discharge[k])]
    if scope == "device_power":
        return [layout.charge[device] + slots, layout.discharge[device] + slots]
    return [layout.energy[device] + slots]


def _scope_constant(program: Program, scope: str, slots: IntArray) -> Array:
    return program.inflexible[slots] if scope == "site" else np.zeros(slots.size)


def _add_scope(
    b: _Builder, program: Program, layout: _Layout, scope: str, device: int, rows: IntArray, slots: IntArray
) -> None:
    for cols in _scope_columns(program, layout, scope, device, slots):
        b.add_entries(rows, cols, 1.0)


def _add_each(b: _Builder, program: Program, layout: _Layout, c: Commitment, *, split: bool) -> None:
    """Per slot ``x_j − q_j = δ↑_j + δ↓_j``, cost ``up_j δ↑_j + down_j δ↓_j``.

    Where ``up_j = down_j`` the cost is linear in ``x_j``, so it goes straight onto the scope's columns (and a
    constant offset) without deviation columns or a row: the common case of equal consumption and production prices.
    With ``split``, a device-flow commitment with ``q_j = 0`` and ``up_j ≥ 0 ≥ down_j`` (``prefer-curtailing-later``)
    goes onto the device's columns as ``up_j p⁺ + down_j p⁻``, equal to its cost wherever the device does not
    charge and discharge at once, and higher where it does (the LP relaxation gets tighter, never looser).
    """
    defined = np.isfinite(c.quantity)
    linear = np.flatnonzero(defined & (c.up == c.down) & (c.up != 0))
    if linear.size:
        price = c.up[linear]
        for cols in _scope_columns(program, layout, c.scope, c.device, linear):
            b.add_cost(cols, price)
        b.offset += float(price @ (_scope_constant(program, c.scope, linear) - c.quantity[linear]))
    kinked = defined & (c.up != c.down)
    if c.scope == "device_power" and split:
        at_zero = np.flatnonzero(kinked & (c.quantity == 0) & (c.up >= 0) & (c.down <= 0))
        b.add_cost(layout.charge[c.device] + at_zero, c.up[at_zero])
        b.add_cost(layout.discharge[c.device] + at_zero, c.down[at_zero])
        kinked[at_zero] = False
    kinked = np.flatnonzero(kinked)
    if not kinked.size:
        return
    m = kinked.size
    up_cols = b.add_cols(c.up[kinked], np.zeros(m), np.full(m, np.inf))
    down_cols = b.add_cols(c.down[kinked], np.full(m, -np.inf), np.zeros(m))
    rhs = c.quantity[kinked] - _scope_constant(program, c.scope, kinked)
    rows = b.add_rows(rhs, rhs) + np.arange(m, dtype=np.int64)
    _add_scope(b, program, layout, c.scope, c.device, rows, kinked)
    b.add_entries(rows, up_cols + np.arange(m, dtype=np.int64), -1.0)
    b.add_entries(rows, down_cols + np.arange(m, dtype=np.int64), -1.0)


def _add_any(b: _Builder, program: Program, layout: _Layout, c: Commitment) -> None:
    """One pair for the window: ``δ↑ ≥ x_j − q_j`` and ``δ↓ ≤ x_j − q_j`` for every defined ``j``, ``δ↑ ≥ 0 ≥ δ↓``,
    cost ``up·δ↑ + down·δ↓``. A side whose price is 0 costs nothing and gets no rows. ``up`` is read as its
    largest and ``down`` as its smallest value over the window (commitments.py makes both constant)."""
    slots = np.flatnonzero(np.isfinite(c.quantity))
    if not slots.size:
        return
    m = slots.size
    rhs = c.quantity[slots] - _scope_constant(program, c.scope, slots)
    unbounded = np.full(m, np.inf)
    up, down = float(np.max(c.up[slots])), float(np.min(c.down[slots]))
    if up != 0:  # x_j − δ↑ ≤ q_j − const_j
        col = b.add_cols(np.array([up]), np.zeros(1), np.full(1, np.inf))
        rows = b.add_rows(-unbounded, rhs) + np.arange(m, dtype=np.int64)
        _add_scope(b, program, layout, c.scope, c.device, rows, slots)
        b.add_entries(rows, np.full(m, col, dtype=np.int64), -1.0)
    if down != 0:  # x_j − δ↓ ≥ q_j − const_j
        col = b.add_cols(np.array([down]), np.full(1, -np.inf), np.zeros(1))
        rows = b.add_rows(rhs, unbounded) + np.arange(m, dtype=np.int64)
        _add_scope(b, program, layout, c.scope, c.device, rows, slots)
        b.add_entries(rows, np.full(m, col, dtype=np.int64), -1.0)


def _add_rows(
    h: highspy.Highs, upper: list[Array], rows: list[IntArray], cols: list[IntArray], vals: list[Array]
) -> None:
    """Append ``−inf ≤ A x ≤ upper`` from coordinates (row numbers counted from the first new row)."""
    n_rows = sum(len(u) for u in upper)
    r, c, v = _concat_int(rows), _concat_int(cols), _concat(vals)
    order = np.lexsort((c, r))
    starts = np.zeros(n_rows, dtype=np.int32)
    np.cumsum(np.bincount(r, minlength=n_rows)[:-1], out=starts[1:])
    h.addRows(n_rows, np.full(n_rows, -np.inf), _concat(upper), r.size, starts, c[order].astype(np.int32), v[order])


def _add_binaries(h: highspy.Highs, program: Program, layout: _Layout, where: list[Mask]) -> list[IntArray]:
    """Add ``σ[d,j]`` with ``p⁺ ≤ M⁺σ`` and ``−p⁻ ≤ M⁻(1 − σ)`` in the slots ``where[d]`` (slots where the device
    can go both ways); return each device's ``σ`` columns.

    ``M⁺``/``M⁻`` are the slot's own power bounds (tighter than one big M, same integer feasible set); the
    program's ``big_m`` only stands in for an infinite bound.
    """
    first_col = h.getNumCol()
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[Array] = []
    row_upper: list[Array] = []
    sigmas: list[IntArray] = []
    n_sigma = 0
    for k, d in enumerate(program.devices):
        both = np.flatnonzero(where[k])
        m = both.size
        sigma = first_col + n_sigma + np.arange(m, dtype=np.int64)
        sigmas.append(sigma)
        if not m:
            continue
        big_up = np.where(np.isfinite(d.power_upper[both]), d.power_upper[both], program.big_m)
        big_down = np.where(np.isfinite(d.power_lower[both]), -d.power_lower[both], program.big_m)
        charge_rows = 2 * n_sigma + np.arange(m, dtype=np.int64)
        discharge_rows = charge_rows + m
        rows += [charge_rows, charge_rows, discharge_rows, discharge_rows]
        cols += [layout.charge[k] + both, sigma, layout.discharge[k] + both, sigma]
        vals += [np.ones(m), -big_up, -np.ones(m), big_down]
        row_upper += [np.zeros(m), big_down]
        n_sigma += m
    if not n_sigma:
        return sigmas
    no_entries = np.zeros(n_sigma, dtype=np.int32)
    h.addCols(n_sigma, np.zeros(n_sigma), np.zeros(n_sigma), np.ones(n_sigma), 0, no_entries, no_entries, np.zeros(0))
    _add_rows(h, row_upper, rows, cols, vals)
    h.changeColsIntegrality(
        n_sigma,
        np.arange(first_col, first_col + n_sigma, dtype=np.int32),
        np.full(n_sigma, highspy.HighsVarType.kInteger),
    )
    return sigmas


def _add_headroom_rows(
    h: highspy.Highs, program: Program, layout: _Layout, where: list[Mask], sigmas: list[IntArray]
) -> None:
    """Rows valid for the MILP that its LP relaxation breaks by charging and discharging at once: in a slot
    ``j`` that charges (``σ = 1``) the charge fits below the next upper state-of-charge bound ``U``, and in a
    slot that discharges (``σ = 0``) the discharge comes out of the content above the next lower bound ``L``::

        Λτη_C p⁺_j + η_S e_j + K σ_j ≤ U_{j+1} − Λτg_j + K,      K = max(0, η_S U_j + Λτg_j − U_{j+1})
        −Λτ p⁻_j/η_D − η_S e_j − K' σ_j ≤ Λτg_j − L_{j+1},       K' = max(0, L_{j+1} − Λτg_j − η_S L_j)

    ``K`` and ``K'`` make each row hold for every state of charge when its direction is switched off (``e_0``
    is the constant start). Slots whose bounds are infinite get no row. Measured: the root LP bound of the
    benchmark's negative-price week moves about half-way from the LP relaxation to the optimum.
    """
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[Array] = []
    upper: list[Array] = []
    n_rows = 0

    def add(slots: IntArray, power_col: IntArray, power: Array, energy: Array, sigma: IntArray, big: Array) -> None:
        """Rows ``power·p_j + energy·e_j + big·σ_j`` for ``slots`` (no ``e_j`` term for ``j = 0``)."""
        nonlocal n_rows
        r = n_rows + np.arange(slots.size, dtype=np.int64)
        previous = np.flatnonzero(slots > 0)
        rows.extend([r, r, r[previous]])
        cols.extend([power_col, sigma, energy_first + slots[previous] - 1])
        vals.extend([power, big, energy[previous]])
        n_rows += slots.size

    for k, d in enumerate(program.devices):
        slots = np.flatnonzero(where[k])
        energy_first = layout.energy[k]
        eta_s = np.clip(d.storage_efficiency, 0.0, 1.0)[slots]
        lam_tau = decay_factor(np.clip(d.storage_efficiency, 0.0, 1.0))[slots] * program.tau
        gain = lam_tau * d.gain[slots]
        before = np.maximum(slots - 1, 0)
        start = np.where(slots > 0, 0.0, eta_s * d.soc_start)  # η_S e_0 moves to the right-hand side
        bound_next = d.soc_upper[slots]
        bound_now = np.where(slots > 0, d.soc_upper[before], d.soc_start)
        ok = np.flatnonzero(np.isfinite(bound_next) & np.isfinite(bound_now))
        big = np.maximum(0.0, eta_s[ok] * bound_now[ok] + gain[ok] - bound_next[ok])
        power = lam_tau[ok] * d.charging_efficiency[slots[ok]]
        add(slots[ok], layout.charge[k] + slots[ok], power, eta_s[ok], sigmas[k][ok], big)
        upper.append(bound_next[ok] - gain[ok] + big - start[ok])
        bound_next = d.soc_lower[slots]
        bound_now = np.where(slots > 0, d.soc_lower[before], d.soc_start)
        ok = np.flatnonzero(np.isfinite(bound_next) & np.isfinite(bound_now))
        big = np.maximum(0.0, bound_next[ok] - gain[ok] - eta_s[ok] * bound_now[ok])
        power = -lam_tau[ok] / d.discharging_efficiency[slots[ok]]
        add(slots[ok], layout.discharge[k] + slots[ok], power, -eta_s[ok], sigmas[k][ok], -big)
        upper.append(gain[ok] - bound_next[ok] + start[ok])
    if n_rows:
        _add_rows(h, upper, rows, cols, vals)


def _two_way(program: Program) -> list[Mask]:
    """Per device, the slots where it can both charge and discharge."""
    return [(d.power_upper > 0) & (d.power_lower < 0) for d in program.devices]


def _cheapest_slope(program: Program, scope: str, device: int) -> Array:
    """Per slot ``j``, a lower bound on the slope of the commitments' cost in a device's flow ``p[d,j]`` through
    the commitments of ``scope`` (``"site"``: those on the site flow; ``"device_power"``: those on device
    ``device``'s flow). ``each``: ``min(up_j, down_j)``; ``any``: ``min(0, up) + min(0, down)`` (its cost moves
    with ``x_j`` only while ``x_j`` is the window's extreme)."""
    slope = np.zeros(program.n)
    for c in program.commitments:
        if c.scope != scope or (scope == "device_power" and c.device != device):
            continue
        defined = np.isfinite(c.quantity)
        if c.kind == "each":
            slope += np.where(defined, np.minimum(c.up, c.down), 0.0)
        elif defined.any():
            up, down = float(np.max(c.up[defined])), float(np.min(c.down[defined]))
            slope += np.where(defined, min(0.0, up) + min(0.0, down), 0.0)
    return slope


def _waste_may_pay(program: Program) -> list[Mask]:
    """Per device, the slots where charging and discharging at once might lower the cost: the only slots that
    need a binary. Elsewhere every simultaneous flow can be replaced by ``_without_waste`` at no extra cost.

    Replacing ``p⁺ = c``, ``p⁻ = −d`` (both nonzero) by the one-way flow with the same ``η_C c − d/η_D`` keeps the
    state of charge in every slot and lowers the device's flow by ``(1 − η_C η_D)·(removed charge)``. The flow is
    unchanged when ``η_C η_D = 1`` (no slot needs a binary). When ``η_C η_D < 1`` lowering it cannot cost more if
    the site's lower limit cannot bind in that slot (``site_lower − inflexible ≤ Σ_d power_lower``) and the
    cheapest slope of the cost in that flow (site and device commitments together, ``_cheapest_slope``) is not
    negative: consuming is never rewarded there. A device with ``η_C η_D > 1`` keeps its binaries in every slot.
    """
    site_lower = np.nan_to_num(program.site_lower, nan=-np.inf)
    floor = np.sum([np.minimum(d.power_lower, 0.0) for d in program.devices], axis=0)
    site_cannot_bind = site_lower - program.inflexible <= floor
    site_slope = _cheapest_slope(program, "site", 0)
    needed = []
    for k, (d, two_way) in enumerate(zip(program.devices, _two_way(program), strict=True)):
        roundtrip = d.charging_efficiency * d.discharging_efficiency
        harmless = site_cannot_bind & (site_slope + _cheapest_slope(program, "device_power", k) >= 0)
        needed.append(two_way & ((roundtrip > 1) | ((roundtrip < 1) & ~harmless)))
    return needed


def _without_waste(program: Program, layout: _Layout, x: Array, keep: list[Mask]) -> Array:
    """``x`` with every simultaneous charge and discharge outside ``keep`` replaced by the one-way flow that
    stores the same energy, ``η_C p⁺ + p⁻/η_D`` (see ``_waste_may_pay``)."""
    x = x.copy()
    n = program.n
    for k, d in enumerate(program.devices):
        ch, dis = layout.charge[k], layout.discharge[k]
        charge, discharge = x[ch : ch + n], x[dis : dis + n]
        both = np.flatnonzero((charge > 0) & (discharge < 0) & ~keep[k])
        if not both.size:
            continue
        eta_c, eta_d = d.charging_efficiency[both], d.discharging_efficiency[both]
        stored = eta_c * charge[both] + discharge[both] / eta_d
        with np.errstate(divide="ignore", invalid="ignore"):
            charging = np.where(stored > 0, stored / eta_c, 0.0)
        x[ch + both] = charging
        x[dis + both] = np.where(stored > 0, 0.0, stored * eta_d)
    return x


def _simultaneous(program: Program, layout: _Layout, x: Array, where: list[Mask]) -> bool:
    """Whether ``x`` charges and discharges some device at once in some slot of ``where``."""
    tol = SIMULTANEITY_TOLERANCE * max(1.0, program.big_m)
    n = program.n
    return any(
        bool(np.any(np.minimum(x[ch : ch + n], -x[dis : dis + n])[slots] > tol))
        for ch, dis, slots in zip(layout.charge, layout.discharge, where, strict=True)
    )


def _schedule(program: Program, layout: _Layout, x: Array) -> tuple[Array, Array]:
    n = program.n
    power = np.empty((len(program.devices), n))
    energy = np.empty((len(program.devices), n + 1))
    for k, d in enumerate(program.devices):
        power[k] = x[layout.charge[k] : layout.charge[k] + n] + x[layout.discharge[k] : layout.discharge[k] + n]
        energy[k, 0] = d.soc_start
        energy[k, 1:] = x[layout.energy[k] : layout.energy[k] + n]
    return power, energy


def solve(program: Program, *, time_limit: float = 10.0, plain: bool = False) -> Solution:
    """Minimise the program's commitment costs; an infeasible or unbounded program is a status, not an exception.

    ``time_limit`` (seconds) covers the LP relaxation and, when needed, the MILP together. When it runs out during
    the MILP, the best schedule found so far is returned with status ``"time_limit"`` (empty if none was found).

    ``plain=True`` solves the plain formulation instead (the MILP whenever the LP optimum is simultaneous in any
    slot, no headroom rows, HiGHS' presolve on): the same optimum, slower; ``bench/solve.py`` and the tests
    compare the two.
    """
    started = time.perf_counter()
    empty = np.empty((len(program.devices), 0))
    problem = _invalid(program)
    if problem:
        return Solution("error", empty, empty, float("nan"), f"invalid program: {problem}")
    if program.n == 0:
        start = np.array([[d.soc_start] for d in program.devices]).reshape(len(program.devices), 1)
        return Solution("optimal", empty, start, 0.0, "no slots to schedule")
    builder, layout = _build(program, split=not plain)
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", MIP_RELATIVE_GAP)
    h.passModel(builder.lp())
    build_seconds = time.perf_counter() - started
    solve_seconds = 0.0

    def run() -> highspy.HighsModelStatus:
        nonlocal solve_seconds
        solving = time.perf_counter()
        h.run()
        solve_seconds += time.perf_counter() - solving
        return h.getModelStatus()

    status = run()
    if status == _M.kUnboundedOrInfeasible:
        h.setOptionValue("presolve", "off")  # without presolve the simplex tells the two apart
        status = run()
        h.setOptionValue("presolve", "choose")
    used_milp = False
    two_way = _two_way(program)
    needed = two_way if plain else _waste_may_pay(program)
    if status == _M.kOptimal and _simultaneous(program, layout, np.asarray(h.getSolution().col_value), needed):
        extending = time.perf_counter()
        # Binaries in every two-way slot, not only the needed ones: HiGHS fixes the others itself and, measured,
        # solves faster with them than without (docs/scheduling.md, "LP first, MILP when needed").
        sigmas = _add_binaries(h, program, layout, two_way)
        if not plain:
            _add_headroom_rows(h, program, layout, two_way, sigmas)
            h.setOptionValue("presolve", "off")
        for heuristic in MIP_HEURISTICS_OFF:
            h.setOptionValue(heuristic, False)
        h.setOptionValue("time_limit", max(float(time_limit) - (time.perf_counter() - started), 0.0))
        build_seconds += time.perf_counter() - extending
        used_milp = True
        status = run()

    info = h.getInfo()
    outcome = solution_status(status)
    usable = status == _M.kOptimal or (
        # Stopped early: keep the best solution only if it is one (the LP's may charge and discharge at once).
        status == _M.kTimeLimit
        and info.primal_solution_status == 2
        and (used_milp or not _simultaneous(program, layout, np.asarray(h.getSolution().col_value), needed))
    )
    if status == _M.kModelEmpty or usable:
        x = _without_waste(program, layout, np.asarray(h.getSolution().col_value), needed)
        power, energy = _schedule(program, layout, x)
        objective = builder.offset if status == _M.kModelEmpty else float(info.objective_function_value)
        message = ""
        if outcome == "time_limit":
            message = f"time limit of {time_limit:g} s reached; best schedule found (MIP gap {info.mip_gap:.3g})"
        return Solution(outcome, power, energy, objective, message, used_milp, build_seconds, solve_seconds)
    messages = {
        "time_limit": f"time limit of {time_limit:g} s reached before any schedule was found",
        "infeasible": "the constraints cannot all be met",
        "unbounded": "the objective is unbounded (some price rewards an unlimited deviation)",
    }
    message = messages.get(outcome, f"HiGHS ended with: {h.modelStatusToString(status)}")
    return Solution(outcome, empty, empty, float("nan"), message, used_milp, build_seconds, solve_seconds)


def solution_status(status: highspy.HighsModelStatus) -> Status:
    """HiGHS' model status as ``Solution.status``; a time limit is ``"time_limit"`` with or without a schedule."""
    if status in (_M.kOptimal, _M.kModelEmpty):
        return "optimal"
    if status == _M.kTimeLimit:
        return "time_limit"
    if status == _M.kInfeasible:
        return "infeasible"
    if status == _M.kUnbounded:
        return "unbounded"
    return "error"  # also kUnboundedOrInfeasible when even the simplex without presolve cannot tell
