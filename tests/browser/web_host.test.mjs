// The example web host (host-harness/examples/web_host/) driven by a real
// browser, Debian's Chromium through playwright-core: what a visitor's
// browser keeps of the session cookie, sign-in and sign-out, CSRF tokens, a
// tampered cookie, expiry, a note too large for the store, the operator
// swapping the store (and rotating keys) while the visitor stays signed in,
// two hosts of one site, and a cookie planted under a plain name. Each store
// runs every test that applies to it.
//
//   tests/browser/run.sh    (npm ci, then this file; needs `make build`)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createServer } from "node:http";
import { connect } from "node:net";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WASM_DIR = join(REPO_ROOT, "target", "wasm32-wasip2", "release");
const WEB_HOST = join(REPO_ROOT, "target", "release", "examples", "web_host");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const COOKIE = "__Host-sid";
const TTL = 3600;
/** How long a swapped-out store still migrates sessions: long enough for a swap test, short beside the ttl. */
const GRACE = 120;
/** The kv store's data limit here, so a note over it is refused by both stores. */
const MAX_DATA_BYTES = 2048;

/** Each store, and the one a swap test moves to and back from. */
const STORES = [
  { stem: "kv_session", name: "kv-session", serverSide: true, other: "cookie_session" },
  { stem: "cookie_session", name: "cookie-session", serverSide: false, other: "kv_session" },
];

/** The key every host starts with, and the one a rotation test moves to. */
const FIRST_KEY = randomBytes(32).toString("hex");
const NEXT_KEY = randomBytes(32).toString("hex");

const wasm = (stem) => join(WASM_DIR, `${stem}.wasm`);

for (const [what, path, make] of [
  ["the web host", WEB_HOST, "make build"],
  ["kv_session.wasm", wasm("kv_session"), "make guests"],
  ["cookie_session.wasm", wasm("cookie_session"), "make guests"],
]) {
  if (!existsSync(path)) {
    throw new Error(`${what} is missing at ${path}: run \`${make}\` first`);
  }
}
if (!existsSync(CHROMIUM)) {
  throw new Error(
    `Chromium is missing at ${CHROMIUM}: \`make test-browser\` installs Debian's chromium (or set CHROMIUM)`,
  );
}

/**
 * Starts the web host on a free port with the store `stem`; resolves once
 * it listens. `command(line)` writes an operator command to its standard
 * input and resolves with the line it answers.
 */
async function startHost(stem, extraArgs = [], cookieName = COOKIE) {
  const child = spawn(
    WEB_HOST,
    [
      "--listen", "127.0.0.1:0",
      "--cookie-name", cookieName,
      "--grace-seconds", `${GRACE}`,
      "--config", `cookie.keys=${FIRST_KEY}`,
      "--config", `session.ttl-seconds=${TTL}`,
      "--config", `session.max-data-bytes=${MAX_DATA_BYTES}`,
      ...extraArgs,
      wasm(stem),
    ],
    { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "inherit"] },
  );
  const waiting = [];
  const early = [];
  let exited = null;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const next = waiting.shift();
    if (next) next.resolve(line);
    else early.push(line);
  });
  child.on("exit", (code, signal) => {
    exited = `the web host exited (code ${code}, signal ${signal})`;
    for (const w of waiting.splice(0)) w.reject(new Error(exited));
  });
  const nextLine = () =>
    early.length > 0
      ? Promise.resolve(early.shift())
      : exited
        ? Promise.reject(new Error(exited))
        : new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  const withTimeout = (promise, what) =>
    Promise.race([
      promise,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no answer from the web host to ${what}`)), 30_000).unref(),
      ),
    ]);

  const listening = await withTimeout(nextLine(), "start-up");
  const url = listening.match(/^listening on (http:\/\/\S+)$/)?.[1];
  assert.ok(url, `the web host's first line names its address: ${listening}`);
  return {
    url,
    command: (line) => {
      child.stdin.write(`${line}\n`);
      return withTimeout(nextLine(), line);
    },
    /** Sends SIGTERM; resolves with the exit code once the host has stopped. */
    stop: async () => {
      if (exited) return null;
      const code = new Promise((resolve) => child.once("exit", (c) => resolve(c)));
      child.kill("SIGTERM");
      return withTimeout(code, "SIGTERM");
    },
  };
}

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM });
});
after(async () => {
  await browser?.close();
});

/** A fresh browser profile (no cookies) on `host`, with one page open. */
async function visitor(host) {
  const context = await browser.newContext({ baseURL: host.url });
  const page = await context.newPage();
  return { context, page };
}

/** The session cookie the browser holds, or undefined. */
async function sessionCookie(context) {
  return (await context.cookies()).find((c) => c.name === COOKIE);
}

/** Puts the session cookie `value` into the browser, as the web host would. */
async function plantCookie(context, value) {
  await context.addCookies([
    { name: COOKIE, value, domain: "127.0.0.1", path: "/", secure: true, httpOnly: true, sameSite: "Lax" },
  ]);
}

