#!/usr/bin/env bash
# Run the official Engine.IO / Socket.IO protocol test suites against our server.
#
#   scripts/realtime_protocol_suites.sh [ENGINE_IO_SUITE_DIR] [SOCKET_IO_SUITE_DIR]
#
# The suites are the `test-suite` folders of github.com/socketio/engine.io-protocol and
# github.com/socketio/socket.io-protocol, extracted OUTSIDE this repository (defaults:
# /tmp/eio-suite/test-suite and /tmp/sio-suite/test-suite), e.g.
#   git clone --depth 1 https://github.com/socketio/engine.io-protocol /tmp/eio-protocol
# Both hard-code http://localhost:3000, so port 3000 must be free.
#
# WORKERS=N runs the conformance app as N processes on port 3000 (the `--workers`
# mechanism of docs/scaling.md: SO_REUSEPORT, Redis fan-out, requests forwarded to the
# session's owner); it needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0).
set -euo pipefail
cd "$(dirname "$0")/.."
EIO_SUITE=${1:-/tmp/eio-suite/test-suite}
SIO_SUITE=${2:-/tmp/sio-suite/test-suite}
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: node not found" >&2
    exit 0
fi

WORKERS=${WORKERS:-1}
LOG=$(mktemp)
if [ "$WORKERS" -gt 1 ]; then
    # INFO: each worker logs how many requests it forwarded / handed over when it stops.
    "$PYTHON" -m chatr_server.realtime.conformance --port 3000 --workers "$WORKERS" \
        --log-level INFO --redis-url "${REDIS_URL:-redis://127.0.0.1:6379/0}" >"$LOG" &
else
    "$PYTHON" -m chatr_server.realtime.conformance --port 3000 >"$LOG" &
fi
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do
    grep -q "Running on" "$LOG" && break
    sleep 0.1
done
echo "server: $(grep "Running on" "$LOG" || echo 'not ready')"

status=0
for suite in "$EIO_SUITE" "$SIO_SUITE"; do
    echo "== $suite"
    [ -d "$suite/node_modules" ] || (cd "$suite" && npm install --silent --no-audit --no-fund)
    (cd "$suite" && npx mocha test-suite.js) || status=1
done
exit $status
