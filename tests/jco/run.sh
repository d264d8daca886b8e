#!/usr/bin/env bash
# Runs both session stores under jco in Node.js (see stores.test.mjs), and
# tests the JavaScript host itself (host.test.mjs: its kv, and the WASI it
# grants, shown with the hostile test plugin): installs the pinned jco and
# WASI shim from package-lock.json, transpiles
# target/wasm32-wasip2/release/{kv_session,cookie_session,hostile}.wasm into
# target/jco/, then runs the tests. Needs `make build` first (the components and, for the
# cross-host tests, target/release/session-harness). Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# shellcheck source=../require-node.sh
source ../require-node.sh tests/jco

# shellcheck source=../npm-ci.sh
source ../npm-ci.sh
pinned_npm_ci tests/jco
node transpile.mjs
node --test stores.test.mjs host.test.mjs