/** A second visitor who presents the cookie value `value` (a copied or stolen cookie). */
async function visitorWith(host, value) {
  const v = await visitor(host);
  await plantCookie(v.context, value);
  await v.page.goto("/");
  return v;
}

/**
 * Submits the form `form` and waits for the page it leads to to load (the
 * URL stays `/` through the POST's redirect, so waiting for it would not wait).
 */
async function submit(page, form) {
  await Promise.all([page.waitForEvent("load"), page.click(`${form} button`)]);
}

/**
 * Submits the form `form`, its CSRF token first replaced by `token` when
 * one is given (null removes it), and resolves with the POST's response
 * once the page it leads to has loaded.
 */
async function post(page, form, token) {
  if (token !== undefined) {
    await page.evaluate(
      ([selector, value]) => {
        const input = document.querySelector(`${selector} input[name=csrf]`);
        if (value === null) input.remove();
        else input.value = value;
      },
      [form, token],
    );
  }
  const path = await page.getAttribute(form, "action");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === path),
    submit(page, form),
  ]);
  return response;
}

async function signIn(page, user) {
  await page.fill("#login input[name=user]", user);
  await submit(page, "#login");
}

/** A fresh visitor on `host`, signed in as `name`. */
async function signedIn(host, name) {
  const v = await visitor(host);
  await v.page.goto("/");
  await signIn(v.page, name);
  return v;
}

const visits = async (page) => page.textContent("#visits");
const user = async (page) => page.textContent("#user");
const noteOn = async (page) => page.inputValue("#note textarea");

