#!/usr/bin/env bash
# Install the recorder and start it on its embedded defaults (SQLite file and local disk under ./data,
# one demo application whose Janus is http://127.0.0.1:8088/janus). Settings: see README.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check .
exec .venv/bin/recorder-service
