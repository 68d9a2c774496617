#!/usr/bin/env bash
# Check the Docker image's recipe end to end, with or without a container daemon.
#
# With a working daemon (`docker info` succeeds) it builds the real image and
# runs it. Without one (these machines have only the docker client) it repeats
# the Dockerfile's steps on this machine:
#   - copy only what the Dockerfile copies, `pip install "<src>[s3,sms]"` (not
#     editable) into a fresh virtual environment, then delete the source copy;
#   - run as a non-root user (`nobody` when started as root), in an empty
#     working folder, with the image's environment only (NODE_ENV=production,
#     CHATR_DATA_DIR, UPLOADS_DIR, PORT, a test JWT_SECRET, DATABASE_URL);
#   - the image's command: `migrate`, then `serve`.
# Either way it then checks /api/health, /api/health/ready (200 or 503; 404 is
# reported as "not present yet"), /metrics (200 with METRICS_TOKEN, 401 without)
# and the landing page /, stops
# the server with SIGTERM (it must exit 0), and removes everything it created:
# the database, the temporary folder, the container and the image.
#
# Needs: python3 (3.11+), psql, and PostgreSQL at CHECK_ADMIN_URL (default
# postgresql://postgres@127.0.0.1:5432/postgres); a fresh database is created there.
# Set IMAGE_CHECK_MODE=local to skip Docker even when the daemon answers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADMIN_URL="${CHECK_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
PYTHON_BIN="${PYTHON:-python3}"
TAG="chatr-image-check-$$"
DB="chatr_image_check_$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
DATABASE_URL="${ADMIN_URL%/*}/$DB"
# The Dockerfile's build steps (keep in step with it).
SOURCES=(setup.cfg pyproject.toml README.md chatr_server sql)
EXTRAS="s3,sms"
START_TIMEOUT=90

WORK=""
SERVER_PID=""
CONTAINER=""
IMAGE=""

say() { echo "image_check: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$CONTAINER" ] && [ "$status" -ne 0 ]; then docker logs "$CONTAINER" >&2 || true; fi
  if [ -n "$CONTAINER" ]; then docker rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
  if [ -n "$IMAGE" ]; then docker rmi -f "$IMAGE" >/dev/null 2>&1 || true; fi
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
  if [ "$status" -eq 0 ]; then say "PASS"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PYTHON_BIN" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until /api/health answers, or fail when the server process is gone or the deadline passes.
wait_for_health() {
  local base="$1" alive_cmd="$2" deadline=$((SECONDS + START_TIMEOUT))
  until curl -fsS -o /dev/null "$base/api/health" 2>/dev/null; do
    if ! eval "$alive_cmd"; then fail "the server exited before answering (log above)"; fi
    if [ "$SECONDS" -ge "$deadline" ]; then fail "no answer from $base/api/health in ${START_TIMEOUT}s"; fi
    sleep 0.2
  done
}

# GET a path; print "<status> <body>" (body on one line).
fetch() {
  local out status
  out="$(curl -sS -m 10 -w '\n%{http_code}' "${@:2}" "$1")" || fail "GET $1: no answer"
  status="${out##*$'\n'}"
  printf '%s %s' "$status" "$(printf '%s' "${out%$'\n'*}" | tr '\n' ' ')"
}

check_endpoints() {
  local base="$1" token="$2" got status body version
  version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/chatr_server/__init__.py")"

  got="$(fetch "$base/api/health")"; status="${got%% *}"; body="${got#* }"
  [ "$status" = 200 ] || fail "/api/health answered $status: $body"
  case "$body" in *'"database":"connected"'*) ;; *) fail "/api/health: $body" ;; esac
  say "/api/health 200: $body"

  got="$(fetch "$base/api/health/ready")"; status="${got%% *}"; body="${got#* }"
  case "$status" in
    200 | 503) say "/api/health/ready $status: $body" ;;
    404) say "note: /api/health/ready answers 404: readiness is not in this build yet" ;;
    *) fail "/api/health/ready answered $status: $body" ;;
  esac

  got="$(fetch "$base/metrics" -H "Authorization: Bearer $token")"; status="${got%% *}"; body="${got#* }"
  [ "$status" = 200 ] || fail "/metrics with the token answered $status"
  case "$body" in *chatr_dependency_up*) ;; *) fail "/metrics has no chatr_ series" ;; esac
  say "/metrics 200 with the token ($(printf '%s' "$body" | wc -c) bytes)"
  got="$(fetch "$base/metrics")"; status="${got%% *}"
  [ "$status" = 401 ] || fail "/metrics without the token answered $status (production needs it)"
  say "/metrics 401 without the token"

  got="$(fetch "$base/")"; status="${got%% *}"; body="${got#* }"
  [ "$status" = 200 ] || fail "/ answered $status"
  case "$body" in *"$version"*'href="/api/health"'*) ;; *) fail "/ does not name version $version" ;; esac
  say "/ 200: landing page names version $version"
}

