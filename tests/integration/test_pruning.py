"""Pruning: ingested commands and published outbox rows older than the retention go; the rest stays.

The test writes an unpublished outbox row to a topic no service owns, so it runs on a database of its own: in the
session's database the running gateway's outbox relay would try to publish that row (and, on a broker with ACLs,
be refused and retry it ahead of every later sensor event)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.gateway.workers.pruner import prune_once
from shared.migrate import migrate

RETENTION = timedelta(days=14)


@pytest.fixture
async def own_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """A pool on a migrated database of this test's own, dropped afterwards."""
    name = f"{psycopg.conninfo.conninfo_to_dict(database_url)['dbname']}_pruning"
    url = make_conninfo(database_url, dbname=name)
    migrate(url)
    try:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            yield pool
    finally:
        with psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def test_old_commands_and_published_outbox_rows_are_pruned(own_pool: AsyncConnectionPool) -> None:
    pool = own_pool
    now = datetime.now(UTC)
    old, fresh = now - RETENTION - timedelta(hours=1), now - RETENTION + timedelta(hours=1)
    commands = {"old": uuid.uuid4(), "fresh": uuid.uuid4()}
    topic = f"pruning-{uuid.uuid4().hex[:8]}"
    async with pool.connection() as conn:
        for name, at in (("old", old), ("fresh", fresh)):
            await conn.execute(
                "INSERT INTO ingested_commands (command_id, sensor_id, result, ingested_at) VALUES (%s, 0, %s, %s)",
                (commands[name], Jsonb({"test": name}), at),
            )
        for published in (old, fresh, None):  # an old unpublished row must stay: it was never delivered
            await conn.execute(
                "INSERT INTO outbox (topic, value, created_at, published_at) VALUES (%s, %s, %s, %s)",
                (topic, str(published).encode(), old, published),
            )
        await conn.commit()

    deleted = await prune_once(pool, RETENTION, now=now)

    assert deleted[0] >= 1 and deleted[1] >= 1
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT command_id FROM ingested_commands WHERE command_id = ANY(%s)", (list(commands.values()),)
        )
        assert [row[0] for row in await cur.fetchall()] == [commands["fresh"]]
        cur = await conn.execute("SELECT published_at FROM outbox WHERE topic = %s ORDER BY id", (topic,))
        assert [row[0] for row in await cur.fetchall()] == [fresh, None]
    assert await prune_once(pool, RETENTION, now=now) == (0, 0)  # nothing left to prune
