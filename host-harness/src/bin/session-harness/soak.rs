//! `soak`: worker threads run create/load/update/regenerate/destroy against a
//! swappable store while another thread swaps between plugins, then one line:
//! `ops=<n> failed=<n> swaps=<n> migrated=<n>`.

use crate::{Failure, load, parse_kv};
use anyhow::anyhow;
use clap::Args;
use host_harness::{
    CallError, CreateOptions, HarnessBuilder, LoadOptions, SessionRecord, SwapError, SwapOptions,
    SwappableStore,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `soak`.
#[derive(Args)]
pub(crate) struct SoakArgs {
    /// The plugins to swap between, comma-separated (the first starts active).
    #[arg(long, value_delimiter = ',', required = true)]
    plugins: Vec<PathBuf>,
    /// Worker threads (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// How long to run, in seconds (fractions allowed).
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    seconds: Duration,
    /// Swaps spread evenly over the run.
    #[arg(long, default_value_t = 10)]
    swaps: u64,
    /// A `wasi:config` setting for every plugin, `key=value` (repeatable).
    #[arg(long = "config", value_parser = parse_kv)]
    config: Vec<(String, String)>,
}

/// A positive, finite duration in seconds (fractions allowed).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a positive, finite number of seconds");
    let seconds: f64 = text.parse().map_err(|_| bad())?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}

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
/// live with the expected data (and user, when given).
fn live(
    answer: Result<Option<SessionRecord>, CallError>,
    data: &str,
    user: Option<&str>,
) -> Result<String, String> {
    match answer {
        Ok(Some(r)) if r.data == data && (user.is_none() || r.user_id.as_deref() == user) => {
            Ok(r.id)
        }
        other => Err(format!("{other:?}")),
    }
}

/// One round of the session life cycle; every step is one op, and the first
/// failure is recorded and ends the round.
fn round(store: &SwappableStore, worker: usize, n: u64, ops: &AtomicU64, failures: &Failures) {
    let data = format!(r#"{{"worker":{worker},"round":{n}}}"#);
    let step = |what: &str, outcome: Result<String, String>| {
        ops.fetch_add(1, Ordering::Relaxed);
        outcome
            .map_err(|detail| failures.record(format!("{what}: {detail}")))
            .ok()
    };
    let text = |e: CallError| e.to_string();
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
            store.update(&id, &data, Some("soak")).map_err(text),
        )?;
        let id = step("regenerate", store.regenerate(&id).map_err(text))?;
        let id = step(
            "load after regenerate",
            live(store.load(&id), &data, Some("soak")),
        )?;
        step(
            "destroy",
            store.destroy(&id).map(|()| String::new()).map_err(text),
        )
    })();
}

pub(crate) fn run(builder: HarnessBuilder, args: SoakArgs) -> Result<(), Failure> {
    if args.plugins.is_empty() {
        return Err(anyhow!("soak needs at least one plugin").into());
    }
    let duration = args.seconds;
    let mut config = args.config.clone();
    if !config.iter().any(|(k, _)| k == "cookie.keys") {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow!("no random source for a key: {e}"))?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        eprintln!("soak: no cookie.keys given; using a random key for this run");
        config.push(("cookie.keys".to_string(), hex));
    }
    let harness = builder.build()?;
    let first = load(&harness, &args.plugins[0], &config)?;
    // Every plugin loads before the run starts: a bad path is found now, not
    // at its first swap (or never, with fewer swaps than plugins).
    for path in &args.plugins[1..] {
        load(&harness, path, &config)?;
    }
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
            Err(SwapError::Load(e)) => return Err(Failure::Load(e)),
            // Refused: the old store keeps serving; the run goes on, failed.
            Err(e) => failures.record(format!("swap to {}: {e}", path.display())),
        }
    }
    if let Some(rest) = duration.checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().map_err(|_| anyhow!("a soak worker panicked"))?;
    }
    let stats = store.stats();
    let failed = failures.count.load(Ordering::Relaxed);
    println!(
        "ops={} failed={} swaps={} migrated={}",
        ops.load(Ordering::Relaxed),
        failed,
        stats.swaps,
        stats.migrated
    );
    if failed > 0 {
        for f in failures.first.lock().map(|f| f.clone()).unwrap_or_default() {
            eprintln!("soak: {f}");
        }
        return Err(anyhow!("{failed} operation(s) failed unexpectedly").into());
    }
    Ok(())
}
