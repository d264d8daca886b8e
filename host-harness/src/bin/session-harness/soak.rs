//! `soak`: worker threads run create/load/update/regenerate/destroy (checking
//! that the ids regenerate and destroy ended are gone, where a store can end
//! them) against a swappable store while another thread swaps between
//! plugins, then one line:
//! `ops=<n> failed=<n> swaps=<n> migrated=<n>`.
//!
//! A swap the store refuses (its check failed) is a failure and the run goes
//! on against the old store. A plugin file that no longer loads at its swap
//! ends the run: the workers stop, the line is printed, then the load error
//! (exit code 2).

use crate::{Failure, load};
use anyhow::anyhow;
use clap::Args;
use host_harness::setting::SettingParser;
use host_harness::{
    CallError, CreateOptions, EngineSettings, HarnessBuilder, Limits, LoadOptions, Plugin,
    SessionError, SessionRecord, SwapError, SwapOptions, SwappableStore,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `soak`.
#[derive(Args)]
pub(crate) struct SoakArgs {
    /// The plugins to swap between, comma-separated (the first starts active).
    #[arg(long, value_delimiter = ',', required = true, value_parser = plugin_path)]
    plugins: Vec<PathBuf>,
    /// Worker threads (1 to 256, and at most 16 per CPU). The engine gets
    /// instance slots for them; with more threads than CPUs, each call's
    /// deadline (and so the cap on its wall time) is the default times the
    /// threads per CPU, so a call waiting for a CPU is not a failure.
    #[arg(
        long,
        default_value_t = 2,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    threads: u16,
    /// How long to run, in seconds (fractions allowed).
    #[arg(long, default_value = "5", allow_negative_numbers = true, value_parser = parse_seconds)]
    seconds: Duration,
    /// Swaps spread evenly over the run, at most 10,000 (each loads and
    /// checks a plugin: every one is made, however long they take).
    #[arg(long, default_value_t = 10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(..=MAX_SWAPS))]
    swaps: u64,
    /// A `wasi:config` setting for every plugin, `key=value` (repeatable).
    #[arg(long = "config", value_parser = SettingParser)]
    config: Vec<(String, String)>,
}

/// A positive, finite duration in seconds (fractions allowed).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!(
            "{text:?} is not a positive, finite number of seconds"
        ));
    }
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("{text:?} seconds is shorter than a nanosecond")),
        Err(_) => Err(format!("{text:?} seconds is longer than a run can be")),
    }
}

/// Most workers per CPU: with many more (on 2 CPUs, 256 workers) a call
/// can wait for a CPU past the cap on its wall time (five of its scaled
/// deadlines), and a correct store then fails operations.
const MAX_THREADS_PER_CPU: usize = 16;

/// Instance slots for a run of `threads` workers.
///
/// The engine's slots are shared by every plugin of the harness, and an idle
/// pooled instance keeps its slot: the default 256 is not enough for 256
/// workers (instantiation then fails with no fault in any store). A run needs
/// one slot per call in flight (one per worker, and the swapping thread's
/// check), the idle instances of the active plugin and of one being swapped
/// in or out (at most `max_idle_instances`, rounded up to the pool's 8
/// shards, each), and those of the retired plugins (at most
/// `max_retired`, one idle instance per shard each): 48 + 64 with the
/// defaults. Busy slots are counted twice, for headroom, and never fewer
/// than the default are asked for. A slot costs address space, not memory:
/// the pooling allocator reserves (unbacked, `PROT_NONE`) 4 GiB plus a
/// 32 MiB guard per linear-memory slot, 4 per instance slot, so 256 workers
/// (626 slots) reserve about 10 TiB of the 128 TiB a 64-bit Linux process
/// has, against about 4 TiB for the default 256.
fn instance_slots(threads: u16) -> u32 {
    /// The instance pool's shards (see `Limits::max_idle_instances`).
    const SHARDS: u32 = 8;
    let per_plugin = u32::try_from(Limits::default().max_idle_instances)
        .unwrap_or(u32::MAX)
        .div_ceil(SHARDS)
        .saturating_mul(SHARDS);
    let retired = u32::try_from(SwapOptions::default().max_retired)
        .unwrap_or(u32::MAX)
        .saturating_mul(SHARDS);
    let idle = per_plugin.saturating_mul(3).saturating_add(retired);
    let busy = (u32::from(threads) + 1).saturating_mul(2);
    busy.saturating_add(idle)
        .max(EngineSettings::default().max_instances)
}

