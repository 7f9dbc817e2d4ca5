"""The commitments made from per-slot arrays, and what they cost a schedule."""

from __future__ import annotations

import numpy as np
import pytest

from services.scheduler import commitments
from services.scheduler.evaluate import commitment_cost
from services.scheduler.program import Array, Program
from tests.unit.programs import alone, battery

NAN = np.nan


def site_program(n: int, inflexible: Array) -> Program:
    return Program(
        n=n,
        tau=0.25,
        devices=(),
        inflexible=inflexible,
        site_lower=np.full(n, -np.inf),
        site_upper=np.full(n, np.inf),
    )


def test_ramp_rises_by_a_ten_thousandth_of_the_spread() -> None:
    np.testing.assert_allclose(commitments.ramp(np.array([10.0, 30.0, 20.0])), [0, 1e-3, 2e-3])
    np.testing.assert_allclose(commitments.ramp(np.array([7.0, 7.0])), [0, 1e-4])  # flat series
    np.testing.assert_allclose(commitments.ramp(np.array([7.0])), [0])


def test_effective_prices_prefer_charging_sooner() -> None:
    consumption = np.array([10.0, 10.0, 30.0])
    production = np.array([5.0, 5.0, 5.0])
    c, p = commitments.effective_prices(consumption, production)
    np.testing.assert_allclose(c, [10, 10.001, 30.002])
    np.testing.assert_allclose(p, [5, 5.00005, 5.0001])
    c, p = commitments.effective_prices(consumption, production, prefer_charging_sooner=False)
    np.testing.assert_allclose(c, consumption)
    np.testing.assert_allclose(p, production)


def test_ramped_production_price_never_passes_an_equal_consumption_price() -> None:
    # The production series spreads wider, so its ramp is steeper: uncapped it would end above consumption.
    consumption = np.array([1.0, 1.5])
    production = np.array([0.5, 1.5])
    c, p = commitments.effective_prices(consumption, production)
    assert np.all(p <= c)
    assert p[1] == c[1]


def test_first_slot_with_production_paid_more_than_consumption() -> None:
    check = commitments.first_slot_production_price_above_consumption_price
    assert check(np.array([3.0, 3.0, 3.0]), np.array([3.0, 2.0, 1.0])) is None
    assert check(np.array([3.0, 3.0, 3.0]), np.array([1.0, 4.0, 5.0])) == 1
    with pytest.raises(ValueError, match="known in every slot"):
        check(np.array([3.0, NAN]), np.array([1.0, 1.0]))


def test_energy_costs_consumption_and_pays_production() -> None:
    energy = commitments.energy(np.array([40.0, 40.0]), np.array([30.0, 30.0]), 0.25)
    assert (energy.scope, energy.kind) == ("site", "each")
    program = site_program(2, np.array([2.0, -4.0]))
    # 2 MW for a quarter hour at 40, then 4 MW produced for a quarter hour at 30.
    assert commitment_cost(program, energy, np.zeros((0, 2)), np.zeros((0, 3))) == pytest.approx(20 - 30)


def test_peak_consumption_charges_the_highest_excess_once() -> None:
    peak = commitments.peak_consumption(np.full(3, 1.0), np.full(3, 100.0))
    program = site_program(3, np.array([1.5, 3.0, 2.0]))
    assert commitment_cost(program, peak, np.zeros((0, 3)), np.zeros((0, 4))) == pytest.approx(200.0)


def test_peak_production() -> None:
    peak = commitments.peak_production(np.full(2, 1.0), np.full(2, 10.0))
    program = site_program(2, np.array([-4.0, 2.0]))
    assert commitment_cost(program, peak, np.zeros((0, 2)), np.zeros((0, 3))) == pytest.approx(30.0)


def test_time_varying_any_price_uses_the_largest() -> None:
    peak = commitments.peak_consumption(np.full(3, 0.0), np.array([5.0, 9.0, 7.0]))
    np.testing.assert_allclose(peak.up, [9, 9, 9])


def test_site_consumption_breach_is_height_plus_area() -> None:
    worst, area = commitments.site_consumption_breach(np.full(2, 1.0), np.array([100.0, 100.0]), 0.25)
    assert (worst.kind, area.kind) == ("any", "each")
    program = site_program(2, np.array([3.0, 2.0]))
    cost = sum(commitment_cost(program, c, np.zeros((0, 2)), np.zeros((0, 3))) for c in (worst, area))
    assert cost == pytest.approx(100 * 2 + 0.25 * 100 * (2 + 1))


def test_site_production_breach() -> None:
    worst, area = commitments.site_production_breach(np.full(2, 1.0), np.full(2, 10.0), 1.0)
    program = site_program(2, np.array([-3.0, 0.0]))
    cost = sum(commitment_cost(program, c, np.zeros((0, 2)), np.zeros((0, 3))) for c in (worst, area))
    assert cost == pytest.approx(10 * 2 + 10 * 2)


def _device_program(n: int, tau: float) -> Program:
    return alone(battery(n, power=5.0), tau=tau)


def test_device_breaches_apply_to_the_device_flow() -> None:
    program = _device_program(2, 0.5)
    power = np.array([[3.0, -4.0]])
    up_any, up_each = commitments.device_consumption_breach(np.full(2, 2.0), np.full(2, 10.0), 0.5)
    down_any, down_each = commitments.device_production_breach(np.full(2, 1.0), np.full(2, 10.0), 0.5)
    assert {c.scope for c in (up_any, up_each, down_any, down_each)} == {"device_power"}
    costs = [commitment_cost(program, c, power, np.zeros((1, 3))) for c in (up_any, up_each, down_any, down_each)]
    assert costs == pytest.approx([10.0, 5.0, 30.0, 15.0])


def test_soc_breaches_use_the_effective_factors() -> None:
    tau = 0.25
    program = _device_program(3, tau)
    energy = np.array([[0.0, 1.0, 2.0, 5.0]])
    minima = np.array([2.0, NAN, 1.0])  # short by 1 MWh at the first instant only
    worst, each = commitments.soc_minima_breach(minima, np.full(3, 8.0), tau)
    assert commitment_cost(program, worst, np.zeros((1, 3)), energy) == pytest.approx(8.0 / tau)
    assert commitment_cost(program, each, np.zeros((1, 3)), energy) == pytest.approx(8.0)
    maxima = np.array([NAN, NAN, 3.0])  # 2 MWh over at the end
    worst, each = commitments.soc_maxima_breach(maxima, np.full(3, 8.0), tau)
    assert commitment_cost(program, worst, np.zeros((1, 3)), energy) == pytest.approx(2 * 8.0 / tau)
    assert commitment_cost(program, each, np.zeros((1, 3)), energy) == pytest.approx(2 * 8.0)


def test_prefer_curtailing_later_costs_the_flow_in_either_direction() -> None:
    c = commitments.prefer_curtailing_later(np.array([0.0, 50.0, 100.0]), device=0)
    np.testing.assert_allclose(c.up, [0, 0.0025, 0.005])
    np.testing.assert_allclose(c.down, -c.up)
    program = _device_program(3, 1.0)
    cost = commitment_cost(program, c, np.array([[1.0, -2.0, 2.0]]), np.zeros((1, 4)))
    assert cost == pytest.approx(0.0025 * 2 + 0.005 * 2)


def test_any_commitment_needs_a_known_price() -> None:
    with pytest.raises(ValueError, match="known"):
        commitments.peak_consumption(np.zeros(2), np.full(2, NAN))
