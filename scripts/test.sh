#!/usr/bin/env bash
# Install what the tests need (Debian packages, Python packages) when missing, then run ruff, mypy and
# the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v janus >/dev/null 2>&1 || missing+=(janus)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# the SFTP test server runs as this unprivileged user (tests/storage_servers.py)
id recorder-sftp >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin recorder-sftp
# storage servers from npm (Azurite 3.35 is the last that runs on node 20)
if [ ! -x .tools/node_modules/.bin/s3rver ] || [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
    mkdir -p .tools
    npm install --prefix .tools --save-exact --no-audit --no-fund --silent s3rver@3.7.1 azurite@3.35.0 >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