for (const store of STORES) {
  describe(`${store.name} behind the web host, in Chromium`, { timeout: 300_000 }, () => {
    let host;
    before(async () => {
      host = await startHost(store.stem);
    });
    after(async () => {
      assert.equal(await host?.stop(), 0, "SIGTERM stops the web host, exit code 0");
    });

    it("hands out the session cookie with OWASP's attributes and finds the session again", async () => {
      const { context, page } = await visitor(host);
      const response = await page.goto("/");
      assert.equal(response.status(), 200);
      assert.equal(response.headers()["cache-control"], "no-store");
      assert.equal(response.headers()["content-security-policy"], "frame-ancestors 'none'");
      assert.equal(response.headers()["x-frame-options"], "DENY");
      assert.equal(response.headers()["x-content-type-options"], "nosniff");
      assert.equal(response.headers()["referrer-policy"], "same-origin");
      assert.equal(await visits(page), "Visits: 1");
      assert.match(await page.textContent("#store"), new RegExp(`^Store: ${store.name} `));

      const cookie = await sessionCookie(context);
      assert.ok(cookie, "the browser kept the session cookie");
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.secure, true);
      assert.equal(cookie.sameSite, "Lax");
      assert.equal(cookie.path, "/");
      assert.equal(cookie.expires, -1, "a session cookie: gone when the browser closes");
      assert.equal(await page.evaluate(() => document.cookie), "", "HttpOnly: no script sees it");

      await page.reload();
      assert.equal(await visits(page), "Visits: 2");
      await page.reload();
      assert.equal(await visits(page), "Visits: 3");
      await context.close();
    });

    it("gives a new id at sign-in and ends the session at sign-out", async () => {
      const { context, page } = await visitor(host);
      await page.goto("/");
      const anonymous = (await sessionCookie(context)).value;

      await signIn(page, "alice");
      assert.equal(await user(page), "Signed in as alice");
      assert.equal(await visits(page), "Visits: 2", "the session's data came along");
      const signedIn = (await sessionCookie(context)).value;
      assert.notEqual(signedIn, anonymous, "a new id at sign-in (against session fixation)");

      // Someone who planted or saw the pre-sign-in id:
      const fixer = await visitorWith(host, anonymous);
      assert.equal(await user(fixer.page), "Not signed in");
      if (store.serverSide) {
        assert.equal(await visits(fixer.page), "Visits: 1", "the old id leads nowhere");
      } else {
        assert.equal(await visits(fixer.page), "Visits: 2", "a stateless store's old seal lives on");
      }
      await fixer.context.close();

      await submit(page, "#logout");
      assert.equal(await user(page), "Not signed in");
      assert.equal(await visits(page), "Visits: 1", "a new session after sign-out");
      assert.notEqual((await sessionCookie(context)).value, signedIn);

      // Someone who kept a copy of the signed-in cookie:
      const thief = await visitorWith(host, signedIn);
      if (store.serverSide) {
        assert.equal(await user(thief.page), "Not signed in", "destroy revoked the session");
      } else {
        // The documented limit of a stateless store: destroy cannot revoke
        // a seal, it stays valid until it expires.
        assert.equal(await user(thief.page), "Signed in as alice");
      }
      await thief.context.close();
      await context.close();
    });

    it("answers a form body past the server's limit with its own 413 page, the session as it was", async () => {
      const { context, page } = await signedIn(host, "ivan");
      const before = (await sessionCookie(context)).value;
      const csrf = await page.inputValue("#note input[name=csrf]");
      const answer = await page.evaluate(async ([csrf]) => {
        const body = new URLSearchParams({ csrf, note: "x".repeat(200 * 1024) });
        const r = await fetch("/note", { method: "POST", body });
        return { status: r.status, type: r.headers.get("content-type"), cache: r.headers.get("cache-control"), text: await r.text() };
      }, [csrf]);
      assert.equal(answer.status, 413);
      assert.match(answer.type, /^text\/html/);
      assert.equal(answer.cache, "no-store");
      assert.match(answer.text, /too large for a session here/);
      assert.equal((await sessionCookie(context)).value, before);
      await page.reload();
      assert.equal(await user(page), "Signed in as ivan");
      await context.close();
    });

    it("starts an empty session when another user signs in on the same browser", async () => {
      const { context, page } = await signedIn(host, "erin");
      await page.fill("#note textarea", "erin's own note");
      await submit(page, "#note");
      const erins = (await sessionCookie(context)).value;
      // The page offers no sign-in form while someone is signed in; one
      // posted anyway (an old tab) with this session's token signs the new
      // user in, from nothing.
      await page.evaluate(() => {
        const form = document.querySelector("#logout");
        form.setAttribute("action", "/login");
        form.insertAdjacentHTML("afterbegin", '<input name="user" value="frank">');
      });
      const response = await post(page, "#logout");
      assert.equal(response.status(), 303);
      assert.equal(await user(page), "Signed in as frank");
      assert.equal(await noteOn(page), "", "erin's note is not frank's to see");
      assert.equal(await visits(page), "Visits: 1");
      assert.notEqual((await sessionCookie(context)).value, erins, "a new id for the new user");
      await context.close();
    });

    it("refuses a form from a session that is gone, and a reload starts a new one", async () => {
      const { context, page } = await visitor(host);
      await page.goto("/");
      await context.clearCookies();
      await page.fill("#login input[name=user]", "grace");
      const response = await post(page, "#login");
      assert.equal(response.status(), 403);
      await page.goto("/");
      assert.equal(await user(page), "Not signed in");
      assert.equal(await visits(page), "Visits: 1");
      await signIn(page, "grace");
      assert.equal(await user(page), "Signed in as grace");
      await context.close();
    });

    it("refuses a form without its session's CSRF token, and draws a new token at sign-in", async () => {
      const { context, page } = await visitor(host);
      await page.goto("/");
      const anonymous = await page.inputValue("#login input[name=csrf]");
      assert.match(anonymous, /^[A-Za-z0-9_-]{22}$/, "128 random bits");
      await signIn(page, "kim");
      const token = await page.inputValue("#note input[name=csrf]");
      assert.notEqual(token, anonymous, "a new token at sign-in");
      assert.equal(await page.inputValue("#logout input[name=csrf]"), token, "one token per session");

      // No token, a made-up one, and the one from before the sign-in.
      for (const forged of [null, "forged", anonymous]) {
        await page.fill("#note textarea", "forged note");
        const response = await post(page, "#note", forged);
        assert.equal(response.status(), 403, `token ${forged}`);
        assert.match(await page.textContent("#error"), /does not carry the token of your session/);
        await page.goto("/");
        assert.equal(await noteOn(page), "", `token ${forged}: nothing was written`);
      }

      // Another site cannot sign the visitor out either.
      for (const forged of [null, "forged", anonymous]) {
        const response = await post(page, "#logout", forged);
        assert.equal(response.status(), 403, `token ${forged}`);
        await page.goto("/");
        assert.equal(await user(page), "Signed in as kim", `token ${forged}`);
      }
      await context.close();
    });

    it("cannot be made to drop the visitor's cookie by a form posted from another site", async () => {
      const { context, page } = await signedIn(host, "kim");
      // Another site's page that posts to the sign-out (and to the note
      // form) at once: a cross-site POST, so the browser sends no Lax
      // cookie, and the site finds no session whose token to check; yet a
      // removal cookie in its answer would be applied (it answers a
      // top-level navigation).
      for (const path of ["/logout", "/note"]) {
        await context.route("http://attacker.test/**", (route) =>
          route.fulfill({
            contentType: "text/html",
            body: `<form method="post" action="${host.url}${path}"><input name="csrf" value="x"><input name="note" value="x"></form><script>document.forms[0].submit()</script>`,
          }),
        );
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === path),
          page.goto("http://attacker.test/"),
        ]);
        assert.equal(await response.request().headerValue("cookie"), null, `${path}: the browser sent a Lax cookie cross-site`);
        assert.equal(await response.headerValue("set-cookie"), null, `${path}: a cookie set in answer to another site's form`);
        await context.unroute("http://attacker.test/**");
        // Kept (the redirect's GET of `/` re-seals a cookie-session cookie).
        assert.ok(await sessionCookie(context), `${path}: the cookie was removed`);
        await page.goto("/");
        assert.equal(await user(page), "Signed in as kim", path);
      }
      await context.close();
    });

    it("is not shown inside another site's frame", async () => {
      const { context, page } = await signedIn(host, "kim");
      // Another site served from this machine (`localhost` is not the site
      // `127.0.0.1`; a page from the internet, or one the test fulfilled,
      // may not frame a local address at all, which would leave nothing
      // to test).
      const attacker = createServer((_, res) => {
        res.setHeader("content-type", "text/html");
        res.end(`<iframe src="${host.url}/"></iframe>`);
      });
      await new Promise((resolve) => attacker.listen(0, "127.0.0.1", resolve));
      try {
        const [framed] = await Promise.all([
          page.waitForResponse((r) => r.url() === `${host.url}/`),
          page.goto(`http://localhost:${attacker.address().port}/`),
        ]);
        assert.equal(framed.status(), 200, "the server answered the frame's request");
        await page.waitForLoadState("load");
        const frame = page.frames().find((f) => f !== page.mainFrame());
        assert.ok(frame, "the attacker's page has its frame");
        // Any page of the site (in the frame the browser sends no Lax
        // cookie, so it would be an anonymous one) shows its store.
        assert.equal(await frame.locator("#store").count(), 0, "the site's page shown in the frame");
      } finally {
        attacker.close();
      }
      await context.close();
    });

    it("refuses a sign-in without its session's CSRF token, whatever the name", async () => {
      const { context, page } = await visitor(host);
      await page.goto("/");
      const token = await page.inputValue("#login input[name=csrf]");
      for (const [forged, name] of [[null, "mallory"], ["forged", "mallory"], [`${token}x`, "mallory"], [null, "not a name!"]]) {
        await page.fill("#login input[name=user]", name);
        const response = await post(page, "#login", forged);
        assert.equal(response.status(), 403, `token ${forged}, name ${name}`);
        await page.goto("/");
        assert.equal(await user(page), "Not signed in", `token ${forged}`);
      }
      await context.close();
    });

    it("keeps a note exactly as typed, and refuses one too large without losing the session", async () => {
      const { context, page } = await signedIn(host, "carol");
      // Starts with a newline (the one HTML drops after <textarea>), tries
      // to close the textarea, holds an entity and text outside ASCII.
      const note = `\n</textarea><b id="injected">x</b>&amp; "q" ü ${"🙂".repeat(3)}`;
      await page.fill("#note textarea", note);
      await submit(page, "#note");
      assert.equal(await page.inputValue("#note textarea"), note);
      assert.equal(await page.locator("#injected").count(), 0, "the note is text, not markup");
      await page.reload();
      assert.equal(await page.inputValue("#note textarea"), note, "and stays the same when shown again");
      const before = (await sessionCookie(context)).value;

      await page.fill("#note textarea", "x".repeat(MAX_DATA_BYTES + 100));
      const response = await post(page, "#note");
      assert.equal(response.status(), 413);
      assert.equal(await response.headerValue("set-cookie"), null, "no new cookie: nothing was written");
      assert.match(await page.textContent("#error"), /The note was not kept: .*too large/i);
      assert.equal((await sessionCookie(context)).value, before, "the cookie was not replaced");

      await page.goto("/");
      assert.equal(await user(page), "Signed in as carol");
      assert.equal(await page.inputValue("#note textarea"), note, "the old note is kept");
      await context.close();
    });

    it("shows the page, the visit uncounted, to a session one more visit no longer fits", async () => {
      const { context, page } = await signedIn(host, "mallory");
      while ((await visits(page)) !== "Visits: 9") await page.reload();
      // A note that fills the session to its last byte at nine visits (the
      // data is the JSON object the web host writes, keys in order): the
      // visit the note's redirect makes would take a tenth digit.
      const csrf = await page.inputValue("#note input[name=csrf]");
      const size = JSON.stringify({ csrf, note: "", visits: 9 }).length;
      const note = "x".repeat(MAX_DATA_BYTES - size);
      await page.fill("#note textarea", note);
      const response = await post(page, "#note");
      assert.equal(response.status(), 303, "the note fits");
      assert.match(await page.textContent("#error"), /This visit was not counted: .*too large/i);
      assert.equal(await visits(page), "Visits: 9");
      assert.equal(await noteOn(page), note);
      assert.equal(await user(page), "Signed in as mallory");

      // From that page the visitor can still make room, and visits count again.
      await page.fill("#note textarea", "short");
      await submit(page, "#note");
      assert.equal(await page.locator("#error").count(), 0);
      assert.equal(await visits(page), "Visits: 10");
      assert.equal(await noteOn(page), "short");
      await context.close();
    });

    it("starts a new session for a tampered or foreign cookie, never an error page", async () => {
      const { context, page } = await signedIn(host, "dave");
      const value = (await sessionCookie(context)).value;

      // Another site's cookie on this host with text outside ASCII does
      // not hide the session cookie.
      await context.addCookies([{ name: "theme", value: "dunkelgrün", domain: "127.0.0.1", path: "/" }]);
      await page.reload();
      assert.equal(await user(page), "Signed in as dave");

      const middle = Math.floor(value.length / 2);
      const flipped = value.slice(0, middle) + (value[middle] === "A" ? "B" : "A") + value.slice(middle + 1);
      for (const forged of [flipped, value.slice(0, -1), `${value}A`, "not-a-session-id", "x".repeat(3000)]) {
        const other = await visitor(host);
        await plantCookie(other.context, forged);
        const response = await other.page.goto("/");
        assert.equal(response.status(), 200, `forged cookie ${forged.slice(0, 40)}`);
        assert.equal(await user(other.page), "Not signed in");
        assert.equal(await visits(other.page), "Visits: 1");
        assert.notEqual((await sessionCookie(other.context)).value, forged, "the forged cookie was replaced");
        await other.context.close();
      }
      await context.close();
    });

    it("keeps the visitor signed in while the operator swaps the store and back", async () => {
      const { context, page } = await signedIn(host, "erin");
      assert.equal(await visits(page), "Visits: 2");
      await page.fill("#note textarea", "kept across swaps");
      await submit(page, "#note");
      assert.equal(await visits(page), "Visits: 3");
      const onFirst = (await sessionCookie(context)).value;

      assert.match(await host.command("swap /nonexistent/store.wasm"), /^swap failed, store unchanged: /);
      await page.reload();
      assert.equal(await visits(page), "Visits: 4", "a failed swap changes nothing");

      const other = STORES.find((s) => s.stem === store.other);
      assert.match(await host.command(`swap ${wasm(other.stem)}`), new RegExp(`^swapped to ${other.name} `));
      await page.reload();
      assert.match(await page.textContent("#store"), new RegExp(`^Store: ${other.name} `));
      assert.equal(await user(page), "Signed in as erin", "migrated, not logged out");
      assert.equal(await visits(page), "Visits: 5");
      assert.equal(await page.inputValue("#note textarea"), "kept across swaps");
      const onSecond = (await sessionCookie(context)).value;
      assert.notEqual(onSecond, onFirst, "the browser now holds the new store's id");

      assert.match(await host.command(`swap ${wasm(store.stem)}`), new RegExp(`^swapped to ${store.name} `));
      await page.reload();
      assert.match(await page.textContent("#store"), new RegExp(`^Store: ${store.name} `));
      assert.equal(await user(page), "Signed in as erin");
      assert.equal(await visits(page), "Visits: 6");
      assert.equal(await page.inputValue("#note textarea"), "kept across swaps");

      await submit(page, "#logout");
      assert.equal(await user(page), "Not signed in");
      await context.close();
    });

    it("refuses a swap with a bad setting, naming it without echoing it, and serves on", async () => {
      const { context, page } = await signedIn(host, "heidi");
      const bad = "c2hvcnQta2V5";
      const answer = await host.command(`swap ${wasm(store.stem)} cookie.keys=${bad} session.ttl-seconds=60`);
      if (store.serverSide) {
        // kv-session ignores cookie.keys; a ttl of 60 s is a good setting.
        assert.match(answer, new RegExp(`^swapped to ${store.name} `));
      } else {
        assert.match(answer, /^swap failed, store unchanged: .*cookie\.keys/);
        assert.ok(!answer.includes(bad), `the key is not echoed: ${answer}`);
      }
      assert.match(await host.command(`swap ${wasm(store.stem)} session.ttl-seconds=soon`), /^swap failed, store unchanged: .*session\.ttl-seconds/);
      assert.match(await host.command(`swap ${wasm(store.stem)} cookie.name=other`), /^swap failed, store unchanged: cookie\.name is the server's --cookie-name/);
      await page.reload();
      assert.equal(await user(page), "Signed in as heidi");
      // Back to the settings the other tests expect (kv-session kept the
      // cookie.keys it ignores).
      assert.match(
        await host.command(`swap ${wasm(store.stem)} cookie.keys=${FIRST_KEY} session.ttl-seconds=${TTL}`),
        /^swapped to /,
      );
      await context.close();
    });

    it("refuses a swap that gives a setting twice or a key without its '=', echoing no key", async () => {
      const { context, page } = await signedIn(host, "ivan");
      const twice = await host.command(`swap ${wasm(store.stem)} cookie.keys=${NEXT_KEY} cookie.keys=${FIRST_KEY}`);
      assert.match(twice, /^swap failed, store unchanged: .*"cookie\.keys" is given more than once/);
      const pasted = await host.command(`swap ${wasm(store.stem)} cookie.keys:${NEXT_KEY}`);
      assert.match(pasted, /^swap failed, store unchanged: expected key=value, got an argument of \d+ bytes without '='$/);
      for (const answer of [twice, pasted]) {
        for (const key of [FIRST_KEY, NEXT_KEY]) {
          assert.ok(!answer.includes(key.slice(0, 16)), `no key echoed: ${answer}`);
        }
      }
      await page.reload();
      assert.equal(await user(page), "Signed in as ivan");
      await context.close();
    });

    if (!store.serverSide) {
      it("rotates keys while serving: the visitor stays signed in, the old key then opens nothing", async () => {
        const { context, page } = await signedIn(host, "ivan");
        const sealedWithFirst = (await sessionCookie(context)).value;

        // New key first, old one still listed: old seals open and are re-sealed.
        assert.match(await host.command(`swap ${wasm(store.stem)} cookie.keys=${NEXT_KEY},${FIRST_KEY}`), /^swapped to /);
        await page.reload();
        assert.equal(await user(page), "Signed in as ivan");

        // The old key removed. Until the grace period ends, a seal of it
        // still migrates through the stores swapped out; after it, nothing.
        assert.match(await host.command(`swap ${wasm(store.stem)} cookie.keys=${NEXT_KEY}`), /^swapped to /);
        await page.reload();
        assert.equal(await user(page), "Signed in as ivan", "the browser's cookie is sealed with the new key");
        const early = await visitorWith(host, sealedWithFirst);
        assert.equal(await user(early.page), "Signed in as ivan", "within the grace period it migrates");
        await early.context.close();

        assert.equal(await host.command(`advance ${GRACE + 1}`), `clock advanced ${GRACE + 1} s`);
        const late = await visitorWith(host, sealedWithFirst);
        assert.equal(await user(late.page), "Not signed in", "a seal of the removed key opens nothing");
        await late.context.close();
        await page.reload();
        assert.equal(await user(page), "Signed in as ivan", "the new key's seal still does");
        await context.close();
      });
    }

    // Last: it moves the server's clock for every later visit.
    it("finds no session once the ttl has passed", async () => {
      const { context, page } = await signedIn(host, "frank");
      const value = (await sessionCookie(context)).value;
      assert.equal(await host.command(`advance ${TTL - 60}`), `clock advanced ${TTL - 60} s`);
      await page.reload();
      assert.equal(await user(page), "Signed in as frank", "a visit slides the expiry");

      assert.equal(await host.command(`advance ${TTL + 1}`), `clock advanced ${TTL + 1} s`);
      await page.reload();
      assert.equal(await user(page), "Not signed in");
      assert.equal(await visits(page), "Visits: 1");
      assert.notEqual((await sessionCookie(context)).value, value);
      const replay = await visitorWith(host, value);
      assert.equal(await user(replay.page), "Not signed in", "an expired cookie replayed finds nothing");
      await replay.context.close();
      await context.close();
    });
  });
}