command -v psql >/dev/null || fail "psql is needed to create the check's database"
command -v curl >/dev/null || fail "curl is needed"
psql -q "$ADMIN_URL" -c "CREATE DATABASE \"$DB\"" >/dev/null || fail "cannot create a database at $ADMIN_URL"
JWT_SECRET="$("$PYTHON_BIN" -c 'import secrets; print(secrets.token_urlsafe(48))')"
METRICS_TOKEN="$("$PYTHON_BIN" -c 'import secrets; print(secrets.token_urlsafe(24))')"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"

if [ "${IMAGE_CHECK_MODE:-auto}" != local ] && docker info >/dev/null 2>&1; then
  say "container daemon found: building and running the real image"
  IMAGE="$TAG"
  docker build -q -t "$IMAGE" "$ROOT" >/dev/null
  # Host networking: the container reaches the host's PostgreSQL on 127.0.0.1.
  CONTAINER="$(docker run -d --network host \
    -e PORT="$PORT" -e DATABASE_URL="$DATABASE_URL" \
    -e JWT_SECRET="$JWT_SECRET" -e METRICS_TOKEN="$METRICS_TOKEN" "$IMAGE")"
  [ "$(docker inspect -f '{{.Config.User}}' "$IMAGE")" = chatr ] || fail "the image does not run as chatr"
  wait_for_health "$BASE" '[ "$(docker inspect -f "{{.State.Running}}" "$CONTAINER")" = true ]'
  check_endpoints "$BASE" "$METRICS_TOKEN"
  docker stop -t 20 "$CONTAINER" >/dev/null
  code="$(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER")"
  [ "$code" = 0 ] || fail "the container exited with $code after SIGTERM"
  say "stopped cleanly (exit 0)"
  exit 0
fi

say "no container daemon: repeating the Dockerfile's steps on this machine"
WORK="$(mktemp -d /tmp/chatr-image-check.XXXXXX)"
chmod 755 "$WORK"
mkdir "$WORK/src" "$WORK/app" "$WORK/data"
for name in "${SOURCES[@]}"; do cp -a "$ROOT/$name" "$WORK/src/"; done
find "$WORK/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +

if [ "$(id -u)" -eq 0 ]; then
  RUN_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  chown nobody:nogroup "$WORK/data"
else
  RUN_AS=()
fi
# The interpreter must be usable by that user (a pyenv build under /root is not):
# the first of $PYTHON, python3, /usr/bin/python3 that it can run, 3.11 or newer.
VENV_PYTHON=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3 /usr/local/bin/python3; do
  path="$(command -v "$candidate" 2>/dev/null)" || continue
  if "${RUN_AS[@]}" "$path" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    VENV_PYTHON="$path"
    break
  fi
done
[ -n "$VENV_PYTHON" ] || fail "no Python 3.11+ that the unprivileged user can run (set PYTHON)"
"$VENV_PYTHON" -m venv "$WORK/venv"
say "pip install \"<src>[$EXTRAS]\" (not editable) into a fresh venv"
if ! timeout 900 "$WORK/venv/bin/python" -m pip install --disable-pip-version-check \
  "$WORK/src[$EXTRAS]" >"$WORK/pip.log" 2>&1; then
  cat "$WORK/pip.log" >&2
  fail "pip install failed"
fi
grep -i "warning: .*extra\|does not provide the extra" "$WORK/pip.log" >&2 && fail "pip warned about an extra"
rm -rf "$WORK/src"

if [ "$(id -u)" -eq 0 ]; then
  say "running as nobody (the image runs as its own unprivileged user, chatr)"
else
  say "running as $(id -un) (not root already)"
fi

# The image's environment and nothing else (env -i), working folder like WORKDIR /app.
# The image binds 0.0.0.0; here the server stays on loopback.
(
  cd "$WORK/app"
  exec "${RUN_AS[@]}" env -i \
    PATH="$WORK/venv/bin:/usr/local/bin:/usr/bin:/bin" HOME="$WORK/data" \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 NODE_ENV=production \
    CHATR_DATA_DIR="$WORK/data" UPLOADS_DIR="$WORK/data/uploads" PORT="$PORT" \
    DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET" METRICS_TOKEN="$METRICS_TOKEN" \
    sh -c 'python -m chatr_server migrate && exec python -m chatr_server serve --host 127.0.0.1'
) &
SERVER_PID=$!
wait_for_health "$BASE" 'kill -0 "$SERVER_PID" 2>/dev/null'
owner="$(ps -o user= -p "$SERVER_PID" | tr -d ' ')"
[ "$(id -u)" -ne 0 ] || [ "$owner" = nobody ] || fail "the server runs as $owner, not nobody"
say "server pid $SERVER_PID runs as $owner"
check_endpoints "$BASE" "$METRICS_TOKEN"

kill -TERM "$SERVER_PID"
set +e
wait "$SERVER_PID"
code=$?
set -e
SERVER_PID=""
[ "$code" -eq 0 ] || fail "serve exited with $code after SIGTERM"
say "stopped cleanly on SIGTERM (exit 0)"
