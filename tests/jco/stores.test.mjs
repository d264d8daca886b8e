// The session stores under jco in Node.js: the same .wasm files our wasmtime
// host loads, run by a second component-model host, asserting what a user of
// each store relies on (DESIGN.md section 2), plus seals crossing between the
// two hosts.
//
//   tests/jco/run.sh        (npm ci, transpile, then this file and host.test.mjs)
//   node --test tests/jco/stores.test.mjs   (after a transpile)

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { MemoryKv, MovableClock, T0, instantiateStore } from "./host.mjs";
import { HARNESS_CLI, OUT_DIR, REPO_ROOT, wasmPath } from "./paths.mjs";

// ---------------------------------------------------------------- helpers

/** Calls `fn`, which must throw jco's ComponentError; returns its payload (a session-error). */
function sessionError(fn) {
  let value;
  try {
    value = fn();
  } catch (e) {
    assert.ok(e instanceof Error, `expected a ComponentError, got ${inspect(e)}`);
    assert.equal(e.constructor.name, "ComponentError", `expected a ComponentError, got ${inspect(e)}`);
    assert.ok(Object.hasOwn(e, "payload"), `ComponentError without payload: ${inspect(e)}`);
    return e.payload;
  }
  assert.fail(`expected err(session-error), got ok(${inspect(value)})`);
}

/** Asserts that `fn` fails with session-error `tag` (and a message matching `re`). */
function assertErr(fn, tag, re) {
  const payload = sessionError(fn);
  assert.equal(payload.tag, tag, `expected ${tag}, got ${inspect(payload)}`);
  if (re !== undefined) assert.match(payload.val, re);
  return payload;
}

/** Session data that a store must keep byte for byte: odd spacing, a raw
 * newline, escapes, non-ASCII text, an astral character and an unnormalised number. */
const DATA =
  '{ "name": "Zoë", "crab": "🦀", "esc": "q\\"b\\\\s\\u00e9\\n",\n  "n": 1.50, "deep": {"a": [1, {}, null]},\t"ls": "\u2028" }';

/** Texts that are not a JSON object. */
const NOT_OBJECTS = ["[]", "42", '"text"', "null", "true", "", "   ", "{", '{"a":1', '{"a":1} {}', "{'a':1}", '{"a":1,}'];

const hexKey = () => randomBytes(32).toString("hex");

// The cookie store's reasons for refusing a seal (guest/cookie-session/src/seal.rs).
const NOT_AUTHENTIC = /seal failed authentication/;
const NOT_BASE64 = /seal is not valid unpadded base64url/;

/**
 * Copies of seal `s` (`v1.<p|s>.<b64url>[.<b64url>]`) with one character
 * changed, as `[what, tampered, reason]`, `reason` matching the store's
 * message: the first body character, the middle, the last (whose spare bits
 * a lax decoder would ignore) and each `.` of the prefix, changed to another
 * base64url character and to bytes outside base64url.
 */
function tamperings(s) {
  const at = (i, c) => s.slice(0, i) + c + s.slice(i + 1);
  const other = (i) => (s[i] === "A" ? "B" : "A");
  const first = "v1.p.".length;
  let mid = Math.floor(s.length / 2);
  if (s[mid] === ".") mid += 1; // the signed seal's separator: a body character instead
  const last = s.length - 1;
  const signed = s[3] === "s";
  return [
    ["first body character", at(first, other(first)), NOT_AUTHENTIC],
    ["first body character to '='", at(first, "="), NOT_BASE64],
    ["first body character to 'é'", at(first, "é"), NOT_BASE64],
    ["middle character", at(mid, other(mid)), NOT_AUTHENTIC],
    ["middle character to '+'", at(mid, "+"), NOT_BASE64],
    // Another base64url character either changes the decoded bytes (the
    // crypto refuses them) or only spare bits (strict decoding refuses them).
    ["last character", at(last, other(last)), /seal failed authentication|seal is not valid unpadded base64url/],
    ["last character to '%'", at(last, "%"), NOT_BASE64],
    ["the '.' after the version to '='", at(2, "="), /not a cookie-session seal/],
    ["the '.' after the mode to 'A'", at(4, "A"), signed ? /not made in signed mode/ : /seal is truncated/],
  ];
}

