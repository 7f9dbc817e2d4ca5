"""From validated HTTP input to the command messages ingest executes. Pure: no I/O.

``post_command`` also runs the same ``shared.beliefs.rows_for`` ingest will run, so every rejection FlexMeasures
answers synchronously (unit, resolution, type rules) is answered here, before anything is produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from services.gateway.schemas.data import PostFields
from services.gateway.sql.sensors import SensorRow
from shared import units
from shared.beliefs import SensorInfo, rows_for
from shared.errors import FlexStreamError, UnitMismatch
from shared.messages import DeleteSensorData, PostBeliefs, PostSensorData, utcnow

MAX_VALUES = 1_000_000  # per request, as ingest's default FLEXSTREAM_INGEST_MAX_VALUES
UPLOAD_CHUNK = 100_000  # event starts per PostBeliefs command (keeps each Kafka message a few MB)


class CommandRejected(ValueError):
    """The request is well-formed but cannot be stored; the message is the client-facing text."""


def sensor_info(sensor: SensorRow) -> SensorInfo:
    return SensorInfo(sensor.id, sensor.unit, sensor.event_resolution, sensor.timezone, sensor.attributes)


def is_energy_price_unit(unit: str) -> bool:
    currency, _, denominator = unit.partition("/")
    return len(currency) == 3 and currency.isalpha() and bool(denominator) and units.is_energy_unit(denominator)


def check_type(request_type: str | None, unit: str) -> None:
    """The extra unit rules of the typed requests (FlexMeasures 0.27: meter data and prognoses
    in units convertible to MW, prices in energy price units)."""
    if request_type is None:
        return
    if ("Meter" in request_type or "Prognosis" in request_type) and not units.convertible(unit, "MW"):
        raise CommandRejected(f"The unit of a {request_type} must be convertible to MW, got: {unit}")
    if "Price" in request_type and not is_energy_price_unit(unit):
        raise CommandRejected(f"The unit of a {request_type} must be an energy price unit (e.g. EUR/MWh), got: {unit}")


def post_command(body: PostFields, sensor: SensorRow, *, replace: bool) -> PostSensorData:
    """The command for a JSON data post (source still unset), or ``CommandRejected`` with FlexMeasures' text."""
    try:
        units.check_convertible(body.unit, sensor.unit)
    except UnitMismatch as exc:
        raise CommandRejected(str(exc)) from None
    check_type(body.type, body.unit)
    command = PostSensorData(
        sensor_id=sensor.id, start=body.start, duration=body.duration, values=body.values, unit=body.unit,
        prior=body.prior, horizon=body.horizon, replace=replace,
    )  # fmt: skip
    try:
        rows = rows_for(command, sensor_info(sensor), max_values=MAX_VALUES)
    except FlexStreamError as exc:
        raise CommandRejected(str(exc)) from None
    horizons = rows.event_starts + np.timedelta64(sensor.event_resolution) - rows.belief_times
    if body.type == "PostMeterDataRequest" and (horizons > np.timedelta64(0)).any():
        raise CommandRejected("Meter data must lie in the past.")
    if body.type == "PostPrognosisRequest" and (horizons < np.timedelta64(0)).any():
        raise CommandRejected("Prognoses must lie in the future.")
    return command


def upload_commands(
    sensor: SensorRow,
    event_starts: Sequence[datetime],
    values: Sequence[float | None],
    *,
    source_id: int,
    replace: bool,
    measured_instantly: bool,
    chunk: int = UPLOAD_CHUNK,
) -> list[PostBeliefs]:
    """Uploaded (already resampled, sensor-unit) values as commands of at most ``chunk`` events, one belief time:
    horizon 0 when measured instantly, else the upload time (as FlexMeasures' upload route)."""
    recorded_at = utcnow()
    return [
        PostBeliefs(
            sensor_id=sensor.id,
            event_starts=list(event_starts[i : i + chunk]),
            values=list(values[i : i + chunk]),
            source_id=source_id,
            replace=replace,
            horizon=timedelta(0) if measured_instantly else None,
            recorded_at=recorded_at,
        )  # fmt: skip
        for i in range(0, len(values), chunk)
    ]


def delete_command(sensor_id: int) -> DeleteSensorData:
    return DeleteSensorData(sensor_id=sensor_id)
