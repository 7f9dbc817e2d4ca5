"""``solve`` finds the optimum: its objective equals that of an independent formulation of the same program.

The reference below is written separately from ``solve.py``: a dense formulation in ``scipy.optimize.milp``
where the state of charge is an expression of the powers (products of storage efficiencies, no SoC variables),
every device always has its binaries with the program's single big M, and every commitment always has its
deviation variables. Every schedule is then replayed step by step and checked against every constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from services.scheduler import commitments, problem
from services.scheduler.program import Array, Commitment, Device, Program
from services.scheduler.solve import solve
from shared.errors import SchedulingFailed
from tests.unit.test_problem import RANDOM_FLEX_CONTEXT, RANDOM_FLEX_MODEL, N, build, request_for

TOLERANCE = 1e-6
SEEDS = range(240)
SHARED_SITE_SEEDS = range(1000, 1060)
NEGATIVE_PRICE_SEEDS = range(2000, 2060)


def _relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(a), abs(b))


# ---------------------------------------------------------------- the independent reference formulation


@dataclass
class _Reference:
    status: str  # "optimal", "infeasible", "unbounded" or "other"
    objective: float


def _storage_factor(eta: float) -> float:
    if eta == 1.0:
        return 1.0
    if eta == 0.0:
        return 0.0
    return (eta - 1.0) / math.log(eta)


def reference(program: Program) -> _Reference:
    n, tau, devices = program.n, program.tau, program.devices
    n_power = 3 * n * len(devices)  # per device: p⁺, p⁻, σ
    cost: list[float] = [0.0] * n_power
    lower: list[float] = []
    upper: list[float] = []
    integrality: list[int] = []
    for d in devices:
        lower += [0.0] * n + list(np.minimum(d.power_lower, 0.0)) + [0.0] * n
        upper += list(np.maximum(d.power_upper, 0.0)) + [0.0] * n + [1.0] * n
        integrality += [0] * (2 * n) + [1] * n

    def charge(k: int, j: int) -> int:
        return 3 * n * k + j

    def discharge(k: int, j: int) -> int:
        return 3 * n * k + n + j

    def sigma(k: int, j: int) -> int:
        return 3 * n * k + 2 * n + j

    # Energy after slot j as (coefficients over the power variables, constant), unrolled from the start.
    energy_rows: list[list[tuple[Array, float]]] = []
    for k, d in enumerate(devices):
        coefficients = np.zeros(n_power)
        constant = d.soc_start
        rows = []
        for j in range(n):
            eta = float(min(max(d.storage_efficiency[j], 0.0), 1.0))
            a = _storage_factor(eta) * tau
            coefficients = eta * coefficients
            coefficients[charge(k, j)] += a * d.charging_efficiency[j]
            coefficients[discharge(k, j)] += a / d.discharging_efficiency[j]
            constant = eta * constant + a * d.gain[j]
            rows.append((coefficients.copy(), constant))
        energy_rows.append(rows)

    constraint_rows: list[tuple[dict[int, float], float, float]] = []

    def scope(c: Commitment, j: int) -> tuple[dict[int, float], float]:
        if c.scope == "site":
            terms = {}
            for k in range(len(devices)):
                terms[charge(k, j)] = 1.0
                terms[discharge(k, j)] = 1.0
            return terms, float(program.inflexible[j])
        if c.scope == "device_power":
            return {charge(c.device, j): 1.0, discharge(c.device, j): 1.0}, 0.0
        coefficients, constant = energy_rows[c.device][j]
        return {int(i): float(coefficients[i]) for i in np.flatnonzero(coefficients)}, constant

    def new_variable(price: float, low: float, high: float) -> int:
        cost.append(price)
        lower.append(low)
        upper.append(high)
        integrality.append(0)
        return len(cost) - 1

    for k, d in enumerate(devices):
        for j in range(n):
            constraint_rows.append(({charge(k, j): 1.0, discharge(k, j): 1.0}, d.power_lower[j], d.power_upper[j]))
            constraint_rows.append(({charge(k, j): 1.0, sigma(k, j): -program.big_m}, -np.inf, 0.0))
            constraint_rows.append(({discharge(k, j): -1.0, sigma(k, j): program.big_m}, -np.inf, program.big_m))
            coefficients, constant = energy_rows[k][j]
            terms = {int(i): float(coefficients[i]) for i in np.flatnonzero(coefficients)}
            constraint_rows.append((terms, d.soc_lower[j] - constant, d.soc_upper[j] - constant))
    for j in range(n):
        terms = {charge(k, j): 1.0 for k in range(len(devices))} | {discharge(k, j): 1.0 for k in range(len(devices))}
        flow = program.inflexible[j]
        constraint_rows.append((terms, program.site_lower[j] - flow, program.site_upper[j] - flow))

    for c in program.commitments:
        defined = [j for j in range(n) if np.isfinite(c.quantity[j])]
        if c.kind == "each":
            for j in defined:
                up = new_variable(float(c.up[j]), 0.0, np.inf)
                down = new_variable(float(c.down[j]), -np.inf, 0.0)
                terms, constant = scope(c, j)
                terms = terms | {up: -1.0, down: -1.0}
                rhs = c.quantity[j] - constant
                constraint_rows.append((terms, rhs, rhs))
        elif defined:
            up = new_variable(max(float(c.up[j]) for j in defined), 0.0, np.inf)
            down = new_variable(min(float(c.down[j]) for j in defined), -np.inf, 0.0)
            for j in defined:
                terms, constant = scope(c, j)
                rhs = c.quantity[j] - constant
                constraint_rows.append((terms | {up: -1.0}, -np.inf, rhs))
                constraint_rows.append((terms | {down: -1.0}, rhs, np.inf))

    matrix = np.zeros((len(constraint_rows), len(cost)))
    for i, (terms, _, _) in enumerate(constraint_rows):
        for col, value in terms.items():
            matrix[i, col] += value
    result = milp(
        np.array(cost),
        integrality=np.array(integrality),
        bounds=Bounds(np.array(lower), np.array(upper)),
        constraints=LinearConstraint(
            matrix, np.array([r[1] for r in constraint_rows]), np.array([r[2] for r in constraint_rows])
        ),
        options={"mip_rel_gap": 1e-9, "time_limit": 30.0},
    )
    status = {0: "optimal", 2: "infeasible", 3: "unbounded"}.get(result.status, "other")
    return _Reference(status, float(result.fun) if status == "optimal" else math.nan)


# ---------------------------------------------------------------- replaying a schedule


def replay(device: Device, power: Array, tau: float) -> Array:
    energy = [device.soc_start]
    for j, p in enumerate(power):
        eta = float(min(max(device.storage_efficiency[j], 0.0), 1.0))
        flow = device.charging_efficiency[j] * max(p, 0.0) + min(p, 0.0) / device.discharging_efficiency[j]
        energy.append(eta * energy[-1] + _storage_factor(eta) * tau * (flow + device.gain[j]))
    return np.array(energy)


def cost_of(program: Program, power: Array, energy: Array) -> float:
    total = 0.0
    for c in program.commitments:
        if c.scope == "site":
            x = power.sum(axis=0) + program.inflexible
        elif c.scope == "device_power":
            x = power[c.device]
        else:
            x = energy[c.device, 1:]
        defined = np.isfinite(c.quantity)
        deviation = x[defined] - c.quantity[defined]
        if not deviation.size:
            continue
        if c.kind == "each":
            up, down = c.up[defined], c.down[defined]
            total += float(np.sum(up * np.maximum(deviation, 0) + down * np.minimum(deviation, 0)))
        else:
            total += float(c.up[defined].max()) * max(0.0, float(deviation.max()))
            total += float(c.down[defined].min()) * min(0.0, float(deviation.min()))
    return total


def assert_schedule_keeps_every_constraint(program: Program, power: Array, energy: Array) -> None:
    slack = TOLERANCE * max(1.0, program.big_m)
    assert power.shape == (len(program.devices), program.n)
    for k, d in enumerate(program.devices):
        replayed = replay(d, power[k], program.tau)
        np.testing.assert_allclose(energy[k], replayed, atol=1e-6)
        assert np.all(replayed[1:] >= d.soc_lower - slack), "state of charge below its lower bound"
        assert np.all(replayed[1:] <= d.soc_upper + slack), "state of charge above its upper bound"
        assert np.all(power[k] >= d.power_lower - slack), "discharging beyond the power bound"
        assert np.all(power[k] <= d.power_upper + slack), "charging beyond the power bound"
    site = power.sum(axis=0) + program.inflexible
    assert np.all(site >= program.site_lower - slack), "site production beyond its limit"
    assert np.all(site <= program.site_upper + slack), "site consumption beyond its limit"


# ---------------------------------------------------------------- random programs


def _maybe_varying(rng: np.random.Generator, n: int, low: float, high: float) -> Array:
    if rng.random() < 0.5:
        return np.full(n, rng.uniform(low, high))
    return rng.uniform(low, high, n)


def random_device(rng: np.random.Generator, n: int, tau: float, index: int) -> tuple[Device, list[Commitment]]:
    capacity = float(rng.choice([0.5, 1.0, 2.0]))
    power_upper = np.full(n, capacity) if rng.random() < 0.85 else np.zeros(n)
    power_lower = np.full(n, -capacity) if rng.random() < 0.85 else np.zeros(n)
    if rng.random() < 0.3:
        power_upper = power_upper * rng.choice([0.5, 1.0], n)
    soc_max = rng.uniform(1.0, 4.0)
    soc_min = rng.uniform(0.0, 0.3) * soc_max if rng.random() < 0.5 else 0.0
    soc_lower, soc_upper = np.full(n, soc_min), np.full(n, soc_max)
    soc_start = rng.uniform(soc_min, soc_max)
    if rng.random() < 0.35:  # a target, folded into the bounds as the problem builder does; mostly reachable
        j = int(rng.integers(0, n))
        reach = 1.2 * capacity * tau * (j + 1)
        soc_lower[j] = soc_upper[j] = np.clip(soc_start + rng.uniform(-reach, reach), soc_min, soc_max)
    if rng.random() < 0.25:  # hard minima and maxima at a few instants
        slots = rng.choice(n, size=max(1, n // 4), replace=False)
        soc_lower[slots] = np.maximum(soc_lower[slots], rng.uniform(soc_min, (soc_min + soc_max) / 2, slots.size))
        soc_upper[slots] = np.maximum(soc_lower[slots], rng.uniform((soc_min + soc_max) / 2, soc_max, slots.size))
    efficiency = [1.0, 0.9, 0.95, 0.8]
    device = Device(
        sensor_id=100 + index,
        soc_start=soc_start,
        soc_lower=soc_lower,
        soc_upper=soc_upper,
        power_lower=power_lower,
        power_upper=power_upper,
        charging_efficiency=_maybe_varying(rng, n, 0.8, 1.0)
        if rng.random() < 0.6
        else np.full(n, rng.choice(efficiency)),
        discharging_efficiency=_maybe_varying(rng, n, 0.8, 1.0) if rng.random() < 0.6 else np.ones(n),
        storage_efficiency=_maybe_varying(rng, n, 0.9, 1.0) if rng.random() < 0.4 else np.ones(n),
        gain=rng.uniform(-0.2, 0.2, n) if rng.random() < 0.3 else np.zeros(n),
    )
    soft: list[Commitment] = []
    if rng.random() < 0.3:  # soft minima
        minima = np.full(n, np.nan)
        slots = rng.choice(n, size=max(1, n // 3), replace=False)
        minima[slots] = rng.uniform(soc_min, soc_max, slots.size)
        soft += commitments.soc_minima_breach(minima, _maybe_varying(rng, n, 5, 50), tau, device=index)
    if rng.random() < 0.3:  # soft maxima
        maxima = np.full(n, np.nan)
        slots = rng.choice(n, size=max(1, n // 3), replace=False)
        maxima[slots] = rng.uniform(soc_min, soc_max, slots.size)
        soft += commitments.soc_maxima_breach(maxima, _maybe_varying(rng, n, 5, 50), tau, device=index)
    if rng.random() < 0.2:  # soft device capacities below the physical ones
        soft += commitments.device_consumption_breach(
            power_upper * 0.5, _maybe_varying(rng, n, 1, 30), tau, device=index
        )
    if rng.random() < 0.2:
        soft += commitments.device_production_breach(
            -power_lower * 0.5, _maybe_varying(rng, n, 1, 30), tau, device=index
        )
    return device, soft


def random_program(seed: int, n_devices: int = 1, *, shared_site: bool = False) -> Program:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 13))
    tau = float(rng.choice([0.25, 0.5, 1.0]))
    consumption = rng.integers(-4, 10, n).astype(np.float64)  # negative and equal values
    production = consumption.copy() if rng.random() < 0.4 else consumption - rng.integers(0, 4, n)
    consumption_eff, production_eff = commitments.effective_prices(
        consumption, production, prefer_charging_sooner=bool(rng.random() < 0.7)
    )
    made = [random_device(rng, n, tau, k) for k in range(n_devices)]
    devices = tuple(d for d, _ in made)
    extra = [c for _, soft in made for c in soft]
    inflexible = rng.uniform(-1.0, 1.0, n) if rng.random() < 0.5 else np.zeros(n)
    site_lower, site_upper = np.full(n, -np.inf), np.full(n, np.inf)
    if shared_site or rng.random() < 0.4:
        site_upper = np.full(n, rng.uniform(0.5, 1.5) * n_devices) + np.maximum(inflexible, 0)
        site_lower = -np.full(n, rng.uniform(0.5, 1.5) * n_devices) + np.minimum(inflexible, 0)
    if rng.random() < 0.2:
        extra += commitments.site_consumption_breach(
            np.full(n, rng.uniform(0.2, 1.0)), _maybe_varying(rng, n, 1, 20), tau
        )
    if rng.random() < 0.2:
        extra += commitments.site_production_breach(
            np.full(n, rng.uniform(0.2, 1.0)), _maybe_varying(rng, n, 1, 20), tau
        )
    if rng.random() < 0.3:
        extra.append(commitments.peak_consumption(np.full(n, rng.uniform(0.0, 1.0)), _maybe_varying(rng, n, 1, 20)))
    if rng.random() < 0.3:
        extra.append(commitments.peak_production(np.full(n, rng.uniform(0.0, 1.0)), _maybe_varying(rng, n, 1, 20)))
    for k in range(n_devices):
        if rng.random() < 0.5:
            extra.append(commitments.prefer_curtailing_later(consumption_eff, device=k))
    bounds = [abs(b) for d in devices for b in (*d.power_lower, *d.power_upper)]
    return Program(
        n=n,
        tau=tau,
        devices=devices,
        inflexible=inflexible,
        site_lower=site_lower,
        site_upper=site_upper,
        commitments=(commitments.energy(consumption_eff, production_eff, tau), *extra),
        big_m=max([1.0, *bounds, *np.abs(inflexible)]),
    )


def negative_price_program(seed: int) -> Program:
    """Longer windows with one or two long blocks of negative prices (more than the devices can absorb), one to
    three devices on a shared site, losses or none, gains, targets and soft bounds: the programs whose LP
    relaxation charges and discharges at once and that need the MILP."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(16, 41))
    tau = float(rng.choice([0.25, 0.5, 1.0]))
    consumption = rng.uniform(10, 60, n)
    for _ in range(int(rng.integers(1, 3))):
        start, length = int(rng.integers(0, n - 4)), int(rng.integers(n // 4, n // 2 + 1))
        consumption[start : start + length] -= rng.uniform(40, 120)
    production = consumption - rng.choice([0.0, 1.0, 5.0]) * rng.random()
    consumption_eff, production_eff = commitments.effective_prices(
        consumption, production, prefer_charging_sooner=bool(rng.random() < 0.8)
    )
    n_devices = int(rng.integers(1, 4))
    made = [random_device(rng, n, tau, k) for k in range(n_devices)]
    devices = []
    for device, _ in made:
        if rng.random() < 0.25:  # no losses at all: simultaneous flows never pay
            device = replace(device, charging_efficiency=np.ones(n), discharging_efficiency=np.ones(n))
        devices.append(device)
    extra = [c for _, soft in made for c in soft]
    inflexible = rng.uniform(-0.5, 1.0, n) if rng.random() < 0.6 else np.zeros(n)
    site_lower, site_upper = np.full(n, -np.inf), np.full(n, np.inf)
    if rng.random() < 0.6:
        site_upper = np.full(n, rng.uniform(0.7, 1.5) * n_devices) + np.maximum(inflexible, 0)
    if rng.random() < 0.4:  # a site production limit that can bind
        site_lower = -np.full(n, rng.uniform(0.3, 1.2) * n_devices) + np.minimum(inflexible, 0)
    if rng.random() < 0.3:
        extra.append(commitments.peak_consumption(np.full(n, rng.uniform(0.0, 1.0)), _maybe_varying(rng, n, 1, 20)))
    if rng.random() < 0.3:
        extra.append(commitments.peak_production(np.full(n, rng.uniform(0.0, 1.0)), _maybe_varying(rng, n, 1, 20)))
    for k in range(n_devices):
        if rng.random() < 0.6:
            extra.append(commitments.prefer_curtailing_later(consumption_eff, device=k))
    bounds = [abs(b) for d in devices for b in (*d.power_lower, *d.power_upper)]
    return Program(
        n=n,
        tau=tau,
        devices=tuple(devices),
        inflexible=inflexible,
        site_lower=site_lower,
        site_upper=site_upper,
        commitments=(commitments.energy(consumption_eff, production_eff, tau), *extra),
        big_m=max([1.0, *bounds, *np.abs(inflexible)]),
    )


def _check(program: Program) -> tuple[str, bool]:
    expected = reference(program)
    solution = solve(program)
    assert expected.status in ("optimal", "infeasible"), expected
    assert solution.status == expected.status, solution.message
    if expected.status == "optimal":
        assert _relative_gap(solution.objective, expected.objective) <= TOLERANCE, (solution.objective, expected)
        assert_schedule_keeps_every_constraint(program, solution.power, solution.energy)
        assert _relative_gap(cost_of(program, solution.power, solution.energy), solution.objective) <= TOLERANCE
    return solution.status, solution.used_milp


@pytest.mark.parametrize("seed", NEGATIVE_PRICE_SEEDS)
def test_long_negative_price_periods_with_several_devices(seed: int) -> None:
    """The MILP with its headroom rows, and the LP when simultaneous flows cannot pay, reach the reference's
    optimum; so does the plain formulation, which takes the MILP whenever the LP is simultaneous anywhere."""
    program = negative_price_program(seed)
    status, _ = _check(program)
    plain = solve(program, plain=True)
    assert plain.status == status
    if status == "optimal":
        assert _relative_gap(plain.objective, solve(program).objective) <= TOLERANCE


def test_the_negative_price_programs_need_the_milp() -> None:
    """A good share of them take the MILP, so the tests above exercise the headroom rows; a few are solved by the
    LP although their LP optimum is simultaneous (where that cannot pay), when the plain formulation takes the MILP."""
    solutions = [(solve(p), solve(p, plain=True)) for p in map(negative_price_program, NEGATIVE_PRICE_SEEDS)]
    assert sum(s.used_milp for s, _ in solutions) >= len(solutions) // 3
    assert any(plain.used_milp and not s.used_milp for s, plain in solutions)


@pytest.mark.parametrize("seed", SEEDS)
def test_objective_equals_the_independent_formulation(seed: int) -> None:
    _check(random_program(seed, n_devices=1 + (seed % 7 == 0)))


@pytest.mark.parametrize("seed", SHARED_SITE_SEEDS)
def test_devices_sharing_a_site_capacity(seed: int) -> None:
    program = random_program(seed, n_devices=2 + seed % 2, shared_site=True)
    assert np.all(np.isfinite(program.site_upper))
    _check(program)


def test_the_generated_instances_cover_every_path() -> None:
    """The random programs are not all alike: some need the MILP, some are infeasible, most are optimal."""
    outcomes = [_check(random_program(seed, n_devices=1)) for seed in range(60)]
    statuses = {status for status, _ in outcomes}
    assert statuses == {"optimal", "infeasible"}
    assert any(milp for _, milp in outcomes)
    assert any(status == "optimal" and not milp for status, milp in outcomes)


def test_programs_built_from_requests() -> None:
    """Programs that ``problem.build`` makes from random flex-models, flex-contexts and sensor data (the problem
    builder's own random fields) solve to the reference's optimum too."""
    rng = np.random.default_rng(7)
    statuses = []
    for _ in range(80):
        flex_model = {k: v[rng.integers(len(v))] for k, v in RANDOM_FLEX_MODEL.items() if rng.random() < 0.3}
        flex_context = {k: v[rng.integers(len(v))] for k, v in RANDOM_FLEX_CONTEXT.items() if rng.random() < 0.3}
        request = request_for(flex_model, flex_context)
        series = {need: rng.uniform(1, 100, N + (need.kind == "instant")) for need in problem.needs(request)}
        try:
            program = build(request, series)
        except SchedulingFailed:
            continue
        statuses.append(_check(program)[0])
    assert statuses.count("optimal") >= 20, statuses