/**
 * A redis-server of this test's own on a unix socket in a fresh directory
 * (no TCP port to collide with); resolves once it answers.
 */
async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), "web-host-redis-"));
  const socket = join(dir, "redis.sock");
  const child = spawn(
    "redis-server",
    ["--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const failed = new Promise((_, reject) => {
    child.on("error", (e) =>
      reject(new Error(`redis-server did not start (${e.message}): \`make test-browser\` installs it`)),
    );
    child.on("exit", (code) => reject(new Error(`redis-server exited (code ${code})`)));
  });
  const ready = (async () => {
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(socket)) throw new Error(`redis-server made no socket at ${socket} in 5 s`);
  })();
  await Promise.race([ready, failed]);
  failed.catch(() => {}); // its exit at stop() is expected
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    url: `redis+unix://${socket}`,
    /** Stops the server; resolves once it has exited. */
    stop: () => {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
}

/** A page of the same browser (same cookie jar) on another host of the site. */
async function pageOn(context, host) {
  const page = await context.newPage();
  await page.goto(`${host.url}/`);
  return page;
}

// Two web hosts serving one site, as behind a load balancer: browsers keep
// cookies per host name, not per port, so one browser's cookie goes to both.
// kv-session shares a Redis server between them; cookie-session shares
// nothing but the key.
for (const store of STORES) {
  describe(`${store.name} on two web hosts of one site, in Chromium`, { timeout: 300_000 }, () => {
    let redis;
    let hosts = [];
    before(async () => {
      let extra = [];
      if (store.serverSide) {
        redis = await startRedis();
        extra = ["--kv", redis.url, "--kv-prefix", `web-test-${randomBytes(6).toString("hex")}:`];
      }
      hosts = [await startHost(store.stem, extra), await startHost(store.stem, extra)];
    });
    after(async () => {
      await Promise.all(hosts.map((host) => host.stop()));
      redis?.stop();
    });

    it("serves one visitor's session from either host", async () => {
      const { context, page: onA } = await visitor(hosts[0]);
      await onA.goto("/");
      assert.equal(await visits(onA), "Visits: 1");
      const onB = await pageOn(context, hosts[1]);
      assert.equal(await visits(onB), "Visits: 2", "the second host found the session");

      await signIn(onB, "judy");
      await onA.reload();
      assert.equal(await user(onA), "Signed in as judy", "signed in on B, signed in on A");
      await onA.fill("#note textarea", "written on A");
      await submit(onA, "#note");
      await onB.reload();
      assert.equal(await noteOn(onB), "written on A");
      const signedIn = (await sessionCookie(context)).value;

      await submit(onA, "#logout");
      await onB.reload();
      assert.equal(await user(onB), "Not signed in");
      const thief = await visitor(hosts[1]);
      await plantCookie(thief.context, signedIn);
      await thief.page.goto("/");
      assert.equal(
        await user(thief.page),
        store.serverSide ? "Not signed in" : "Signed in as judy",
        store.serverSide ? "signed out on A, revoked on B" : "a stateless seal stays valid until it expires",
      );
      await thief.context.close();
      await context.close();
    });
  });
}

