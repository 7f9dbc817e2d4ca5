#!/usr/bin/env bash
# Validate compose.yaml with `docker compose config -q` (no engine needed). Where the machine's docker
# client has no compose plugin, use Debian 13's docker-compose package from the cached Debian 13 root
# that scripts/timescaledb.sh builds (installed into that root once; the host is left untouched).
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then exec docker compose config -q; fi
ROOT="${FLEXSTREAM_CACHE:-$HOME/.cache/flexstream}/debian13-root"
PLUGIN="$ROOT/usr/libexec/docker/cli-plugins/docker-compose"
if [ ! -x "$PLUGIN" ]; then
  [ -e "$ROOT/.flexstream-ready" ] || { echo "[compose-check] no compose plugin and no Debian 13 root ($ROOT)" >&2; exit 1; }
  echo "[compose-check] installing docker-compose into the Debian 13 root (once)" >&2
  chroot "$ROOT" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose' >/dev/null
fi
exec "$PLUGIN" config -q
