//! A steady load for a profiler: `threads` threads calling one operation on
//! one plugin for four seconds, then each prints how many calls it made. A
//! call that fails is counted, and the run then fails with the first error
//! (a profile of failing calls would show the failure path).
//!
//! From the repository root (the guests are read from
//! `target/wasm32-wasip2/release`; `make build` builds them, not this example):
//!
//! ```sh
//! make guests
//! cargo build --release --example profile_calls
//! perf record -e cpu-clock -g -- \
//!     target/release/examples/profile_calls <info|kv|cookie|cookie-signed> [threads] [load|create|update|touch]
//! perf report --no-children --sort dso,symbol
//! ```
//!
//! `info` is a bare call (the component boundary and the pool); `kv` calls
//! kv-session with a 1 KiB session; `cookie` / `cookie-signed` seal or open
//! one. The operation is `load` (default), `create`, `update` or `touch`.
//! Guest code shows up as `[JIT]` (the guests are stripped).

use host_harness::bench::workload::session_data;
use host_harness::bench::{Tally, loaded};
use host_harness::{CreateOptions, Harness, LoadOptions};
use std::time::{Duration, Instant};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("info");
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let asked = args.get(3).map(String::as_str).unwrap_or("load");
    let Some(op) = ["load", "create", "update", "touch"]
        .into_iter()
        .find(|op| *op == asked)
    else {
        return Err(format!("unknown operation {asked:?}: load, create, update or touch").into());
    };
    let dir = "target/wasm32-wasip2/release";
    let harness = Harness::new()?;
    let plugin = match what {
        "cookie" | "cookie-signed" => harness.load_file(
            format!("{dir}/cookie_session.wasm"),
            LoadOptions::default().config("cookie.keys", KEY).config(
                "cookie.mode",
                if what == "cookie" {
                    "private"
                } else {
                    "signed"
                },
            ),
        )?,
        _ => harness.load_file(format!("{dir}/kv_session.wasm"), LoadOptions::default())?,
    };
    let data = session_data(1024);
    let id = plugin.create(CreateOptions::new(data.clone()))?;
    let end = Instant::now() + Duration::from_secs(4);
    // Per thread: calls made, and the failures among them.
    let results: Vec<(u64, Tally)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..threads)
            .map(|_| {
                let (plugin, id, data) = (&plugin, &id, &data);
                s.spawn(move || {
                    let (mut calls, mut tally) = (0u64, Tally::default());
                    while Instant::now() < end {
                        for _ in 0..100 {
                            match (what, op) {
                                ("info", _) => tally.check(plugin.fetch_info().map(drop)),
                                (_, "create") => {
                                    let id = plugin.create(CreateOptions::new(data.clone()));
                                    // kv-session keeps what it creates: do not grow the map.
                                    tally.check(id.and_then(|id| plugin.destroy(&id)))
                                }
                                (_, "update") => {
                                    tally.check(plugin.update(id, data, None).map(drop))
                                }
                                (_, "touch") => tally.check(plugin.touch(id, None).map(drop)),
                                // A load that finds nothing did not do its work either.
                                _ => tally.check(loaded(plugin.load(id)).map(drop)),
                            };
                        }
                        calls += 100;
                    }
                    (calls, tally)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a profiling thread panicked"))
            .collect()
    });
    let (mut calls, mut all) = (0, Tally::default());
    for (c, tally) in results {
        println!("{c} calls");
        calls += c;
        all.merge(tally);
    }
    let op = if what == "info" { "info" } else { op };
    all.finish_as(plugin.name(), op, calls, ())?;
    Ok(())
}
