// Where things are, relative to this file: tests/jco/ is two levels below the
// repository root, whatever the current directory.

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The two stores, by the file stem cargo gives their components. */
export const STORES = ["kv_session", "cookie_session"];

/** The test plugins the sandbox tests load (guest/hostile: misbehaves on request). */
export const TEST_PLUGINS = ["hostile"];

/** Every component transpile.mjs transpiles. */
export const COMPONENTS = [...STORES, ...TEST_PLUGINS];

/** The guest components `make guests` builds. */
export const WASM_DIR = join(REPO_ROOT, "target", "wasm32-wasip2", "release");

/** The wasmtime host's CLI that `make build` builds. */
export const HARNESS_CLI = join(REPO_ROOT, "target", "release", "session-harness");

/** Where transpile.mjs writes jco's output (target/ is gitignored). */
export const OUT_DIR = join(REPO_ROOT, "target", "jco");

/** The component file of `component` (a store or a test plugin). */
export function wasmPath(component) {
  return join(WASM_DIR, `${component}.wasm`);
}
