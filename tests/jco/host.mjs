// A small component-model host in JavaScript: jco's transpiled stores, the
// WASI shim for what Rust std imports, and our own implementations of what the
// shim does not provide (DESIGN.md section 2):
//
// - `session:plugin/kv`: an in-memory store with ttls on a movable clock;
// - `wasi:config/store@0.2.0-rc.1`: from a settings object per instance;
// - `wasi:clocks/wall-clock`: the movable clock, so tests control time.
//
// jco conventions this relies on, read from the code jco 1.35 generates
// (target/jco/<store>/<store>.js) rather than guessed:
//
// - `--instantiation async` output exports `instantiate(getCoreModule, imports)`;
//   the generated code reads `imports['<ns>:<pkg>/<iface>']` WITHOUT the
//   `@version` suffix, although its .d.ts declares versioned keys (so we set
//   both for our own interfaces; the WASI shim's object is unversioned).
// - Exported `result<T, E>`: returns T, or throws `ComponentError` (an Error
//   subclass, not exported by the module) whose `.payload` is E.
// - Imported `result<T, E>`: return T for ok (or an explicit {tag:'ok'|'err', val});
//   for err, throw the E value itself (a non-Error) or any object with an own
//   `payload` property holding E (`getErrorPayload`). Throwing a plain Error
//   without `payload` traps the instance instead.
// - variant: `{ tag: 'kebab-name', val }` (no `val` for cases without payload);
//   enum: the kebab-case string; option<T>: `undefined` or the value;
//   u64: BigInt; u32: number; list<u8>: Uint8Array (copied out of guest memory);
//   record fields in camelCase; a field named `delete` is exported as `delete`.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import { OUT_DIR, REPO_ROOT, wasmPath } from "./paths.mjs";

/** A wall clock that only moves when told to, in whole Unix seconds. */
export class MovableClock {
  /** @param {number|bigint} start Unix seconds. */
  constructor(start) {
    this.seconds = BigInt(start);
  }

  /** Moves the clock forward by `by` seconds. */
  advance(by) {
    this.seconds += BigInt(by);
  }

  /** The `wasi:clocks/wall-clock` interface reading this clock. */
  wallClock() {
    return {
      now: () => ({ seconds: this.seconds, nanoseconds: 0 }),
      resolution: () => ({ seconds: 1n, nanoseconds: 0 }),
    };
  }
}

/** The clock the tests start from: a fixed, recent time. */
export const T0 = 1_750_000_000n;

/** An error a host import throws for `err(payload)` (jco reads `.payload`). */
export class HostError extends Error {
  constructor(payload) {
    super(`${payload.tag}: ${payload.val}`);
    this.payload = payload;
  }
}

