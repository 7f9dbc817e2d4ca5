"""Reading a planned series: the fast SQL plan first, the general one when some event has several candidate
beliefs, then the rows on the output grid.

Sensors whose last fast read met such an event are remembered in ``general_plan_sensors`` (a bounded cache in
the lifespan state) and read with the general plan straight away; it is always right, this only saves the
fast attempt. The SQL itself is in ``sql/beliefs.py``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Literal

import numpy as np
from psycopg import AsyncConnection

from services.gateway.rules.read_plan import ReadPlan, place_on_grid
from services.gateway.sql.beliefs import fetch_series

PlanKind = Literal["auto", "general"]


async def read_series(
    conn: AsyncConnection[Any],
    plan: ReadPlan,
    *,
    timescale: bool,
    general_plan_sensors: MutableMapping[int, bool],
    plan_kind: PlanKind = "auto",
) -> tuple[np.ndarray, bool]:
    """The value of each grid slot (NaN: none), and whether any belief matched at all. ``auto`` tries the
    fast plan first and runs the general one only when some event has several candidate beliefs."""
    rows = None
    if plan_kind == "auto" and plan.sensor_id not in general_plan_sensors:
        rows = await fetch_series(conn, plan, timescale=timescale, fast=True)
        if rows.multi:
            rows = None
            general_plan_sensors[plan.sensor_id] = True
    if rows is None:
        rows = await fetch_series(conn, plan, timescale=timescale, fast=False)
    return place_on_grid(plan, rows.offsets, rows.values), rows.found
