#!/usr/bin/env bash
# The main job on the embedded defaults: install, ingest corpus/, start the API
# (127.0.0.1:8000, docs at /docs) and the Streamlit explorer (127.0.0.1:8501).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/kb ingest
.venv/bin/kb serve --host "${KB_HOST:-127.0.0.1}" --port "${KB_API_PORT:-8000}" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null' EXIT INT TERM
echo "API: http://${KB_HOST:-127.0.0.1}:${KB_API_PORT:-8000}/docs"
.venv/bin/kb ui --host "${KB_HOST:-127.0.0.1}" --port "${KB_UI_PORT:-8501}"
