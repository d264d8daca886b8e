use host_harness::bench::workload::session_data;
use host_harness::*;
use std::time::{Duration, Instant};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("info");
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let h = Harness::new().unwrap();
    let p = match what {
        "cookie" | "cookie-signed" => h
            .load_file(
                "target/wasm32-wasip2/release/cookie_session.wasm",
                LoadOptions::default()
                    .config(
                        "cookie.keys",
                        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                    )
                    .config(
                        "cookie.mode",
                        if what == "cookie" {
                            "private"
                        } else {
                            "signed"
                        },
                    ),
            )
            .unwrap(),
        _ => h
            .load_file(
                "target/wasm32-wasip2/release/kv_session.wasm",
                LoadOptions::default(),
            )
            .unwrap(),
    };
    let id = p.create(CreateOptions::new(session_data(1024))).unwrap();
    let end = Instant::now() + Duration::from_secs(4);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (p, id) = (&p, &id);
            s.spawn(move || {
                let mut n = 0u64;
                while Instant::now() < end {
                    for _ in 0..100 {
                        match what {
                            "info" => {
                                let _ = p.fetch_info();
                            }
                            _ => {
                                let _ = p.load(id);
                            }
                        }
                    }
                    n += 100;
                }
                println!("{n}");
            });
        }
    });
}