/** Compares two strings by their UTF-8 bytes (not UTF-16 code units). */
export function byteCompare(a, b) {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

const WRITE_MODES = new Set(["always", "if-absent", "if-present"]);

/**
 * The `session:plugin/kv` interface over a Map, following DESIGN.md:
 * expired keys are invisible to every operation; `set` honours the write mode
 * and returns whether it wrote; `delete` returns whether a live key existed;
 * `list-keys` pages live keys in ascending byte order, strictly after the cursor.
 */
export class MemoryKv {
  /** key -> { value: Uint8Array, expiresAt: bigint | undefined } */
  #entries = new Map();
  /** Operation name -> message: the next call of that operation fails with `backend`. */
  #failures = new Map();

  /**
   * @param {object} o
   * @param {MovableClock} o.clock the clock ttls run on
   * @param {boolean} [o.nativeExpiry] false: keep expired keys visible, like a
   *   backend without native expiry (what `purge-expired` exists for)
   * @param {number} [o.maxPage] return at most this many keys per page (a host may return fewer)
   */
  constructor({ clock, nativeExpiry = true, maxPage = Infinity }) {
    this.clock = clock;
    this.nativeExpiry = nativeExpiry;
    this.maxPage = maxPage;
    /** Every call, in order: [op, ...args]. */
    this.calls = [];
  }

  /** Makes the next call of `op` (get, set, delete, list-keys) fail with `backend(message)`. */
  failNext(op, message) {
    this.#failures.set(op, message);
  }

  /** Number of stored entries, expired or not. */
  rawSize() {
    return this.#entries.size;
  }

  /** The stored keys, expired or not. */
  rawKeys() {
    return [...this.#entries.keys()];
  }

  #enter(op, args) {
    this.calls.push([op, ...args]);
    const message = this.#failures.get(op);
    if (message !== undefined) {
      this.#failures.delete(op);
      throw new HostError({ tag: "backend", val: message });
    }
  }

  #live(key) {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (this.nativeExpiry && e.expiresAt !== undefined && this.clock.seconds >= e.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  get(key) {
    this.#enter("get", [key]);
    const e = this.#live(key);
    return e === undefined ? undefined : e.value.slice();
  }

  set(key, value, ttlSeconds, mode) {
    this.#enter("set", [key, value, ttlSeconds, mode]);
    if (!WRITE_MODES.has(mode)) throw new TypeError(`unknown write-mode ${mode}`);
    const exists = this.#live(key) !== undefined;
    if ((mode === "if-absent" && exists) || (mode === "if-present" && !exists)) return false;
    const expiresAt = ttlSeconds === undefined ? undefined : this.clock.seconds + BigInt(ttlSeconds);
    this.#entries.set(key, { value: Uint8Array.from(value), expiresAt });
    return true;
  }

  delete(key) {
    this.#enter("delete", [key]);
    const existed = this.#live(key) !== undefined;
    this.#entries.delete(key);
    return existed;
  }

  listKeys(prefix, cursor, limit) {
    this.#enter("list-keys", [prefix, cursor, limit]);
    const max = Math.min(Math.max(limit, 1), this.maxPage);
    const keys = [...this.#entries.keys()]
      .filter((k) => k.startsWith(prefix))
      .filter((k) => cursor === undefined || byteCompare(k, cursor) > 0)
      .filter((k) => this.#live(k) !== undefined)
      .sort(byteCompare);
    const page = keys.slice(0, max);
    return { keys: page, cursor: keys.length > max ? page[page.length - 1] : undefined };
  }

  /** The import object (jco destructures it, so the functions are bound). */
  imports() {
    return {
      get: (key) => this.get(key),
      set: (key, value, ttl, mode) => this.set(key, value, ttl, mode),
      delete: (key) => this.delete(key),
      listKeys: (prefix, cursor, limit) => this.listKeys(prefix, cursor, limit),
    };
  }
}

/**
 * `wasi:config/store@0.2.0-rc.1` over `settings` (read at each call, so a test
 * may fill it in before the store's first call; the stores read it once per
 * instance). `get: func(key) -> result<option<string>, error>` returns the
 * string or undefined; `get-all` returns `[key, value]` pairs. With `fail`, both
 * throw the `upstream` error variant as a bare value (the other accepted form).
 */
export function configStore(settings, fail) {
  const check = () => {
    if (fail !== undefined) throw { tag: "upstream", val: fail };
  };
  return {
    get(key) {
      check();
      return Object.hasOwn(settings, key) ? String(settings[key]) : undefined;
    },
    getAll() {
      check();
      return Object.entries(settings).map(([k, v]) => [k, String(v)]);
    },
  };
}

/** What went wrong when the transpiled output cannot be used, and what to run. */
function checkTranspiled(store) {
  const src = wasmPath(store);
  if (!existsSync(src)) {
    throw new Error(
      `${relative(REPO_ROOT, src)} is missing: build the guest components with \`make guests\` (or \`make build\`) in ${REPO_ROOT}, then run tests/jco/run.sh`,
    );
  }
  const manifestPath = join(OUT_DIR, "manifest.json");
  const entry = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, "utf8")).stores?.[store] : undefined;
  if (entry === undefined) {
    throw new Error(`${relative(REPO_ROOT, join(OUT_DIR, store))} is missing: run tests/jco/run.sh (or \`npm run transpile\` in tests/jco)`);
  }
  const sha = createHash("sha256").update(readFileSync(src)).digest("hex");
  if (sha !== entry.sha256) {
    throw new Error(
      `${relative(REPO_ROOT, join(OUT_DIR, store))} was transpiled from an older ${relative(REPO_ROOT, src)}: run tests/jco/run.sh (or \`npm run transpile\` in tests/jco)`,
    );
  }
}

const modules = new Map();
const instantiators = new Map();

async function instantiator(store) {
  if (!instantiators.has(store)) {
    checkTranspiled(store);
    const url = pathToFileURL(join(OUT_DIR, store, `${store}.js`)).href;
    instantiators.set(store, (await import(url)).instantiate);
  }
  return instantiators.get(store);
}

/** Compiles each core module once; every instance reuses it. */
function coreModuleLoader(store) {
  return (path) => {
    const key = `${store}/${path}`;
    if (!modules.has(key)) {
      modules.set(key, readFile(join(OUT_DIR, store, path)).then((bytes) => WebAssembly.compile(bytes)));
    }
    return modules.get(key);
  };
}

/** The WASI imports: the shim with nothing granted, and our wall clock. */
function wasiImports(clock) {
  const shim = new WASIShim({ sandbox: { preopens: {}, env: {}, args: [], enableNetwork: false } });
  const imports = shim.getImportObject();
  imports["wasi:clocks/wall-clock"] = clock.wallClock();
  return imports;
}

/** Sets `name` in `imports` with and without the `@version` suffix. */
function provide(imports, name, version, value) {
  imports[name] = value;
  imports[`${name}@${version}`] = value;
}

/**
 * A fresh instance of `store` (`kv_session` or `cookie_session`) with its own
 * imports. Returns `{ plugin, clock, kv, settings }`: `plugin` is the
 * `session-plugin` export; `settings` is the live config object.
 *
 * @param {string} store
 * @param {object} [o]
 * @param {object} [o.settings] wasi:config key -> value
 * @param {string} [o.configFailure] make wasi:config fail with `upstream(...)`
 * @param {MovableClock} [o.clock] default: a new clock at T0
 * @param {MemoryKv} [o.kv] default: a new MemoryKv on the clock (kv_session only)
 */
export async function instantiateStore(store, o = {}) {
  const instantiate = await instantiator(store);
  const clock = o.clock ?? new MovableClock(T0);
  const settings = o.settings ?? {};
  const kv = o.kv ?? new MemoryKv({ clock });
  const imports = wasiImports(clock);
  provide(imports, "wasi:config/store", "0.2.0-rc.1", configStore(settings, o.configFailure));
  provide(imports, "session:plugin/types", "0.1.0", {});
  if (store === "kv_session") provide(imports, "session:plugin/kv", "0.1.0", kv.imports());
  const root = await instantiate(coreModuleLoader(store), imports);
  return { plugin: root.sessionPlugin, clock, kv, settings };
}
