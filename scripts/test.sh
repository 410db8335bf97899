#!/usr/bin/env bash
# Install what the tests need (Debian packages, Python packages) when missing, then run ruff, mypy and
# the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v janus >/dev/null 2>&1 || missing+=(janus)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)  # faults on the Janus host
[ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || missing+=(libnetfilter-queue-dev)  # netfilterqueue
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)  # the multi-instance tests' server
command -v wrk >/dev/null 2>&1 || missing+=(wrk)  # bench/bench_api.py
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)  # bench_composition's peer; with it libmp3lame0 (MP3s)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the console's browser tests (tests/console)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# the SFTP test server runs as this unprivileged user (tests/storage_servers.py)
id recorder-sftp >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin recorder-sftp
# storage servers from npm (Azurite 3.35 is the last that runs on node 20), Cloudflare's TypeScript SDK with
# what checks its answers against its declared types (ts-json-schema-generator, ajv), and the Kubernetes and
# KEDA schemas deploy/ is checked with (kubernetes-models), and axe-core (the console's accessibility check, run
# inside headless Chromium). `--version` loads every
# module: an npm install was once seen to leave a package without its files, so a broken tree is installed again.
NODE_TOOLS=(s3rver@3.7.1 azurite@3.35.0 cloudflare@7.3.0 ts-json-schema-generator@2.4.0 ajv@8.20.0
    kubernetes-models@5.1.0 @kubernetes-models/keda@2.0.0 axe-core@4.14.1)
node_tools_work() {
    node .tools/node_modules/s3rver/bin/s3rver.js --version && node .tools/node_modules/azurite/dist/src/blob/main.js --version \
        && node -e 'require("./.tools/node_modules/cloudflare"); require("./.tools/node_modules/ajv")' \
        && [ -f .tools/node_modules/@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js ] \
        && [ -f .tools/node_modules/kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler.js ] \
        && [ -f .tools/node_modules/axe-core/axe.min.js ] \
        && node .tools/node_modules/ts-json-schema-generator/dist/ts-json-schema-generator.js --version
} >/dev/null 2>&1
if ! node_tools_work; then
    for attempt in 1 2 3; do
        rm -rf .tools && mkdir -p .tools
        npm install --prefix .tools --save-exact --no-audit --no-fund --silent "${NODE_TOOLS[@]}" >/dev/null || true
        node_tools_work && break
        echo "npm left a broken tree in .tools (attempt $attempt)"
        npm cache verify >/dev/null 2>&1 || true
    done
    node_tools_work || { echo "cannot install ${NODE_TOOLS[*]} from npm" >&2; exit 1; }
fi

# the AWS CLI, in a venv of its own (it pins its botocore): bench/bench_storage.py uploads beside it
[ -x .tools/awscli/bin/aws ] || { python3 -m venv .tools/awscli && .tools/awscli/bin/pip install -q --disable-pip-version-check awscli==1.46.3; }

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