// A store whose backend stops answering: the visitor gets a page that says
// so, without the store's error text (backend addresses, plugin names),
// which goes to the server's log instead.
describe("kv-session on a Redis server that stops, in Chromium", { timeout: 300_000 }, () => {
  let redis;
  let host;
  before(async () => {
    redis = await startRedis();
    host = await startHost("kv_session", ["--kv", redis.url, "--kv-prefix", "web-test-down:"]);
  });
  after(async () => {
    await host?.stop();
  });

  it("answers 503 with no internals on the page", async () => {
    const { context, page } = await visitor(host);
    await page.goto("/");
    assert.equal(await visits(page), "Visits: 1");
    await redis.stop();
    const response = await page.reload();
    assert.equal(response.status(), 503);
    assert.equal(response.headers()["cache-control"], "no-store");
    const shown = await page.textContent("body");
    assert.match(shown, /session store is not answering/);
    for (const internal of [/redis/i, /kv-session/, /backend/i, /\.sock/]) {
      assert.doesNotMatch(shown, internal);
    }
    await context.close();
  });
});

/**
 * Opens a TCP connection to `host`, writes `text`, and resolves with what
 * the server sent back (as text) and how long it took to close the
 * connection, giving up after 20 s.
 */
function rawExchange(host, text) {
  const { hostname, port } = new URL(host.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const started = Date.now();
    let received = "";
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open 20 s after ${JSON.stringify(text)}`));
    }, 20_000);
    socket.on("connect", () => socket.write(text));
    socket.on("data", (chunk) => (received += chunk.toString()));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ received, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/**
 * Runs the web host with exactly `args`, expecting it to refuse to start:
 * resolves with its exit code and what it wrote to stderr.
 */
function refusedStart(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(WEB_HOST, ["--listen", "127.0.0.1:0", ...args], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the web host started after all: ${stdout}`));
    }, 30_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

