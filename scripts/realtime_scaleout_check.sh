#!/usr/bin/env bash
# Acceptance checks of the multi-process deployment (docs/scaling.md):
#
#   scripts/realtime_scaleout_check.sh [ENGINE_IO_SUITE_DIR SOCKET_IO_SUITE_DIR]
#
# 1. the official JS client (socket.io-client 4) against `conformance --workers 2`;
# 2. the official JS client, default options, against `serve --workers 2` on a scratch
#    database (created and dropped here), ROUNDS fresh connections exchanging DMs;
# 3. with suite folders given: the official Engine.IO / Socket.IO suites against
#    `conformance --workers 2` (scripts/realtime_protocol_suites.sh with WORKERS=2).
#
# Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0), PostgreSQL (PG_ADMIN_URL,
# default postgresql://postgres@127.0.0.1:5432/postgres), node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for_line() { # FILE PATTERN
    for _ in $(seq 300); do grep -q "$2" "$1" && return 0; sleep 0.1; done
    echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
PIDS=()
TMP=$(mktemp -d)
DB=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    if [ -n "$DB" ]; then
        "$PYTHON" - "$PG_ADMIN_URL" "$DB" <<'EOF' || true
import asyncio, sys, asyncpg
async def main(admin, name):
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()
asyncio.run(main(*sys.argv[1:]))
EOF
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== 1. socket.io-client against conformance --workers 2"
PORT=$(free_port)
"$PYTHON" -m chatr_server conformance --port "$PORT" --workers 2 --redis-url "$REDIS_URL" \
    >"$TMP/conformance.log" 2>&1 &
PIDS+=($!)
wait_for_line "$TMP/conformance.log" "Running on"
scripts/realtime_js_client_check.sh "http://127.0.0.1:$PORT"

echo "== 2. socket.io-client (default options) against serve --workers 2"
DB="chatr_scaleout_check_$(date +%s)_$$"
DSN=$("$PYTHON" - "$PG_ADMIN_URL" "$DB" <<'EOF'
import asyncio, sys, asyncpg
from urllib.parse import urlsplit, urlunsplit
async def main(admin, name):
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    print(urlunsplit(urlsplit(admin)._replace(path="/" + name)))
asyncio.run(main(*sys.argv[1:]))
EOF
)
PORT=$(free_port)
DATABASE_URL="$DSN" REDIS_URL="$REDIS_URL" REDIS_PREFIX="chatr-scaleout-check-$$:" \
    CHATR_TEST_MODE=true RATE_LIMITS_ENABLED=false CHATR_DATA_DIR="$TMP/var" \
    UPLOADS_DIR="$TMP/uploads" LOG_LEVEL=INFO \
    "$PYTHON" -m chatr_server serve --host 127.0.0.1 --port "$PORT" --workers 2 \
    >"$TMP/serve.log" 2>&1 &
PIDS+=($!)
"$PYTHON" - "$REDIS_URL" "chatr-scaleout-check-$$:" <<'EOF'
import sys, time, redis
client = redis.Redis.from_url(sys.argv[1])
for _ in range(300):  # both workers advertise themselves once they serve
    if len(client.keys(sys.argv[2] + "eio-node:*")) >= 2:
        break
    time.sleep(0.1)
else:
    sys.exit("serve --workers 2 did not start")
EOF
scripts/realtime_js_client_check.sh --chat "http://127.0.0.1:$PORT"
kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
grep "cluster: node" "$TMP/serve.log" || true

if [ $# -ge 2 ]; then
    echo "== 3. official protocol suites against conformance --workers 2"
    WORKERS=2 scripts/realtime_protocol_suites.sh "$1" "$2"
fi
echo "scale-out check: PASS"
