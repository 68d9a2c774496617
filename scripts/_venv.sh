# Shared by scripts/serve and scripts/test: create or reuse .venv and install
# the project with the given extras when its metadata changed.
# Usage: . scripts/_venv.sh "extra1,extra2"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHATR_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

if ! "$PYTHON_BIN" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "chatr_server needs Python 3.11 or newer ($PYTHON_BIN is $("$PYTHON_BIN" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment in $VENV" >&2
  "$PYTHON_BIN" -m venv "$VENV"
fi
STAMP="$VENV/.chatr-installed-$(echo "$1" | tr ',' '-')"
WANT="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing chatr_server[$1] into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$1]" >&2
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
