"""Database access shared by every service: the connection pool, database creation and readiness."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings

logger = logging.getLogger(__name__)


ID_LIMIT = 2**31  # ids are PostgreSQL integers: a larger one cannot exist (and must not reach the database)


def is_db_id(value: int) -> bool:
    """Whether ``value`` can be the id of a row (an ``integer`` column)."""
    return 0 <= value < ID_LIMIT


def database_url(settings: Settings) -> str:
    """The libpq URL, with the ``database_ssl*`` settings (TLS to PostgreSQL) added where set."""
    tls = {
        "sslmode": settings.database_sslmode,
        "sslrootcert": settings.database_sslrootcert,
        "sslcert": settings.database_sslcert,
        "sslkey": settings.database_sslkey,
    }
    url = settings.database_url.get_secret_value()
    chosen = {key: value for key, value in tls.items() if value}
    return make_conninfo(url, **chosen) if chosen else url


# Every query of timed_beliefs bounds its time range by parameters, and TimescaleDB leaves out the chunks outside
# it when it plans the query with their values. psycopg prepares a statement after five runs, and PostgreSQL may
# then switch to a generic plan, planned without the values: it keeps every chunk, and each run pays for all of
# them (docs/performance.md, finding 23). Custom plans keep the cost flat in the number of chunks; a prepared
# statement still saves the parsing.
PLAN_CACHE_MODE = "-c plan_cache_mode=force_custom_plan"


def session_options(url: str) -> str:
    """The libpq ``options`` of every pooled connection: those of ``url`` (if any) and ``PLAN_CACHE_MODE``."""
    given = conninfo_to_dict(url).get("options") or ""
    return f"{given} {PLAN_CACHE_MODE}".strip()


@asynccontextmanager
async def open_pool(
    settings: Settings, *, name: str = "flexstream", timeout: float = 30.0
) -> AsyncIterator[AsyncConnectionPool]:
    """A pool that is open (and has reached the server once) for the duration of the block. ``timeout`` bounds
    the wait for a connection (``PoolTimeout`` after it) and the opening of a new one."""
    pool = AsyncConnectionPool(
        database_url(settings),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        open=False,
        name=name,
        timeout=timeout,
        kwargs={
            "autocommit": False,
            "connect_timeout": max(1, round(timeout)),
            "options": session_options(database_url(settings)),
        },
    )
    await pool.open(wait=True, timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def single_statement(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection in autocommit mode, for a lone read (or reads that need no common snapshot): one round
    trip for each statement or pipeline, without ``BEGIN`` and ``COMMIT``. Back in the pool it is transactional
    again."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            await conn.set_autocommit(False)


@asynccontextmanager
async def own_transaction(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection in autocommit mode for work that sends its own ``BEGIN`` and ``COMMIT``, each in the
    pipeline of a neighbouring statement: two round trips fewer than ``conn.transaction()``. A transaction that a
    failure left open is rolled back; back in the pool the connection is transactional again."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        except BaseException:
            if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                with contextlib.suppress(psycopg.Error):  # a broken connection: the pool discards it
                    await conn.execute("ROLLBACK")
            raise
        finally:
            with contextlib.suppress(psycopg.Error):
                await conn.set_autocommit(False)


async def ping(pool: AsyncConnectionPool) -> bool:
    """True when a connection can be had and answers a trivial query within a few seconds."""
    try:
        async with pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
        return True
    except (psycopg.Error, TimeoutError) as exc:  # psycopg_pool.PoolTimeout subclasses psycopg.OperationalError
        logger.warning("database not ready: %s", exc)
        return False


async def reachable(url: str) -> bool:
    """True when a fresh connection to ``url`` answers within a few seconds (for services without a pool)."""
    try:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=3) as conn:
            await conn.execute("SELECT 1")
        return True
    except psycopg.Error as exc:
        logger.warning("database not ready: %s", exc)
        return False


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist yet (connecting to ``postgres``)."""
    params = conninfo_to_dict(url)
    dbname = str(params.get("dbname") or "postgres")
    try:
        psycopg.connect(url, connect_timeout=10).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    admin = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            logger.info("created database %s", dbname)
        except psycopg.errors.DuplicateDatabase:
            pass
