#!/usr/bin/env bash
# Create or update .venv in the repository root with everything the project needs.
# torch is pinned and installed first: an unpinned torch (pulled by sentence-transformers)
# would download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
  done
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[dev]"
# Build the English reading's CC-CEDICT reverse index once per machine (~4 s) so no question pays for it.
.venv/bin/python -c "from assistant import english; english.dictionary()"
