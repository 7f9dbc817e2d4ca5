"""The binary arrays ingest builds with numpy (``services/ingest/pg_arrays.py``) read back by PostgreSQL as the
values they were made from, prepared or not."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from psycopg_pool import AsyncConnectionPool

from services.ingest.pg_arrays import Float8Array, Int4Array, TimestamptzArray

READ_BACK = """
SELECT i, t, f FROM unnest(%(i)b::integer[], %(t)b::timestamptz[], %(f)b::double precision[]) AS u (i, t, f)
"""


async def test_arrays_read_back_as_the_values_they_were_built_from(pool: AsyncConnectionPool) -> None:
    ints = np.array([0, -1, 2**31 - 1, -(2**31)])
    instants = np.array(
        ["2025-01-01T00:00:00", "1999-12-31T23:59:59.999999", "1700-03-01T12:34:56.789012", "2262-04-11"],
        dtype="datetime64[ns]",
    )
    floats = np.array([0.5, -1e300, 5e-324, -0.0])
    expected = [
        (0, datetime(2025, 1, 1, tzinfo=UTC), 0.5),
        (-1, datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), -1e300),
        (2**31 - 1, datetime(1700, 3, 1, 12, 34, 56, 789012, tzinfo=UTC), 5e-324),
        (-(2**31), datetime(2262, 4, 11, tzinfo=UTC), -0.0),
    ]
    params = {"i": Int4Array.of(ints), "t": TimestamptzArray.of(instants), "f": Float8Array.of(floats)}
    async with pool.connection() as conn:
        for _ in range(7):  # psycopg prepares a statement from its fifth run on
            rows = await (await conn.execute(READ_BACK, params)).fetchall()
            assert rows == expected
        empty = await (await conn.execute("SELECT cardinality(%s::integer[])", [Int4Array.of(np.array([]))])).fetchone()
        assert empty == (0,)
