#!/usr/bin/env bash
# The whole local stack: `scripts/stack.sh up` (make run) and `scripts/stack.sh down` (make stop).
# Services run in the background with their PIDs in .run/<service>.pid and logs in .run/<service>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
SERVICES=(ingest scheduler stats gateway)
GATEWAY_PORT="${FLEXSTREAM_PORT:-8000}"
declare -A HEALTH=([ingest]=8001 [scheduler]=8002 [stats]=8003 [gateway]=$GATEWAY_PORT)

say() { echo "[flexstream] $*" >&2; }
running() { [ -s ".run/$1.pid" ] && kill -0 "$(cat ".run/$1.pid")" 2>/dev/null; }

up() {
  say "step 1/5: Python environment"
  bash scripts/bootstrap.sh
  say "step 2/5: Kafka broker and database"
  infra_exports="$(bash scripts/infra.sh up flexstream)"  # an assignment, so set -e stops here if it fails
  eval "$infra_exports"
  (umask 077; for v in "${!FLEXSTREAM_@}"; do printf 'export %s=%q\n' "$v" "${!v}"; done > .run/env)
  say "step 3/5: database migrations; the services' Kafka ACLs"
  .venv/bin/python -m shared.migrate
  if [ -n "${FLEXSTREAM_KAFKA_CREDENTIALS:-}" ]; then .venv/bin/flexstream kafka-acls >&2; fi
  say "step 4/5: services"
  for svc in "${SERVICES[@]}"; do
    if running "$svc"; then say "$svc already running (pid $(cat ".run/$svc.pid"))"; continue; fi
    local principal=()  # each service its own Kafka principal on the local authenticated broker
    if [ -n "${FLEXSTREAM_KAFKA_CREDENTIALS:-}" ]; then
      principal=(FLEXSTREAM_KAFKA_SASL_USERNAME="$svc"
        FLEXSTREAM_KAFKA_SASL_PASSWORD="$(awk -v n="$svc" '$1 == n { print $2 }' "$FLEXSTREAM_KAFKA_CREDENTIALS")")
    fi
    env "${principal[@]}" nohup .venv/bin/python -m "services.$svc" >".run/$svc.log" 2>&1 &
    echo $! > ".run/$svc.pid"
    say "$svc started (pid $!, log .run/$svc.log)"
  done
  for svc in "${SERVICES[@]}"; do
    local port="${HEALTH[$svc]}" ok=""
    for _ in $(seq 1 90); do
      running "$svc" || { say "$svc exited; last lines of .run/$svc.log:"; tail -20 ".run/$svc.log" >&2; exit 1; }
      if curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; then ok=1; break; fi
      sleep 1
    done
    [ -n "$ok" ] || { say "$svc did not become healthy on port $port; see .run/$svc.log"; exit 1; }
    say "$svc healthy: http://127.0.0.1:$port/health"
  done
  say "step 5/5: demo account"
  local demo
  demo="$(.venv/bin/flexstream demo --json)"
  field() { .venv/bin/python -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$demo" "$1"; }
  cat <<MSG

FlexStream is up.
  gateway:     http://127.0.0.1:$GATEWAY_PORT   (health: http://127.0.0.1:$GATEWAY_PORT/health)
  demo login:  $(field email) / $(field password)   (a new token: POST /api/requestAuthToken)
  demo data:   account $(field account_id), battery asset $(field asset_id), power sensor $(field power_sensor_id) (kW, 15 min), price sensor $(field price_sensor_id) (EUR/MWh, 1 h)

Try:
  curl -s -H "Authorization: $(field auth_token)" http://127.0.0.1:$GATEWAY_PORT/api/v3_0/sensors/$(field power_sensor_id)

Stop everything with: make stop
MSG
}

down() {
  for svc in gateway stats scheduler ingest; do
    if running "$svc"; then
      local pid; pid="$(cat ".run/$svc.pid")"
      say "stopping $svc (pid $pid)"
      kill -TERM "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && { say "$svc did not stop in 20 s; killing"; kill -KILL "$pid"; }
    fi
    rm -f ".run/$svc.pid"
  done
  bash scripts/infra.sh down
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
