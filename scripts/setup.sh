#!/usr/bin/env bash
# Create or update .venv in the repository root with everything the project needs.
# torch is pinned and installed first: an unpinned torch (pulled by sentence-transformers)
# would download a multi-GB CUDA build.
# A venv set up from the current pyproject.toml and this script is left as it is (a stamp in .venv records
# what it was set up from), so `bash scripts/test.sh` does not spend pip's resolution on every run;
# SETUP_FORCE=1 installs again anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
  done
fi
STAMP=.venv/.setup-stamp
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1) $(pwd)"
if [ "${SETUP_FORCE:-0}" != "1" ] && [ -x .venv/bin/python ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "setup: .venv is current (set up from this pyproject.toml and setup.sh); SETUP_FORCE=1 installs again"
else
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  rm -f "$STAMP"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" >"$STAMP"
fi
# Build the English reading's CC-CEDICT reverse index once per machine (~4 s) so no question pays for it
# (a no-op when it is built).
.venv/bin/python -c "from assistant import english; english.dictionary()"
