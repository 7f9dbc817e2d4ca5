"""Counting a client's round trips to PostgreSQL from libpq's protocol trace."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection, pq


def round_trips(trace: str) -> int:
    """Waits for the server in a libpq trace: each time the server's messages follow the client's (a Sync or Flush
    of a pipeline, a simple Query, a COPY's start and the end of its data each end one)."""
    sides = [line.split()[0] for line in trace.splitlines() if line.split()[:1] in (["F"], ["B"])]
    return sum(1 for sent, answered in zip(sides, sides[1:], strict=False) if (sent, answered) == ("F", "B"))


async def traced(conn: AsyncConnection[Any], work: Callable[[], Awaitable[Any]]) -> str:
    """The libpq trace of what ``work`` sends and receives on ``conn``."""
    with tempfile.TemporaryFile("w+") as out:
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            await work()
        finally:
            conn.pgconn.untrace()
        out.seek(0)
        return out.read()
