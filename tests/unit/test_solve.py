"""``solve`` on programs small enough to check by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import highspy
import numpy as np
import pytest

from services.scheduler.program import Array, Commitment, Device, Program
from services.scheduler.solve import decay_factor, solution_status, solve
from tests.unit.programs import battery


def energy_cost(consumption: list[float], production: list[float] | None = None, tau: float = 1.0) -> Commitment:
    up = tau * np.array(consumption)
    down = up if production is None else tau * np.array(production)
    return Commitment("energy", "site", "each", np.zeros(len(up)), up, down)


def program(*devices: Device, commitments: tuple[Commitment, ...], tau: float = 1.0, **changes: object) -> Program:
    n = len(devices[0].gain)
    made = Program(
        n=n,
        tau=tau,
        devices=devices,
        inflexible=np.zeros(n),
        site_lower=np.full(n, -np.inf),
        site_upper=np.full(n, np.inf),
        commitments=commitments,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def at_end(n: int, value: float, elsewhere: float) -> Array:
    values = np.full(n, elsewhere)
    values[-1] = value
    return values


def test_charges_in_the_cheapest_slot() -> None:
    device = battery(4, soc_lower=at_end(4, 1.0, 0.0), power_lower=np.zeros(4))
    solution = solve(program(device, commitments=(energy_cost([5, 1, 6, 7]),)))
    assert solution.status == "optimal"
    np.testing.assert_allclose(solution.power, [[0, 1, 0, 0]], atol=1e-9)
    np.testing.assert_allclose(solution.energy, [[0, 0, 1, 1, 1]], atol=1e-9)
    assert solution.objective == pytest.approx(1.0)
    assert not solution.used_milp
    assert solution.build_seconds > 0 and solution.solve_seconds > 0


def test_buys_low_and_sells_high_within_the_power_limit() -> None:
    device = battery(4, soc_upper=np.full(4, 1.5))
    solution = solve(program(device, commitments=(energy_cost([1, 2, 5, 6], [1, 2, 5, 6]),)))
    # Charge 1 MWh at price 1 and 0.5 at 2, sell 0.5 at 5 and 1 at 6.
    np.testing.assert_allclose(solution.power, [[1, 0.5, -0.5, -1]], atol=1e-9)
    assert solution.objective == pytest.approx(1 + 1 - 2.5 - 6)


def test_charging_losses_need_more_energy() -> None:
    device = battery(3, charging_efficiency=np.full(3, 0.8), soc_lower=at_end(3, 1.2, 0.0))
    solution = solve(program(device, commitments=(energy_cost([3, 2, 1], tau=0.5),), tau=0.5))
    # 1.2 MWh stored needs 1.5 MWh drawn: 0.5 MWh in slot 0 (at 1 MW for half an hour), 0.5 in slot 1, 0.5 in slot 2.
    np.testing.assert_allclose(solution.power, [[1, 1, 1]], atol=1e-9)
    np.testing.assert_allclose(solution.energy, [[0, 0.4, 0.8, 1.2]], atol=1e-9)
    assert solution.objective == pytest.approx(0.5 * (1 + 2 + 3))


def test_discharging_losses_deliver_less() -> None:
    device = battery(2, soc_start=1.0, discharging_efficiency=np.full(2, 0.5), power_upper=np.zeros(2))
    solution = solve(program(device, commitments=(energy_cost([0, 4], [0, 4]),)))
    # 1 MWh stored yields only 0.5 MWh at the meter.
    np.testing.assert_allclose(solution.power, [[0, -0.5]], atol=1e-9)
    assert solution.objective == pytest.approx(-2.0)


def test_storage_decays_with_the_exponential_factor() -> None:
    assert decay_factor(np.array([1.0]))[0] == 1.0
    assert decay_factor(np.array([0.0]))[0] == 0.0
    assert decay_factor(np.array([0.5]))[0] == pytest.approx(0.5 / math.log(2))
    device = battery(
        2,
        soc_start=2.0,
        storage_efficiency=np.full(2, 0.5),
        power_lower=np.array([0.0, 0.0]),
        power_upper=np.array([1.0, 0.0]),
        soc_lower=np.array([1.0 + 0.5 / math.log(2), 0.0]),
    )
    solution = solve(program(device, commitments=(energy_cost([1, 1]),)))
    # Slot 0 must charge at full power: 2 → 0.5·2 + Λ(0.5)·1; slot 1 only decays.
    e1 = 1.0 + 0.5 / math.log(2)
    np.testing.assert_allclose(solution.power, [[1, 0]], atol=1e-9)
    np.testing.assert_allclose(solution.energy, [[2.0, e1, e1 / 2]], atol=1e-9)


def test_gain_and_usage_move_the_state_of_charge() -> None:
    device = battery(2, soc_start=1.0, gain=np.array([-1.0, 0.5]), power_lower=np.zeros(2), power_upper=np.zeros(2))
    solution = solve(program(device, commitments=(energy_cost([1, 1]),), tau=0.5))
    np.testing.assert_allclose(solution.energy, [[1.0, 0.5, 0.75]], atol=1e-9)


def test_unreachable_target_is_infeasible_not_an_exception() -> None:
    device = battery(2, soc_lower=np.array([3.0, 0.0]), soc_upper=np.array([3.0, 10.0]))
    solution = solve(program(device, commitments=(energy_cost([1, 1]),)))
    assert solution.status == "infeasible"
    assert solution.power.shape == (1, 0)
    assert math.isnan(solution.objective)
    assert solution.message


def test_production_paid_above_the_consumption_price_is_unbounded() -> None:
    device = battery(2)
    solution = solve(program(device, commitments=(energy_cost([1, 1], [2, 1]),), inflexible=np.zeros(2)))
    assert solution.status == "unbounded"


def test_negative_prices_with_a_full_battery_need_the_binaries() -> None:
    # Full battery, paid to consume: the LP relaxation charges 1 MW and discharges 0.9 MW at once (the losses
    # absorb the difference), which no real battery does; the MILP keeps it idle.
    device = battery(1, soc_start=1.0, soc_upper=np.ones(1), charging_efficiency=np.full(1, 0.9))
    solution = solve(program(device, commitments=(energy_cost([-10]),)))
    assert solution.status == "optimal"
    assert solution.used_milp
    np.testing.assert_allclose(solution.power, [[0]], atol=1e-9)
    assert solution.objective == pytest.approx(0.0, abs=1e-9)


def test_without_losses_simultaneous_flows_cannot_pay_and_the_lp_is_enough() -> None:
    # Full and paid to consume, but lossless: charging and discharging at once stores as much as the net flow would
    # and earns nothing, so no slot needs a binary; the best is to empty the battery first and refill it.
    device = battery(2, soc_start=1.0, soc_upper=np.ones(2))
    solution = solve(program(device, commitments=(energy_cost([-10, -12]),)))
    assert solution.status == "optimal"
    assert not solution.used_milp
    np.testing.assert_allclose(solution.power, [[-1, 1]], atol=1e-9)
    np.testing.assert_allclose(solution.energy, [[1, 0, 1]], atol=1e-9)
    assert solution.objective == pytest.approx(10 - 12)


def test_the_plain_formulation_reaches_the_same_optimum() -> None:
    # Paid to consume for three slots with room for less than that: the MILP with its headroom rows and split
    # curtailing costs, and the plain MILP, agree.
    n = 4
    device = battery(n, soc_start=0.5, soc_upper=np.ones(n), charging_efficiency=np.full(n, 0.9))
    curtail = Commitment("curtail later", "device_power", "each", np.zeros(n), np.full(n, 0.01), np.full(n, -0.01))
    made = program(device, commitments=(energy_cost([-10, -12, -11, 5]), curtail))
    tuned, plain = solve(made), solve(made, plain=True)
    assert tuned.used_milp and plain.used_milp
    assert tuned.objective == pytest.approx(plain.objective, abs=1e-9)
    np.testing.assert_allclose(tuned.energy[0], plain.energy[0], atol=1e-9)


def test_two_devices_share_the_site_limit() -> None:
    devices = (
        battery(2, soc_lower=at_end(2, 1.0, 0.0)),
        replace(battery(2, soc_lower=at_end(2, 1.0, 0.0)), sensor_id=2),
    )
    made = program(*devices, commitments=(energy_cost([1, 3]),), site_upper=np.full(2, 1.0))
    solution = solve(made)
    assert solution.status == "optimal"
    np.testing.assert_allclose(solution.power.sum(axis=0), [1, 1], atol=1e-9)  # the site limit binds in both slots
    np.testing.assert_allclose(solution.energy[:, -1], [1, 1], atol=1e-9)
    assert solution.objective == pytest.approx(1 + 3)


def test_inflexible_load_counts_against_the_site_limit() -> None:
    device = battery(2, soc_lower=at_end(2, 1.0, 0.0))
    made = program(
        device, commitments=(energy_cost([1, 3]),), site_upper=np.full(2, 1.0), inflexible=np.array([0.5, 0])
    )
    solution = solve(made)
    np.testing.assert_allclose(solution.power, [[0.5, 0.5]], atol=1e-9)
    assert solution.objective == pytest.approx(0.5 * 1 + 0.5 * 1 + 0.5 * 3)  # the inflexible load is paid too


def test_a_peak_commitment_flattens_consumption() -> None:
    device = battery(2, soc_lower=at_end(2, 1.0, 0.0))
    peak = Commitment("consumption peak", "site", "any", np.zeros(2), np.full(2, 10.0), np.zeros(2))
    solution = solve(program(device, commitments=(energy_cost([1, 2]), peak)))
    np.testing.assert_allclose(solution.power, [[0.5, 0.5]], atol=1e-9)
    assert solution.objective == pytest.approx(0.5 + 1 + 10 * 0.5)


def test_soft_minimum_is_breached_when_meeting_it_costs_more() -> None:
    device = battery(1)
    minimum = Commitment("soc minima", "device_energy", "each", np.array([1.0]), np.zeros(1), np.full(1, -3.0))
    cheap = solve(program(device, commitments=(energy_cost([5]), minimum)))
    np.testing.assert_allclose(cheap.power, [[0]], atol=1e-9)
    assert cheap.objective == pytest.approx(3.0)
    worth_it = solve(program(device, commitments=(energy_cost([2]), minimum)))
    np.testing.assert_allclose(worth_it.power, [[1]], atol=1e-9)


def test_time_limit_without_a_schedule() -> None:
    device = battery(4, soc_lower=at_end(4, 1.0, 0.0))
    solution = solve(program(device, commitments=(energy_cost([5, 1, 3, 4]),)), time_limit=0.0)
    assert solution.status == "time_limit"
    assert solution.power.shape == (1, 0)
    assert "time limit" in solution.message


def test_time_limit_during_the_milp_keeps_the_best_schedule_or_none() -> None:
    # A week of daily negative-price mornings for two batteries behind one connection needs the MILP, which takes
    # far longer than 0.3 s to prove optimal on this kind of machine (more than 10 s when measured).
    n = 672
    prices = np.where((np.arange(n) / 4) % 24 < 6, -60.0, 60.0) + np.sin(np.arange(n) / 7)
    first = battery(n, soc_upper=np.full(n, 2.0), charging_efficiency=np.full(n, 0.95))
    second = battery(n, soc_upper=np.full(n, 3.0), charging_efficiency=np.full(n, 0.9), sensor_id=2)
    energy = energy_cost(list(prices), list(prices - 5), tau=0.25)
    made = program(first, second, commitments=(energy,), tau=0.25, site_upper=np.full(n, 1.5))
    solution = solve(made, time_limit=0.3)
    assert solution.status == "time_limit"
    assert solution.used_milp
    if solution.power.size:  # the best schedule found so far, flagged
        assert "best schedule found" in solution.message
        assert np.all(solution.energy >= -1e-6)
        assert np.all(solution.power.sum(axis=0) <= 1.5 + 1e-6)
    else:
        assert "before any schedule was found" in solution.message


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (highspy.HighsModelStatus.kOptimal, "optimal"),
        (highspy.HighsModelStatus.kTimeLimit, "time_limit"),
        (highspy.HighsModelStatus.kInfeasible, "infeasible"),
        (highspy.HighsModelStatus.kUnbounded, "unbounded"),
        (highspy.HighsModelStatus.kUnboundedOrInfeasible, "error"),
        (highspy.HighsModelStatus.kSolveError, "error"),
        (highspy.HighsModelStatus.kIterationLimit, "error"),
    ],
)
def test_highs_statuses(status: highspy.HighsModelStatus, expected: str) -> None:
    assert solution_status(status) == expected


def test_a_broken_program_is_an_error_result() -> None:
    device = battery(2, charging_efficiency=np.array([1.0, np.nan]))
    solution = solve(program(device, commitments=()))
    assert solution.status == "error"
    assert "charging_efficiency" in solution.message


def test_a_commitment_without_a_price_where_it_applies_is_an_error_result() -> None:
    unpriced = Commitment("peak", "site", "each", np.zeros(2), np.array([np.nan, 1.0]), np.zeros(2))
    solution = solve(program(battery(2), commitments=(unpriced,)))
    assert solution.status == "error"
    assert "'peak' has no price" in solution.message


def test_an_empty_window() -> None:
    solution = solve(program(battery(0, soc_start=2.0), commitments=()))
    assert solution.status == "optimal"
    assert solution.power.shape == (1, 0)
    np.testing.assert_allclose(solution.energy, [[2.0]])