/// The plugins' limits for a run of `threads` workers on `cpus` CPUs.
///
/// A call's deadline is the CPU time of its thread, but its wall time is
/// capped at five deadlines (so a guest looping on slow kv calls still
/// stops), and with many more workers than CPUs a call can wait for a CPU
/// past even that. So each call gets the default deadline
/// once per worker sharing a CPU (`ceil(threads / cpus)` times it), up to
/// [`MAX_SCALED_DEADLINE`]; with no more workers than CPUs the limits are
/// the defaults.
fn soak_limits(threads: u16, cpus: usize) -> Limits {
    let defaults = Limits::default();
    let share = usize::from(threads).div_ceil(cpus.max(1)).max(1);
    let share = u32::try_from(share).unwrap_or(u32::MAX);
    let scaled = |d: Duration| d.saturating_mul(share).min(MAX_SCALED_DEADLINE).max(d);
    Limits {
        call_deadline: scaled(defaults.call_deadline),
        maintenance_deadline: scaled(defaults.maintenance_deadline),
        ..defaults
    }
}

/// The longest deadline soak scales a call to: the harness's longest
/// default (maintenance calls, 5 s). A session call's CPU deadline stays
/// under the 10 s a swap waits for calls still running on a replaced
/// store; its wall time may pass that only on a machine so short of CPUs
/// that the move it delays is the least of its troubles.
const MAX_SCALED_DEADLINE: Duration = Duration::from_secs(5);

