#!/usr/bin/env bash
# Runs both session stores under jco in Node.js (see stores.test.mjs):
# installs the pinned jco and WASI shim from package-lock.json, transpiles
# target/wasm32-wasip2/release/{kv,cookie}_session.wasm into target/jco/,
# then runs the tests. Needs `make build` first (the components and, for the
# cross-host tests, target/release/session-harness). Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "tests/jco: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "tests/jco: npm is required" >&2; exit 1; }

npm ci --no-audit --no-fund --loglevel=error
node transpile.mjs
node --test stores.test.mjs
