#!/usr/bin/env bash
# Create .venv and install the project. `scripts/setup.sh test` adds the test extras
# (torch CPU 2.13.0, sentence-transformers, a local MiniLM, playwright, schemathesis)
# and Debian's chromium + CJK fonts for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "test" ]; then
  .venv/bin/python -m pip install --quiet torch==2.13.0
  .venv/bin/python -m pip install --quiet -e '.[test]'
  if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
    if [ "$(id -u)" = "0" ]; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
    else
      echo "note: install Debian's chromium and fonts-noto-cjk for the browser test (it skips without chromium)" >&2
    fi
  fi
else
  .venv/bin/python -m pip install --quiet -e .
fi
