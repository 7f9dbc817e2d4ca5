"""``shared.db.single_statement`` on the real database: one statement in autocommit mode, and the pooled connection
is transactional again afterwards (even when the statement failed), so later users of the pool keep their
transactions."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from shared import db


async def test_a_single_statement_runs_without_a_transaction_and_the_connection_comes_back_transactional(
    database_url: str,
) -> None:
    async with AsyncConnectionPool(database_url, min_size=1, max_size=1, open=False) as pool:
        async with db.single_statement(pool) as conn:
            assert conn.autocommit
            await conn.execute("SELECT 1")
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # nothing left open
        with pytest.raises(psycopg.errors.UndefinedTable):
            async with db.single_statement(pool) as conn:
                await conn.execute("SELECT * FROM no_such_table")
        async with pool.connection() as conn:  # the pool's only connection, the same one
            assert not conn.autocommit
            await conn.execute("SELECT 1")
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
