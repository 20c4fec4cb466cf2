#!/usr/bin/env bash
# Create ./.venv (Python >= 3.11) and install llmcalc into it, editable, with the given extras.
#   bash scripts/setup.sh            # core + notebook + spreadsheet server
#   bash scripts/setup.sh test       # everything the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-notebook,excel}"
PY="${PYTHON:-python3}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "llmcalc needs Python >= 3.11")'
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then          # Debian splits venv into python3-venv
    rm -rf .venv
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
echo "llmcalc installed in $(pwd)/.venv with extras [${EXTRAS}]"
