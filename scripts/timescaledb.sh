#!/usr/bin/env bash
# Provide PostgreSQL 17 + TimescaleDB on 127.0.0.1:${FLEXSTREAM_PG_PORT:-55432}.
#
#   scripts/timescaledb.sh start   build the server (once), init the cluster (once), start it, wait
#   scripts/timescaledb.sh stop    stop the server started by `start` (by the PID in its pid file)
#   scripts/timescaledb.sh status  exit 0 when it answers
#
# Where the OS ships postgresql-17-timescaledb natively (Debian 13+), that package is used.
# On Debian 12 a Debian 13 root is built once with debootstrap into the cache folder and the
# server runs inside it (chroot). Nothing here runs when FLEXSTREAM_DATABASE_URL is set: the
# Makefile skips this script then.
set -euo pipefail

CACHE="${FLEXSTREAM_CACHE:-$HOME/.cache/flexstream}"
PORT="${FLEXSTREAM_PG_PORT:-55432}"
ROOT="$CACHE/debian13-root"          # chroot with postgresql-17 + timescaledb (Debian 12 hosts)
MIRROR="${FLEXSTREAM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STATE="$CACHE/state"; mkdir -p "$STATE"
LOG="$STATE/timescaledb.log"
# One cluster per port, so servers on two ports can run side by side (the default port keeps its old folder).
if [ "$PORT" = 55432 ]; then DATA=/var/lib/flexstream/pgdata; else DATA="/var/lib/flexstream/pgdata-$PORT"; fi

say() { echo "[timescaledb] $*" >&2; }

native() { [ -x /usr/lib/postgresql/17/bin/postgres ] && [ -e /usr/share/postgresql/17/extension/timescaledb.control ]; }

# in_root CMD...: run a command as the postgres user where the server lives (host or chroot).
in_root() {
  if [ "$MODE" = native ]; then runuser -u postgres -- "$@"; else chroot "$ROOT" runuser -u postgres -- "$@"; fi
}

ensure_server() {
  if native; then MODE=native; return; fi
  if . /etc/os-release && [ "${VERSION_ID%%.*}" -ge 13 ] 2>/dev/null; then
    say "installing postgresql-17-timescaledb from the OS packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-17 postgresql-17-timescaledb >/dev/null
    MODE=native; return
  fi
  MODE=chroot    # $DATA is a path inside the root
  if [ ! -e "$ROOT/.flexstream-ready" ]; then
    command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    say "building a Debian 13 root in $ROOT (once; about a minute or two)"
    rm -rf "$ROOT.partial"
    debootstrap --variant=minbase --include=ca-certificates trixie "$ROOT.partial" "$MIRROR" >"$STATE/debootstrap.log" 2>&1 \
      || { say "debootstrap failed, see $STATE/debootstrap.log"; tail -5 "$STATE/debootstrap.log" >&2; exit 1; }
    cp /etc/resolv.conf "$ROOT.partial/etc/resolv.conf" 2>/dev/null || true
    # Do not let package scripts start services or create a default cluster inside the root.
    printf '#!/bin/sh\nexit 101\n' > "$ROOT.partial/usr/sbin/policy-rc.d"; chmod +x "$ROOT.partial/usr/sbin/policy-rc.d"
    mkdir -p "$ROOT.partial/etc/postgresql-common"
    echo "create_main_cluster = false" > "$ROOT.partial/etc/postgresql-common/createcluster.conf"
    say "installing postgresql-17 and postgresql-17-timescaledb inside the root"
    chroot "$ROOT.partial" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-17 postgresql-17-timescaledb' >"$STATE/root-apt.log" 2>&1 \
      || { say "package install in the root failed, see $STATE/root-apt.log"; tail -5 "$STATE/root-apt.log" >&2; exit 1; }
    touch "$ROOT.partial/.flexstream-ready"
    rm -rf "$ROOT"; mv "$ROOT.partial" "$ROOT"
  fi
  # PostgreSQL needs /dev/null, /dev/urandom and shared memory inside the root.
  mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc" 2>/dev/null || true
}

host_path() { if [ "$MODE" = native ]; then echo "$1"; else echo "$ROOT$1"; fi; }

pidfile() { host_path "$DATA/postmaster.pid"; }

running() { local pf; pf="$(pidfile)"; [ -s "$pf" ] && kill -0 "$(head -1 "$pf")" 2>/dev/null; }

answers() { pg_isready -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; }

start() {
  ensure_server
  if [ ! -s "$(host_path "$DATA")/PG_VERSION" ]; then
    say "initialising the cluster (once)"
    install -d -o "$(pg_owner)" -g "$(pg_owner)" "$(host_path "$DATA")"
    in_root /usr/lib/postgresql/17/bin/initdb -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 \
      || in_root /usr/lib/postgresql/17/bin/initdb -D "$DATA" -U postgres --auth=trust -E UTF8 >"$STATE/initdb.log" 2>&1
    cat >> "$(host_path "$DATA")/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '/tmp'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 200
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 256MB
synchronous_commit = on
fsync = on
wal_level = minimal
max_wal_senders = 0
max_wal_size = 4GB
checkpoint_timeout = 15min
logging_collector = off
CONF
  fi
  if running; then say "already running on 127.0.0.1:$PORT"; else
    say "starting PostgreSQL 17 + TimescaleDB on 127.0.0.1:$PORT"
    in_root /usr/lib/postgresql/17/bin/pg_ctl -D "$DATA" -o "-p $PORT" -l "$DATA/server.log" -w -t 60 start >/dev/null \
      || { say "start failed:"; tail -20 "$(host_path "$DATA")/server.log" >&2; exit 1; }
  fi
  for _ in $(seq 1 60); do answers && break; sleep 0.5; done
  answers || { say "the server of $DATA does not answer on port $PORT (log: $(host_path "$DATA")/server.log)"; exit 1; }
  say "ready: postgresql://postgres@127.0.0.1:$PORT/postgres"
}

any_cluster_running() {
  local pf
  for pf in "$ROOT"/var/lib/flexstream/pgdata*/postmaster.pid; do
    [ -s "$pf" ] && kill -0 "$(head -1 "$pf")" 2>/dev/null && return 0
  done
  return 1
}

pg_owner() { if [ "$MODE" = native ]; then id -u postgres; else chroot "$ROOT" id -u postgres; fi; }

stop() {
  ensure_server_quiet
  if running; then
    say "stopping (pid $(head -1 "$(pidfile)"))"
    in_root /usr/lib/postgresql/17/bin/pg_ctl -D "$DATA" -m fast -w stop >/dev/null
  else say "not running"; fi
  # Release the root's mounts once no cluster in it runs (the servers of other ports need its /dev), so that
  # removing the cache folder can never reach the host's /dev.
  if [ "$MODE" = chroot ] && ! any_cluster_running; then
    for mnt in "$ROOT/proc" "$ROOT/dev"; do mountpoint -q "$mnt" && umount -l "$mnt"; done
  fi
  return 0
}

ensure_server_quiet() {
  if native; then MODE=native; else MODE=chroot; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) ensure_server_quiet; running && answers ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
