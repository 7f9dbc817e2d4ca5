"""The fallback schedule after an infeasible solve: simple rules on the first target or bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from services.scheduler import problem
from services.scheduler.commitments import energy
from services.scheduler.fallback import fallback
from services.scheduler.program import Program
from tests.unit.flex_fixtures import BATTERY, SENSORS, START, body, validate
from tests.unit.programs import alone, battery


def one_battery(n: int = 4, **changes: object) -> Program:
    device = battery(n, soc_start=1.0, soc_max=4.0, power=2.0, **changes)
    return alone(device, tau=0.5, commitments=(energy(np.full(n, 10.0), np.full(n, 10.0), 0.5),))


def test_charges_towards_a_higher_first_target_without_overshooting() -> None:
    program = one_battery(power_upper=np.array([2.0, 1.0, 2.0, 2.0]))
    solution = fallback(program, 2.2, is_consumer=True, is_producer=True)
    # Charge power is the smallest upper bound (1 MW); 0.5 MWh per slot; 1.2 MWh to go → two slots.
    assert solution.status == "fallback"
    np.testing.assert_allclose(solution.power, [[1, 1, 0, 0]])
    np.testing.assert_allclose(solution.energy, [[1, 1.5, 2, 2, 2]])
    assert solution.objective == pytest.approx(10 * 0.5 * 2)
    assert "target" in solution.message


def test_discharges_towards_a_lower_first_target() -> None:
    solution = fallback(one_battery(), 0.0, is_consumer=True, is_producer=True)
    np.testing.assert_allclose(solution.power, [[-2, 0, 0, 0]])  # 1 MWh per slot at 2 MW: exactly one slot


def test_without_the_device_flags_the_fallback_idles() -> None:
    solution = fallback(one_battery(), 3.0, is_consumer=False, is_producer=False)
    np.testing.assert_allclose(solution.power, [[0, 0, 0, 0]])


def test_gets_back_below_the_first_upper_bound() -> None:
    program = one_battery(soc_upper=np.array([0.3, 4.0, 4.0, 4.0]))
    solution = fallback(program, None, is_consumer=True, is_producer=True)
    # 0.7 MWh too much at 1 MWh per slot: the crossing slot is included.
    np.testing.assert_allclose(solution.power, [[-2, 0, 0, 0]])
    assert "upper bound" in solution.message


def test_gets_back_above_the_first_lower_bound() -> None:
    program = one_battery(soc_lower=np.array([-np.inf, 2.5, 0.0, 0.0]))
    solution = fallback(program, None, is_consumer=True, is_producer=False)
    np.testing.assert_allclose(solution.power, [[2, 2, 0, 0]])
    np.testing.assert_allclose(solution.energy[0, -1], 3.0)


def test_idle_when_within_bounds_and_without_targets() -> None:
    solution = fallback(one_battery(), None, is_consumer=True, is_producer=True)
    np.testing.assert_allclose(solution.power, [[0, 0, 0, 0]])
    assert solution.message == "fallback schedule: idle"


def test_a_target_equal_to_the_start_falls_through_to_the_bounds() -> None:
    program = one_battery(soc_upper=np.array([0.5, 4.0, 4.0, 4.0]))
    solution = fallback(program, 1.0, is_consumer=True, is_producer=True)
    np.testing.assert_allclose(solution.power, [[-2, 0, 0, 0]])


def test_only_one_device() -> None:
    program = one_battery()
    with pytest.raises(ValueError, match="exactly one device"):
        fallback(replace(program, devices=program.devices * 2), None, is_consumer=True, is_producer=True)


def test_the_problem_builders_fallback_inputs() -> None:
    battery = replace(BATTERY, attributes={"is_consumer": True})
    target_at = (datetime.fromisoformat(START) + timedelta(hours=1)).isoformat()
    model = {"soc-targets": [{"value": 0.5, "datetime": target_at}], "power-capacity": "1 MW"}
    request = validate(body(model), battery)
    inputs = problem.build_fallback_inputs(request, {**SENSORS, 1: battery}, {})
    solution = fallback(
        inputs.program, inputs.first_target, is_consumer=inputs.is_consumer, is_producer=inputs.is_producer
    )
    # From 0 towards 0.5 MWh at 1 MW in quarter hours: two slots (0.5 MWh), then idle.
    np.testing.assert_allclose(solution.power[0], [1, 1, 0, 0, 0, 0, 0, 0])
    assert solution.energy[0, -1] == pytest.approx(0.5)
