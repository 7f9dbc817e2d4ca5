"""``copy_format`` against PostgreSQL's own binary COPY: the same rows, written by psycopg (which encodes each
value itself) and copied out again, are byte for byte what ``belief_rows`` / ``staging_rows`` build with numpy;
and those bytes, copied in, read back as the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.ingest.copy_format import HEADER, TRAILER, belief_rows, staging_rows

STARTS = [datetime(2025, 3, 1, tzinfo=UTC) + i * timedelta(minutes=15) for i in range(4)]
BELIEFS = [datetime(2025, 3, 2, 12, 0, 0, 123456, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, tzinfo=UTC)] * 2
VALUES = [1.5, -0.0, 1e300, -2.25]

BELIEF_COLUMNS = "sensor_id, event_start, source_id, belief_time, cumulative_probability, event_value"
BELIEF_TYPES = ["int4", "timestamptz", "int4", "timestamptz", "float8", "float8"]
STAGING_COLUMNS = "command_idx, sensor_id, event_start, source_id, belief_time, event_value, resolution"
STAGING_TYPES = ["int4", "int4", "timestamptz", "int4", "timestamptz", "float8", "interval"]


def naive64(instants: list[datetime]) -> np.ndarray:
    return np.array([i.replace(tzinfo=None) for i in instants], dtype="datetime64[ns]")


async def postgres_copy(
    conn: AsyncConnection[Any], table: str, columns: str, types: list[str], rows: list[tuple[Any, ...]]
) -> bytes:
    """``rows`` written with psycopg's binary COPY, then PostgreSQL's binary COPY of the table."""
    async with conn.cursor() as cur:
        async with cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                await copy.write_row(row)
        out = bytearray()
        async with cur.copy(f"COPY {table} ({columns}) TO STDOUT (FORMAT BINARY)") as copy:
            async for chunk in copy:
                out += chunk
    return bytes(out)


async def rows_of(conn: AsyncConnection[Any], table: str, columns: str) -> list[tuple[Any, ...]]:
    return await (await conn.execute(f"SELECT {columns} FROM {table} ORDER BY event_start")).fetchall()


async def test_belief_rows_are_postgres_binary_copy(pool: AsyncConnectionPool) -> None:
    rows = [(42, s, 7, b, 0.5, v) for s, b, v in zip(STARTS, BELIEFS, VALUES, strict=True)]
    ours = belief_rows(42, 7, naive64(STARTS), naive64(BELIEFS), np.array(VALUES))
    async with pool.connection() as conn, conn.transaction(force_rollback=True):
        for table in ("by_psycopg", "by_numpy"):
            await conn.execute(f"CREATE TEMP TABLE {table} (LIKE timed_beliefs) ON COMMIT DROP")
        theirs = await postgres_copy(conn, "by_psycopg", BELIEF_COLUMNS, BELIEF_TYPES, rows)
        assert theirs == HEADER + ours + TRAILER
        async with (
            conn.cursor() as cur,
            cur.copy(f"COPY by_numpy ({BELIEF_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            await copy.write(HEADER + ours + TRAILER)
        assert await rows_of(conn, "by_numpy", BELIEF_COLUMNS) == rows


async def test_staging_rows_are_postgres_binary_copy(pool: AsyncConnectionPool) -> None:
    resolution = timedelta(minutes=15)
    rows = [(3, 42, s, 7, b, v, resolution) for s, b, v in zip(STARTS, BELIEFS, VALUES, strict=True)]
    ours = staging_rows(3, 42, 7, resolution, naive64(STARTS), naive64(BELIEFS), np.array(VALUES))
    types = ", ".join(f"{c.strip()} {t}" for c, t in zip(STAGING_COLUMNS.split(","), STAGING_TYPES, strict=True))
    async with pool.connection() as conn, conn.transaction(force_rollback=True):
        for table in ("staged_by_psycopg", "staged_by_numpy"):
            await conn.execute(f"CREATE TEMP TABLE {table} ({types}) ON COMMIT DROP")
        theirs = await postgres_copy(conn, "staged_by_psycopg", STAGING_COLUMNS, STAGING_TYPES, rows)
        assert theirs == HEADER + ours + TRAILER
        copy_in = f"COPY staged_by_numpy ({STAGING_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        async with conn.cursor() as cur, cur.copy(copy_in) as copy:
            await copy.write(HEADER + ours + TRAILER)
        assert await rows_of(conn, "staged_by_numpy", STAGING_COLUMNS) == rows
