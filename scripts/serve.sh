#!/usr/bin/env bash
# Install the recorder and start it on its embedded defaults (SQLite file and local disk under ./data,
# one demo application whose Janus is http://127.0.0.1:8088/janus). Settings: see README.
# The package is installed again only when its sources changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
sources=$(find pyproject.toml api recorder schemas storage_providers -type f \( -name '*.py' -o -name '*.yaml' \
    -o -name '*.toml' -o -name 'py.typed' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.recorder-installed 2>/dev/null)" != "$sources" ] || [ ! -x .venv/bin/recorder-service ]; then
    echo "installing the recorder into .venv"
    .venv/bin/pip install -q --disable-pip-version-check .
    echo "$sources" > .venv/.recorder-installed
fi
# MP3 compositions use the system's LAME when there is one (3x as fast as the one in PyAV's wheel)
if ! ldconfig -p 2>/dev/null | grep -q 'libmp3lame\.so\.0' && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    echo "installing libmp3lame0"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libmp3lame0 >/dev/null) || echo "libmp3lame0 could not be installed: MP3 compositions use PyAV's LAME"
fi
data_dir=${RECORDER_DATA_DIR:-data}
echo "the recorder listens on http://${RECORDER_HOST:-127.0.0.1}:${RECORDER_PORT:-8080}" \
     "(API under /rtc-recorder/api, contract at /rtc-recorder/api/openapi.yaml)"
echo "console: open http://${RECORDER_HOST:-127.0.0.1}:${RECORDER_PORT:-8080}/console/ and sign in with the demo client"
echo "demo client: client_id=demo, client_secret=\$(cat $data_dir/demo-client-secret) (written at the first start)"
exec .venv/bin/recorder-service
