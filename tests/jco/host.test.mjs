// The JavaScript host itself (host.mjs): its in-memory kv against the kv
// contract (DESIGN.md section 2, wit/session-plugin.wit), and the WASI it
// grants a guest, shown with the hostile test plugin (guest/hostile) against
// what the wasmtime host grants (host-harness/src/capabilities.rs,
// tests/sandbox.rs).
//
//   tests/jco/run.sh        (npm ci, transpile, then this file and stores.test.mjs)
//   node --test tests/jco/host.test.mjs   (after a transpile)

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import {
  GUEST_LOG_BYTES,
  GuestLog,
  HostError,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_RANDOM_BYTES,
  MemoryKv,
  MovableClock,
  T0,
  ZERO_LIMIT_MESSAGE,
  ZERO_TTL_MESSAGE,
  escapeControlsWithin,
  instantiateStore,
  isComponentError,
  wasiImports,
} from "./host.mjs";
import { HARNESS_CLI, OUT_DIR, REPO_ROOT, wasmPath } from "./paths.mjs";

// ---------------------------------------------------------------- MemoryKv

const bytes = (s) => new TextEncoder().encode(s);
const text = (b) => (b === undefined ? undefined : new TextDecoder().decode(b));

/** Asserts that `fn` fails with kv-error `backend` (thrown as a HostError), its message matching `re`. */
function assertKvBackend(fn, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof HostError, `expected a HostError, got ${inspect(e)}`);
    assert.equal(e.payload.tag, "backend");
    assert.match(e.payload.val, re);
    return true;
  });
}

/** A kv at T0 holding `key` in `state`: absent, live (value "old", no ttl) or expired (value "old"). */
function kvWith(state, key = "k") {
  const clock = new MovableClock(T0);
  const kv = new MemoryKv({ clock });
  if (state === "live") kv.set(key, bytes("old"), undefined, "always");
  if (state === "expired") {
    kv.set(key, bytes("old"), 10n, "always");
    clock.advance(10);
  }
  return { kv, clock };
}

