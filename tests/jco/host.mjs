// A small component-model host in JavaScript: jco's transpiled stores, the
// WASI imports Rust std needs, and our own implementations of what the WASI
// shim does not provide (DESIGN.md section 2):
//
// - `session:plugin/kv`: an in-memory store with ttls on a movable clock;
// - `wasi:config/store@0.2.0-rc.1`: from a settings object per instance;
// - `wasi:clocks/wall-clock`: the movable clock, so tests control time;
// - the rest of WASI granted as host-harness/src/capabilities.rs grants it to
//   the wasmtime host's guests (see `wasiImports`), not as the shim would.
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
//   without `payload` traps the guest instead: the Error itself unwinds out of
//   the export call. Unlike after a wasm trap (a panic), jco lets such an
//   instance be entered again, so `instantiateStore` refuses to (see `withGuestLog`).
// - variant: `{ tag: 'kebab-name', val }` (no `val` for cases without payload);
//   enum: the kebab-case string; option<T>: `undefined` or the value;
//   u64: BigInt; u32: number; list<u8>: Uint8Array (copied out of guest memory);
//   record fields in camelCase; a field named `delete` is exported as `delete`.

import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { hrtime } from "node:process";
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

/** What the wasmtime host's backends answer for a listing limit of 0 (host-harness/src/kv/mod.rs `zero_limit`). */
export const ZERO_LIMIT_MESSAGE = "list-keys limit must be at least 1 (a page of 0 keys could never move on)";

/** What the wasmtime host's backends answer for a ttl of 0 (host-harness/src/kv/mod.rs `zero_ttl`). */
export const ZERO_TTL_MESSAGE = "ttl-seconds must be at least 1 (0 would write a key that is already expired)";

/**
 * The `session:plugin/kv` interface over a Map. By default it follows
 * DESIGN.md: expired keys are invisible to every operation; `set` honours the
 * write mode and returns whether it wrote, and refuses a ttl of 0 as `backend`
 * (wit/session-plugin.wit); `delete` returns whether a live key existed;
 * `list-keys` pages live keys in ascending byte order, strictly after the
 * cursor, refusing a limit of 0 as `backend`.
 *
 * With `nativeExpiry: false` it breaks that contract on purpose: expired keys
 * stay visible to every operation (get, set's write-mode check, delete,
 * list-keys) until deleted, standing in for a backend without native expiry,
 * which is what kv-session's `purge-expired` exists for.
 */
export class MemoryKv {
  /** key -> { value: Uint8Array, expiresAt: bigint | undefined } */
  #entries = new Map();
  /** Operation name -> message: the next call of that operation fails with `backend`. */
  #failures = new Map();

  /**
   * @param {object} o
   * @param {MovableClock} o.clock the clock ttls run on
   * @param {boolean} [o.nativeExpiry] false: keep expired keys visible, breaking
   *   the contract on purpose to stand in for a backend without native expiry
   *   (what `purge-expired` exists for)
   * @param {number} [o.maxPage] return at most this many keys per page (a host may return fewer);
   *   at least 1: a page of none with no cursor would say no keys are left
   */
  constructor({ clock, nativeExpiry = true, maxPage = Infinity }) {
    if (!(maxPage >= 1)) {
      throw new RangeError(`maxPage must be at least 1, not ${maxPage}`);
    }
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
    // Refused whatever the mode, before looking at the key, as the wasmtime host's backends do.
    if (ttlSeconds !== undefined && BigInt(ttlSeconds) === 0n) throw new HostError({ tag: "backend", val: ZERO_TTL_MESSAGE });
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
    if (limit === 0) throw new HostError({ tag: "backend", val: ZERO_LIMIT_MESSAGE });
    const max = Math.min(limit, this.maxPage);
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
 * may fill it in before the store's first call; the stores keep what their
 * first successful read gave). `get: func(key) -> result<option<string>, error>` returns the
 * string or undefined; `get-all` returns `[key, value]` pairs. With `fail`, both
 * throw the `upstream` error variant as a bare value (the other accepted form):
 * a string fails every call with it; `{ message, calls }` only the first
 * `calls` calls (a config source down for a while).
 */
export function configStore(settings, fail) {
  const check = () => {
    if (fail === undefined) return;
    if (typeof fail === "string") throw { tag: "upstream", val: fail };
    if (fail.calls > 0) {
      fail.calls -= 1;
      throw { tag: "upstream", val: fail.message };
    }
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
  const entry = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, "utf8")).components?.[store] : undefined;
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

// ---------------------------------------------------------------- WASI

/**
 * Most bytes one `wasi:random` `get-random-bytes` (or insecure) call may ask
 * for; a larger request traps (host-harness/src/capabilities.rs `MAX_RANDOM_BYTES`).
 */
export const MAX_RANDOM_BYTES = 4096;

/** Bytes of guest stderr kept per instance (host-harness/src/guest_log.rs `GUEST_LOG_BYTES`). */
export const GUEST_LOG_BYTES = 2048;

/**
 * An Error thrown from a host import: jco lets it unwind through the guest,
 * which traps the instance (it has no `payload`, so it is not an `err`).
 */
function trap(message) {
  return new Error(message);
}

/** An import function that traps, saying `what` is not granted and why. */
function denied(what, why) {
  return () => {
    throw trap(`${what} is not granted: ${why}`);
  };
}

/**
 * A guest's stderr, kept as a short tail (like host-harness/src/guest_log.rs)
 * so a trap can be reported with the panic message that preceded it, instead
 * of going to the test runner's stderr.
 */
export class GuestLog {
  #tail = Buffer.alloc(0);

