// Transpiles the two session stores and the hostile test plugin with jco into
// target/jco/<component>/ (gitignored with the rest of target/), for
// stores.test.mjs and host.test.mjs to instantiate.
//
//   node transpile.mjs        (or: npm run transpile)
//
// `--instantiation async` makes jco emit an `instantiate(getCoreModule, imports)`
// function instead of a module with fixed imports, so every test builds its own
// instance with its own kv, wasi:config settings and wall clock (no `--map`
// needed). A manifest records the sha256 of each source .wasm so the tests can
// refuse output that is older than the component it came from.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { COMPONENTS, OUT_DIR, REPO_ROOT, wasmPath } from "./paths.mjs";

const here = dirname(fileURLToPath(import.meta.url));

/** The jco CLI and its version, from this directory's node_modules. */
function jco() {
  const pkgDir = join(here, "node_modules", "@bytecodealliance", "jco");
  const bin = join(pkgDir, "dist", "jco.js");
  if (!existsSync(bin)) {
    throw new Error(`jco is not installed in ${relative(REPO_ROOT, here)}: run \`npm ci\` there first (tests/jco/run.sh does)`);
  }
  const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;
  return { bin, version };
}

function shimVersion() {
  const p = join(here, "node_modules", "@bytecodealliance", "preview2-shim", "package.json");
  return JSON.parse(readFileSync(p, "utf8")).version;
}

const missing = COMPONENTS.filter((s) => !existsSync(wasmPath(s)));
if (missing.length > 0) {
  console.error(
    `transpile: missing ${missing.map((s) => relative(REPO_ROOT, wasmPath(s))).join(", ")}\n` +
      "  build the guest components (stores and test plugins) first: `make guests` (or `make build`) in the repository root",
  );
  process.exit(1);
}

const { bin, version } = jco();
mkdirSync(OUT_DIR, { recursive: true });
rmSync(join(OUT_DIR, "manifest.json"), { force: true });
// The generated files are ES modules; nothing above target/ says so.
writeFileSync(join(OUT_DIR, "package.json"), JSON.stringify({ type: "module", private: true }, null, 2) + "\n");

const manifest = { jco: version, preview2Shim: shimVersion(), components: {} };
for (const component of COMPONENTS) {
  const src = wasmPath(component);
  const out = join(OUT_DIR, component);
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [bin, "transpile", src, "-o", out, "--instantiation", "async", "--quiet"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  manifest.components[component] = {
    source: relative(REPO_ROOT, src),
    sha256: createHash("sha256").update(readFileSync(src)).digest("hex"),
  };
  console.log(`transpile: ${relative(REPO_ROOT, src)} -> ${relative(REPO_ROOT, out)}/ (jco ${version})`);
}
writeFileSync(join(OUT_DIR, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
