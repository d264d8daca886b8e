//! `exercise`: walk each plugin through every operation on a movable clock and
//! print one table per plugin.

use crate::shown::terminal_safe;
use crate::table::{Table, micros, short_id};
use crate::{Failure, load};
use host_harness::{
    CallError, Clock, CreateOptions, Harness, HarnessBuilder, ManualClock, Plugin, SessionRecord,
    encode_data_map,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far the exercise moves the clock past the ttl-1 sessions' creation:
/// a minute past their expiry, when `purge-expired` may remove them.
const LATER_SECS: u64 = 61;

/// Any success is the expected outcome.
fn ok<T>(r: &Result<T, CallError>) -> bool {
    r.is_ok()
}

/// One step's outcome as a cell.
fn describe<T>(r: &Result<T, CallError>, ok: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("error: {e}"),
    }
}

/// A loaded record as a cell, its expiry counted from `now`.
fn record(r: &Option<SessionRecord>, now: u64) -> String {
    match r {
        None => "none".to_string(),
        Some(r) => format!(
            "{} user={} data={} expires in {}s",
            short_id(&r.id),
            r.user_id.as_deref().unwrap_or("-"),
            r.data,
            r.expires_at.saturating_sub(now)
        ),
    }
}

struct Steps {
    table: Table,
    failures: usize,
}

impl Steps {
    /// A `destroy` step, which is expected to succeed.
    fn destroy(&mut self, p: &Plugin, what: &str, id: &str) {
        let _ = self.step("destroy", what, || p.destroy(id), |_| "ok".to_string(), ok);
    }

    /// Times `f` (one call), records the row, and counts an unexpected
    /// outcome.
    fn step<T>(
        &mut self,
        op: &str,
        what: &str,
        f: impl FnOnce() -> Result<T, CallError>,
        show: impl Fn(&T) -> String,
        expected: impl Fn(&Result<T, CallError>) -> bool,
    ) -> Result<T, CallError> {
        self.step_of(op, what, 1, f, show, expected)
    }

    /// [`Steps::step`] for an `f` that makes `calls` calls: the latency
    /// shown is that of each (the mean), as on every other row.
    fn step_of<T>(
        &mut self,
        op: &str,
        what: &str,
        calls: u32,
        f: impl FnOnce() -> Result<T, CallError>,
        show: impl Fn(&T) -> String,
        expected: impl Fn(&Result<T, CallError>) -> bool,
    ) -> Result<T, CallError> {
        let started = Instant::now();
        let r = f();
        let took = started.elapsed() / calls.max(1);
        let good = expected(&r);
        if !good {
            self.failures += 1;
        }
        self.table.row(vec![
            op.to_string(),
            what.to_string(),
            describe(&r, show),
            micros(took),
            if good { "ok" } else { "UNEXPECTED" }.to_string(),
        ]);
        r
    }
}

pub(crate) fn run(
    builder: HarnessBuilder,
    wasm: &[PathBuf],
    config: &[(String, String)],
) -> Result<(), Failure> {
    let clock = ManualClock::starting_now();
    let harness = builder.clock(Arc::new(clock.clone())).build()?;
    // The absolute cap a `touch` cannot pass, when the run sets one.
    // (A key given twice fails the loads below.)
    let max_lifetime = crate::setting(config, "session.max-lifetime-seconds")
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Every plugin loads before the first is exercised: a bad path or file
    // is found now, not after the tables of those before it.
    let mut loaded = Vec::with_capacity(wasm.len());
    for path in wasm {
        let started = Instant::now();
        let p = load(&harness, path, config)?;
        let load_time = started.elapsed();
        // A store reads its configuration on first use: one it refuses (a
        // misspelt key, no cookie.keys) is the command line's mistake (exit
        // 2), said once rather than as a table of failed steps. Any other
        // failure is left for the table to show.
        crate::refuse_refused_config(&p)?;
        let [created, _] = walk_data();
        crate::refuse_limits_below(&p, "exercise", &created, WALK_USER)?;
        loaded.push((path, p, load_time));
    }
    // A plugin that fails does not keep the others from being exercised.
    let mut failures = 0;
    for (path, p, load_time) in loaded {
        failures += exercise_one(&harness, &clock, path, p, load_time, max_lifetime);
    }
    if failures > 0 {
        return Err(Failure::Other(anyhow::anyhow!(
            "{failures} step(s) did not behave as the contract says"
        )));
    }
    Ok(())
}

