#!/usr/bin/env bash
# `make bench`: provision Kafka and the database as `make test` does (unless FLEXSTREAM_* points elsewhere),
# run the ingest benchmark on its own database (flexstream_bench), stop only what was started here.
# Writes bench/results/<timestamp>-<commit>.md/.json; exits 1 when a goal is not met or a row was not measured.
#   make bench                              full sizes (a few minutes)
#   make bench BENCH_ARGS="--quick --no-fail"   smoke-sized run, exit 0 whatever the verdicts
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
started_before=""
[ -f .run/infra-started ] && started_before=1
infra_exports="$(bash scripts/infra.sh up flexstream_bench)"  # an assignment, so set -e stops here if it fails
eval "$infra_exports"
cleanup() { [ -n "$started_before" ] || [ -n "${FLEXSTREAM_KEEP_STACK:-}" ] || bash scripts/infra.sh down; }
trap cleanup EXIT
export FLEXSTREAM_KAFKA_BOOTSTRAP FLEXSTREAM_DATABASE_URL FLEXSTREAM_KAFKA_RELEASE="${FLEXSTREAM_KAFKA_RELEASE:-}"
.venv/bin/python -m bench.ingest "$@"
