#!/usr/bin/env bash
# Drives the example web host (host-harness/examples/web_host.rs) with
# Chromium (see web_host.test.mjs): installs the pinned playwright-core from
# package-lock.json, then runs the tests against target/release/examples/web_host
# and the stores under target/wasm32-wasip2/release/. Needs `make build` first
# and Chromium at /usr/bin/chromium (or $CHROMIUM); `make test-browser` sees to
# both. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "tests/browser: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "tests/browser: npm is required" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "tests/browser: Node.js >= 20 is required, found $(node --version); install a newer one" >&2
    exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
node --test web_host.test.mjs
