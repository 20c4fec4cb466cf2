#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite:
#   Debian packages: chromium (browser tests), libreoffice-calc-nogui + python3-uno (WEBSERVICE tests),
#   nodejs/npm (Microsoft's Office tooling, pinned in excel/tools/package-lock.json);
#   Python: .venv with llmcalc[test] and the CPU build of PyTorch (for `llmcalc calibrate` tests).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v soffice >/dev/null || need+=(libreoffice-calc-nogui)
[ -e /usr/lib/python3/dist-packages/uno.py ] || need+=(python3-uno)
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

bash scripts/setup.sh test
.venv/bin/python -m pip install -q "torch==2.13.0"

if [ -f excel/tools/package.json ]; then
  (cd excel/tools && npm ci --no-audit --no-fund --loglevel=error)
fi

exec .venv/bin/python -m pytest -q "$@"
