#!/usr/bin/env bash
# Check the official JS client (socket.io-client 4, default options) against our server.
#
#   scripts/realtime_js_client_check.sh            # uses .venv python / PYTHON env var
#   scripts/realtime_js_client_check.sh URL        # a running conformance app at URL
#   scripts/realtime_js_client_check.sh --chat URL # a running `chatr_server serve` at URL
#                                                  # (CHATR_TEST_MODE=true; ROUNDS=10)
#
# Installs socket.io-client into var/node (gitignored) on first run, then runs
# scripts/realtime_js_client_check.mjs, which spawns the conformance server itself,
# exercises polling→websocket upgrade and websocket-only connections (emit, acks,
# binary) and restarts the server to check that the client reconnects.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: node/npm not found; the JS client check needs Node.js >= 18" >&2
    exit 0
fi

NODE_DIR=var/node
if [ ! -d "$NODE_DIR/node_modules/socket.io-client" ]; then
    mkdir -p "$NODE_DIR"
    npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" "socket.io-client@^4" >/dev/null
fi

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON
export NODE_MODULES_DIR="$PWD/$NODE_DIR/node_modules"
if [ "${1:-}" = "--chat" ]; then
    export CHECK_MODE=chat
    shift
fi
if [ -n "${1:-}" ]; then
    export TARGET_URL="$1"
fi
exec node scripts/realtime_js_client_check.mjs
