"""Reading a series straight from the database (sql/beliefs.py): the fast plan, taken when every event has one
candidate belief, and the general plan (FlexMeasures' selection) must give the same answers, in every resampling mode,
with TimescaleDB's time_bucket and with PostgreSQL's date_bin."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from psycopg_pool import AsyncConnectionPool

from services.gateway.rules.read_plan import ReadPlan, plan_read
from services.gateway.rules.series_reads import PlanKind, read_series
from services.gateway.schemas.data import GetSensorDataByIdQuery
from services.gateway.sql import beliefs
from tests.integration.conftest import Factory

T0 = datetime(2025, 1, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
GENERAL_PLAN_SENSORS: dict[int, bool] = {}  # what the lifespan state holds in the gateway

# (request fields, mode): a day read at the sensor's step, coarser, finer, off the data's grid and instantaneous
READS: list[dict[str, Any]] = [
    {"duration": "PT24H"},
    {"duration": "PT24H", "resolution": "PT1H"},
    {"duration": "PT6H", "resolution": "PT5M"},
    {"start": (T0 + timedelta(minutes=10)).isoformat(), "duration": "PT5H", "resolution": "PT1H"},
    {"start": (T0 + timedelta(minutes=10)).isoformat(), "duration": "PT5H"},
    {"duration": "PT24H", "resolution": "PT7M"},
    {"duration": "PT24H", "prior": (T0 + timedelta(days=3)).isoformat()},
]


def plan(sensor: int, sensor_resolution: timedelta = QUARTER, /, **fields: Any) -> ReadPlan:
    query = GetSensorDataByIdQuery.model_validate({"start": T0.isoformat(), "unit": "kW", **fields})
    return plan_read(query, sensor, sensor_resolution)


async def source(pool: AsyncConnectionPool, version: str | None = None) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO data_sources (name, type, model, version) VALUES (%s, 'forecaster', 'm', %s) RETURNING id",
            (f"source-{uuid.uuid4().hex[:8]}", version),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def store(
    pool: AsyncConnectionPool, sensor: int, rows: list[tuple[datetime, int, datetime, float, float]]
) -> None:
    """(event start, source, belief time, cumulative probability, value) rows."""
    async with pool.connection() as conn:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO timed_beliefs (sensor_id, event_start, source_id, belief_time, cumulative_probability,"
                " event_value) VALUES (%s, %s, %s, %s, %s, %s)",
                [(sensor, *row) for row in rows],
            )


async def read(
    pool: AsyncConnectionPool, p: ReadPlan, kind: PlanKind, timescale: bool = True
) -> tuple[list[Any], bool]:
    """``timescale`` asks for time_bucket; on plain PostgreSQL (no extension) every read uses date_bin."""
    async with pool.connection() as conn:
        timescale = timescale and await beliefs.has_timescale(conn)
        values, found = await read_series(
            conn, p, timescale=timescale, general_plan_sensors=GENERAL_PLAN_SENSORS, plan_kind=kind
        )
    return [None if np.isnan(v) else round(float(v), 9) for v in values], found


@pytest.fixture
async def asset(factory: Factory) -> int:
    return await factory.asset(await factory.account())


async def test_one_belief_per_event_takes_the_fast_plan_and_matches_the_general_one(
    pool: AsyncConnectionPool, factory: Factory, asset: int
) -> None:
    sensor = await factory.sensor(asset)
    first, second = await source(pool), await source(pool)
    # a day and a bit, from two sources (each event from one), with belief times varying per event
    rows = [
        (T0 + i * QUARTER, (first, second)[i % 3 == 0], T0 + timedelta(days=1 + i % 5), 0.5, float(i % 17) - 3.5)
        for i in range(-2, 100)
    ]
    await store(pool, sensor, rows)
    for fields in READS:
        fast = await read(pool, plan(sensor, **fields), "auto")
        assert fast == await read(pool, plan(sensor, **fields), "general"), fields
        assert fast == await read(pool, plan(sensor, **fields), "auto", timescale=False), fields
    assert sensor not in GENERAL_PLAN_SENSORS
    values, found = await read(pool, plan(sensor, duration="PT1H", resolution="PT30M"), "auto")
    assert (values, found) == ([-3.0, -1.0], True)  # means of (-3.5, -2.5) and (-1.5, -0.5)


async def test_several_beliefs_per_event_fall_back_to_the_general_plan(
    pool: AsyncConnectionPool, factory: Factory, asset: int
) -> None:
    sensor = await factory.sensor(asset, resolution=HOUR)
    old, new, unversioned, other = (
        await source(pool, "1.9"),
        await source(pool, "1.10"),
        await source(pool),
        await source(pool),
    )
    early, late = T0 + timedelta(days=1), T0 + timedelta(days=2)
    two, three = T0 + 2 * HOUR, T0 + 3 * HOUR
    await store(pool, sensor, [
        # 00:00 the later belief of one source wins
        (T0, unversioned, early, 0.5, 1.0), (T0, unversioned, late, 0.5, 2.0),
        # 01:00 the higher version (1.10 > 1.9) wins over a later belief of a lower version
        (T0 + HOUR, new, early, 0.5, 3.0), (T0 + HOUR, old, late, 0.5, 4.0),
        # 02:00 probabilistic: the median row of the latest belief; 03:00 no median row: mean of the rows
        (two, old, early, 0.1, 5.0), (two, old, early, 0.5, 6.0), (two, old, early, 0.9, 7.0),
        (three, old, late, 0.2, 8.0), (three, old, late, 0.8, 10.0), (three, old, early, 0.5, 0.0),
        # 04:00 same version (none) and belief time: the lowest source id
        (T0 + 4 * HOUR, other, late, 0.5, 0.0), (T0 + 4 * HOUR, unversioned, late, 0.5, 11.0),
        # 05:00 a single belief
        (T0 + 5 * HOUR, new, late, 0.5, 12.0),
    ])  # fmt: skip
    exact = plan(sensor, HOUR, duration="PT6H")
    assert await read(pool, exact, "general") == ([2.0, 3.0, 6.0, 9.0, 11.0, 12.0], True)
    GENERAL_PLAN_SENSORS.pop(sensor, None)
    assert await read(pool, exact, "auto") == ([2.0, 3.0, 6.0, 9.0, 11.0, 12.0], True)
    assert sensor in GENERAL_PLAN_SENSORS  # later reads skip the fast attempt
    for fields in ({"duration": "PT6H", "resolution": "PT2H"}, {"duration": "PT3H", "resolution": "PT30M"}):
        expected = await read(pool, plan(sensor, HOUR, **fields), "general")
        assert await read(pool, plan(sensor, HOUR, **fields), "auto") == expected
        assert await read(pool, plan(sensor, HOUR, **fields), "general", timescale=False) == expected
    assert (await read(pool, plan(sensor, HOUR, duration="PT6H", resolution="PT2H"), "auto"))[0] == [2.5, 7.5, 11.5]
    # the fast plan alone would have been wrong here: it must never be used for such data
    GENERAL_PLAN_SENSORS.pop(sensor, None)
    async with pool.connection() as conn:
        cur = conn.cursor(binary=True)
        await cur.execute(beliefs.series_query("exact", True, fast=True), exact.params())
        row = await cur.fetchone()
    assert row is not None and row[1] is True  # multi: some event has several candidates


async def test_found_without_values_on_the_grid(pool: AsyncConnectionPool, factory: Factory, asset: int) -> None:
    sensor = await factory.sensor(asset)
    await store(pool, sensor, [(T0 + timedelta(minutes=5), await source(pool), T0, 0.5, 1.0)])
    for kind in ("auto", "general"):
        # off the 15-minute grid; not fully inside a coarser window; covering only a slot past a finer window
        assert await read(pool, plan(sensor, duration="PT15M"), kind) == ([None], True)
        assert await read(pool, plan(sensor, duration="PT15M", resolution="PT30M"), kind) == ([None], True)
        assert await read(pool, plan(sensor, duration="PT10M", resolution="PT4M"), kind) == ([None] * 3, True)
        later = plan(sensor, start=(T0 + HOUR).isoformat(), duration="PT1H")
        assert await read(pool, later, kind) == ([None] * 4, False)
