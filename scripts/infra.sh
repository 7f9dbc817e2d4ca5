#!/usr/bin/env bash
# Start (or reuse) the broker and the database, then print the settings to use, as shell exports.
#   eval "$(scripts/infra.sh up [dbname])"     provisions what FLEXSTREAM_* does not point elsewhere
#   scripts/infra.sh down                      stops what `up` started (recorded in .run/infra-started)
# With FLEXSTREAM_KAFKA_BOOTSTRAP / FLEXSTREAM_DATABASE_URL set, that part is used as it is (with the
# FLEXSTREAM_KAFKA_SECURITY_PROTOCOL / _SASL_* given, or none: an external broker without authentication).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
PG_PORT="${FLEXSTREAM_PG_PORT:-55432}"

case "${1:-up}" in
  up)
    dbname="${2:-flexstream}"
    if [ -z "${FLEXSTREAM_KAFKA_BOOTSTRAP:-}" ]; then
      if ! bash scripts/kafka.sh status; then  # only what this checkout starts is stopped by `down`
        bash scripts/kafka.sh start >&2
        grep -qx kafka .run/infra-started 2>/dev/null || echo kafka >> .run/infra-started
      fi
      echo "export FLEXSTREAM_KAFKA_BOOTSTRAP=127.0.0.1:${FLEXSTREAM_KAFKA_PORT:-9092}"
      echo "export FLEXSTREAM_KAFKA_RELEASE='Apache Kafka $(bash scripts/kafka.sh version)'"
      # An authenticated broker (the default): this shell acts as its super user (admin); each service is started
      # with its own principal from the credentials file (scripts/stack.sh, tests/processes.py).
      if credentials="$(bash scripts/kafka.sh credentials)"; then
        echo "export FLEXSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"
        echo "export FLEXSTREAM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
        echo "export FLEXSTREAM_KAFKA_SASL_USERNAME=admin"
        echo "export FLEXSTREAM_KAFKA_SASL_PASSWORD=$(awk '$1 == "admin" { print $2 }' "$credentials")"
        echo "export FLEXSTREAM_KAFKA_CREDENTIALS=$credentials"
      fi
    else
      echo "[infra] using the Kafka broker at $FLEXSTREAM_KAFKA_BOOTSTRAP" >&2
    fi
    if [ -z "${FLEXSTREAM_DATABASE_URL:-}" ]; then
      if ! bash scripts/timescaledb.sh status 2>/dev/null; then
        bash scripts/timescaledb.sh start >&2
        grep -qx timescaledb .run/infra-started 2>/dev/null || echo timescaledb >> .run/infra-started
      fi
      echo "export FLEXSTREAM_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/$dbname"
    else
      echo "[infra] using the database at ${FLEXSTREAM_DATABASE_URL%%\?*}" >&2
    fi
    ;;
  down)
    if [ -f .run/infra-started ]; then
      grep -qx kafka .run/infra-started && bash scripts/kafka.sh stop
      grep -qx timescaledb .run/infra-started && bash scripts/timescaledb.sh stop
      rm -f .run/infra-started
    fi
    ;;
  *) echo "usage: $0 up [dbname] | down" >&2; exit 2 ;;
esac