describe("MemoryKv", () => {
  // mode -> state -> [returned, value stored afterwards]
  const WRITES = {
    always: { absent: [true, "new"], live: [true, "new"], expired: [true, "new"] },
    "if-absent": { absent: [true, "new"], live: [false, "old"], expired: [true, "new"] },
    "if-present": { absent: [false, undefined], live: [true, "new"], expired: [false, undefined] },
  };
  for (const [mode, byState] of Object.entries(WRITES)) {
    for (const [state, [wrote, stored]] of Object.entries(byState)) {
      it(`set ${mode} on a ${state} key returns ${wrote} and leaves ${stored === undefined ? "no key" : `"${stored}"`}`, () => {
        const { kv } = kvWith(state);
        assert.equal(kv.set("k", bytes("new"), undefined, mode), wrote);
        assert.equal(text(kv.get("k")), stored);
        assert.deepEqual(kv.listKeys("", undefined, 10).keys, stored === undefined ? [] : ["k"]);
      });
    }
  }

  for (const [state, existed] of [
    ["absent", false],
    ["live", true],
    ["expired", false],
  ]) {
    it(`delete of a ${state} key returns ${existed} and leaves no key`, () => {
      const { kv } = kvWith(state);
      assert.equal(kv.delete("k"), existed);
      assert.equal(kv.get("k"), undefined);
      assert.equal(kv.delete("k"), false, "a second delete finds nothing");
    });
  }

  it("get returns a copy: changing it, or the value set, changes nothing stored", () => {
    const { kv } = kvWith("absent");
    const value = bytes("abc");
    kv.set("k", value, undefined, "always");
    value[0] = 0x7a;
    const got = kv.get("k");
    got[1] = 0x7a;
    assert.equal(text(kv.get("k")), "abc");
  });

  it("a ttl runs on the movable clock: live until set-time + ttl, gone from then on", () => {
    const { kv, clock } = kvWith("absent");
    assert.equal(kv.set("t", bytes("v"), 60n, "always"), true);
    assert.equal(kv.set("forever", bytes("v"), undefined, "always"), true);
    clock.advance(59);
    assert.equal(text(kv.get("t")), "v", "live one second before expiry");
    assert.deepEqual(kv.listKeys("", undefined, 10).keys, ["forever", "t"]);
    clock.advance(1);
    assert.equal(kv.get("t"), undefined, "expired at set-time + ttl");
    assert.deepEqual(kv.listKeys("", undefined, 10).keys, ["forever"]);
    clock.advance(1_000_000);
    assert.equal(text(kv.get("forever")), "v", "no ttl: never expires");
  });

  it("each write sets the ttl afresh: a new ttl, or none, replaces the old one", () => {
    const { kv, clock } = kvWith("absent");
    kv.set("a", bytes("1"), 10n, "always");
    kv.set("b", bytes("1"), 10n, "always");
    clock.advance(5);
    assert.equal(kv.set("a", bytes("2"), 10n, "if-present"), true);
    assert.equal(kv.set("b", bytes("2"), undefined, "always"), true);
    clock.advance(5); // T0+10: the first ttl has run out
    assert.equal(text(kv.get("a")), "2", "the rewrite slid the expiry to T0+15");
    assert.equal(text(kv.get("b")), "2");
    clock.advance(5);
    assert.equal(kv.get("a"), undefined);
    assert.equal(text(kv.get("b")), "2", "a rewrite without a ttl never expires");
  });

  for (const mode of ["always", "if-absent", "if-present"]) {
    it(`set ${mode} refuses a ttl of 0 as backend, as the wasmtime host does, writing nothing`, () => {
      for (const state of ["absent", "live", "expired"]) {
        const { kv } = kvWith(state);
        const before = text(kv.get("k"));
        assertKvBackend(() => kv.set("k", bytes("new"), 0n, mode), /ttl-seconds must be at least 1/);
        assert.equal(text(kv.get("k")), before, `${state}: nothing written`);
      }
      assert.equal(ZERO_TTL_MESSAGE, "ttl-seconds must be at least 1 (0 would write a key that is already expired)");
    });
  }

  // UTF-8 byte order: U+E000 (EE 80 80) < U+FFFF (EF BF BF) < U+10000 (F0 90 80 80);
  // UTF-16 code units would put U+10000 (D800 DC00) first.
  const ORDERED = ["p", "pa", "p\u{E000}", "p\u{FFFF}", "p\u{10000}", "p\u{10000}a"];
  const fill = () => {
    const { kv, clock } = kvWith("absent");
    for (const k of ["q", ...[...ORDERED].reverse(), "o", "P"]) kv.set(k, bytes(k), undefined, "always");
    return { kv, clock };
  };

  it("list-keys returns the prefix's keys in UTF-8 byte order, not UTF-16 order", () => {
    const { kv } = fill();
    assert.deepEqual(kv.listKeys("p", undefined, 100), { keys: ORDERED, cursor: undefined });
    assert.deepEqual(
      [...ORDERED].sort(),
      ["p", "pa", "p\u{10000}", "p\u{10000}a", "p\u{E000}", "p\u{FFFF}"],
      "JavaScript's own sort (UTF-16) differs",
    );
    assert.deepEqual(kv.listKeys("", undefined, 100).keys, ["P", "o", ...ORDERED, "q"]);
    assert.deepEqual(kv.listKeys("p\u{10000}", undefined, 100).keys, ["p\u{10000}", "p\u{10000}a"]);
    assert.deepEqual(kv.listKeys("r", undefined, 100), { keys: [], cursor: undefined });
  });

  it("list-keys pages strictly after the cursor, at most limit keys, until a page with cursor none", () => {
    const { kv } = fill();
    const pages = [];
    let cursor;
    do {
      const page = kv.listKeys("p", cursor, 4);
      assert.ok(page.keys.length <= 4, `at most limit keys: ${inspect(page.keys)}`);
      pages.push(page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined);
    assert.deepEqual(pages, [ORDERED.slice(0, 4), ORDERED.slice(4)]);

    assert.deepEqual(kv.listKeys("p", "p\u{E000}", 100).keys, ORDERED.slice(3), "strictly after the cursor");
    assert.deepEqual(kv.listKeys("p", "p\u{F000}", 100).keys, ORDERED.slice(3), "a cursor that is no key");
    const first = kv.listKeys("p", undefined, 2);
    assert.deepEqual(first, { keys: ["p", "pa"], cursor: "pa" });
  });

  it("list-keys answers cursor none when the page ends exactly at the last key", () => {
    const { kv } = fill();
    assert.deepEqual(kv.listKeys("p", undefined, ORDERED.length), { keys: ORDERED, cursor: undefined });
    assert.deepEqual(kv.listKeys("p", "p\u{FFFF}", 2), { keys: ORDERED.slice(4), cursor: undefined });
    assert.deepEqual(kv.listKeys("p", ORDERED.at(-1), 5), { keys: [], cursor: undefined }, "a cursor at the last key");
  });

  it("list-keys with a cursor outside the prefix: before it lists all, after it none", () => {
    const { kv } = fill();
    assert.deepEqual(kv.listKeys("p", "o", 100).keys, ORDERED);
    assert.deepEqual(kv.listKeys("p", "", 100).keys, ORDERED);
    assert.deepEqual(kv.listKeys("p", "q", 100), { keys: [], cursor: undefined });
    assert.deepEqual(kv.listKeys("p", "\u{10FFFF}", 100), { keys: [], cursor: undefined });
  });

  it("list-keys refuses a limit of 0 as backend, as the wasmtime host does (wit/session-plugin.wit)", () => {
    const { kv } = fill();
    for (const cursor of [undefined, "p", ORDERED.at(-2)]) {
      assertKvBackend(() => kv.listKeys("p", cursor, 0), /^list-keys limit must be at least 1 /);
    }
    assert.equal(ZERO_LIMIT_MESSAGE, "list-keys limit must be at least 1 (a page of 0 keys could never move on)");
    assert.deepEqual(kv.listKeys("p", "p", 1), { keys: ["pa"], cursor: "pa" });
  });

  it("list-keys skips expired keys, and maxPage returns fewer than asked", () => {
    const { kv, clock } = fill();
    kv.set("pb", bytes("x"), 5n, "always");
    assert.ok(kv.listKeys("p", undefined, 100).keys.includes("pb"));
    clock.advance(5);
    assert.deepEqual(kv.listKeys("p", undefined, 100).keys, ORDERED);
    const short = new MemoryKv({ clock, maxPage: 2 });
    for (const k of ORDERED) short.set(k, bytes(k), undefined, "always");
    assert.deepEqual(short.listKeys("p", undefined, 100), { keys: ORDERED.slice(0, 2), cursor: "pa" });
  });

  it("a maxPage under 1 is refused: a page of none with no cursor would say no keys are left", () => {
    const clock = new MovableClock(T0);
    for (const maxPage of [0, -1, NaN]) {
      assert.throws(() => new MemoryKv({ clock, maxPage }), /maxPage must be at least 1/);
    }
  });

  it("a store given only a kv runs on the kv's clock; two different clocks are refused", async () => {
    const kv = new MemoryKv({ clock: new MovableClock(T0) });
    const { plugin, clock } = await instantiateStore("kv_session", { kv });
    assert.equal(clock, kv.clock, "one clock for the guest and its kv");
    const id = plugin.create({ data: "{}", ttlSeconds: 10n });
    clock.advance(10);
    assert.equal(plugin.load(id), undefined, "expired for the guest");
    assert.equal(kv.listKeys("", undefined, 10).keys.length, 0, "and in the kv");
    await assert.rejects(
      instantiateStore("kv_session", { kv, clock: new MovableClock(T0) }),
      /different clocks/,
    );
  });

  it("nativeExpiry: false breaks the contract on purpose: expired keys stay visible until deleted", () => {
    const clock = new MovableClock(T0);
    const kv = new MemoryKv({ clock, nativeExpiry: false });
    kv.set("k", bytes("old"), 10n, "always");
    clock.advance(10);
    assert.equal(text(kv.get("k")), "old");
    assert.deepEqual(kv.listKeys("", undefined, 10).keys, ["k"]);
    assert.equal(kv.set("k", bytes("new"), undefined, "if-absent"), false);
    assert.equal(kv.rawSize(), 1);
    assert.equal(kv.delete("k"), true);
    assert.equal(kv.rawSize(), 0);
  });

  it("failNext fails the next call of that operation only, as backend", () => {
    const { kv } = kvWith("live");
    kv.failNext("get", "disk on fire");
    assertKvBackend(() => kv.get("k"), /^disk on fire$/);
    assert.equal(text(kv.get("k")), "old");
    assert.deepEqual(
      kv.calls.map(([op]) => op),
      ["set", "get", "get"],
    );
  });
});

// ---------------------------------------------------------------- WASI

const hostile = (mode, extra = {}) => instantiateStore("hostile", { settings: { "hostile.mode": mode, ...extra } });

/** Asserts that `fn` traps (throws anything but an `err` the guest returned), the message matching `re`. */
function assertTraps(fn, re) {
  let value;
  try {
    value = fn();
  } catch (e) {
    assert.ok(!isComponentError(e), `expected a trap, got err(${inspect(e.payload)})`);
    assert.ok(e instanceof Error, `expected an Error, got ${inspect(e)}`);
    assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected a trap, got ok(${inspect(value)})`);
}

/** The text of the `backend` error the hostile plugin reports what it saw in. */
function report(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(isComponentError(e), `expected err(backend), got ${inspect(e)}`);
    assert.equal(e.payload.tag, "backend", inspect(e.payload));
    return e.payload.val;
  }
  assert.fail("expected err(backend)");
}

/** A trapped instance is not called again, and a fresh kv_session instance serves. */
async function contained(plugin) {
  assertTraps(() => plugin.create({ data: "{}" }), /trapped in an earlier call and is not called again/);
  const { plugin: good } = await instantiateStore("kv_session");
  const id = good.create({ data: '{"still":"serving"}' });
  assert.equal(good.load(id).data, '{"still":"serving"}');
}

/** What `session-harness call hostile.wasm create` (the wasmtime host) answers in `mode`. */
function wasmtimeReport(mode, extra = []) {
  if (!existsSync(HARNESS_CLI)) {
    throw new Error(`${relative(REPO_ROOT, HARNESS_CLI)} is missing: build it with \`make build\` in ${REPO_ROOT}`);
  }
  const r = spawnSync(
    HARNESS_CLI,
    ["call", wasmPath("hostile"), "--config", `hostile.mode=${mode}`, ...extra, "create", "--cache-dir", join(OUT_DIR, "wasmtime-cache")],
    { encoding: "utf8", timeout: 60_000, stdio: ["ignore", "pipe", "pipe"] },
  );
  if (r.error) throw r.error;
  const m = /^session-harness: backend error: (.*)\n$/s.exec(r.stderr);
  assert.ok(m, `unexpected session-harness answer (${r.status}): ${r.stdout}${r.stderr}`);
  return m[1];
}

