"""Shared test set-up. Integration fixtures talk to the real broker and database that `make test`
provisions (or that FLEXSTREAM_KAFKA_BOOTSTRAP / FLEXSTREAM_DATABASE_URL name); nothing is mocked."""

from __future__ import annotations

import os

import psycopg
import pytest
from psycopg.conninfo import make_conninfo


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    url = os.environ.get("FLEXSTREAM_DATABASE_URL")
    if url:
        try:
            with psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=5) as conn:
                server = conn.execute("SHOW server_version").fetchone()
                available = conn.execute(
                    "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
                ).fetchone()
                preload = conn.execute("SHOW shared_preload_libraries").fetchone()
            if available and preload and "timescaledb" in str(preload[0]):
                timescale = f"TimescaleDB {available[0]} (extension created in each test database)"
            else:
                timescale = "no TimescaleDB (plain PostgreSQL tables)"
            lines.append(f"database: PostgreSQL {server[0] if server else '?'}, {timescale}")
        except psycopg.Error as exc:
            lines.append(f"database: unreachable ({exc})")
    kafka = os.environ.get("FLEXSTREAM_KAFKA_BOOTSTRAP")
    if kafka:
        release = os.environ.get("FLEXSTREAM_KAFKA_RELEASE") or "external broker (release not known)"
        lines.append(f"kafka: {release} at {kafka}")
    return lines
