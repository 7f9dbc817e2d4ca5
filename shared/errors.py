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


class Unstorable(FlexStreamError):
    """A record the database refused although every check before the write passed (ingest isolates it by
    halving its batch and dead-letters it alone, so its partition moves on)."""

    reason = "unstorable"


class TriggerRejected(FlexStreamError):
    """A schedule trigger whose top-level fields are invalid (HTTP 422, the E1 body).

    ``location_errors`` is that body's ``message``, e.g. ``{"json": {"start": ["Missing data for required field."]}}``.
    """

    reason = "invalid_trigger"

    def __init__(self, location_errors: dict[str, object]) -> None:
        super().__init__(str(location_errors))
        self.location_errors = location_errors

    def body(self) -> dict[str, object]:
        return {"message": self.location_errors, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}


class FlexRejected(FlexStreamError):
    """A flex-model or flex-context that cannot be scheduled (HTTP 422, the E6 body).

    ``payload`` goes under ``{"message": {"json": payload}}``: a dict of field errors or a plain sentence.
    """

    reason = "invalid_flex"

    def __init__(self, payload: dict[str, object] | str) -> None:
        super().__init__(payload if isinstance(payload, str) else str(payload))
        self.payload = payload

    def body(self) -> dict[str, object]:
        return {"message": {"json": self.payload}, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}


class SchedulingFailed(FlexStreamError):
    """A scheduling job that cannot be computed from its inputs (unknown prices, no power capacity, conflicting
    constraints). ``error_class`` is the name FlexMeasures reports (``"Scheduling job failed with <class>: ..."``)."""

    reason = "scheduling_failed"

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


class ProcessDoesNotFit(SchedulingFailed):
    """A process needs more (contiguous) slots than the planning window leaves outside its time restrictions."""

    reason = "process_does_not_fit"

    def __init__(self, message: str) -> None:
        super().__init__("ProcessDoesNotFit", message)


class InvalidStatusSpecs(FlexStreamError):
    """A sensor's ``status_specs`` attribute (or its knowledge-horizon parameters) cannot be read."""

    reason = "invalid_status_specs"


class NotDeviceSensor(FlexStreamError):
    """A device topic's command names a sensor of another account (or of no account)."""

    reason = "sensor_not_in_account"


class SourceNotAllowed(FlexStreamError):
    """A device topic's command names a data source: its source is always the account's device source."""

    reason = "source_not_allowed"


class ReplaceNotAllowed(FlexStreamError):
    """A device topic's command asks to replace stored beliefs, and the server does not allow overwrites."""

    reason = "replace_not_allowed"


class DeletionNotAllowed(FlexStreamError):
    """A device topic carries a deletion: only the gateway deletes sensor data."""

    reason = "deletion_not_allowed"


class BackdatedBelief(FlexStreamError):
    """A device topic's command claims a belief time before the broker received it (other than a measurement's)."""

    reason = "backdated_belief"


class FieldNotAllowed(FlexStreamError):
    """A device topic's command sets a field that only the record itself may give (command id, recorded time)."""

    reason = "field_not_allowed"
