"""Domain errors raised inside FlexStream; the gateway maps them to HTTP answers, consumers to DLQ reasons."""

from __future__ import annotations


class FlexStreamError(Exception):
    """Base of every domain error. ``reason`` is a short machine-readable code."""

    reason = "error"


class UnknownSensor(FlexStreamError):
    reason = "unknown_sensor"

    def __init__(self, sensor_id: int) -> None:
        super().__init__(f"Sensor {sensor_id} does not exist (it may have been deleted).")
        self.sensor_id = sensor_id


class UnitMismatch(FlexStreamError):
    reason = "unit_not_convertible"


class InvalidUnit(FlexStreamError):
    reason = "invalid_unit"


class InvalidResolution(FlexStreamError):
    reason = "invalid_resolution"


class TooManyValues(FlexStreamError):
    reason = "too_many_values"


class UnknownSource(FlexStreamError):
    """A command names a data source id that does not exist."""

    reason = "unknown_source"


class MalformedMessage(FlexStreamError):
    reason = "malformed_message"


class InvalidBeliefs(FlexStreamError):
    """Values or event starts that cannot be stored (duplicate or out-of-range event starts, infinite values)."""

    reason = "invalid_beliefs"
