#!/usr/bin/env bash
# End-to-end sessions with the official socket.io-client 4 against a real server.
#
#   scripts/e2e_run.sh                  # start a server on a free port, run both scripts, stop it
#   scripts/e2e_run.sh --port 3555      # ... on that port
#   scripts/e2e_run.sh --url http://127.0.0.1:3001   # use a running server (must have CHATR_TEST_MODE=1)
#
# The server started here runs with CHATR_TEST_MODE=1 (login bypass code 000000) and
# RATE_LIMITS_ENABLED=false against DATABASE_URL, else the embedded PostgreSQL under
# $CHATR_DATA_DIR (default var/e2e). Uploads go to a temporary folder removed at the end;
# the server log is var/e2e/server.log. socket.io-client is installed into var/node
# (gitignored) on first use. Exits 0 with a SKIP line when node/npm are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=""
URL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --port) PORT="${2:?--port needs a value}"; shift 2 ;;
        --port=*) PORT="${1#--port=}"; shift ;;
        --url) URL="${2:?--url needs a value}"; shift 2 ;;
        --url=*) URL="${1#--url=}"; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: node/npm not found; the e2e scripts need Node.js >= 18" >&2
    exit 0
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
    echo "SKIP: node $(node --version) is too old; the e2e scripts need Node.js >= 18" >&2
    exit 0
fi

NODE_DIR=var/node
if [ ! -d "$NODE_DIR/node_modules/socket.io-client" ]; then
    echo "installing socket.io-client@4 into $NODE_DIR" >&2
    mkdir -p "$NODE_DIR"
    npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" "socket.io-client@^4" >/dev/null
fi
export NODE_MODULES_DIR="$PWD/$NODE_DIR/node_modules"

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

SERVER_PID=""
UPLOADS=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 150); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server did not stop within 15 s; killing it" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
    if [ -n "$UPLOADS" ]; then rm -rf "$UPLOADS"; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

if [ -z "$URL" ]; then
    if [ -z "$PORT" ]; then
        PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    fi
    URL="http://127.0.0.1:$PORT"
    export CHATR_DATA_DIR="${CHATR_DATA_DIR:-$PWD/var/e2e}"
    mkdir -p "$CHATR_DATA_DIR"
    UPLOADS="$(mktemp -d "${TMPDIR:-/tmp}/chatr-e2e-uploads.XXXXXX")"
    LOG="$CHATR_DATA_DIR/server.log"
    if [ -n "${DATABASE_URL:-}" ]; then DB_NOTE="DATABASE_URL"; else DB_NOTE="embedded under $CHATR_DATA_DIR"; fi
    echo "starting server on $URL (database: $DB_NOTE; log: $LOG)"
    env \
        CHATR_TEST_MODE=1 RATE_LIMITS_ENABLED=false UPLOADS_DIR="$UPLOADS" LOG_LEVEL="${LOG_LEVEL:-WARNING}" \
        "$PYTHON" -m chatr_server serve --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1 &
    SERVER_PID=$!
    up=""
    for _ in $(seq 1 600); do  # up to 60 s (first embedded start runs initdb + migrations)
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        if "$PYTHON" - "$URL/api/health" <<'EOF' 2>/dev/null; then up=1; break; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()
EOF
        sleep 0.1
    done
    if [ -z "$up" ]; then
        echo "server did not become healthy; last lines of $LOG:" >&2
        tail -n 30 "$LOG" >&2 || true
        exit 1
    fi
fi

export E2E_URL="$URL"
status=0
for script in e2e_two_users e2e_social_session; do
    echo "== $script"
    if ! node "scripts/$script.mjs"; then
        status=1
        echo "== $script FAILED" >&2
    fi
done
if [ "$status" -ne 0 ] && [ -n "$SERVER_PID" ]; then
    echo "last lines of the server log ($LOG):" >&2
    tail -n 20 "$LOG" >&2 || true
fi
exit "$status"