/** Asserts that every operation taking an id refuses `id` as invalid-id. */
function assertEveryOpRefuses(plugin, id) {
  assertErr(() => plugin.load(id), "invalid-id");
  assertErr(() => plugin.update(id, "{}", undefined), "invalid-id");
  assertErr(() => plugin.touch(id, undefined), "invalid-id");
  assertErr(() => plugin.regenerate(id), "invalid-id");
  assertErr(() => plugin.destroy(id), "invalid-id");
}

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

const kvStore = (o) => instantiateStore("kv_session", o);
const cookieStore = (settings = { "cookie.keys": hexKey() }, o = {}) =>
  instantiateStore("cookie_session", { settings, ...o });

// ---------------------------------------------------------------- both stores

for (const [store, open, expectedInfo] of [
  ["kv_session", () => kvStore(), { name: "kv-session", serverSide: true }],
  ["cookie_session", () => cookieStore(), { name: "cookie-session", serverSide: false }],
]) {
  describe(`${store} under jco: what every store promises`, () => {
    it("describes itself", async () => {
      const { plugin } = await open();
      const info = plugin.info();
      assert.equal(info.name, expectedInfo.name);
      assert.equal(info.serverSide, expectedInfo.serverSide);
      assert.match(info.version, /^\d+\.\d+\.\d+/);
    });

    it("create then load keeps data byte for byte, the user and the times", async () => {
      const { plugin } = await open();
      const id = plugin.create({ data: DATA, userId: "user-ü-42", ttlSeconds: 600n });
      assert.equal(typeof id, "string");
      const r = plugin.load(id);
      assert.deepEqual(r, { id, userId: "user-ü-42", data: DATA, createdAt: T0, expiresAt: T0 + 600n });

      const anon = plugin.create({ data: "{}" });
      const a = plugin.load(anon);
      assert.equal(a.userId, undefined);
      assert.equal(a.data, "{}");
      assert.equal(a.expiresAt, T0 + 86_400n, "the documented default ttl is 24 hours");
    });

    it("refuses data that is not the text of a JSON object as invalid-data", async () => {
      const { plugin } = await open();
      const id = plugin.create({ data: '{"ok":true}' });
      for (const data of NOT_OBJECTS) {
        assertErr(() => plugin.create({ data }), "invalid-data");
        assertErr(() => plugin.update(id, data, undefined), "invalid-data");
      }
      assert.equal(plugin.load(id).data, '{"ok":true}', "a refused update changes nothing");
      assertErr(() => plugin.create({ data: "{}", ttlSeconds: 0n }), "invalid-data", /ttl/);
    });

    it("update and touch return the id to hold and slide the expiry", async () => {
      const { plugin, clock } = await open();
      const id = plugin.create({ data: '{"v":1}', userId: "ann", ttlSeconds: 100n });
      clock.advance(60);
      const id2 = plugin.update(id, '{"v":2}', "bob");
      assert.equal(typeof id2, "string");
      assert.deepEqual(plugin.load(id2), {
        id: id2,
        userId: "bob",
        data: '{"v":2}',
        createdAt: T0,
        expiresAt: T0 + 160n,
      });
      clock.advance(60); // T0+120: past the first expiry, within the slid one
      const id3 = plugin.touch(id2, undefined);
      assert.equal(plugin.load(id3).expiresAt, T0 + 220n);
      const id4 = plugin.touch(id3, 10n);
      const r = plugin.load(id4);
      assert.equal(r.expiresAt, T0 + 130n, "touch with a ttl uses the new lifetime");
      assert.equal(r.data, '{"v":2}', "touch keeps the data");
      assert.equal(r.userId, "bob");
      clock.advance(10);
      assert.equal(plugin.load(id4), undefined);
      assertErr(() => plugin.update(id4, "{}", undefined), "not-found");
      assertErr(() => plugin.touch(id4, undefined), "not-found");
    });

    it("update replaces the user too: none clears it, a new one replaces it", async () => {
      const { plugin } = await open();
      const id = plugin.create({ data: '{"v":1}', userId: "ann" });
      const cleared = plugin.update(id, '{"v":2}', undefined);
      const r = plugin.load(cleared);
      assert.equal(r.userId, undefined, "update with no user logs the user out");
      assert.equal(r.data, '{"v":2}');
      const again = plugin.update(cleared, '{"v":3}', "bob");
      assert.equal(plugin.load(again).userId, "bob");
      assert.equal(plugin.load(plugin.update(again, '{"v":4}', "cy")).userId, "cy");
    });

    it("refuses data over session.max-data-bytes (counted in UTF-8 bytes) as too-large", async () => {
      const settings = store === "kv_session" ? {} : { "cookie.keys": hexKey() };
      settings["session.max-data-bytes"] = "1024";
      const { plugin } = await instantiateStore(store, { settings });
      const atLimit = `{"x":"${"y".repeat(1024 - 8)}"}`;
      assert.equal(Buffer.byteLength(atLimit), 1024);
      const id = plugin.create({ data: atLimit });
      const over = `{"x":"${"y".repeat(1024 - 7)}"}`;
      const wide = `{"x":"${"é".repeat(509)}"}`; // 517 UTF-16 code units, 1026 bytes
      for (const [data, size] of [
        [over, 1025],
        [wide, 1026],
      ]) {
        for (const [op, call] of [
          ["create", () => plugin.create({ data })],
          ["update", () => plugin.update(id, data, undefined)],
        ]) {
          const { val } = assertErr(call, "too-large");
          assert.ok(
            val.includes(`session data is ${size} bytes`) && val.includes("session.max-data-bytes") && val.includes("1024"),
            `${op}: the message does not name the size, the setting and its limit: ${inspect(val)}`,
          );
        }
      }
      assert.equal(plugin.load(id).data, atLimit, "a refused update changes nothing");
    });

    it("expires sessions on the host's wall clock, and update never resurrects", async () => {
      const { plugin, clock } = await open();
      const id = plugin.create({ data: "{}", ttlSeconds: 60n });
      clock.advance(59);
      assert.ok(plugin.load(id), "live one second before expiry");
      clock.advance(1);
      assert.equal(plugin.load(id), undefined, "expired at created-at + ttl");
      assertErr(() => plugin.update(id, '{"back":1}', undefined), "not-found");
      assertErr(() => plugin.touch(id, 60n), "not-found");
      assertErr(() => plugin.regenerate(id), "not-found");
      assert.equal(plugin.load(id), undefined);
    });

    it("caps the lifetime at session.max-lifetime-seconds however often touched", async () => {
      const settings = store === "kv_session" ? {} : { "cookie.keys": hexKey() };
      settings["session.max-lifetime-seconds"] = "100";
      const { plugin, clock } = await instantiateStore(store, { settings });
      let id = plugin.create({ data: "{}", ttlSeconds: 60n });
      // Touched every 10 s, past the cap: expiry slides only up to it.
      for (let t = 10; t < 100; t += 10) {
        clock.advance(10);
        id = plugin.touch(id, undefined);
        assert.equal(plugin.load(id).expiresAt, T0 + BigInt(Math.min(t + 60, 100)), `at ${t} s`);
      }
      clock.advance(10);
      assert.equal(plugin.load(id), undefined);
      assertErr(() => plugin.touch(id, undefined), "not-found");
    });

    it("reads its settings from wasi:config and names a bad key", async () => {
      const base = store === "kv_session" ? {} : { "cookie.keys": hexKey() };
      const good = await instantiateStore(store, { settings: { ...base, "session.ttl-seconds": "120" } });
      const id = good.plugin.create({ data: "{}" });
      assert.equal(good.plugin.load(id).expiresAt, T0 + 120n);

      const typo = await instantiateStore(store, { settings: { ...base, "session.ttl_seconds": "120" } });
      assertErr(() => typo.plugin.create({ data: "{}" }), "config", /session\.ttl_seconds/);

      const down = await instantiateStore(store, { settings: base, configFailure: "vault is sealed" });
      assertErr(() => down.plugin.create({ data: "{}" }), "config", /vault is sealed/);
      assertErr(() => down.plugin.create({ data: "{}" }), "config", /vault is sealed/);
    });

    it("asks for its settings again after the host could not hand them over", async () => {
      const base = store === "kv_session" ? {} : { "cookie.keys": hexKey() };
      const settings = { ...base, "session.ttl-seconds": "120" };
      const configFailure = { message: "vault is sealed", calls: 2 };
      const { plugin } = await instantiateStore(store, { settings, configFailure });
      for (let i = 0; i < 2; i += 1) {
        assertErr(() => plugin.create({ data: "{}" }), "config", /cannot read configuration \(will ask again\).*vault is sealed/);
      }
      // The source is back: this instance serves, with the settings.
      const id = plugin.create({ data: "{}" });
      assert.equal(plugin.load(id).expiresAt, T0 + 120n);
    });
  });
}

