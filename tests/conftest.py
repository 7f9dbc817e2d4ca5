"""Shared test set-up. Integration fixtures talk to the real broker and database that `make test`
provisions (or that FLEXSTREAM_KAFKA_BOOTSTRAP / FLEXSTREAM_DATABASE_URL name); nothing is mocked."""

from __future__ import annotations

import os

import psycopg
import pytest


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    url = os.environ.get("FLEXSTREAM_DATABASE_URL")
    if url:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                server = conn.execute("SHOW server_version").fetchone()
                row = conn.execute(
                    "SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
                    " (SELECT default_version || ' (available)' FROM pg_available_extensions"
                    "  WHERE name = 'timescaledb'), 'not available')"
                ).fetchone()
            lines.append(f"database: PostgreSQL {server[0] if server else '?'}, TimescaleDB {row[0] if row else '?'}")
        except psycopg.Error as exc:
            lines.append(f"database: unreachable ({exc})")
    kafka = os.environ.get("FLEXSTREAM_KAFKA_BOOTSTRAP")
    if kafka:
        release = os.environ.get("FLEXSTREAM_KAFKA_RELEASE") or "external broker (release not known)"
        lines.append(f"kafka: {release} at {kafka}")
    return lines
