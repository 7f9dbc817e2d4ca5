"""Ingest's two write paths on the real database: a straight COPY where a command's window holds no stored
belief, the staging comparison elsewhere, and the fall-back from the first to the second when beliefs appear
in the window between the check and the COPY (another writer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.ingest import handlers, sql
from shared.messages import PostSensorData
from shared.topics import SENSOR_DATA, key_for
from tests.integration.conftest import Factory

START = datetime(2025, 3, 1, tzinfo=UTC)


def record(command: PostSensorData, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = SENSOR_DATA.encode(command)
    return ConsumerRecord("t", 0, offset, 0, 0, key_for(command.sensor_id), value, None, 0, len(value), [])


def post(sensor: int, values: list[float | None], prior: datetime) -> PostSensorData:
    return PostSensorData(
        sensor_id=sensor, start=START, duration=timedelta(minutes=15 * len(values)), values=values, unit="kW",
        prior=prior, source_name="write-paths",
    )  # fmt: skip


async def ingest(pool: AsyncConnectionPool, *commands: PostSensorData) -> list[str]:
    async with pool.connection() as conn, conn.transaction():
        results = await handlers.ingest_batch(conn, [record(c, i) for i, c in enumerate(commands)], max_values=10**6)
    assert not results.dead, results.dead
    return [e.outcome for e in results.ingested]


async def stored(pool: AsyncConnectionPool, sensor: int) -> list[tuple[float, datetime]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_value, belief_time FROM timed_beliefs WHERE sensor_id = %s ORDER BY event_start, belief_time",
            (sensor,),
        )
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def test_fresh_windows_are_copied_and_repeats_are_compared(factory: Factory, pool: AsyncConnectionPool) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()))
    first, later = START + timedelta(days=1), START + timedelta(days=2)
    assert await ingest(pool, post(sensor, [1.0, 2.0], first)) == ["processed"]  # nothing stored: COPY
    assert await ingest(pool, post(sensor, [1.0, 2.0], later)) == ["already_received"]  # unchanged: nothing new
    assert await ingest(pool, post(sensor, [1.0, 5.0], first)) == ["replacement_rejected"]
    assert await stored(pool, sensor) == [(1.0, first), (2.0, first)]


async def test_beliefs_appearing_after_the_check_send_the_command_the_comparing_way(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()))
    prior = START + timedelta(days=1)
    assert await ingest(pool, post(sensor, [1.0, 2.0], prior)) == ["processed"]

    check = sql.commands_over_stored_beliefs

    async def nothing_stored(conn: AsyncConnection[Any], windows: Any) -> set[int]:
        await check(conn, windows)
        return set()  # as if the rows above were written by another replica just after the check

    monkeypatch.setattr(sql, "commands_over_stored_beliefs", nothing_stored)
    assert await ingest(pool, post(sensor, [1.0, 2.0], prior)) == ["already_received"]
    assert await ingest(pool, post(sensor, [1.0, 3.0], prior)) == ["replacement_rejected"]
    assert await stored(pool, sensor) == [(1.0, prior), (2.0, prior)]


def _rows_read_from_beliefs(plan: dict[str, Any]) -> int:
    """Rows the scans of ``timed_beliefs`` chunks returned, over all their loops (EXPLAIN ANALYZE, JSON)."""
    own = 0
    if "Scan" in plan["Node Type"] and str(plan.get("Relation Name", "")).startswith("_hyper_"):
        own = int(plan["Actual Rows"]) * int(plan["Actual Loops"])
    return own + sum(_rows_read_from_beliefs(child) for child in plan.get("Plans", []))


async def test_the_stored_window_check_probes_each_window_instead_of_reading_the_span(
    factory: Factory, pool: AsyncConnectionPool
) -> None:
    """A batch of a thousand windows in a span holding 300,000 beliefs: the check reads at most one belief per
    window (it used to hash every belief of the span, so its cost grew with what the span holds)."""
    asset = await factory.asset(await factory.account())
    filled = [await factory.sensor(asset) for _ in range(50)]
    fresh = await factory.sensor(asset)
    span = datetime(2031, 1, 1, tzinfo=UTC)
    async with pool.connection() as conn:
        cur = await conn.execute("INSERT INTO data_sources (name, type) VALUES ('window-check', 'test') RETURNING id")
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO timed_beliefs (sensor_id, event_start, source_id, belief_time, cumulative_probability,"
            " event_value) SELECT s, t, %(source)s, t, 0.5, 1.0 FROM unnest(%(sensors)s::integer[]) AS s,"
            " generate_series(%(lo)s::timestamptz, %(lo)s::timestamptz + interval '62 days' - interval '15 min',"
            " interval '15 min') AS t",
            {"source": row[0], "sensors": filled, "lo": span},
        )
        await conn.commit()
    day = timedelta(days=1)
    windows = [
        (i * 20 + d, sensor, span + d * day, span + d * day + timedelta(minutes=15 * 95))
        for i, sensor in enumerate(filled)
        for d in range(20)
    ]  # fmt: skip
    windows += [(10_000 + d, fresh, span + d * day, span + d * day + timedelta(minutes=15 * 95)) for d in range(20)]
    query, params = sql.stored_windows_query(sql.window_spans(windows))
    async with pool.connection() as conn:
        cur = await conn.execute(b"EXPLAIN (ANALYZE, FORMAT JSON) " + query.as_bytes(conn), params)
        row = await cur.fetchone()
        assert row is not None
        read = _rows_read_from_beliefs(row[0][0]["Plan"])
        found = await sql.commands_over_stored_beliefs(conn, windows)
        await conn.rollback()
    assert found == {w[0] for w in windows if w[1] != fresh}
    assert read <= len(windows), f"the check read {read} beliefs for {len(windows)} windows"
