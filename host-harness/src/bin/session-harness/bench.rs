//! `bench`: the criterion comparisons without criterion's statistics, as a
//! table or as JSON lines (`--json`); `--quick` finishes in well under 30 s.

use crate::Failure;
use crate::table::Table;
use anyhow::anyhow;
use clap::Args;
use host_harness::bench::subjects::{
    CookieJarSubject, MemoryStoreSubject, PluginSubject, load_throughput,
};
use host_harness::bench::workload::session_data;
use host_harness::bench::{Op, SIZES, Subject};
use host_harness::{CacheOutcome, CreateOptions, Harness, LoadOptions, Plugin};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Short runs: the whole comparison in well under 30 seconds.
    #[arg(long)]
    quick: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// The kv-session component.
    #[arg(long, default_value = "target/wasm32-wasip2/release/kv_session.wasm")]
    kv: PathBuf,
    /// The cookie-session component.
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/cookie_session.wasm"
    )]
    cookie: PathBuf,
}

/// How long each measurement round runs, and how many rounds.
struct Budget {
    round: Duration,
    rounds: usize,
    throughput: Duration,
}

/// Median nanoseconds per operation.
fn ns_per_op(subject: &mut dyn Subject, op: Op, budget: &Budget) -> f64 {
    // Calibrate: double the iterations until one round takes long enough.
    let mut iters = 1u64;
    loop {
        let t = subject.run(op, iters);
        if t >= budget.round / 2 || iters >= 1 << 24 {
            let scale = budget.round.as_secs_f64() / t.as_secs_f64().max(1e-9);
            iters = ((iters as f64 * scale) as u64).max(1);
            break;
        }
        iters *= 2;
    }
    let mut samples: Vec<f64> = (0..budget.rounds)
        .map(|_| subject.run(op, iters).as_nanos() as f64 / iters as f64)
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Output in the chosen format.
struct Report {
    json: bool,
    comparisons: Table,
    figures: Table,
}

impl Report {
    fn compare(&mut self, case: &str, ours: f64, peer: &str, peer_ns: f64) {
        let ratio = ours / peer_ns;
        if self.json {
            println!(
                "{}",
                json!({"case": case, "ours_ns": round1(ours), "peer": peer, "peer_ns": round1(peer_ns), "ratio": round2(ratio)})
            );
        } else {
            self.comparisons.row(vec![
                case.to_string(),
                format!("{:.0} ns", ours),
                peer.to_string(),
                format!("{:.0} ns", peer_ns),
                format!("{ratio:.2}x"),
            ]);
        }
    }

    fn figure(&mut self, case: &str, value: f64, unit: &str) {
        if self.json {
            println!(
                "{}",
                json!({"case": case, "value": round2(value), "unit": unit})
            );
        } else {
            self.figures
                .row(vec![case.to_string(), format!("{} {unit}", round2(value))]);
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn load(
    harness: &Harness,
    wasm: &[u8],
    name: &str,
    config: &[(&str, &str)],
) -> Result<Plugin, Failure> {
    let mut options = LoadOptions::default().name(name);
    options = options.configs(config.iter().copied());
    harness.load_bytes(wasm, options).map_err(Failure::Load)
}

/// Runs the comparisons. They use a harness of their own without the disk
/// cache (the cache is measured separately), so the global cache flags do not
/// apply.
pub(crate) fn run(args: BenchArgs) -> Result<(), Failure> {
    let budget = if args.quick {
        Budget {
            round: Duration::from_millis(15),
            rounds: 3,
            throughput: Duration::from_millis(400),
        }
    } else {
        Budget {
            round: Duration::from_millis(200),
            rounds: 5,
            throughput: Duration::from_secs(2),
        }
    };
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|source| {
            Failure::Load(host_harness::LoadError::Io {
                path: p.clone(),
                source,
            })
        })
    };
    let (kv_wasm, cookie_wasm) = (read(&args.kv)?, read(&args.cookie)?);
    // The comparisons run without the disk cache; it is measured on its own.
    let harness = Harness::new()?;
    let master: Vec<u8> = (0u8..32).collect();
    let mut report = Report {
        json: args.json,
        comparisons: Table::new(&["case", "plugin", "native peer", "peer", "ratio"]),
        figures: Table::new(&["figure", "value"]),
    };
    for (label, bytes) in SIZES {
        let data = session_data(bytes);
        let kv = load(&harness, &kv_wasm, "kv-session", &[])?;
        let mut ours = PluginSubject::new(kv, data.clone(), "kv-session");
        let mut peer = MemoryStoreSubject::new(&data);
        for op in Op::ALL {
            let (o, p) = (
                ns_per_op(&mut ours, op, &budget),
                ns_per_op(&mut peer, op, &budget),
            );
            report.compare(&format!("kv.{}.{label}", op.name()), o, &peer.label(), p);
        }
        for (mode, private) in [("private", true), ("signed", false)] {
            // A 3 KiB session seals to more than a 4 KiB cookie: raise the cap so
            // the comparison covers it (the native jars have none).
            let config = [
                ("cookie.keys", KEY_HEX),
                ("cookie.mode", mode),
                ("cookie.max-bytes", "8192"),
            ];
            let cookie = load(&harness, &cookie_wasm, "cookie-session", &config)?;
            let mut ours = PluginSubject::new(cookie, data.clone(), "cookie-session");
            let mut peer = CookieJarSubject::new(&master, private, &data);
            for op in Op::ALL {
                let (o, p) = (
                    ns_per_op(&mut ours, op, &budget),
                    ns_per_op(&mut peer, op, &budget),
                );
                report.compare(
                    &format!("cookie-{mode}.{}.{label}", op.name()),
                    o,
                    &peer.label(),
                    p,
                );
            }
        }
    }
    figures(&harness, &kv_wasm, &cookie_wasm, &budget, &mut report)?;
    if !args.json {
        println!(
            "{}\n\n{}",
            report.comparisons.render(),
            report.figures.render()
        );
    }
    Ok(())
}

/// Instantiation, pooled calls, cold and cached loads, threads, sizes.
fn figures(
    harness: &Harness,
    kv_wasm: &[u8],
    cookie_wasm: &[u8],
    budget: &Budget,
    report: &mut Report,
) -> Result<(), Failure> {
    let kv = load(harness, kv_wasm, "kv-session", &[])?;
    let per_op = |iters: u32, f: &dyn Fn()| {
        let started = Instant::now();
        for _ in 0..iters {
            f();
        }
        started.elapsed().as_nanos() as f64 / f64::from(iters)
    };
    let n = if budget.rounds > 3 { 20_000 } else { 2_000 };
    report.figure(
        "instantiate",
        per_op(n, &|| kv.instantiate_once().unwrap_or(())) / 1e3,
        "us",
    );
    report.figure(
        "pooled_call",
        per_op(n * 10, &|| drop(kv.fetch_info())),
        "ns",
    );

    let started = Instant::now();
    Harness::new()?
        .load_bytes(kv_wasm, LoadOptions::default())
        .map_err(Failure::Load)?;
    report.figure("cold_compile", started.elapsed().as_secs_f64() * 1e3, "ms");
    let dir = std::env::temp_dir().join(format!("session-harness-bench-{}", std::process::id()));
    let cached = Harness::builder().cache_dir(&dir).build()?;
    cached
        .load_bytes(kv_wasm, LoadOptions::default())
        .map_err(Failure::Load)?;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let (_, r) = cached
            .load_bytes_with_report(kv_wasm, LoadOptions::default())
            .map_err(Failure::Load)?;
        if r.cache != CacheOutcome::Hit {
            return Err(anyhow!("the compile cache did not hit: {:?}", r.cache).into());
        }
        best = best.min((r.compile + r.link_and_probe).as_secs_f64() * 1e3);
    }
    let _ = std::fs::remove_dir_all(&dir);
    report.figure("cold_cached", best, "ms");

    let id = kv.create(CreateOptions::new(session_data(1024)))?;
    kv.warm_up(2)?;
    // This machine's other tenants make single runs noisy: alternate the two
    // and keep the best of each.
    let (mut one, mut two) = (0f64, 0f64);
    for _ in 0..3 {
        one = one.max(load_throughput(&kv, &id, 1, budget.throughput));
        two = two.max(load_throughput(&kv, &id, 2, budget.throughput));
    }
    report.figure("threads1_ops", one, "ops/s");
    report.figure("threads2_ops", two, "ops/s");
    report.figure("threads2_speedup", two / one, "x");
    report.figure("wasm_bytes.kv", kv_wasm.len() as f64, "bytes");
    report.figure("wasm_bytes.cookie", cookie_wasm.len() as f64, "bytes");
    Ok(())
}
