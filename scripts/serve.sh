#!/usr/bin/env bash
# Set up (if needed) and run the spreadsheet add-in server on https://localhost:3000.
# Extra arguments go to `llmcalc serve` (e.g. --port 3443, --http, --base-url https://llm.example.com).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh notebook,excel
exec .venv/bin/llmcalc serve "$@"
