#!/usr/bin/env bash
# Set up, ingest the demo corpus (unchanged files are skipped) and serve the app on 127.0.0.1:7860.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m assistant ingest data/reports
exec .venv/bin/python -m assistant serve "$@"
