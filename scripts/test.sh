#!/usr/bin/env bash
# `make test`: provision what the tests need (unless FLEXSTREAM_* points elsewhere), run every test,
# stop what was started here. Integration tests are never skipped: if a server cannot start, this fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
started_before=""
[ -f .run/infra-started ] && started_before=1
eval "$(bash scripts/infra.sh up flexstream_test)"
cleanup() { [ -n "$started_before" ] || [ -n "${FLEXSTREAM_KEEP_STACK:-}" ] || bash scripts/infra.sh down; }
trap cleanup EXIT
export FLEXSTREAM_KAFKA_BOOTSTRAP FLEXSTREAM_DATABASE_URL FLEXSTREAM_KAFKA_RELEASE="${FLEXSTREAM_KAFKA_RELEASE:-}"
.venv/bin/pytest "$@"
