//! `bench`: the criterion comparisons without criterion's statistics, as a
//! table or as JSON lines (`--json`); `--quick` finishes in well under 30 s.

use crate::Failure;
use crate::table::Table;
use anyhow::anyhow;
use clap::Args;
use host_harness::bench::peers::PeerFormat;
use host_harness::bench::subjects::{
    CookieJarSubject, MemoryStoreSubject, PluginSubject, Threaded,
};
use host_harness::bench::workload::session_data;
use host_harness::bench::{BenchError, Op, SIZES, Subject, Tally};
use host_harness::{CacheOutcome, CallError, CreateOptions, Harness, LoadOptions, Plugin};
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
    /// The kv-session component (compared on the in-memory kv: `--kv` does
    /// not apply to `bench`).
    #[arg(
        long = "kv-wasm",
        id = "kv_wasm",
        value_name = "WASM",
        default_value = "target/wasm32-wasip2/release/kv_session.wasm"
    )]
    kv: PathBuf,
    /// The cookie-session component.
    #[arg(
        long = "cookie-wasm",
        id = "cookie_wasm",
        value_name = "WASM",
        default_value = "target/wasm32-wasip2/release/cookie_session.wasm"
    )]
    cookie: PathBuf,
}

/// How long each measurement round runs, and how many rounds.
struct Budget {
    /// Length of one round of an operation comparison.
    round: Duration,
    /// Rounds per figure; every figure is the median of its rounds.
    rounds: usize,
    /// Length of one round of the 1- and 2-thread `load` runs.
    threads_round: Duration,
    /// Cold loads (compiles) measured.
    compiles: usize,
    /// Cached loads measured.
    cached_loads: usize,
}

/// Iterations of `op` that take about `round`: doubles until a run takes
/// half of it, runs that many once more and scales by the faster of the two.
/// One call can stall on work left behind by whatever ran before it (glibc
/// consolidating the small chunks a peer's round freed cost the first 3 KiB
/// kv `load` after it 9 ms); calibrated from that call alone, every round of
/// the comparison was one call long and its figure the stall's.
fn calibrate(subject: &mut dyn Subject, op: Op, round: Duration) -> Result<u64, BenchError> {
    let mut iters = 1u64;
    loop {
        let t = subject.run(op, iters)?;
        if t >= round / 2 || iters >= 1 << 24 {
            let t = t.min(subject.run(op, iters)?);
            let scale = round.as_secs_f64() / t.as_secs_f64().max(1e-9);
            return Ok(((iters as f64 * scale) as u64).max(1));
        }
        iters *= 2;
    }
}

/// The median of `samples`: the middle one, or the mean of the two middle
/// ones of an even count; NaN for none.
fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    match samples.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => samples[mid],
        _ => (samples[mid - 1] + samples[mid]) / 2.0,
    }
}

/// Median nanoseconds per operation of `op` on `a` and on `b`, measured in
/// alternating rounds of about `round` each (so a noisy neighbour hits both).
fn ns_per_op_pair(
    a: &mut dyn Subject,
    b: &mut dyn Subject,
    op: Op,
    round: Duration,
    rounds: usize,
) -> Result<(f64, f64), BenchError> {
    let (ia, ib) = (calibrate(a, op, round)?, calibrate(b, op, round)?);
    let (mut sa, mut sb) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds.max(1) {
        sa.push(a.run(op, ia)?.as_nanos() as f64 / ia as f64);
        sb.push(b.run(op, ib)?.as_nanos() as f64 / ib as f64);
    }
    Ok((median(sa), median(sb)))
}

/// Output in the chosen format.
struct Report {
    json: bool,
    comparisons: Table,
    figures: Table,
}

