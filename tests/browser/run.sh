#!/usr/bin/env bash
# Drives the example web host (host-harness/examples/web_host/) with
# Chromium (see web_host.test.mjs): installs the pinned playwright-core from
# package-lock.json, then runs the tests against target/release/examples/web_host
# and the stores under target/wasm32-wasip2/release/. Needs `make build` first
# and Chromium at /usr/bin/chromium (or $CHROMIUM); `make test-browser` sees to
# both. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# shellcheck source=../require-node.sh
source ../require-node.sh tests/browser

# shellcheck source=../npm-ci.sh
source ../npm-ci.sh
pinned_npm_ci tests/browser
node --test web_host.test.mjs
