"""The process scheduler: a fixed power for a number of slots, placed by price and time restrictions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from services.scheduler import problem
from services.scheduler.process import Mask, schedule_process
from services.scheduler.series import SeriesNeed
from shared.errors import ProcessDoesNotFit
from tests.unit.flex_fixtures import BATTERY, SENSORS, START, body, validate

PRICES = np.array([5.0, 3.0, 1.0, 4.0, 1.0, 2.0])
FREE = np.zeros(6, dtype=bool)


def blocked(*slots: int) -> Mask:
    mask = np.zeros(6, dtype=bool)
    mask[list(slots)] = True
    return mask


def test_inflexible_starts_as_early_as_allowed() -> None:
    schedule = schedule_process(PRICES, power=2.0, slots=2, process_type="INFLEXIBLE", blocked=blocked(0))
    np.testing.assert_allclose(schedule, [0, 2, 2, 0, 0, 0])


def test_inflexible_skips_a_run_interrupted_by_a_restriction() -> None:
    schedule = schedule_process(PRICES, power=1.0, slots=2, process_type="INFLEXIBLE", blocked=blocked(1))
    np.testing.assert_allclose(schedule, [0, 0, 1, 1, 0, 0])


def test_shiftable_takes_the_cheapest_contiguous_run() -> None:
    schedule = schedule_process(PRICES, power=1.0, slots=3, process_type="SHIFTABLE", blocked=FREE)
    np.testing.assert_allclose(schedule, [0, 0, 1, 1, 1, 0])  # 1+4+1 = 6 beats 4+1+2 = 7 and 3+1+4 = 8


def test_shiftable_maximising() -> None:
    schedule = schedule_process(PRICES, power=1.0, slots=2, process_type="SHIFTABLE", blocked=FREE, sense="MAX")
    np.testing.assert_allclose(schedule, [1, 1, 0, 0, 0, 0])


def test_shiftable_respects_restrictions() -> None:
    schedule = schedule_process(PRICES, power=1.0, slots=3, process_type="SHIFTABLE", blocked=blocked(4))
    np.testing.assert_allclose(schedule, [0, 1, 1, 1, 0, 0])


def test_breakable_takes_the_cheapest_slots() -> None:
    schedule = schedule_process(PRICES, power=3.0, slots=3, process_type="BREAKABLE", blocked=blocked(4))
    np.testing.assert_allclose(schedule, [0, 3, 3, 0, 0, 3])


def test_ties_go_to_earlier_slots() -> None:
    flat = np.full(6, 2.0)
    breakable = schedule_process(flat, power=1.0, slots=2, process_type="BREAKABLE", blocked=FREE)
    np.testing.assert_allclose(breakable, [1, 1, 0, 0, 0, 0])
    maximising = schedule_process(flat, power=1.0, slots=2, process_type="BREAKABLE", blocked=FREE, sense="MAX")
    np.testing.assert_allclose(maximising, [1, 1, 0, 0, 0, 0])
    shiftable = schedule_process(
        np.array([1.0, 0.1, 0.2, 1.0, 0.2, 0.1]), power=1.0, slots=2, process_type="SHIFTABLE", blocked=FREE
    )
    np.testing.assert_allclose(shiftable, [0, 1, 1, 0, 0, 0])  # 0.1+0.2 equals 0.2+0.1 exactly


def test_a_process_that_does_not_fit() -> None:
    with pytest.raises(ProcessDoesNotFit, match="contiguous"):
        schedule_process(PRICES, power=1.0, slots=3, process_type="SHIFTABLE", blocked=blocked(2, 5))
    with pytest.raises(ProcessDoesNotFit, match="only 2"):
        schedule_process(PRICES, power=1.0, slots=3, process_type="BREAKABLE", blocked=blocked(0, 1, 2, 3))
    with pytest.raises(ProcessDoesNotFit):
        schedule_process(PRICES, power=1.0, slots=7, process_type="INFLEXIBLE", blocked=FREE)


def test_no_slots_needed() -> None:
    schedule = schedule_process(PRICES, power=1.0, slots=0, process_type="SHIFTABLE", blocked=FREE)
    np.testing.assert_allclose(schedule, np.zeros(6))


def test_prices_must_be_known_where_the_process_may_run() -> None:
    prices = PRICES.copy()
    prices[3] = np.nan
    with pytest.raises(ValueError, match="prices"):
        schedule_process(prices, power=1.0, slots=2, process_type="BREAKABLE", blocked=FREE)
    # Blocked slots need no price, and the inflexible process ignores prices.
    schedule_process(prices, power=1.0, slots=2, process_type="BREAKABLE", blocked=blocked(3))
    schedule_process(prices, power=1.0, slots=2, process_type="INFLEXIBLE", blocked=FREE)


def test_schedules_the_problem_builders_process_inputs() -> None:
    process = replace(BATTERY, asset_type="process")
    blocked_from = (datetime.fromisoformat(START) + timedelta(minutes=30)).isoformat()
    model = {
        "duration": "PT40M",
        "power": 2,
        "process-type": "SHIFTABLE",
        "time-restrictions": [{"start": blocked_from, "duration": "PT20M"}],
    }
    request = validate({**body(None, {"consumption-price": {"sensor": 3}}), "flex-model": model}, process)
    prices = np.array([8.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 6.0])
    inputs = problem.build_process_inputs(request, {**SENSORS, 1: process}, {SeriesNeed(3, "flow"): prices})
    schedule = schedule_process(
        inputs.consumption_price,
        power=inputs.power,
        slots=inputs.slots,
        process_type=inputs.process_type,
        blocked=inputs.blocked,
        sense=inputs.optimization_sense,
    )
    # Three slots, slots 2 and 3 blocked: the cheapest run left is 4–6 (1 + 1 + 5), not 5–7.
    np.testing.assert_allclose(schedule, [0, 0, 0, 0, 2, 2, 2, 0])
