//! The criterion suite: each store through the harness beside its native peer
//! for every operation and data size, plus instantiation, pooled calls, cold
//! and cached loads, and throughput on one and two threads.
//!
//! Run with `make bench` (builds the guests first). Reports land in
//! `target/criterion/`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use host_harness::bench::peers::PeerFormat;
use host_harness::bench::subjects::{
    CookieJarSubject, MemoryStoreSubject, PluginSubject, Threaded,
};
use host_harness::bench::workload::session_data;
use host_harness::bench::{Op, SIZES, Subject};
use host_harness::{CacheOutcome, CreateOptions, Harness, LoadOptions, Plugin};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The guests' directory: `$SESSION_BENCH_WASM_DIR`, or where `make guests`
/// puts them.
fn guest(stem: &str) -> Vec<u8> {
    let dir = std::env::var_os("SESSION_BENCH_WASM_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"),
        PathBuf::from,
    );
    let path = dir.join(format!("{stem}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make guests` first", path.display()))
}

fn load(harness: &Harness, stem: &str, config: &[(&str, &str)]) -> Plugin {
    let mut options = LoadOptions::default().name(stem);
    options = options.configs(config.iter().copied());
    harness
        .load_bytes(&guest(stem), options)
        .expect("plugin loads")
}

fn compare(c: &mut Criterion, group: &str, subjects: &mut [(&str, Box<dyn Subject>)]) {
    let mut g = c.benchmark_group(group);
    for op in Op::ALL {
        for (name, subject) in subjects.iter_mut() {
            g.bench_function(BenchmarkId::new(*name, op.name()), |b| {
                b.iter_custom(|iters| subject.run(op, iters).unwrap_or_else(|e| panic!("{e}")))
            });
        }
    }
    g.finish();
}

fn stores(c: &mut Criterion) {
    let harness = Harness::new().expect("harness");
    // A 3 KiB session seals to more than a 4 KiB cookie; raise the cap so the
    // comparison covers it (the native jars have no cap).
    let cookie_config = |mode| {
        [
            ("cookie.keys", KEY),
            ("cookie.mode", mode),
            ("cookie.max-bytes", "8192"),
        ]
    };
    for (label, bytes) in SIZES {
        let data = session_data(bytes);
        let kv = load(&harness, "kv_session", &[]);
        compare(
            c,
            &format!("kv/{label}"),
            &mut [
                (
                    "kv-session",
                    Box::new(PluginSubject::new(kv, data.clone(), "kv-session")),
                ),
                ("MemoryStore", Box::new(MemoryStoreSubject::new(&data))),
            ],
        );
        for (mode, private) in [("private", true), ("signed", false)] {
            let cookie = load(&harness, "cookie_session", &cookie_config(mode));
            compare(
                c,
                &format!("cookie-{mode}/{label}"),
                &mut [
                    (
                        "cookie-session",
                        Box::new(PluginSubject::new(cookie, data.clone(), "cookie-session")),
                    ),
                    (
                        "cookie-jar",
                        Box::new(CookieJarSubject::new(&master_key(), private, &data)),
                    ),
                    (
                        "cookie-jar-same-bytes",
                        Box::new(CookieJarSubject::with_format(
                            &master_key(),
                            private,
                            &data,
                            PeerFormat::SameBytes,
                        )),
                    ),
                ],
            );
        }
    }
}

/// The bytes of [`KEY`].
fn master_key() -> Vec<u8> {
    (0u8..32).collect()
}

fn instances(c: &mut Criterion) {
    let harness = Harness::new().expect("harness");
    let kv = load(&harness, "kv_session", &[]);
    let mut g = c.benchmark_group("instance");
    g.bench_function("instantiate", |b| b.iter(|| kv.instantiate_once().unwrap()));
    g.bench_function("pooled-call", |b| {
        b.iter(|| black_box(kv.fetch_info().unwrap()))
    });
    g.finish();
}

fn loading(c: &mut Criterion) {
    let wasm = guest("kv_session");
    let dir = host_harness::bench::scratch_cache_dir("session-bench-cache").expect("random");
    // Named, as a host loading a file names it (unnamed bytes are named by
    // one more hash of the component).
    let named = || LoadOptions::default().name("kv-session");
    let uncached = Harness::new().expect("harness");
    let cached = Harness::builder().cache_dir(&dir).build().expect("harness");
    // Every "cached" load must be a cache hit, or the figure is a compile
    // (a full or read-only temp directory leaves the entry unstored).
    let from_cache = || {
        let (plugin, report) = cached
            .load_bytes_with_report(&wasm, named())
            .expect("loads");
        match report.cache {
            CacheOutcome::Hit => plugin,
            other => panic!(
                "load/cached: not from the cache ({other:?}) in {}",
                dir.display()
            ),
        }
    };
    cached
        .load_bytes_with_report(&wasm, named())
        .expect("warms the cache");
    drop(from_cache());
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    // The harnesses exist already; only the load call is timed (the plugin is
    // dropped outside the timing), as in `session-harness bench`.
    g.bench_function("cold-compile", |b| {
        b.iter_with_large_drop(|| uncached.load_bytes(&wasm, named()).unwrap())
    });
    g.bench_function("cached", |b| b.iter_with_large_drop(from_cache));
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

fn threads(c: &mut Criterion) {
    let harness = Harness::new().expect("harness");
    let kv = load(&harness, "kv_session", &[]);
    let id = kv.create(CreateOptions::new(session_data(1024))).unwrap();
    let mut g = c.benchmark_group("threads");
    g.throughput(Throughput::Elements(1));
    for n in [1usize, 2] {
        // Persistent worker threads (started once, not per sample), so one
        // thread costs what `kv/1k/kv-session/load` costs and the speedup is
        // the ratio of two figures measured the same way.
        let mut workers = Threaded::load(&kv, &id, n);
        g.bench_function(BenchmarkId::new("kv-load-1k", n), |b| {
            // Wall time for `iters` loads spread over n threads.
            b.iter_custom(|iters| {
                workers
                    .run(Op::Load, iters)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        });
    }
    // Updates, each thread of its own session: writers contend on the
    // memory backend's stripe of their key, which loads only read.
    let data = session_data(1024);
    for n in [1usize, 2] {
        let mut workers = Threaded::update(&kv, &data, n).expect("sessions to update");
        g.bench_function(BenchmarkId::new("kv-update-1k", n), |b| {
            b.iter_custom(|iters| {
                workers
                    .run(Op::Update, iters)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = stores, instances, loading, threads
}
criterion_main!(benches);