impl Report {
    /// The ratio is computed from the rounded figures printed beside it.
    fn compare(&mut self, case: &str, ours: f64, peer: &str, peer_ns: f64) {
        let (ours, peer_ns) = (round1(ours), round1(peer_ns));
        let ratio = ours / peer_ns;
        if self.json {
            say!(
                "{}",
                json!({"case": case, "ours_ns": ours, "peer": peer, "peer_ns": peer_ns, "ratio": ratio})
            );
        } else {
            self.comparisons.row(vec![
                case.to_string(),
                format!("{ours:.1} ns"),
                peer.to_string(),
                format!("{peer_ns:.1} ns"),
                format!("{ratio:.2}x"),
            ]);
        }
    }

    fn figure(&mut self, case: &str, value: f64, unit: &str) {
        if self.json {
            say!(
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

/// The subject benchmarking `plugin` on `data` (one session is created up
/// front). A failed create keeps its [`CallError`] in the error's chain, under
/// `cases` (the cases it was for), so the exit code is the call's: 2 for a
/// configuration the store refuses, 3 for a trap, 1 for a session answer.
fn subject(plugin: Plugin, data: &str, label: &str, cases: &str) -> Result<PluginSubject, Failure> {
    PluginSubject::try_new(plugin, data.to_string(), label).map_err(|e| {
        Failure::Other(anyhow::Error::new(e).context(format!("bench set-up, {cases}")))
    })
}

/// Runs the comparisons. They use a harness of their own without the disk
/// cache (the cache is measured separately), so the global cache flags do not
/// apply.
pub(crate) fn run(args: BenchArgs) -> Result<(), Failure> {
    let budget = if args.quick {
        Budget {
            round: Duration::from_millis(15),
            rounds: 3,
            threads_round: Duration::from_millis(200),
            compiles: 3,
            cached_loads: 10,
        }
    } else {
        Budget {
            round: Duration::from_millis(200),
            rounds: 5,
            threads_round: Duration::from_secs(1),
            compiles: 10,
            cached_loads: 20,
        }
    };
    let read = |p: &PathBuf| host_harness::read_plugin(p).map_err(Failure::Load);
    let (kv_wasm, cookie_wasm) = (read(&args.kv)?, read(&args.cookie)?);
    // The comparisons run without the disk cache; it is measured on its own.
    let harness = Harness::new()?;
    // Each flag must name the kind of store its comparisons are about: a
    // kv-session given as --cookie-wasm would be timed and labelled as a
    // cookie store.
    for (wasm, flag, config, server_side) in [
        (&kv_wasm, "--kv-wasm", &[][..], true),
        (
            &cookie_wasm,
            "--cookie-wasm",
            &[("cookie.keys", KEY_HEX)][..],
            false,
        ),
    ] {
        let plugin = load(&harness, wasm, flag.trim_start_matches('-'), config)?;
        let info = plugin.info();
        if info.server_side != server_side {
            let (is, expected) = match server_side {
                true => ("stateless", "a server-side store such as kv-session"),
                false => ("server-side", "a stateless store such as cookie-session"),
            };
            return Err(Failure::Usage(anyhow!(
                "{flag}: {} {} is {is} (info.server-side = {}); expected {expected}",
                info.name,
                info.version,
                info.server_side
            )));
        }
    }
    let master: Vec<u8> = (0u8..32).collect();
    let mut report = Report {
        json: args.json,
        comparisons: Table::new(&["case", "plugin", "native peer", "peer", "ratio"]),
        figures: Table::new(&["figure", "value"]),
    };
    for (label, bytes) in SIZES {
        let data = session_data(bytes);
        let kv = load(&harness, &kv_wasm, "kv-session", &[])?;
        let mut ours = subject(kv, &data, "kv-session", &format!("kv.*.{label}"))?;
        let mut peer = MemoryStoreSubject::new(&data);
        for op in Op::ALL {
            let (o, p) = ns_per_op_pair(&mut ours, &mut peer, op, budget.round, budget.rounds)?;
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
            let mut ours = subject(
                cookie,
                &data,
                "cookie-session",
                &format!("cookie-{mode}.*.{label}"),
            )?;
            let mut peer = CookieJarSubject::new(&master, private, &data);
            for op in Op::ALL {
                let (o, p) = ns_per_op_pair(&mut ours, &mut peer, op, budget.round, budget.rounds)?;
                report.compare(
                    &format!("cookie-{mode}.{}.{label}", op.name()),
                    o,
                    &peer.label(),
                    p,
                );
            }
            // The floor: the jars sealing as many bytes as ours, with nothing
            // around them (seal and open only).
            let mut bare =
                CookieJarSubject::with_format(&master, private, &data, PeerFormat::SameBytes);
            for op in [Op::Create, Op::Load] {
                let (o, p) = ns_per_op_pair(&mut ours, &mut bare, op, budget.round, budget.rounds)?;
                report.compare(
                    &format!("cookie-{mode}-same-bytes.{}.{label}", op.name()),
                    o,
                    &bare.label(),
                    p,
                );
            }
        }
    }
    figures(&harness, &kv_wasm, &cookie_wasm, &budget, &mut report)?;
    if !args.json {
        say!(
            "{}\n\n{}\n\n{}",
            report.comparisons.render(),
            report.figures.render(),
            method_note(&budget)
        );
    }
    Ok(())
}

/// What the figures are, for the table output (BENCHMARKS.md, Method).
fn method_note(budget: &Budget) -> String {
    format!(
        "Every figure is a median: comparisons and threads of {rounds} alternating rounds \
         (~{round} ms per comparison round, ~{threads} ms per threads round, persistent \
         worker threads); instantiate and pooled_call of {rounds} loops; cold_compile of \
         {compiles} and cold_cached of {cached} loads, each the wall time of the load call \
         alone (harness built beforehand), and harness_build of {compiles} builds (what a \
         fresh process adds before its first load). The -same-bytes cases time the jars \
         sealing as many bytes as cookie-session, with nothing around them.",
        rounds = budget.rounds,
        round = budget.round.as_millis(),
        threads = budget.threads_round.as_millis(),
        compiles = budget.compiles,
        cached = budget.cached_loads,
    )
}

/// Wall time of one `load_bytes` call in milliseconds (the plugin is dropped
/// after the clock stops), and the cache outcome.
fn timed_load(harness: &Harness, wasm: &[u8]) -> Result<(f64, CacheOutcome), Failure> {
    let started = Instant::now();
    let (plugin, report) = harness
        // Named, as a host loading a file names it: a plugin loaded
        // without a name is named by a hash of its bytes, one more hash of
        // the component than a load pays.
        .load_bytes_with_report(wasm, LoadOptions::default().name("kv-session"))
        .map_err(Failure::Load)?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    drop(plugin);
    Ok((ms, report.cache))
}

/// Nanoseconds per call of `f` on `subject` over `iters` calls; an error
/// naming `op` when any call failed (its time would be the failure path's).
fn ns_per_call(
    subject: &str,
    op: &'static str,
    iters: u32,
    f: &dyn Fn() -> Result<(), CallError>,
) -> Result<f64, BenchError> {
    let mut tally = Tally::default();
    let started = Instant::now();
    for _ in 0..iters {
        tally.check(f());
    }
    let ns = started.elapsed().as_nanos() as f64 / f64::from(iters.max(1));
    tally.finish_as(subject, op, u64::from(iters), ns)
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
    let per_op =
        |op, iters, f: &dyn Fn() -> Result<(), CallError>| ns_per_call("kv-session", op, iters, f);
    let median_of = |f: &dyn Fn() -> Result<f64, BenchError>| {
        (0..budget.rounds)
            .map(|_| f())
            .collect::<Result<Vec<_>, _>>()
            .map(median)
    };
    let n = if budget.rounds > 3 { 20_000 } else { 2_000 };
    report.figure(
        "instantiate",
        median_of(&|| per_op("instantiate", n, &|| kv.instantiate_once()))? / 1e3,
        "us",
    );
    report.figure(
        "pooled_call",
        median_of(&|| per_op("info", n * 10, &|| kv.fetch_info().map(drop)))?,
        "ns",
    );

    // Both harnesses are built before any clock starts; one untimed load
    // each warms up (and fills the disk cache).
    let uncached = Harness::new()?;
    timed_load(&uncached, kv_wasm)?;
    let compiles = (0..budget.compiles)
        .map(|_| timed_load(&uncached, kv_wasm).map(|(ms, _)| ms))
        .collect::<Result<Vec<_>, _>>()?;
    report.figure("cold_compile", median(compiles), "ms");
    let dir = host_harness::bench::scratch_cache_dir("session-harness-bench")
        .map_err(|e| anyhow!("no random source for a cache directory name: {e}"))?;
    let cached = Harness::builder().cache_dir(&dir).build()?;
    let measured = (|| {
        timed_load(&cached, kv_wasm)?;
        let mut loads = Vec::with_capacity(budget.cached_loads);
        for _ in 0..budget.cached_loads {
            let (ms, cache) = timed_load(&cached, kv_wasm)?;
            if cache != CacheOutcome::Hit {
                return Err(Failure::from(anyhow!(
                    "the compile cache did not hit: {cache:?}"
                )));
            }
            loads.push(ms);
        }
        Ok(median(loads))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    report.figure("cold_cached", measured?, "ms");
    // What a fresh process pays before its first load: the engine (with its
    // pooling allocator), the linker and the epoch ticker.
    let builds = (0..budget.compiles)
        .map(|_| {
            let started = Instant::now();
            let built = Harness::new()?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            drop(built);
            Ok(ms)
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    report.figure("harness_build", median(builds), "ms");

    // `load` of one 1 KiB session from 1 and 2 persistent worker threads,
    // timed like every other comparison (wall time per operation).
    let id = kv.create(CreateOptions::new(session_data(1024)))?;
    kv.warm_up(2)?;
    // Per-operation times on 1 and 2 threads, in alternating rounds.
    let on_one_and_two = |mut one: Threaded, mut two: Threaded, op| {
        ns_per_op_pair(&mut one, &mut two, op, budget.threads_round, budget.rounds)
    };
    let (ns1, ns2) = on_one_and_two(
        Threaded::load(&kv, &id, 1),
        Threaded::load(&kv, &id, 2),
        Op::Load,
    )?;
    report.figure("threads1_ops", 1e9 / ns1, "ops/s");
    report.figure("threads2_ops", 1e9 / ns2, "ops/s");
    report.figure("threads2_speedup", ns1 / ns2, "x");
    // The same for `update`, each thread of its own 1 KiB session: writes
    // write-lock their key's stripe of the memory backend, which loads only
    // read.
    let data = session_data(1024);
    let (ns1, ns2) = on_one_and_two(
        Threaded::update(&kv, &data, 1)?,
        Threaded::update(&kv, &data, 2)?,
        Op::Update,
    )?;
    report.figure("threads2_update_speedup", ns1 / ns2, "x");
    report.figure("wasm_bytes.kv", kv_wasm.len() as f64, "bytes");
    report.figure("wasm_bytes.cookie", cookie_wasm.len() as f64, "bytes");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_harness::SessionError;
    use std::cell::Cell;

    #[test]
    fn a_failed_call_in_a_figure_loop_is_an_error_not_a_time() {
        let calls = Cell::new(0u32);
        let third_fails = || {
            calls.set(calls.get() + 1);
            match calls.get() {
                3 => Err(CallError::Session(SessionError::NotFound)),
                _ => Ok(()),
            }
        };
        let e = ns_per_call("kv-session", "info", 10, &third_fails).unwrap_err();
        assert_eq!((e.failed, e.calls, e.op), (1, 10, "info"), "{e}");
        assert_eq!(calls.get(), 10, "every call is made");
        assert!(e.to_string().contains("no live session"), "{e}");
        let ns = ns_per_call("kv-session", "info", 10, &|| Ok(())).unwrap();
        assert!(ns.is_finite() && ns >= 0.0, "{ns}");
    }

    /// The bytes of guest `name`, where `make guests` puts them.
    fn guest(name: &str) -> Vec<u8> {
        let path = host_harness::bench::guest_path(name);
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make guests`", path.display()))
    }

    /// A store failing bench's set-up create ends it with the exit code of
    /// that failure: it was turned into text, so a configuration the store
    /// refuses and a trap both exited 1.
    #[test]
    fn a_failed_set_up_keeps_the_exit_code_of_its_call() {
        let harness = Harness::new().unwrap();
        let cases = [
            ("cookie_session", ("cookie.keys", "short"), 2, "config"),
            (
                "hostile",
                ("hostile.mode", "trap"),
                3,
                "trapping on purpose",
            ),
            ("hostile", ("hostile.mode", "answer"), 1, "harmless mode"),
        ];
        for (name, setting, code, says) in cases {
            let plugin = load(&harness, &guest(name), name, &[setting])
                .unwrap_or_else(|f| panic!("{name} did not load: {}", crate::failure_report(f).0));
            let Err(failure) = subject(plugin, "{}", name, "kv.*.64") else {
                panic!("{name} {setting:?}: the set-up create succeeded");
            };
            let (message, exit) = crate::failure_report(failure);
            assert_eq!(exit, code, "{name} {setting:?}: {message}");
            assert!(message.starts_with("bench set-up, kv.*.64: "), "{message}");
            assert!(message.contains(says), "{message}");
        }
    }

    /// A plugin that traps inside a timed run ends bench with exit code 3,
    /// as one trapping in its set-up does: the run's first failure was kept
    /// as text, so it exited 1. A session answer stays exit code 1.
    #[test]
    fn a_trap_in_a_timed_run_exits_3() {
        let harness = Harness::new().unwrap();
        let config = [("hostile.mode", "trap-on-update")];
        let plugin = load(&harness, &guest("hostile"), "hostile", &config)
            .unwrap_or_else(|f| panic!("did not load: {}", crate::failure_report(f).0));
        let mut subject = subject(plugin, "{}", "hostile", "kv.*.64")
            .unwrap_or_else(|f| panic!("set-up failed: {}", crate::failure_report(f).0));
        let e = subject.run(Op::Update, 3).expect_err("updates trap");
        assert_eq!((e.failed, e.calls), (3, 3), "{e}");
        let (message, exit) = crate::failure_report(Failure::from(e));
        assert_eq!(exit, 3, "{message}");
        assert!(
            message.contains("trapping on a write on purpose"),
            "{message}"
        );

        let answer = BenchError {
            subject: "kv-session".into(),
            op: "load",
            failed: 1,
            calls: 1,
            first: CallError::Session(SessionError::NotFound).into(),
        };
        let (message, exit) = crate::failure_report(Failure::from(answer));
        assert_eq!(exit, 1, "{message}");
    }

    /// An even count's median is the mean of its two middle samples (it was
    /// the upper one: 10 cached loads gave the 6th fastest).
    #[test]
    fn the_median_of_an_even_count_averages_the_middle_two() {
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![7.0]), 7.0);
        assert_eq!(median(vec![9.0, 1.0]), 5.0);
        assert!(median(Vec::new()).is_nan());
    }

    /// A subject whose calls take 1 µs each, but whose first run stalls for
    /// `stall` (the times are reported, not slept).
    struct Stalls {
        stall: Duration,
        runs: u32,
    }

    impl Subject for Stalls {
        fn label(&self) -> String {
            "stalls".into()
        }

        fn run(&mut self, _op: Op, iters: u64) -> Result<Duration, BenchError> {
            self.runs += 1;
            let stall = if self.runs == 1 {
                self.stall
            } else {
                Duration::ZERO
            };
            Ok(stall + Duration::from_micros(iters))
        }
    }

    #[test]
    fn a_stall_in_the_first_call_does_not_calibrate_rounds_of_one_call() {
        let round = Duration::from_millis(15);
        for stall in [Duration::ZERO, Duration::from_millis(9)] {
            let iters = calibrate(&mut Stalls { stall, runs: 0 }, Op::Load, round).unwrap();
            // 15 ms of 1 µs calls, whatever the first one cost.
            assert!((14_000..=16_000).contains(&iters), "{stall:?}: {iters}");
        }
    }
}
