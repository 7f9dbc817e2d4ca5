#!/usr/bin/env bash
# `make test`: lint as `make lint` does, provision what the tests need (unless FLEXSTREAM_* points elsewhere), run
# every test, stop what was started here. Integration tests are never skipped: if a server cannot start, this fails.
#
# When the database is provisioned here (no FLEXSTREAM_DATABASE_URL), the suite runs twice: against
# PostgreSQL + TimescaleDB (hypertable, time_bucket), then against a plain PostgreSQL from the OS packages
# (ordinary table, date_bin), so both storage variants stay proven. FLEXSTREAM_TEST_PLAIN_PG=0 skips pass 2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "[test] lint: ruff, ruff format, mypy strict (make lint)" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
external_db="${FLEXSTREAM_DATABASE_URL:-}"
started_before=""
[ -f .run/infra-started ] && started_before=1
infra_exports="$(bash scripts/infra.sh up flexstream_test)"  # an assignment, so set -e stops here if it fails
eval "$infra_exports"
plain_started=""
cleanup() {
  [ -n "$plain_started" ] && bash scripts/plain-postgres.sh stop
  [ -n "$started_before" ] || [ -n "${FLEXSTREAM_KEEP_STACK:-}" ] || bash scripts/infra.sh down
}
trap cleanup EXIT
export FLEXSTREAM_KAFKA_BOOTSTRAP FLEXSTREAM_DATABASE_URL FLEXSTREAM_KAFKA_RELEASE="${FLEXSTREAM_KAFKA_RELEASE:-}"

echo "[test] pass 1: $( [ -n "$external_db" ] && echo "the given database" || echo "PostgreSQL + TimescaleDB" )" >&2
.venv/bin/pytest "$@"

if [ -z "$external_db" ] && [ "${FLEXSTREAM_TEST_PLAIN_PG:-1}" != 0 ]; then
  echo "[test] pass 2: plain PostgreSQL (no TimescaleDB)" >&2
  if ! psql -h 127.0.0.1 -p "${FLEXSTREAM_PLAIN_PG_PORT:-55433}" -U postgres -c "SELECT 1" >/dev/null 2>&1; then
    bash scripts/plain-postgres.sh start
    plain_started=1
  fi
  FLEXSTREAM_DATABASE_URL="postgresql://postgres@127.0.0.1:${FLEXSTREAM_PLAIN_PG_PORT:-55433}/flexstream_test" \
    .venv/bin/pytest "$@"
fi
