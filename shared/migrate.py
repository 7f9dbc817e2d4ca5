"""Apply ``migrations/NNNN_*.sql`` in order, once each, recorded in ``schema_migrations``.

Run with ``python -m shared.migrate``. Safe to run concurrently (an advisory lock serialises runners)
and repeatedly (applied files are skipped). Each file runs in its own transaction.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import psycopg

from shared import db
from shared.logging import configure
from shared.settings import Settings

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_ID = 0x466C6578  # "Flex"


def pending(applied: set[str], folder: Path = MIGRATIONS) -> list[Path]:
    return [path for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")) if path.stem not in applied]


def migrate(url: str, folder: Path = MIGRATIONS) -> list[str]:
    """Bring the database at ``url`` up to date; returns the names of the files applied now."""
    db.ensure_database(url)
    done: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for path in pending(applied, folder):
                with conn.transaction():
                    conn.execute(path.read_text())  # trusted files of ours
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
                logger.info("applied migration %s", path.stem)
                done.append(path.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return done


def timescaledb_version(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return str(row[0]) if row else None


def main() -> None:
    settings = Settings()
    configure(settings.log_level, settings.log_json)
    url = db.database_url(settings)
    try:
        applied = migrate(url)
    except psycopg.Error as exc:
        logger.error("migration failed: %s", exc)
        sys.exit(1)
    version = timescaledb_version(url)
    logger.info(
        "database up to date",
        extra={"applied": applied, "timescaledb": version or "not available (plain PostgreSQL tables)"},
    )


if __name__ == "__main__":
    main()