fn exercise_one(
    harness: &Harness,
    clock: &ManualClock,
    path: &Path,
    p: Plugin,
    load_time: Duration,
    max_lifetime: Option<u64>,
) -> usize {
    // The library hands a plugin's name and version on escaped; the path
    // is the caller's.
    let info = p.info().clone();
    say!(
        "\n== {} {} from {} (server-side: {}; kv: {}; loaded in {:.1} ms)",
        info.name,
        info.version,
        terminal_safe(&path.display().to_string()),
        info.server_side,
        harness.kv_backend().name(),
        load_time.as_secs_f64() * 1e3
    );
    let mut s = Steps {
        table: Table::new(&["operation", "what", "result", "latency", "check"]),
        failures: 0,
    };
    // A failed step still shows the table up to it.
    let walked = walk(&p, clock, max_lifetime, &mut s);
    say!("{}", s.table.render());
    let stats = p.stats();
    say!(
        "instances created: {}, discarded: {}, idle now: {}",
        stats.instantiations,
        stats.discarded,
        stats.idle
    );
    // The failed step is in the table; the steps after it needed its id.
    if walked.is_err() {
        say!("stopped after the failed step: the steps after it need its session");
    }
    s.failures
}

/// The ttl the walk's `touch` gives.
const TOUCH_TTL: u64 = 600;

/// Every operation in turn; stops at a step whose id the next steps need.
/// The clock stands still until the expiry steps, so expiries are exact:
/// after `touch`, `now + 600` (or the absolute cap, when `max_lifetime` is
/// configured and comes first).
/// The user id the walk's `update` logs in.
const WALK_USER: &str = "alice";

/// The session data the walk writes: at `create` (the longest), then at
/// `update` (besides `{}`).
fn walk_data() -> [String; 2] {
    [
        encode_data_map([("cart", "3 items"), ("theme", "dark")]),
        encode_data_map([("cart", "4 items")]),
    ]
}

