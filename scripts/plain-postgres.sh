#!/usr/bin/env bash
# A plain PostgreSQL (no TimescaleDB) on 127.0.0.1:${FLEXSTREAM_PLAIN_PG_PORT:-55433}, from the host's own
# PostgreSQL packages, so `make test` can prove the schema and the suite work without the extension.
#   scripts/plain-postgres.sh start | stop
set -euo pipefail
PORT="${FLEXSTREAM_PLAIN_PG_PORT:-55433}"
DATA="${FLEXSTREAM_PLAIN_PG_DATA:-/var/lib/flexstream/plain-pg-$PORT}"  # readable by the postgres user
say() { echo "[plain-postgres] $*" >&2; }

bin_dir() {
  local d; d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$d" ] || [ ! -x "$d/postgres" ]; then
    say "installing PostgreSQL from the OS packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    d="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$d"
}

as_pg() { runuser -u postgres -- "$@"; }

start() {
  local bin; bin="$(bin_dir)"
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
  mkdir -p "$(dirname "$DATA")"
  if [ ! -s "$DATA/PG_VERSION" ]; then
    install -d -o postgres -g postgres "$DATA"
    as_pg "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then say "already running on $PORT"; return; fi
  as_pg "$bin/pg_ctl" -D "$DATA" -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1" -l "$DATA/server.log" -w start >/dev/null
  say "ready: $("$bin/postgres" --version) on 127.0.0.1:$PORT"
}

stop() {
  local bin; bin="$(bin_dir)"
  if [ -s "$DATA/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; say "stopped"; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