// ---------------------------------------------------------------- kv-session

describe("kv_session under jco", () => {
  const MALFORMED = ["", "short", "a".repeat(31), "a".repeat(33), "a".repeat(31) + "!", "é".repeat(16), "x".repeat(100_000)];

  it("answers none for an unknown well-formed id", async () => {
    const { plugin } = await kvStore();
    plugin.create({ data: "{}" });
    assert.equal(plugin.load("A".repeat(32)), undefined);
    assert.equal(plugin.load(randomBytes(24).toString("base64url")), undefined);
    assertErr(() => plugin.update("A".repeat(32), "{}", undefined), "not-found");
    assertErr(() => plugin.touch("A".repeat(32), undefined), "not-found");
    assertErr(() => plugin.regenerate("A".repeat(32)), "not-found");
  });

  it("refuses malformed ids as invalid-id, in every operation", async () => {
    const { plugin, kv } = await kvStore();
    for (const id of MALFORMED) {
      assertEveryOpRefuses(plugin, id);
      assertErr(() => plugin.create({ data: "{}", id }), "invalid-id");
    }
    assert.equal(kv.calls.length, 0, "a malformed id never reaches the kv");
  });

  it("issues 32-character URL-safe ids, and imports a given id once", async () => {
    const { plugin } = await kvStore();
    const ids = new Set(Array.from({ length: 20 }, () => plugin.create({ data: "{}" })));
    assert.equal(ids.size, 20);
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{32}$/);
    const mine = randomBytes(24).toString("base64url");
    assert.equal(plugin.create({ data: '{"imported":1}', id: mine }), mine);
    assert.equal(plugin.load(mine).data, '{"imported":1}');
    assertErr(() => plugin.create({ data: "{}", id: mine }), "conflict");
  });

  it("regenerate gives a new id with the same session and kills the old one at once", async () => {
    const { plugin } = await kvStore();
    const old = plugin.create({ data: DATA, userId: "eve", ttlSeconds: 300n });
    const fresh = plugin.regenerate(old);
    assert.notEqual(fresh, old);
    assert.equal(plugin.load(old), undefined);
    assert.deepEqual(plugin.load(fresh), { id: fresh, userId: "eve", data: DATA, createdAt: T0, expiresAt: T0 + 300n });
    assertErr(() => plugin.update(old, "{}", undefined), "not-found");
    assertErr(() => plugin.regenerate(old), "not-found");
  });

  it("destroy is idempotent and final: update, touch and regenerate after it are not-found", async () => {
    const { plugin } = await kvStore();
    const id = plugin.create({ data: '{"a":1}' });
    const other = plugin.create({ data: '{"b":2}' });
    assert.equal(plugin.destroy(id), undefined);
    assert.equal(plugin.destroy(id), undefined, "destroying twice is ok");
    assert.equal(plugin.destroy("Z".repeat(32)), undefined, "destroying an unknown id is ok");
    assert.equal(plugin.load(id), undefined);
    assertErr(() => plugin.update(id, '{"a":2}', undefined), "not-found");
    assertErr(() => plugin.touch(id, undefined), "not-found");
    assertErr(() => plugin.regenerate(id), "not-found");
    assert.equal(plugin.load(id), undefined, "update after destroy did not resurrect it");
    assert.equal(plugin.load(other).data, '{"b":2}', "other sessions are untouched");
  });

  it("count sees live sessions only, paging through list-keys", async () => {
    const clock = new MovableClock(T0);
    const kv = new MemoryKv({ clock, maxPage: 2 }); // forces several pages
    const { plugin } = await kvStore({ clock, kv });
    assert.equal(plugin.count(), 0n);
    for (let i = 0; i < 3; i++) plugin.create({ data: "{}", ttlSeconds: 60n });
    const keep = [plugin.create({ data: "{}", ttlSeconds: 3600n }), plugin.create({ data: "{}", ttlSeconds: 3600n })];
    kv.calls.length = 0;
    assert.equal(plugin.count(), 5n);
    assert.ok(kv.calls.filter(([op]) => op === "list-keys").length >= 3, "count walked several pages");
    clock.advance(60);
    assert.equal(plugin.count(), 2n);
    plugin.destroy(keep[0]);
    assert.equal(plugin.count(), 1n);
    assert.equal(plugin.purgeExpired(), 0n, "a kv with native expiry leaves nothing to purge");
  });

  it("purge-expired removes expired records a backend without native expiry still holds", async () => {
    const clock = new MovableClock(T0);
    const kv = new MemoryKv({ clock, nativeExpiry: false, maxPage: 2 });
    const { plugin } = await kvStore({ clock, kv });
    for (let i = 0; i < 3; i++) plugin.create({ data: "{}", ttlSeconds: 60n });
    const live = [plugin.create({ data: '{"l":1}', ttlSeconds: 3600n }), plugin.create({ data: '{"l":2}', ttlSeconds: 3600n })];
    clock.advance(61);
    assert.equal(plugin.count(), 2n, "count judges expiry on its own clock");
    assert.equal(kv.rawSize(), 5);
    // Expired for a second: kept, as a host whose clock is behind by less
    // than the skew tolerance (a minute) still sees them live.
    assert.equal(plugin.purgeExpired(), 0n);
    clock.advance(58);
    assert.equal(plugin.purgeExpired(), 0n, "expired for 59 s: kept");
    clock.advance(1);
    assert.equal(plugin.purgeExpired(), 3n);
    assert.equal(kv.rawSize(), 2);
    assert.equal(plugin.purgeExpired(), 0n);
    for (const id of live) assert.ok(plugin.load(id));
  });

  it("passes kv backend errors on as backend, and keeps working after them", async () => {
    const { plugin, kv } = await kvStore();
    const id = plugin.create({ data: '{"safe":1}' });
    kv.failNext("set", "disk on fire");
    assertErr(() => plugin.create({ data: "{}" }), "backend", /disk on fire/);
    kv.failNext("get", "connection reset");
    assertErr(() => plugin.load(id), "backend", /connection reset/);
    kv.failNext("list-keys", "scan refused");
    assertErr(() => plugin.count(), "backend", /scan refused/);
    kv.failNext("set", "disk on fire");
    assertErr(() => plugin.update(id, '{"lost":1}', undefined), "backend");
    assert.equal(plugin.load(id).data, '{"safe":1}', "a failed write loses nothing");
  });
});

