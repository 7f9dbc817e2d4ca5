"""Sensors and a trigger body shared by the flex-model / flex-context / problem tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.errors import FlexRejected, TriggerRejected
from shared.flex import ScheduleRequest, SensorFacts, validate_trigger

QUARTER = timedelta(minutes=15)
START = "2024-01-01T00:00:00+01:00"


def sensor(sensor_id: int, unit: str, resolution: timedelta = QUARTER, **facts: Any) -> SensorFacts:
    return SensorFacts(id=sensor_id, unit=unit, event_resolution=resolution, timezone="Europe/Amsterdam", **facts)


BATTERY = sensor(1, "MW", asset_id=10, asset_type="battery")
SENSORS = {
    2: sensor(2, "kW"),  # an inflexible load
    3: sensor(3, "EUR/MWh", timedelta(hours=1)),
    4: sensor(4, "USD/MWh", timedelta(hours=1)),
    5: sensor(5, "MWh", timedelta(0)),  # instantaneous SoC sensor
    6: sensor(6, "%"),
    7: sensor(7, "°C"),
    8: sensor(8, "kWh"),
    9: sensor(9, "EUR/kW"),
    11: sensor(11, "%", timedelta(hours=1)),
}


def body(
    flex_model: dict[str, Any] | None = None, flex_context: dict[str, Any] | None = None, **top: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": START,
        "duration": "PT2H",
        "flex-model": {"soc-at-start": "0 MWh", "soc-max": "1 MWh", "power-capacity": "1 MW", **(flex_model or {})},
        "flex-context": {"consumption-price": "30 EUR/MWh", **(flex_context or {})},
    }
    out.update(top)
    return out


def validate(payload: dict[str, Any], battery: SensorFacts = BATTERY, **kwargs: Any) -> ScheduleRequest:
    return validate_trigger(payload, battery, SENSORS, **kwargs)


def rejection(payload: dict[str, Any], battery: SensorFacts = BATTERY, **kwargs: Any) -> dict[str, Any] | str:
    """The E6 payload (``{"message": {"json": payload}}``) or, for E1, the location errors."""
    try:
        validate(payload, battery, **kwargs)
    except FlexRejected as e:
        return e.payload
    except TriggerRejected as e:
        return e.location_errors
    raise AssertionError("accepted")
