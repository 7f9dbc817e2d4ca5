"""A solution converted to what is stored: power in the power sensor's unit and sign, SoC in the SoC sensor's unit."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from services.scheduler.program import Array, Solution
from shared import units
from shared.errors import InvalidUnit, SchedulingFailed, UnitMismatch
from shared.flex.trigger import ScheduleRequest, SensorFacts


def _consumption_is_positive(sensor: SensorFacts) -> bool:
    value = sensor.attributes.get("consumption_is_positive", sensor.asset_attributes.get("consumption_is_positive"))
    return value is None or bool(value)


def to_sensor_values(request: ScheduleRequest, sensor: SensorFacts, power_mw: Array) -> list[float]:
    """A device's power (MW, consumption positive) as the values stored on its power sensor: converted to the
    sensor's unit, negated for power units when ``consumption_is_positive`` is true or absent, 6 decimals."""
    if units.is_energy_unit(sensor.unit):
        raise SchedulingFailed(
            "UnitConversionError",
            f"Sensor {sensor.id} has the energy unit '{sensor.unit}' and cannot receive a power schedule.",
        )
    try:
        values = np.asarray(units.convert(np.asarray(power_mw, dtype=float), "MW", sensor.unit, request.resolution))
    except (UnitMismatch, InvalidUnit) as e:
        raise SchedulingFailed(
            "UnitConversionError", f"Cannot store a power schedule on sensor {sensor.id}: {e}"
        ) from None
    if units.convertible(sensor.unit, "MW") and _consumption_is_positive(sensor):
        values = -values
    return [round(float(v), 6) + 0.0 for v in values]


def to_soc_values(soc_sensor: SensorFacts, energy_mwh: Array) -> list[float]:
    """The SoC trajectory e_0 … e_N (MWh) in the state-of-charge sensor's unit, 6 decimals."""
    try:
        values = np.asarray(units.convert(np.asarray(energy_mwh, dtype=float), "MWh", soc_sensor.unit, timedelta(0)))
    except (UnitMismatch, InvalidUnit) as e:
        raise SchedulingFailed("UnitConversionError", f"Cannot store the SoC on sensor {soc_sensor.id}: {e}") from None
    return [round(float(v), 6) + 0.0 for v in values]


def schedule_values(request: ScheduleRequest, sensor: SensorFacts, solution: Solution) -> list[float]:
    """The flexible device's row of a solution, ready to store on its power sensor."""
    return to_sensor_values(request, sensor, solution.power[0])