// ---------------------------------------------------------------- cookie-session

describe("cookie_session under jco", () => {
  it("without cookie.keys every operation is a config error naming the key", async () => {
    for (const settings of [{}, { "cookie.keys": "" }, { "cookie.keys": "00".repeat(16) }]) {
      const { plugin } = await cookieStore(settings);
      assertErr(() => plugin.create({ data: "{}" }), "config", /cookie\.keys/);
      assertErr(() => plugin.load("v1.p.AAAA"), "config", /cookie\.keys/);
      assertErr(() => plugin.update("v1.p.AAAA", "{}", undefined), "config", /cookie\.keys/);
      assertErr(() => plugin.touch("v1.p.AAAA", undefined), "config", /cookie\.keys/);
      assertErr(() => plugin.regenerate("v1.p.AAAA"), "config", /cookie\.keys/);
      assertErr(() => plugin.destroy("v1.p.AAAA"), "config", /cookie\.keys/);
      assertErr(() => plugin.purgeExpired(), "config", /cookie\.keys/);
      assertErr(() => plugin.count(), "config", /cookie\.keys/);
    }
  });

  it("refuses malformed, tampered and foreign seals as invalid-id", async () => {
    const key = hexKey();
    const { plugin } = await cookieStore({ "cookie.keys": key });
    const seal = plugin.create({ data: DATA, userId: "mallory?" });
    const foreign = (await cookieStore({ "cookie.keys": hexKey() })).plugin.create({ data: DATA });
    const otherName = (await cookieStore({ "cookie.keys": key, "cookie.name": "sid" })).plugin.create({ data: "{}" });
    const signed = (await cookieStore({ "cookie.keys": key, "cookie.mode": "signed" })).plugin.create({ data: "{}" });
    const bad = [
      "",
      "garbage",
      "A".repeat(32),
      "v1.p.",
      seal.slice(0, -4),
      seal + "AAAA",
      foreign,
      otherName,
      signed,
      "x".repeat(100_000),
    ];
    for (const id of bad) assertEveryOpRefuses(plugin, id);
    for (const [what, id, reason] of tamperings(seal)) {
      assert.notEqual(id, seal, what);
      assertEveryOpRefuses(plugin, id);
      const { val } = assertErr(() => plugin.load(id), "invalid-id");
      assert.match(val, reason, what);
    }
    assert.equal(plugin.load(seal).data, DATA, "the genuine seal still opens");
  });

  it("update, touch and regenerate issue new seals; old seals keep working (stateless)", async () => {
    const { plugin } = await cookieStore();
    const first = plugin.create({ data: '{"v":1}', userId: "ann" });
    const second = plugin.update(first, '{"v":2}', undefined);
    assert.notEqual(second, first);
    assert.deepEqual([plugin.load(second).data, plugin.load(second).userId], ['{"v":2}', undefined]);
    const third = plugin.regenerate(second);
    assert.notEqual(third, second);
    assert.equal(plugin.load(third).data, '{"v":2}');
    assert.equal(plugin.load(first).data, '{"v":1}', "server-side=false: old seals cannot be revoked");
  });

  it("count is unsupported, purge-expired is 0, destroy is ok, create cannot import an id", async () => {
    const { plugin } = await cookieStore();
    const seal = plugin.create({ data: "{}" });
    assertErr(() => plugin.count(), "unsupported");
    assert.equal(plugin.purgeExpired(), 0n);
    assert.equal(plugin.destroy(seal), undefined);
    assert.equal(plugin.destroy(seal), undefined);
    assertErr(() => plugin.create({ data: "{}", id: seal }), "unsupported");
  });

  it("opens seals of a retired key and re-seals them with the current one", async () => {
    const [oldKey, newKey] = [hexKey(), hexKey()];
    const before = await cookieStore({ "cookie.keys": oldKey });
    const seal = before.plugin.create({ data: DATA, userId: "kim" });
    const after = await cookieStore({ "cookie.keys": `${newKey},${oldKey}` });
    const r = after.plugin.load(seal);
    assert.notEqual(r.id, seal, "the record carries a fresh seal");
    assert.equal(r.data, DATA);
    const only = await cookieStore({ "cookie.keys": newKey });
    assert.equal(only.plugin.load(r.id).data, DATA, "the fresh seal opens with the new key alone");
    assertErr(() => only.plugin.load(seal), "invalid-id");
  });

  it("refuses a session that does not fit cookie.max-bytes as too-large", async () => {
    const { plugin } = await cookieStore({ "cookie.keys": hexKey(), "cookie.max-bytes": "256" });
    plugin.create({ data: '{"small":1}' });
    assertErr(() => plugin.create({ data: JSON.stringify({ big: "x".repeat(300) }) }), "too-large");
  });
});

