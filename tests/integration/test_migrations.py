"""Migrations apply in order, once, and create a hypertable when TimescaleDB is available."""

from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared.migrate import MIGRATIONS, migrate
from tests.integration.conftest import Factory


def test_migrations_are_recorded_and_idempotent(database_url: str) -> None:
    assert migrate(database_url) == []  # the session fixture applied everything already
    with psycopg.connect(database_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == sorted(path.stem for path in MIGRATIONS.glob("[0-9]*.sql"))


def test_beliefs_table_is_a_hypertable_when_timescaledb_is_available(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        preloaded = "timescaledb" in str(conn.execute("SHOW shared_preload_libraries").fetchone())
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        if available and preloaded:
            assert installed, "TimescaleDB is available but the migration did not enable it"
            row = conn.execute(
                "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'timed_beliefs'"
            ).fetchone()
            assert row == (1,)
        else:
            assert not installed
            assert conn.execute("SELECT to_regclass('timed_beliefs')").fetchone() == ("timed_beliefs",)


async def test_deleting_an_asset_deletes_its_sensors_beliefs(factory: Factory, pool: AsyncConnectionPool) -> None:
    """timed_beliefs has no foreign keys (migrations/0004); a trigger keeps sensor deletion complete."""
    account = await factory.account()
    asset = await factory.asset(account)
    sensor = await factory.sensor(asset)
    async with pool.connection() as conn:
        source = await (
            await conn.execute("INSERT INTO data_sources (name, type) VALUES ('t', 'test') RETURNING id")
        ).fetchone()
        assert source is not None
        await conn.execute(
            "INSERT INTO timed_beliefs (sensor_id, event_start, source_id, belief_time, event_value)"
            " VALUES (%s, now(), %s, now(), 1)",
            (sensor, source[0]),
        )
        await conn.execute("DELETE FROM generic_assets WHERE id = %s", (asset,))
        count = await (
            await conn.execute("SELECT count(*) FROM timed_beliefs WHERE sensor_id = %s", (sensor,))
        ).fetchone()
    assert count == (0,)
