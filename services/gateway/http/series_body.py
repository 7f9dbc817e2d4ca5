"""The body of a sensor data GET: one value per grid slot, converted to the asked unit, as FlexMeasures writes it."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np

from services.gateway.http.responses import PROCESSED_MESSAGE
from services.gateway.rules.read_plan import ReadPlan
from shared import units
from shared.time import format_duration_hours, format_instant


def values_body(plan: ReadPlan, values: np.ndarray, found: bool, sensor_unit: str, unit: str) -> dict[str, Any]:
    """The response: one value per grid slot (NaN: null), converted from the sensor's unit."""
    data_resolution = plan.step if plan.resolution > timedelta(0) else timedelta(0)
    if found and len(values):
        values = units.convert(values, sensor_unit, unit, data_resolution)
    return {
        "values": [None if math.isnan(v) else v for v in np.asarray(values, dtype=float).tolist()],
        "start": format_instant(plan.start),
        "duration": format_duration_hours(plan.end - plan.start),
        "unit": unit,
        "resolution": format_duration_hours(data_resolution if found else plan.resolution),
        "status": "PROCESSED",
        "message": PROCESSED_MESSAGE,
    }