// A store reads its settings on first use: the host tries them before it
// listens, so a setting the store refuses stops it with the reason, not a
// server that answers every visit with a 500.
describe("the web host refusing settings at start-up", { timeout: 120_000 }, () => {
  const key = randomBytes(32).toString("hex");
  const other = randomBytes(32).toString("hex");

  for (const { what, args, reason, code = 1 } of [
    { what: "a cookie store without keys", args: [wasm("cookie_session")], reason: /cookie\.keys is not set/ },
    {
      what: "a misspelt setting",
      args: ["--config", "session.ttl-second=60", wasm("kv_session")],
      reason: /unknown configuration key "session\.ttl-second"; did you mean session\.ttl-seconds\?/,
    },
    {
      what: "a key given twice",
      args: ["--config", `cookie.keys=${key}`, "--config", `cookie.keys=${other}`, wasm("cookie_session")],
      reason: /"cookie\.keys" is given more than once/,
    },
    {
      what: "a key pasted without its '='",
      args: ["--config", `cookie.keys:${key}`, wasm("cookie_session")],
      reason: /got an argument of \d+ bytes without '='/,
      code: 2,
    },
  ]) {
    it(`stops with one line on stderr for ${what}`, async () => {
      const run = await refusedStart(args);
      assert.equal(run.code, code, run.stderr);
      assert.equal(run.stdout, "", "it never said it listens");
      assert.match(run.stderr, reason);
      if (code === 1) assert.match(run.stderr, /^web_host: [^\n]*\n$/);
      for (const k of [key, other]) assert.ok(!run.stderr.includes(k.slice(0, 16)), run.stderr);
    });
  }
});