/// Unexpected outcomes, with the first few messages kept for the report.
#[derive(Default)]
struct Failures {
    count: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Failures {
    fn record(&self, what: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first.lock()
            && first.len() < 5
        {
            first.push(what);
        }
    }
}

/// A load's answer as a step outcome: the id to hold when the session is
/// live with the expected data and user (none: anonymous).
fn live(
    answer: Result<Option<SessionRecord>, CallError>,
    data: &str,
    user: Option<&str>,
) -> Result<String, String> {
    match answer {
        Ok(Some(r)) if r.data == data && r.user_id.as_deref() == user => Ok(r.id),
        other => Err(format!("{other:?}")),
    }
}

/// A load of an id the round ended (by `regenerate` or `destroy`) as a step
/// outcome: it must answer no session when `checkable`, that is when the
/// plugin serving at the start of the round keeps sessions server-side and
/// still serves after the load. A stateless store cannot end a seal, and
/// after a swap another store may answer (a kv id is `invalid-id` to a
/// cookie store, a seal moved into a kv store lives on under a new id), so
/// then a session or `invalid-id` passes too. A fault (a trap, a deadline,
/// a backend error, a retired store failing) never does.
fn ended(
    answer: Result<Option<SessionRecord>, CallError>,
    checkable: bool,
) -> Result<String, String> {
    match answer {
        Ok(None) => Ok(String::new()),
        Err(e) if !matches!(e, CallError::Session(SessionError::InvalidId(_))) => {
            Err(e.to_string())
        }
        _ if !checkable => Ok(String::new()),
        other => Err(format!("still answers {other:?}")),
    }
}

/// The session data of `worker`'s round `n`, and what its `update` writes:
/// other data, so a store that kept the old is seen.
fn round_data(worker: usize, n: u64) -> (String, String) {
    (
        format!(r#"{{"worker":{worker},"round":{n}}}"#),
        format!(r#"{{"worker":{worker},"round":{n},"updated":true}}"#),
    )
}

/// Every plugin must hold the largest session a round writes ([`round_data`]
/// of the largest worker and round numbers there can be, the user id
/// `update` sets).
fn refuse_limits_below(plugin: &Plugin) -> Result<(), Failure> {
    let (_, longest) = round_data(usize::MAX, u64::MAX);
    crate::refuse_limits_below(plugin, "soak", &longest, ROUND_USER)
}

/// The user id a round's `update` sets.
const ROUND_USER: &str = "soak";

/// One round of the session life cycle; every step is one op, and the first
/// failure is recorded and ends the round.
fn round(store: &SwappableStore, worker: usize, n: u64, ops: &AtomicU64, failures: &Failures) {
    let (data, updated) = round_data(worker, n);
    let step = |what: &str, outcome: Result<String, String>| {
        ops.fetch_add(1, Ordering::Relaxed);
        outcome
            .map_err(|detail| failures.record(format!("{what}: {detail}")))
            .ok()
    };
    let text = |e: CallError| e.to_string();
    // The plugin serving as the round starts (see `ended`). Every swap of
    // a soak loads its plugin afresh, so the same plugin serving at the end
    // means it served throughout.
    let serving = store.current();
    let checkable = || serving.info().server_side && serving.same_as(&store.current());
    let _ = (|| {
        let id = step(
            "create",
            store
                .create(CreateOptions::new(data.clone()).ttl(3600))
                .map_err(text),
        )?;
        let id = step("load", live(store.load(&id), &data, None))?;
        let id = step(
            "update",
            store.update(&id, &updated, Some(ROUND_USER)).map_err(text),
        )?;
        let old = id;
        let id = step("regenerate", store.regenerate(&old).map_err(text))?;
        let id = step(
            "load after regenerate",
            live(store.load(&id), &updated, Some(ROUND_USER)),
        )?;
        let answer = store.load(&old);
        step(
            "load of the id before regenerate",
            ended(answer, checkable()),
        )?;
        step(
            "destroy",
            store.destroy(&id).map(|()| String::new()).map_err(text),
        )?;
        let answer = store.load(&id);
        step("load after destroy", ended(answer, checkable()))
    })();
}

/// One entry of `--plugins`: a path, not empty (`a.wasm,` or `a.wasm,,b.wasm`).
fn plugin_path(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("an entry of the list is empty (a stray comma?)".to_string());
    }
    Ok(PathBuf::from(s))
}

/// Most swaps one soak makes (see [`SoakArgs::swaps`]).
const MAX_SWAPS: u64 = 10_000;

/// Shortest absolute session lifetime a soak runs with: its rounds take
/// microseconds, but a call can wait seconds behind a swap, and a session
/// that expired meanwhile would count as a failed operation of a correct
/// store.
const MIN_SOAK_LIFETIME_SECONDS: u64 = 60;

/// Why the configured absolute lifetime is too short for a soak, if it is.
/// `session.ttl-seconds` is not looked at: every round creates its session
/// with a ttl of its own (3600 s), and the swap's check its one with 60 s.
fn lifetime_too_short(config: &[(String, String)]) -> Option<String> {
    let key = "session.max-lifetime-seconds";
    let seconds: u64 = crate::setting(config, key)?.trim().parse().ok()?;
    (seconds < MIN_SOAK_LIFETIME_SECONDS).then(|| {
        format!(
            "soak needs {key} of at least {MIN_SOAK_LIFETIME_SECONDS} (got {seconds}): \
             sessions expiring during a round would count as failed operations"
        )
    })
}

pub(crate) fn run(builder: HarnessBuilder, args: SoakArgs) -> Result<(), Failure> {
    if args.plugins.is_empty() {
        return Err(anyhow!("soak needs at least one plugin").into());
    }
    if let Some(why) = lifetime_too_short(&args.config) {
        return Err(Failure::Usage(anyhow!(why)));
    }
    let duration = args.seconds;
    let mut config = args.config.clone();
    let random_key = crate::setting(&config, "cookie.keys").is_none();
    if random_key {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow!("no random source for a key: {e}"))?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        config.push(("cookie.keys".to_string(), hex));
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if usize::from(args.threads) > MAX_THREADS_PER_CPU * cpus {
        return Err(Failure::Usage(anyhow!(
            "--threads {} is more than {MAX_THREADS_PER_CPU} per CPU on this machine's {cpus} \
             (at most {}): calls would wait for a CPU past their deadlines and count as failures",
            args.threads,
            MAX_THREADS_PER_CPU * cpus
        )));
    }
    let harness = builder
        .engine_settings(EngineSettings {
            max_instances: instance_slots(args.threads),
            ..EngineSettings::default()
        })
        .limits(soak_limits(args.threads, cpus))
        .build()?;
    let first = load(&harness, &args.plugins[0], &config)?;
    // Every plugin loads before the run starts: a bad path is found now, not
    // at its first swap (or never, with fewer swaps than plugins).
    let mut stateless = !first.info().server_side;
    for path in &args.plugins[1..] {
        let plugin = load(&harness, path, &config)?;
        stateless |= !plugin.info().server_side;
        // A configuration this plugin refuses is the command line's mistake
        // and ends the soak now (exit 2). Any other failed check (a trap,
        // say) is left for its swap: refusing it under load is what a soak
        // is there to show.
        crate::refuse_refused_config(&plugin)?;
        refuse_limits_below(&plugin)?;
    }
    if random_key && stateless {
        note!("soak: no cookie.keys given; using a random key for this run");
    }
    // The first plugin serves from the start: one that cannot (a refused
    // configuration, say) ends the run now, not after every operation of it
    // failed.
    host_harness::swap::check_serves(&first)?;
    refuse_limits_below(&first)?;
    let store = SwappableStore::new(&harness, first, SwapOptions::default());
    let ops = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Failures::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..usize::from(args.threads))
        .map(|w| {
            let (store, ops, failures, stop) =
                (store.clone(), ops.clone(), failures.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    round(&store, w, n, &ops, &failures);
                    n += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    // Everything is loaded and serving from here on (a script, or a test,
    // can wait for this line).
    note!(
        "soak: {} workers running, {} swaps over {:?}",
        args.threads,
        args.swaps,
        duration
    );
    // A plugin that no longer loads ends the run, after the summary.
    let mut load_failed = None;
    for k in 1..=args.swaps {
        let at = duration.mul_f64(k as f64 / (args.swaps as f64 + 1.0));
        if let Some(wait) = at.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        // Each swap loads its plugin afresh (a cached compile) and checks it
        // before it goes live, as a host deploying a new store would.
        let path = &args.plugins[k as usize % args.plugins.len()];
        let options = LoadOptions {
            config: config.clone(),
            ..LoadOptions::default()
        };
        match store.swap_file(path, options) {
            Ok(_) => {}
            Err(SwapError::Load(e)) => {
                load_failed = Some(e);
                break;
            }
            // Refused: the old store keeps serving; the run goes on, failed.
            Err(e) => failures.record(format!("swap to {}: {e}", path.display())),
        }
    }
    if load_failed.is_none() {
        match duration.checked_sub(started.elapsed()) {
            Some(rest) => std::thread::sleep(rest),
            // Every swap asked for is made: on a loaded machine the run goes
            // on until the last is done, and says so.
            None => note!(
                "soak: the {} swaps took {:?}, past --seconds {:?}; the run went on until they were made",
                args.swaps,
                started.elapsed(),
                duration
            ),
        }
    }
    stop.store(true, Ordering::Relaxed);
    // Every worker is joined, and one that panicked is a failure like any
    // other: the summary line still comes.
    for (n, w) in workers.into_iter().enumerate() {
        if w.join().is_err() {
            failures.record(format!("worker {n} panicked"));
        }
    }
    let stats = store.stats();
    let failed = failures.count.load(Ordering::Relaxed);
    say!(
        "ops={} failed={} swaps={} migrated={}",
        ops.load(Ordering::Relaxed),
        failed,
        stats.swaps,
        stats.migrated
    );
    if failed > 0 {
        for f in failures.first.lock().map(|f| f.clone()).unwrap_or_default() {
            note!("soak: {}", crate::shown::terminal_safe(&f));
        }
    }
    if let Some(e) = load_failed {
        return Err(Failure::Load(e));
    }
    if failed > 0 {
        return Err(anyhow!("{failed} operation(s) failed unexpectedly").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_harness::SessionError;

    /// With `session.max-lifetime-seconds=1` a correct store's sessions
    /// expired mid-round and the soak failed (intermittently: 2 of 1.5M
    /// operations); such a run is refused up front now.
    #[test]
    fn lifetimes_a_round_could_outlast_are_refused() {
        let c = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let why = lifetime_too_short(&c("session.max-lifetime-seconds", "1")).unwrap();
        assert!(
            why.contains("session.max-lifetime-seconds of at least 60 (got 1)"),
            "{why}"
        );
        assert!(lifetime_too_short(&c("session.max-lifetime-seconds", "59")).is_some());
        assert!(lifetime_too_short(&c("session.max-lifetime-seconds", "60")).is_none());
        assert!(lifetime_too_short(&c("cookie.mode", "signed")).is_none());
        // Not a number: the store refuses it, with its own message.
        assert!(lifetime_too_short(&c("session.max-lifetime-seconds", "soon")).is_none());
        // Every round creates with a ttl of its own: the default ttl is not
        // what its sessions live by (a short one was once refused).
        assert!(lifetime_too_short(&c("session.ttl-seconds", "1")).is_none());
    }

    /// An id a round ended must load as no session while one server-side
    /// plugin served the whole round (a store whose destroy or regenerate
    /// left the old id working passed every soak); otherwise any answer
    /// passes: a stateless store cannot end a seal, and a swap hands the id
    /// to another store.
    #[test]
    fn an_ended_id_that_still_loads_fails_only_when_it_can_be_checked() {
        let record = SessionRecord {
            id: "old".into(),
            user_id: Some("soak".into()),
            data: "{}".into(),
            created_at: 0,
            expires_at: 3600,
        };
        let invalid = || {
            Err(CallError::Session(SessionError::InvalidId(
                "foreign".into(),
            )))
        };
        assert!(ended(Ok(None), true).is_ok());
        assert!(ended(Ok(None), false).is_ok());
        let why = ended(Ok(Some(record.clone())), true).unwrap_err();
        assert!(why.starts_with("still answers Ok(Some("), "{why}");
        assert!(ended(invalid(), true).is_err());
        assert!(ended(Ok(Some(record)), false).is_ok());
        assert!(ended(invalid(), false).is_ok());
        // A fault is one whether or not the answer can be checked.
        for checkable in [true, false] {
            let trap = Err(CallError::Trap {
                plugin: "p".into(),
                op: "load",
                message: "unreachable".into(),
            });
            let why = ended(trap, checkable).unwrap_err();
            assert!(why.contains("trapped"), "{why}");
            let backend = Err(CallError::Session(SessionError::Backend("down".into())));
            assert!(ended(backend, checkable).is_err());
        }
    }

    /// The first load of a round's anonymous session must find it
    /// anonymous: a store that gave it a user passed.
    #[test]
    fn a_live_session_must_have_the_user_asked_for_or_none() {
        let record = |user: Option<&str>| {
            Ok(Some(SessionRecord {
                id: "id".into(),
                user_id: user.map(str::to_string),
                data: "{}".into(),
                created_at: 0,
                expires_at: 3600,
            }))
        };
        assert!(live(record(None), "{}", None).is_ok());
        assert!(live(record(Some("soak")), "{}", None).is_err());
        assert!(live(record(Some("soak")), "{}", Some("soak")).is_ok());
        assert!(live(record(None), "{}", Some("soak")).is_err());
        assert!(live(record(None), "{\"a\":1}", None).is_err());
    }

    #[test]
    fn the_engine_has_slots_for_every_worker_besides_the_idle_instances() {
        // Idle: 16 for each of the active, incoming and outgoing plugin, one
        // per shard (8) for each of the 8 retired ones.
        let idle = 3 * 16 + 8 * 8;
        for threads in [1, 2, 64, 100, 200, 256] {
            let slots = instance_slots(threads);
            assert!(slots >= u32::from(threads) + 1 + idle, "{threads}: {slots}");
            assert!(slots >= EngineSettings::default().max_instances);
        }
        assert_eq!(instance_slots(2), 256, "the default when it is enough");
        assert_eq!(instance_slots(256), 2 * 257 + idle);
    }

    #[test]
    fn deadlines_grow_only_with_more_workers_than_cpus() {
        let d = Limits::default();
        assert_eq!(soak_limits(2, 2), d);
        assert_eq!(soak_limits(1, 64), d);
        let l = soak_limits(5, 2);
        assert_eq!(l.call_deadline, d.call_deadline * 3);
        assert_eq!(l.memory_bytes, d.memory_bytes);
        // Never past the longest default, which swaps' drain waits outlast.
        assert_eq!(l.maintenance_deadline, d.maintenance_deadline);
        assert_eq!(soak_limits(256, 0).call_deadline, MAX_SCALED_DEADLINE);
        assert_eq!(
            soak_limits(256, 2).maintenance_deadline,
            MAX_SCALED_DEADLINE
        );
    }
}