// ---------------------------------------------------------------- across hosts

/** Runs `session-harness call <wasm> <args...>` (our wasmtime host). */
function harness(store, args) {
  if (!existsSync(HARNESS_CLI)) {
    throw new Error(`${relative(REPO_ROOT, HARNESS_CLI)} is missing: build it with \`make build\` in ${REPO_ROOT}`);
  }
  const wasm = wasmPath(store);
  if (!existsSync(wasm)) {
    throw new Error(`${relative(REPO_ROOT, wasm)} is missing: build it with \`make guests\` in ${REPO_ROOT}`);
  }
  const r = spawnSync(HARNESS_CLI, ["call", wasm, ...args, "--cache-dir", join(OUT_DIR, "wasmtime-cache")], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function harnessOk(store, args) {
  const r = harness(store, args);
  assert.equal(r.status, 0, `session-harness ${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Parses `call load` output: `none`, or id/user-id/created-at/expires-at lines then `data=` to the end. */
function parseLoad(stdout) {
  if (stdout === "none\n") return undefined;
  const m = /^id=(.*)\nuser-id=(.*)\ncreated-at=(\d+)\nexpires-at=(\d+)\ndata=([\s\S]*)\n$/.exec(stdout);
  assert.ok(m, `unexpected load output: ${inspect(stdout)}`);
  // The user id is a Rust string literal (`"jco-ü"`; JSON reads it when it
  // holds no control characters) or `(none)`.
  const userId = m[2] === "(none)" ? undefined : JSON.parse(m[2]);
  return { id: m[1], userId, createdAt: BigInt(m[3]), expiresAt: BigInt(m[4]), data: m[5] };
}

describe("across hosts: wasmtime (session-harness) and jco", () => {
  it("both hosts get the same info from both stores", async () => {
    for (const [store, open] of [
      ["kv_session", () => kvStore()],
      ["cookie_session", () => cookieStore()],
    ]) {
      const { plugin } = await open();
      const i = plugin.info();
      assert.equal(harnessOk(store, ["info"]), `name=${i.name} version=${i.version} server-side=${i.serverSide}\n`);
    }
  });

  for (const mode of ["private", "signed"]) {
    it(`a ${mode} cookie sealed by wasmtime opens under jco with the same data`, async () => {
      const key = hexKey();
      const config = ["--config", `cookie.keys=${key}`, "--config", `cookie.mode=${mode}`];
      const before = nowSeconds();
      const seal = harnessOk("cookie_session", ["create", "--data", DATA, "--user", "wasmtime-ü", "--ttl", "3600", ...config]).trimEnd();
      const after = nowSeconds();

      const clock = new MovableClock(after);
      const { plugin } = await cookieStore({ "cookie.keys": key, "cookie.mode": mode }, { clock });
      const r = plugin.load(seal);
      assert.ok(r, "jco loads the wasmtime seal");
      assert.equal(r.id, seal, "same key: no re-seal");
      assert.equal(r.data, DATA);
      assert.equal(r.userId, "wasmtime-ü");
      assert.ok(r.createdAt >= before && r.createdAt <= after, `created-at ${r.createdAt} not in [${before}, ${after}]`);
      assert.equal(r.expiresAt, r.createdAt + 3600n);

      clock.advance(1800);
      const moved = plugin.update(seal, '{"by":"jco"}', "jco-user");
      clock.advance(1801);
      assert.equal(plugin.load(seal), undefined, "jco honours the expiry wasmtime sealed");
      assert.ok(plugin.load(moved), "the seal jco slid is still live");

      const stranger = await cookieStore({ "cookie.keys": hexKey(), "cookie.mode": mode }, { clock: new MovableClock(after) });
      assertErr(() => stranger.plugin.load(seal), "invalid-id");
    });

    it(`a ${mode} cookie sealed by jco opens under wasmtime with the same data`, async () => {
      const key = hexKey();
      const config = ["--config", `cookie.keys=${key}`, "--config", `cookie.mode=${mode}`];
      const clock = new MovableClock(nowSeconds());
      const { plugin } = await cookieStore({ "cookie.keys": key, "cookie.mode": mode }, { clock });
      const seal = plugin.create({ data: DATA, userId: "jco-ü", ttlSeconds: 3600n });
      const created = clock.seconds;

      const r = parseLoad(harnessOk("cookie_session", ["load", seal, ...config]));
      assert.deepEqual(r, { id: seal, userId: "jco-ü", createdAt: created, expiresAt: created + 3600n, data: DATA });

      // wasmtime updates the jco seal; jco opens the result.
      const updated = harnessOk("cookie_session", ["update", seal, '{"by":"wasmtime"}', "--user", "w", ...config]).trimEnd();
      const back = plugin.load(updated);
      assert.equal(back.data, '{"by":"wasmtime"}');
      assert.equal(back.userId, "w");

      // wasmtime refuses a tampered jco seal, for the same reason jco does,
      // and answers none for an expired one.
      for (const [what, tampered, reason] of tamperings(seal)) {
        const t = harness("cookie_session", ["load", tampered, ...config]);
        assert.equal(t.status, 1, `${what}: ${t.stdout}${t.stderr}`);
        assert.match(t.stderr, /invalid session id/, what);
        assert.match(t.stderr, reason, what);
        assert.match(sessionError(() => plugin.load(tampered)).val, reason, `${what} (jco)`);
      }
      const old = await cookieStore({ "cookie.keys": key, "cookie.mode": mode }, { clock: new MovableClock(created - 7200n) });
      const expired = old.plugin.create({ data: "{}", ttlSeconds: 3600n });
      assert.equal(harnessOk("cookie_session", ["load", expired, ...config]), "none\n");
    });
  }
});