fn walk(
    p: &Plugin,
    clock: &ManualClock,
    max_lifetime: Option<u64>,
    s: &mut Steps,
) -> Result<(), CallError> {
    let record = |r: &Option<SessionRecord>| record(r, clock.now_secs());
    let id_of = |id: &String| short_id(id);

    let _ = s.step(
        "info",
        "describe the plugin",
        || p.fetch_info(),
        |i| format!("{} {}", i.name, i.version),
        ok,
    );
    let [data, logged_in] = walk_data();
    let id = s.step(
        "create",
        "anonymous session",
        || p.create(CreateOptions::new(data.clone())),
        id_of,
        ok,
    )?;
    let _ = s.step(
        "load",
        "the new session",
        || p.load(&id),
        record,
        |r| matches!(r, Ok(Some(rec)) if rec.data == data),
    );
    let id = s.step(
        "update",
        "log alice in, new data",
        || p.update(&id, &logged_in, Some(WALK_USER)),
        id_of,
        ok,
    )?;
    let _ = s.step(
        "load",
        "after update",
        || p.load(&id),
        record,
        |r| matches!(r, Ok(Some(rec)) if rec.user_id.as_deref() == Some(WALK_USER)),
    );
    let id = s.step(
        "touch",
        "slide expiry, ttl 600 s",
        || p.touch(&id, Some(TOUCH_TTL)),
        id_of,
        ok,
    )?;
    let slid = clock.now_secs() + TOUCH_TTL;
    let expiry =
        |created_at: u64| max_lifetime.map_or(slid, |cap| slid.min(created_at.saturating_add(cap)));
    let _ = s.step(
        "load",
        "after touch: expires in 600 s",
        || p.load(&id),
        record,
        |r| matches!(r, Ok(Some(rec)) if rec.data == logged_in && rec.expires_at == expiry(rec.created_at)),
    );
    let new_id = s.step(
        "regenerate",
        "new id, same data",
        || p.regenerate(&id),
        id_of,
        // A new id, on a stateless store too (a fresh seal).
        |r| matches!(r, Ok(n) if *n != id),
    )?;
    let server_side = p.info().server_side;
    let _ = s.step(
        "load",
        "the old id after regenerate",
        || p.load(&id),
        record,
        // A stateless store cannot revoke a seal: the old one still opens.
        |r| {
            if server_side {
                matches!(r, Ok(None))
            } else {
                matches!(r, Ok(Some(rec)) if rec.data == logged_in)
            }
        },
    );
    let _ = s.step(
        "load",
        "the new id",
        || p.load(&new_id),
        record,
        |r| matches!(r, Ok(Some(rec)) if rec.data == logged_in),
    );
    s.destroy(p, "the session", &new_id);
    let _ = s.step(
        "load",
        "after destroy",
        || p.load(&new_id),
        record,
        // Nor a destroyed one: destroy only checks the seal, which still
        // opens, with the session in it.
        |r| {
            if server_side {
                matches!(r, Ok(None))
            } else {
                matches!(r, Ok(Some(rec)) if rec.data == logged_in)
            }
        },
    );
    s.destroy(p, "again (idempotent)", &new_id);
    let short = s.step_of(
        "create",
        "3 with ttl 1 s; latency each",
        3,
        || {
            (0..3)
                .map(|_| p.create(CreateOptions::new("{}").ttl(1)))
                .collect::<Result<Vec<_>, _>>()
        },
        |ids| match ids.first() {
            Some(first) => format!("{} and {} more", short_id(first), ids.len() - 1),
            None => "none".to_string(),
        },
        |r| matches!(r, Ok(ids) if ids.iter().collect::<std::collections::BTreeSet<_>>().len() == ids.len()),
    )?;
    let long = s.step(
        "create",
        "one with ttl 3600 s",
        || p.create(CreateOptions::new("{}").ttl(3600)),
        id_of,
        ok,
    )?;
    // A minute past their expiry: purge-expired leaves records expired for
    // less (kv-session's clock-skew tolerance).
    clock.advance(Duration::from_secs(LATER_SECS));
    let _ = s.step(
        "load",
        "a ttl-1 session, 61 s later",
        || p.load(&short[0]),
        record,
        |r| matches!(r, Ok(None)),
    );
    // The ttl-3600 session outlived the 61 s, unless the absolute cap did
    // not let it.
    let live = u64::from(max_lifetime.is_none_or(|cap| cap > LATER_SECS));
    // The three ttl-1 sessions are expired, and the ttl-3600 one too when
    // the cap ended it (a server-side store may have reaped some already: a
    // backend that expires on the real clock, as Redis does, still holds
    // them all); a stateless store holds nothing to purge.
    let expired = 3 + u64::from(live == 0);
    let _ = s.step(
        "purge-expired",
        "remove expired records",
        || p.purge_expired(),
        |n| format!("removed {n}"),
        |r| {
            if server_side {
                matches!(r, Ok(n) if *n <= expired)
            } else {
                matches!(r, Ok(0))
            }
        },
    );
    let _ = s.step(
        "count",
        "live sessions",
        || p.count(),
        |n| n.to_string(),
        |r| {
            if server_side {
                matches!(r, Ok(n) if *n == live)
            } else {
                matches!(
                    r,
                    Err(CallError::Session(host_harness::SessionError::Unsupported(
                        _
                    )))
                )
            }
        },
    );
    s.destroy(p, "the ttl-3600 session", &long);
    Ok(())
}
