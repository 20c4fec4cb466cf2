#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite:
#   Debian packages: chromium (browser tests), libreoffice-calc-nogui + python3-uno (WEBSERVICE tests),
#   nodejs/npm (Microsoft's Office tooling, pinned in excel/tools/package-lock.json);
#   Python: .venv with llmcalc[test,xlwings] and the CPU build of PyTorch (`llmcalc calibrate` tests).
# Extra arguments go to pytest.
#
# PyTorch: only the CPU build is ever installed. `torch==X+cpu` exists on PyTorch's CPU index and in
# local wheelhouses (pip's find-links), never on PyPI, whose plain `torch` is the CUDA build (~2.5-3 GB
# of wheels). An unreachable index is skipped fast (short timeout, no retries); when no CPU build can
# be had, the calibration tests are skipped with a one-line reason (README: Tests).
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

bash scripts/setup.sh test,xlwings

TORCH="torch==${LLMCALC_TORCH_VERSION:-2.13.0}+cpu"
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  log="$(mktemp)"
  if .venv/bin/python -m pip install -q --timeout 10 --retries 0 --only-binary torch \
       --extra-index-url https://download.pytorch.org/whl/cpu "$TORCH" 2>"$log"; then
    echo "installed $TORCH (CPU build) for the calibration tests"
  else
    echo "no CPU build of PyTorch ($TORCH: not in a local wheelhouse, PyTorch's CPU index not reachable)," \
         "so the calibration tests will be skipped. pip said: $(grep -m 1 ERROR "$log" | cut -c1-120)"
  fi
  rm -f "$log"
fi

if [ -f excel/tools/package.json ]; then
  (cd excel/tools && npm ci --no-audit --no-fund --loglevel=error)
fi

exec .venv/bin/python -m pytest -q "$@"