  /** Appends `bytes`, keeping the last GUEST_LOG_BYTES. */
  push(bytes) {
    const all = Buffer.concat([this.#tail, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    this.#tail = Buffer.from(all.subarray(Math.max(0, all.length - GUEST_LOG_BYTES)));
  }

  /** Forgets what earlier calls wrote (done before every export call). */
  clear() {
    this.#tail = Buffer.alloc(0);
  }

  /** The kept tail, as text. */
  text() {
    return this.#tail.toString("utf8");
  }

  /**
   * The last two meaningful lines, joined (a Rust panic prints "thread ...
   * panicked at file:line:col:" then the message, then a RUST_BACKTRACE hint,
   * which is dropped), at most 400 bytes with control characters escaped, as
   * the wasmtime host reports them; undefined if none.
   */
  lastLine() {
    const lines = this.text()
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("note: run with `RUST_BACKTRACE"));
    const last = escapeControlsWithin(lines.slice(-2).join(" "), 400);
    return last === "" ? undefined : last;
  }
}

/**
 * What host-harness/src/text.rs escapes in text a plugin chose: control
 * characters (C0, DEL, C1), the bidirectional controls, and the Unicode line
 * and paragraph separators.
 */
const ESCAPED_IN_MESSAGES = /^[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]$/u;

/**
 * The first `maxBytes` (UTF-8) of `text` or fewer with the characters in
 * ESCAPED_IN_MESSAGES written as Rust escapes (`\n`, `\u{1b}`, `\u{202e}`),
 * never cut inside an escape or a character: text.rs
 * `escape_controls_within`, so a guest's stderr cannot forge a line in the
 * test runner's output or drive its terminal, and reads as the wasmtime
 * host reports it.
 */
export function escapeControlsWithin(text, maxBytes) {
  return escapeWithin(text, maxBytes).shown;
}

/** escapeControlsWithin, with how many UTF-8 bytes of `text` were left out (`cut`). */
function escapeWithin(text, maxBytes) {
  let out = "";
  let bytes = 0;
  let taken = 0;
  for (const c of text) {
    const shown = ESCAPED_IN_MESSAGES.test(c) ? rustEscape(c) : c;
    const len = Buffer.byteLength(shown);
    if (bytes + len > maxBytes) break;
    out += shown;
    bytes += len;
    taken += Buffer.byteLength(c);
  }
  return { shown: out, cut: Buffer.byteLength(text) - taken };
}

/** Longest session-error message passed on: host-harness/src/error.rs MAX_ERROR_MESSAGE_BYTES. */
export const MAX_ERROR_MESSAGE_BYTES = 4096;

/**
 * A session-error message as the wasmtime host passes it on from a plugin
 * (error.rs `shown_from_plugin`): escaped as escapeControlsWithin does, cut
 * to MAX_ERROR_MESSAGE_BYTES, saying how much was cut.
 */
export function shownFromPlugin(text) {
  const { shown, cut } = escapeWithin(text, MAX_ERROR_MESSAGE_BYTES);
  return cut === 0 ? shown : `${shown}… (${cut} more bytes cut by the host)`;
}

/** `c` as Rust's `char::escape_default` writes a character that is not printable ASCII. */
function rustEscape(c) {
  return { "\t": "\\t", "\n": "\\n", "\r": "\\r" }[c] ?? `\\u{${c.codePointAt(0).toString(16)}}`;
}

/**
 * `wasi:io` and `wasi:clocks/monotonic-clock` of our own, so that the streams
 * and pollables a guest can reach are ours (jco checks resources with
 * `instanceof` against the classes it is given, so a shim resource from
 * elsewhere, such as a socket's pollable, traps when it reaches the guest):
 *
 * - output streams never block and never fail: stdout discards, stderr goes
 *   to `log`; there are no input streams (stdin is not granted);
 * - `pollable.ready` answers, `pollable.block` and `poll` trap, as in the
 *   wasmtime host (capabilities.rs `deny_blocking`): a host call that waits
 *   is beyond the reach of any deadline.
 */
function ioImports(log) {
  class IoError {
    toDebugString() {
      return "no stream of this host fails";
    }
  }

  class Pollable {
    #ready;
    /** @param {() => boolean} ready */
    constructor(ready) {
      this.#ready = ready;
    }
    ready() {
      return this.#ready();
    }
    block() {
      throw trap(
        "blocking is not granted: the plugin called wasi:io/poll `[method]pollable.block` (a sleep or a wait); " +
          "a session plugin must answer without waiting",
      );
    }
  }

  class InputStream {
    constructor() {
      throw new TypeError("this host makes no input streams");
    }
  }

  class OutputStream {
    #sink;
    /** @param {(bytes: Uint8Array) => void} sink */
    constructor(sink) {
      this.#sink = sink;
    }
    checkWrite() {
      return 65536n;
    }
    write(bytes) {
      this.#sink(bytes);
    }
    blockingWriteAndFlush(bytes) {
      this.#sink(bytes);
    }
    flush() {}
    blockingFlush() {}
    // Only the last GUEST_LOG_BYTES of any write are kept, so no more zeroes are made.
    writeZeroes(len) {
      this.#sink(new Uint8Array(Math.min(Number(len), GUEST_LOG_BYTES)));
    }
    blockingWriteZeroesAndFlush(len) {
      this.writeZeroes(len);
    }
    splice() {
      throw trap("splice is not granted: this host has no input streams");
    }
    blockingSplice() {
      throw trap("splice is not granted: this host has no input streams");
    }
    subscribe() {
      return new Pollable(() => true);
    }
  }

  const stdout = new OutputStream(() => {});
  const stderr = new OutputStream((bytes) => log.push(bytes));
  const at = (deadline) => new Pollable(() => hrtime.bigint() >= deadline);
  return {
    "wasi:io/error": { Error: IoError },
    "wasi:io/poll": {
      Pollable,
      poll: denied(
        "blocking",
        "the plugin called wasi:io/poll `poll` (a sleep or a wait); a session plugin must answer without waiting",
      ),
    },
    "wasi:io/streams": { InputStream, OutputStream },
    "wasi:cli/stdout": { getStdout: () => stdout },
    "wasi:cli/stderr": { getStderr: () => stderr },
    "wasi:clocks/monotonic-clock": {
      now: () => hrtime.bigint(),
      resolution: () => 1n,
      subscribeInstant: (when) => at(BigInt(when)),
      subscribeDuration: (d) => at(hrtime.bigint() + BigInt(d)),
    },
  };
}

/** `get-random-bytes` (secure or insecure) refusing more than MAX_RANDOM_BYTES, with wasmtime's message. */
function cappedRandomBytes(len) {
  if (BigInt(len) > BigInt(MAX_RANDOM_BYTES)) {
    throw trap(`requested len ${len} exceeds limit ${MAX_RANDOM_BYTES}`);
  }
  return randomBytes(Number(len));
}

const randomU64 = () => randomBytes(8).readBigUInt64LE();

/**
 * The WASI imports, granting what host-harness/src/capabilities.rs grants
 * (the shim's Node defaults would hand the guest the test runner's process):
 *
 * - `wasi:cli/environment`: no variables, no arguments, no initial cwd;
 * - `wasi:cli/exit`: traps (the shim's calls `process.exit`, which would end
 *   the test runner; wasmtime traps too);
 * - `wasi:cli/stdin`: `get-stdin` traps (wasmtime gives an empty stream; the
 *   stores never read stdin, so here touching it at all is a fault);
 * - `wasi:cli/stdout` discards, `wasi:cli/stderr` keeps a tail in `log`
 *   (see `GuestLog`); the `terminal-*` getters answer none (not a terminal);
 * - `wasi:io`: streams that never block, `poll` and `pollable.block` trap;
 * - `wasi:random`: at most MAX_RANDOM_BYTES per call, more traps;
 * - `wasi:clocks/wall-clock`: the movable clock; monotonic: the real one;
 * - `wasi:filesystem`: no preopened directory; `wasi:sockets`: every
 *   operation denied (the shim's own sandbox options).
 */
export function wasiImports(clock, log) {
  const shim = new WASIShim({ sandbox: { preopens: {}, env: {}, args: [], enableNetwork: false } });
  const imports = shim.getImportObject();
  Object.assign(imports, ioImports(log));
  imports["wasi:clocks/wall-clock"] = clock.wallClock();
  imports["wasi:cli/environment"] = {
    getEnvironment: () => [],
    getArguments: () => [],
    initialCwd: () => undefined,
  };
  imports["wasi:cli/exit"] = {
    exit: (status) => {
      throw trap(`exit is not granted: the guest called exit(${status?.tag === "err" ? 1 : 0})`);
    },
    exitWithCode: (code) => {
      throw trap(`exit is not granted: the guest called exit(${code})`);
    },
  };
  imports["wasi:cli/stdin"] = {
    getStdin: denied("stdin", "the plugin asked for standard input, which is the host's own"),
  };
  imports["wasi:cli/terminal-stdin"] = { getTerminalStdin: () => undefined };
  imports["wasi:cli/terminal-stdout"] = { getTerminalStdout: () => undefined };
  imports["wasi:cli/terminal-stderr"] = { getTerminalStderr: () => undefined };
  imports["wasi:random/random"] = { getRandomBytes: cappedRandomBytes, getRandomU64: randomU64 };
  imports["wasi:random/insecure"] = { getInsecureRandomBytes: cappedRandomBytes, getInsecureRandomU64: randomU64 };
  return imports;
}

/** Whether `e` is jco's ComponentError: an `err` the guest returned, not a trap. */
export function isComponentError(e) {
  return e instanceof Error && e.constructor.name === "ComponentError" && Object.hasOwn(e, "payload");
}

/**
 * `plugin` with every export clearing `log` first and, when the call traps,
 * adding the guest's last stderr lines to the error (as the wasmtime host's
 * trap reports do). Errors the guest returns (jco's `ComponentError`) pass
 * through with their message escaped and cut as the wasmtime host does
 * (shownFromPlugin): a plugin's words cannot forge a line in the output of
 * whoever prints them.
 *
 * A trapped instance is never called again, as in the wasmtime host (which
 * discards it): jco refuses to re-enter an instance after a wasm trap such as
 * a panic, but not after a host import threw (exit, stdin, block, random),
 * which unwinds the guest mid-call and leaves its state half-updated.
 */
function withGuestLog(plugin, log) {
  let trapped;
  const wrapped = {};
  for (const [name, fn] of Object.entries(plugin)) {
    wrapped[name] = (...args) => {
      if (trapped !== undefined) {
        throw new Error(`this instance trapped in an earlier call and is not called again (${trapped})`);
      }
      log.clear();
      try {
        return fn(...args);
      } catch (e) {
        if (isComponentError(e)) {
          if (typeof e.payload?.val === "string") e.payload.val = shownFromPlugin(e.payload.val);
        } else {
          const last = log.lastLine();
          if (e instanceof Error && last !== undefined) e.message += `; guest stderr: ${last}`;
          trapped = e instanceof Error ? e.message : String(e);
        }
        throw e;
      }
    };
  }
  return wrapped;
}

/** Sets `name` in `imports` with and without the `@version` suffix. */
function provide(imports, name, version, value) {
  imports[name] = value;
  imports[`${name}@${version}`] = value;
}

/**
 * A fresh instance of `store` (`kv_session`, `cookie_session`, or the test
 * plugin `hostile`) with its own imports. Returns `{ plugin, clock, kv,
 * settings, log }`: `plugin` is the `session-plugin` export; `settings` is
 * the live config object; `log` the guest's stderr (a `GuestLog`).
 *
 * @param {string} store
 * @param {object} [o]
 * @param {object} [o.settings] wasi:config key -> value
 * @param {string | {message: string, calls: number}} [o.configFailure] make
 *   wasi:config fail with `upstream(...)`: always, or the first `calls` times
 * @param {MovableClock} [o.clock] default: the clock of `o.kv`, else a new clock at T0
 * @param {MemoryKv} [o.kv] default: a new MemoryKv on the clock (for the components that import kv)
 */
export async function instantiateStore(store, o = {}) {
  // The guest and its kv on one clock: a kv given alone brings its own, or
  // moving the store's clock would expire sessions the kv still holds.
  if (o.clock && o.kv && o.kv.clock !== o.clock) {
    throw new Error("o.clock and o.kv run on different clocks");
  }
  const instantiate = await instantiator(store);
  const clock = o.clock ?? o.kv?.clock ?? new MovableClock(T0);
  const settings = o.settings ?? {};
  const kv = o.kv ?? new MemoryKv({ clock });
  const log = new GuestLog();
  const imports = wasiImports(clock, log);
  provide(imports, "wasi:config/store", "0.2.0-rc.1", configStore(settings, o.configFailure));
  provide(imports, "session:plugin/types", "0.1.0", {});
  // cookie_session does not import it; an unused import is harmless.
  provide(imports, "session:plugin/kv", "0.1.0", kv.imports());
  const root = await instantiate(coreModuleLoader(store), imports);
  return { plugin: withGuestLog(root.sessionPlugin, log), clock, kv, settings, log };
}