/**
 * Runs `body` (an ES module body, with `instantiateStore` and `isComponentError`
 * imported from host.mjs) in a child Node process, with the runner's secret
 * on its stdin, and returns what it printed: what must not end the test runner
 * (exit) or hang it (a sleep) is tried there.
 */
function inChild(body) {
  const host = pathToFileURL(fileURLToPath(new URL("./host.mjs", import.meta.url))).href;
  const code = `import { instantiateStore, isComponentError } from ${JSON.stringify(host)};\n${body}`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    encoding: "utf8",
    timeout: 30_000,
    input: "HOST-SECRET-ON-STDIN\n",
  });
  if (r.error) throw r.error;
  return r;
}

const SURVIVED = "the host survived";

describe("the WASI a guest gets under jco (as host-harness/src/capabilities.rs grants it)", () => {
  it("no environment variables, no arguments, no initial cwd: the same report as under wasmtime", async () => {
    assert.ok(process.env.HOME !== undefined || process.env.PATH !== undefined, "the runner has an environment to leak");
    const { plugin } = await hostile("env");
    const seen = report(() => plugin.create({ data: "{}" }));
    assert.match(seen, /^env vars: 0; args: 0; HOME visible: false; /);
    assert.equal(seen, wasmtimeReport("env"));
    const env = wasiImports(new MovableClock(T0), new GuestLog())["wasi:cli/environment"];
    assert.deepEqual([env.getEnvironment(), env.getArguments(), env.initialCwd()], [[], [], undefined]);
  });

  // Tried only in child processes: were exit granted, it would end the test
  // runner's process, with status 0.
  it("exit traps instead of ending the host process (the test runner), and the trap is contained", () => {
    const r = inChild(`
      const { plugin } = await instantiateStore("hostile", { settings: { "hostile.mode": "exit" } });
      for (let i = 0; i < 2; i++) {
        try {
          plugin.create({ data: "{}" });
          console.log("create returned");
        } catch (e) {
          console.log(isComponentError(e) ? "err" : "trapped: " + e.message);
        }
      }
      const { plugin: good } = await instantiateStore("kv_session");
      console.log("kv_session serves: " + (good.load(good.create({ data: "{}" })) !== undefined));
      console.log(${JSON.stringify(SURVIVED)});
    `);
    assert.equal(r.status, 0, `the child failed (${r.status} ${r.signal}): ${r.stdout}${r.stderr}`);
    assert.ok(r.stdout.includes(SURVIVED), `the guest's exit ended the host:\n${r.stdout}${r.stderr}`);
    assert.deepEqual(r.stdout.split("\n"), [
      "trapped: exit is not granted: the guest called exit(0)",
      "trapped: this instance trapped in an earlier call and is not called again (exit is not granted: the guest called exit(0))",
      "kv_session serves: true",
      SURVIVED,
      "",
    ]);

    const exit = wasiImports(new MovableClock(T0), new GuestLog())["wasi:cli/exit"];
    assert.throws(() => exit.exit({ tag: "ok" }), /exit is not granted: the guest called exit\(0\)/);
    assert.throws(() => exit.exit({ tag: "err" }), /exit is not granted: the guest called exit\(1\)/);
    assert.throws(() => exit.exitWithCode(3), /exit is not granted: the guest called exit\(3\)/);
  });

  it("standard input is not granted: asking for it traps, and the host's stdin is never read", async () => {
    // First in a child whose stdin holds a secret, as the test runner's might
    // (and where a read that waits for input cannot hang the runner).
    const r = inChild(`
      const { plugin } = await instantiateStore("hostile", { settings: { "hostile.mode": "stdin" } });
      try { plugin.create({ data: "{}" }); } catch (e) { console.log(isComponentError(e) ? "err: " + e.payload.val : "trapped: " + e.message); }
      console.log(${JSON.stringify(SURVIVED)});
    `);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^trapped: stdin is not granted/m, r.stdout);
    assert.ok(!r.stdout.includes("HOST-SECRET") && !r.stderr.includes("HOST-SECRET"), r.stdout + r.stderr);

    const { plugin } = await hostile("stdin");
    assertTraps(() => plugin.create({ data: "{}" }), /stdin is not granted/);
    await contained(plugin);
  });

  it("a sleep traps at once: pollable.block and poll are not granted, as in the wasmtime host", async () => {
    // First in a child, so a sleep that got through fails the test instead of
    // hanging the runner (the in-process call below only runs once it trapped).
    const r = inChild(`
      const { plugin } = await instantiateStore("hostile", { settings: { "hostile.mode": "sleep" } });
      const start = Date.now();
      try { plugin.create({ data: "{}" }); console.log("slept"); } catch (e) { console.log("trapped: " + e.message); }
      console.log("after " + (Date.now() - start) + " ms");
      console.log(${JSON.stringify(SURVIVED)});
    `);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^trapped: blocking is not granted: the plugin called wasi:io\/poll `\[method\]pollable\.block`/m, r.stdout);
    assert.ok(r.stdout.includes(SURVIVED), r.stdout);

    const { plugin } = await hostile("sleep");
    assertTraps(() => plugin.create({ data: "{}" }), /blocking is not granted/);
    await contained(plugin);

    // Asking whether a pollable is ready is fine; waiting is not.
    const imports = wasiImports(new MovableClock(T0), new GuestLog());
    const clock = imports["wasi:clocks/monotonic-clock"];
    const now = clock.subscribeDuration(0n);
    const later = clock.subscribeDuration(3_600_000_000_000n);
    assert.equal(now.ready(), true);
    assert.equal(later.ready(), false);
    assert.equal(clock.subscribeInstant(clock.now() + 3_600_000_000_000n).ready(), false);
    assert.throws(() => later.block(), /blocking is not granted/);
    assert.throws(() => imports["wasi:io/poll"].poll([now]), /blocking is not granted/);
    assert.equal(imports["wasi:cli/stdout"].getStdout().subscribe().ready(), true, "output streams never make a guest wait");
  });

  it(`random bytes come at most ${MAX_RANDOM_BYTES} per call; more traps with wasmtime's message`, async () => {
    const { plugin } = await hostile("random");
    assertTraps(() => plugin.create({ data: "{}" }), /^requested len 1048576 exceeds limit 4096$/);
    await contained(plugin);
    const modest = await hostile("random", { "hostile.random-bytes": String(MAX_RANDOM_BYTES) });
    assert.equal(report(() => modest.plugin.create({ data: "{}" })), "got 4096 random bytes");
    assert.equal(report(() => modest.plugin.create({ data: "{}" })), "got 4096 random bytes");
    const greedy = await hostile("random", { "hostile.random-bytes": String(MAX_RANDOM_BYTES + 1) });
    assertTraps(() => greedy.plugin.create({ data: "{}" }), /requested len 4097 exceeds limit 4096/);

    const imports = wasiImports(new MovableClock(T0), new GuestLog());
    assert.throws(() => imports["wasi:random/insecure"].getInsecureRandomBytes(4097n), /exceeds limit 4096/);
    assert.equal(imports["wasi:random/insecure"].getInsecureRandomBytes(16n).length, 16);
    assert.equal(typeof imports["wasi:random/random"].getRandomU64(), "bigint");
  });

  it("files are out of reach: every path is refused, the same report as under wasmtime", async () => {
    assert.ok(existsSync("/etc/passwd"));
    const { plugin } = await hostile("fs");
    const seen = report(() => plugin.create({ data: "{}" }));
    assert.ok(!seen.includes("READ") && !seen.includes("WROTE"), seen);
    assert.equal(seen.match(/denied/g).length, 6, seen);
    assert.equal(seen, wasmtimeReport("fs"));
  });

  it("the network is out of reach: no connection reaches a listening port, no name resolves", async () => {
    let connections = 0;
    const server = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = String(server.address().port);
      const { plugin } = await hostile("net", { "hostile.port": port });
      const seen = report(() => plugin.create({ data: "{}" }));
      assert.match(seen, /^connect: denied \(.*\); lookup: denied \(.*\)$/, seen);
      assert.equal(seen, wasmtimeReport("net", ["--config", `hostile.port=${port}`]));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  it("a panic traps with its message from the guest's stderr, which stays out of the runner's", async () => {
    const { plugin, log } = await hostile("trap");
    const e = assertTraps(() => plugin.create({ data: "{}" }), /unreachable/);
    assert.match(e.message, /; guest stderr: thread .* panicked at hostile\/src\/lib\.rs:\d+:\d+: hostile plugin: trapping on purpose$/);
    assert.match(log.text(), /panicked/);
    await contained(plugin);

    const r = inChild(`
      const { plugin } = await instantiateStore("hostile", { settings: { "hostile.mode": "trap" } });
      try { plugin.create({ data: "{}" }); } catch (e) { console.log("trapped"); }
      console.log(${JSON.stringify(SURVIVED)});
    `);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, `trapped\n${SURVIVED}\n`);
    assert.equal(r.stderr, "", "the guest's panic message went to the host's stderr");
  });

  it("a plugin's error message is escaped and cut as the wasmtime host does it", async () => {
    const said = "bad id\n2026-12-01 INFO login ok \u001b[2J \u202eZoë";
    const { plugin } = await hostile("harmless", { "hostile.message": said });
    const e = errorOf(() => plugin.create({ data: "{}" }));
    assert.equal(e.tag, "unsupported");
    assert.equal(e.val, String.raw`bad id\n2026-12-01 INFO login ok \u{1b}[2J \u{202e}Zoë`);
    // A long one is cut with its escapes counted, never inside one.
    const noisy = "\u001b".repeat(MAX_ERROR_MESSAGE_BYTES);
    const { plugin: loud } = await hostile("harmless", { "hostile.message": noisy });
    const cut = errorOf(() => loud.create({ data: "{}" })).val;
    const [kept, rest] = cut.split("…");
    const escapes = MAX_ERROR_MESSAGE_BYTES / 6 | 0;
    assert.equal(kept, String.raw`\u{1b}`.repeat(escapes));
    assert.equal(rest, ` (${MAX_ERROR_MESSAGE_BYTES - escapes} more bytes cut by the host)`);
  });

  it("a panic's message reaches the runner's output as text only, escaped as the wasmtime host escapes it", async () => {
    // A newline would forge a line, an escape sequence drive the terminal, a
    // bidirectional override reorder what is shown.
    const said = "bad id\n2026-12-01 INFO login ok \u001b[2J \u202eZoë\rover";
    const { plugin } = await hostile("trap", { "hostile.message": said });
    const e = assertTraps(() => plugin.create({ data: "{}" }), /unreachable/);
    // The stderr's last two lines are joined by a space; the rest is escaped.
    const says = String.raw`hostile plugin: bad id 2026-12-01 INFO login ok \u{1b}[2J \u{202e}Zoë\rover`;
    assert.ok(e.message.endsWith(`: ${says}`), e.message);
    assert.doesNotMatch(e.message, /[\n\r\u001b\u202e]/);

    // Bounded in UTF-8 bytes with the escapes counted, never cut inside one
    // or inside a character (text.rs escape_controls_within).
    assert.equal(escapeControlsWithin("abcd", 3), "abc");
    assert.equal(escapeControlsWithin("\u001b".repeat(4), 20), String.raw`\u{1b}\u{1b}\u{1b}`);
    assert.equal(escapeControlsWithin("aé", 2), "a");
    assert.equal(escapeControlsWithin("a\tb\u0000\u007f\u0085\u061c\u2028\u2029", 100), String.raw`a\tb\u{0}\u{7f}\u{85}\u{61c}\u{2028}\u{2029}`);
    assert.equal(escapeControlsWithin("Zoë 日本 {\"a\":1}", 100), "Zoë 日本 {\"a\":1}");
  });

  it("the guest's stderr keeps only its last bytes, and each call starts afresh", async () => {
    const log = new GuestLog();
    log.push(bytes("x".repeat(GUEST_LOG_BYTES)));
    log.push(bytes("\nthread 'main' panicked at a.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1` ...\n"));
    assert.equal(Buffer.byteLength(log.text()), GUEST_LOG_BYTES);
    assert.equal(log.lastLine(), "thread 'main' panicked at a.rs:1:1: boom");
    log.clear();
    assert.equal(log.lastLine(), undefined);
    const stderr = wasiImports(new MovableClock(T0), log)["wasi:cli/stderr"].getStderr();
    assert.equal(stderr.checkWrite(), 65536n);
    stderr.write(bytes("one\n"));
    stderr.blockingWriteAndFlush(bytes("two"));
    assert.equal(log.text(), "one\ntwo");

    // A store that fails with an err (not a trap) is called again as usual.
    const { plugin } = await hostile("harmless");
    for (let i = 0; i < 2; i++) {
      assert.equal(sessionErrorTag(() => plugin.create({ data: "{}" })), "unsupported");
    }
  });

  it("the terminal getters answer none: no stream is a terminal", () => {
    const imports = wasiImports(new MovableClock(T0), new GuestLog());
    assert.equal(imports["wasi:cli/terminal-stdin"].getTerminalStdin(), undefined);
    assert.equal(imports["wasi:cli/terminal-stdout"].getTerminalStdout(), undefined);
    assert.equal(imports["wasi:cli/terminal-stderr"].getTerminalStderr(), undefined);
  });
});

/** The session-error `fn` fails with (jco's ComponentError payload). */
function errorOf(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(isComponentError(e), inspect(e));
    return e.payload;
  }
  assert.fail("expected err(session-error)");
}

function sessionErrorTag(fn) {
  return errorOf(fn).tag;
}