// Clients that connect and send slowly, or nothing, must not hold a
// connection (and its memory) open at will: a deadline for the headers
// (and for an idle connection), one for the whole request, body included.
describe("the web host against slow clients", { timeout: 120_000 }, () => {
  let host;
  before(async () => {
    host = await startHost("kv_session", ["--header-timeout-seconds", "1", "--request-timeout-seconds", "2"]);
  });
  after(async () => {
    await host?.stop();
  });

  it("closes a connection that sends nothing, or headers that never end", async () => {
    for (const text of ["", "GET / HTTP/1.1\r\nHost: x\r\n"]) {
      const { received, seconds } = await rawExchange(host, text);
      assert.equal(received, "", JSON.stringify(text));
      assert.ok(seconds >= 0.5, `closed after ${seconds} s`);
    }
  });

  it("answers 408 to a request whose body never arrives", async () => {
    const head =
      "POST /note HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n";
    const { received } = await rawExchange(host, `${head}note=x`);
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.match(received, /This request took too long/);
  });

  it("stops at SIGTERM even with every connection slot held by an idle client", async () => {
    const full = await startHost("kv_session", ["--max-connections", "1", "--header-timeout-seconds", "600"]);
    const { hostname, port } = new URL(full.url);
    const idle = connect({ host: hostname, port: Number(port) });
    await new Promise((resolve, reject) => idle.on("connect", resolve).on("error", reject));
    try {
      // Within the 30 s startHost allows, not the idle client's 600.
      assert.equal(await full.stop(), 0);
    } finally {
      idle.destroy();
    }
  });

  it("frees the slot of a client that sends requests and never reads the answers", async () => {
    const full = await startHost("kv_session", [
      "--max-connections", "1",
      "--send-timeout-seconds", "1",
      "--header-timeout-seconds", "600",
      "--request-timeout-seconds", "600",
    ]);
    const { hostname, port } = new URL(full.url);
    const deaf = connect({ host: hostname, port: Number(port) });
    deaf.on("error", () => {}); // reset by the server: what the test wants
    try {
      await new Promise((resolve, reject) => deaf.on("connect", resolve).on("error", reject));
      deaf.pause();
      // About 20 MB of answers: more than the sockets' buffers take, so
      // the server's writes wait on this client.
      deaf.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20_000));
      const { received } = await rawExchange(full, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assert.match(received, /^HTTP\/1\.1 200 OK/);
    } finally {
      deaf.destroy();
      await full.stop();
    }
  });

  it("sends the security headers with every answer, a 404 and a 405 too", async () => {
    for (const [line, status] of [["GET /no-such-page", 404], ["GET /logout", 405], ["GET /", 200]]) {
      const { received } = await rawExchange(host, `${line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const head = `${received.split("\r\n\r\n")[0].toLowerCase()}\r\n`;
      assert.match(head, new RegExp(`^http/1\\.1 ${status} `), line);
      for (const header of [
        "cache-control: no-store",
        "content-security-policy: frame-ancestors 'none'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "referrer-policy: same-origin",
      ]) {
        assert.ok(head.includes(`\r\n${header}\r\n`), `${line}: no ${header} in\n${head}`);
      }
    }
  });

  it("still serves a whole request at once, on the same connection again", async () => {
    const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const { received } = await rawExchange(host, `${get}${get}`);
    assert.equal(received.match(/HTTP\/1\.1 200 OK/g)?.length, 2, received.slice(0, 200));
  });
});

// Under a plain cookie name (no `__Host-` prefix) another host of the
// domain can plant a second cookie of the name for a more specific path,
// which the browser then sends first. Only a server-side store can end a
// session, so only it shows which one a sign-out ended.
for (const store of STORES.filter((s) => s.serverSide)) {
  describe(`${store.name} under a plain cookie name, in Chromium`, { timeout: 300_000 }, () => {
    let host;
    before(async () => {
      host = await startHost(store.stem, [], "sid");
    });
    after(() => host?.stop());

    /** A session of the attacker's own, its cookie value and its token. */
    async function attackerSession() {
      const attacker = await visitor(host);
      await attacker.page.goto("/");
      const value = (await attacker.context.cookies()).find((c) => c.name === "sid").value;
      const token = await attacker.page.inputValue("#login input[name=csrf]");
      await attacker.context.close();
      return { value, token };
    }

    /** Whether the session cookie value `value` is still signed in, seen from a fresh browser. */
    async function stillSignedIn(value) {
      const v = await visitor(host);
      await v.context.addCookies([{ name: "sid", value, domain: "127.0.0.1", path: "/" }]);
      await v.page.goto("/");
      const signedIn = (await user(v.page)).startsWith("Signed in");
      await v.context.close();
      return signedIn;
    }

    it("ends only the session whose token the sign-out form carries", async () => {
      const planted = await attackerSession();
      const { context, page } = await signedIn(host, "olivia");
      const hers = (await context.cookies()).find((c) => c.name === "sid").value;
      await context.addCookies([{ name: "sid", value: planted.value, domain: "127.0.0.1", path: "/logout" }]);
      // Posted with the planted session's token; the browser sends
      // `sid=<planted>; sid=<hers>`.
      await post(page, "#logout", planted.token);
      assert.ok(await stillSignedIn(hers), "her session was not the form's to end");
      await context.close();
    });

    it("signs the visitor out with her own form despite a planted cookie sent first", async () => {
      const planted = await attackerSession();
      const { context, page } = await signedIn(host, "peggy");
      const hers = (await context.cookies()).find((c) => c.name === "sid").value;
      await context.addCookies([{ name: "sid", value: planted.value, domain: "127.0.0.1", path: "/logout" }]);
      const response = await post(page, "#logout");
      assert.equal(response.status(), 303, "her token matched her session, not the first one sent");
      assert.ok(!(await stillSignedIn(hers)), "her session ended");
      await context.close();
    });
  });
}
