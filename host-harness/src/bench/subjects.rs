//! The benchmarked subjects: the plugin stores through the harness, and their
//! native peers, all behind [`Subject`].

use super::peers::{CookieJarPeer, MemoryStorePeer, SealedRecord};
use super::workload::data_map;
use super::{Op, Subject};
use crate::clock::{Clock, SystemClock};
use crate::plugin::Plugin;
use crate::types::CreateOptions;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower_sessions_core::session::{Id, Record};

/// Sessions created per untimed set-up batch (bounds memory on long runs).
const BATCH: u64 = 20_000;

/// Splits `iters` into batches of at most [`BATCH`]; `batch(n)` does `n`
/// operations and returns the part of its time that counts.
fn in_batches(iters: u64, mut batch: impl FnMut(u64) -> Duration) -> Duration {
    let mut spent = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        spent += batch(n);
        left -= n;
    }
    spent
}

/// A session plugin driven through the harness.
pub struct PluginSubject {
    plugin: Plugin,
    data: String,
    id: String,
    label: String,
}

impl PluginSubject {
    /// Benchmarks `plugin` with `data`; one session is created up front.
    pub fn new(plugin: Plugin, data: String, label: impl Into<String>) -> Self {
        let id = plugin
            .create(CreateOptions::new(data.clone()))
            .unwrap_or_else(|e| panic!("bench set-up: create failed: {e}"));
        Self {
            plugin,
            data,
            id,
            label: label.into(),
        }
    }

    fn create(&self) -> String {
        self.plugin
            .create(CreateOptions::new(self.data.clone()))
            .unwrap_or_else(|e| panic!("bench: create failed: {e}"))
    }
}

impl Subject for PluginSubject {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn run(&mut self, op: Op, iters: u64) -> Duration {
        let p = &self.plugin;
        let server_side = p.info().server_side;
        match op {
            Op::Create => in_batches(iters, |n| {
                let started = Instant::now();
                let ids: Vec<String> = (0..n).map(|_| self.create()).collect();
                let spent = started.elapsed();
                if server_side {
                    for id in &ids {
                        let _ = p.destroy(id);
                    }
                }
                spent
            }),
            Op::Load => timed(iters, || {
                black_box(p.load(&self.id).ok());
            }),
            Op::Update => timed(iters, || {
                black_box(p.update(&self.id, &self.data, None).ok());
            }),
            Op::Touch => timed(iters, || {
                black_box(p.touch(&self.id, None).ok());
            }),
            Op::Destroy if !server_side => timed(iters, || {
                black_box(p.destroy(&self.id).ok());
            }),
            Op::Destroy => in_batches(iters, |n| {
                let ids: Vec<String> = (0..n).map(|_| self.create()).collect();
                timed_each(&ids, |id| {
                    black_box(p.destroy(id).ok());
                })
            }),
        }
    }
}

/// tower-sessions' `MemoryStore` holding the same data.
pub struct MemoryStoreSubject {
    peer: MemoryStorePeer,
    data: HashMap<String, serde_json::Value>,
    record: Record,
}

impl MemoryStoreSubject {
    /// Benchmarks a fresh `MemoryStore` with `json` as data.
    pub fn new(json: &str) -> Self {
        let peer = MemoryStorePeer::default();
        let data = data_map(json);
        let mut record = MemoryStorePeer::record(&data);
        record.id = peer.create(&data);
        Self { peer, data, record }
    }
}

impl Subject for MemoryStoreSubject {
    fn label(&self) -> String {
        "tower-sessions MemoryStore".to_string()
    }

    fn run(&mut self, op: Op, iters: u64) -> Duration {
        let peer = &self.peer;
        match op {
            Op::Create => in_batches(iters, |n| {
                let started = Instant::now();
                let ids: Vec<Id> = (0..n).map(|_| peer.create(&self.data)).collect();
                let spent = started.elapsed();
                for id in &ids {
                    peer.delete(id);
                }
                spent
            }),
            Op::Load => timed(iters, || {
                black_box(peer.load(&self.record.id));
            }),
            Op::Update => {
                let record = &mut self.record;
                let data = &self.data;
                timed(iters, || {
                    record.data = data.clone();
                    peer.save(record);
                })
            }
            Op::Touch => {
                let record = &mut self.record;
                timed(iters, || {
                    record.expiry_date = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                    peer.save(record);
                })
            }
            Op::Destroy => in_batches(iters, |n| {
                let ids: Vec<Id> = (0..n).map(|_| peer.create(&self.data)).collect();
                timed_each(&ids, |id| peer.delete(id))
            }),
        }
    }
}

/// The `cookie` crate's jars sealing the same record.
pub struct CookieJarSubject {
    peer: CookieJarPeer,
    record: SealedRecord,
    sealed: String,
    private: bool,
}

impl CookieJarSubject {
    /// Benchmarks a private (`true`) or signed jar with `json` as data.
    pub fn new(master: &[u8], private: bool, json: &str) -> Self {
        let peer = CookieJarPeer::new(master, private);
        let now = SystemClock.now_secs();
        let record = SealedRecord {
            data: json.to_string(),
            user_id: None,
            created_at: now,
            expires_at: now + 3600,
            ttl_seconds: 3600,
        };
        let sealed = peer.seal(&record);
        Self {
            peer,
            record,
            sealed,
            private,
        }
    }
}

impl Subject for CookieJarSubject {
    fn label(&self) -> String {
        format!(
            "cookie {}",
            if self.private {
                "PrivateJar"
            } else {
                "SignedJar"
            }
        )
    }

    fn run(&mut self, op: Op, iters: u64) -> Duration {
        let peer = &self.peer;
        let now = SystemClock.now_secs();
        match op {
            Op::Create => timed(iters, || {
                let r = SealedRecord {
                    data: self.record.data.clone(),
                    ..self.record.clone()
                };
                black_box(peer.seal(&r));
            }),
            Op::Load | Op::Destroy => timed(iters, || {
                black_box(peer.open(&self.sealed, now));
            }),
            Op::Update => timed(iters, || {
                if let Some(mut r) = peer.open(&self.sealed, now) {
                    r.data = self.record.data.clone();
                    r.expires_at = now + r.ttl_seconds;
                    black_box(peer.seal(&r));
                }
            }),
            Op::Touch => timed(iters, || {
                if let Some(mut r) = peer.open(&self.sealed, now) {
                    r.expires_at = now + r.ttl_seconds;
                    black_box(peer.seal(&r));
                }
            }),
        }
    }
}

/// Runs `f` on each item and returns the time taken.
fn timed_each<T>(items: &[T], mut f: impl FnMut(&T)) -> Duration {
    let started = Instant::now();
    for item in items {
        f(item);
    }
    started.elapsed()
}

/// Runs `f` `iters` times and returns the time taken.
pub fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..iters {
        f();
    }
    started.elapsed()
}

/// `load` calls per second on one session with `threads` threads for `for_`.
pub fn load_throughput(plugin: &Plugin, id: &str, threads: usize, for_: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (p, id, stop, done) = (plugin.clone(), id.to_string(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        black_box(p.load(&id).ok());
                    }
                    n += 64;
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(for_);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
