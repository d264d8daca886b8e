//! The benchmarked subjects: the plugin stores through the harness, and their
//! native peers, all behind [`Subject`].

use super::peers::{CookieJarPeer, MemoryStorePeer, PeerFormat, SealedRecord};
use super::workload::data_map;
use super::{BenchError, Missed, NOT_LOADED, Op, Subject, Tally, loaded};
use crate::clock::{Clock, SystemClock};
use crate::error::CallError;
use crate::plugin::Plugin;
use crate::types::CreateOptions;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tower_sessions_core::session::{Id, Record};

/// Sessions created per untimed set-up batch (bounds memory on long runs).
const BATCH: u64 = 20_000;

/// Inputs (records, create options) prepared per untimed batch of creates
/// and peer updates: few enough (about 50–200 KiB at 1–3 KiB) that they are
/// still in cache when the timed calls read them, as what a request has just
/// built would be.
const INPUT_BATCH: u64 = 16;

/// Splits `iters` into batches of at most [`BATCH`]; `batch(n)` does `n`
/// operations and returns the part of its time that counts.
fn in_batches(iters: u64, batch: impl FnMut(u64) -> Duration) -> Duration {
    in_batches_of(BATCH, iters, batch)
}

/// [`in_batches`] with batches of at most `size`.
fn in_batches_of(size: u64, iters: u64, mut batch: impl FnMut(u64) -> Duration) -> Duration {
    let mut spent = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(size);
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
    ///
    /// # Panics
    ///
    /// When that create fails; [`PluginSubject::try_new`] returns the error.
    pub fn new(plugin: Plugin, data: String, label: impl Into<String>) -> Self {
        Self::try_new(plugin, data, label)
            .unwrap_or_else(|e| panic!("bench set-up: create failed: {e}"))
    }

    /// [`PluginSubject::new`], or the error of the first create.
    pub fn try_new(
        plugin: Plugin,
        data: String,
        label: impl Into<String>,
    ) -> Result<Self, CallError> {
        let id = plugin.create(CreateOptions::new(data.clone()))?;
        Ok(Self {
            plugin,
            data,
            id,
            label: label.into(),
        })
    }

    fn create(&self) -> Result<String, CallError> {
        self.plugin.create(self.options())
    }

    /// What a create is given: the session data.
    fn options(&self) -> CreateOptions {
        CreateOptions::new(self.data.clone())
    }
}

impl Subject for PluginSubject {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn run(&mut self, op: Op, iters: u64) -> Result<Duration, BenchError> {
        let p = &self.plugin;
        let server_side = p.info().server_side;
        let mut tally = Tally::default();
        let spent = match op {
            // The options (a copy of the data) are built untimed, as the
            // peer's records are; the sessions are destroyed untimed after
            // each batch, so the store does not grow without bound.
            Op::Create if server_side => in_batches(iters, |n| {
                let mut ids: Vec<Option<String>> = Vec::with_capacity(n as usize);
                let spent = in_batches_of(INPUT_BATCH, n, |m| {
                    let options: Vec<CreateOptions> = (0..m).map(|_| self.options()).collect();
                    let started = Instant::now();
                    for o in options {
                        ids.push(tally.check(p.create(o)));
                    }
                    started.elapsed()
                });
                for id in ids.iter().flatten() {
                    let _ = p.destroy(id);
                }
                spent
            }),
            // A stateless store's answer is the whole session: each seal is
            // dropped at once, as the cookie peer's is, not kept alive
            // (megabytes of them) while the clock runs. The data is copied
            // inside the loop, as the peer copies its record's.
            Op::Create => timed(iters, || {
                black_box(tally.check(self.create()));
            }),
            Op::Load => timed(iters, || {
                black_box(tally.check(loaded(p.load(&self.id))));
            }),
            Op::Update => timed(iters, || {
                black_box(tally.check(p.update(&self.id, &self.data, None)));
            }),
            Op::Touch => timed(iters, || {
                black_box(tally.check(p.touch(&self.id, None)));
            }),
            Op::Destroy if !server_side => timed(iters, || {
                black_box(tally.check(p.destroy(&self.id)));
            }),
            Op::Destroy => in_batches(iters, |n| {
                let ids: Vec<String> = (0..n).filter_map(|_| tally.check(self.create())).collect();
                timed_each(&ids, |id| {
                    black_box(tally.check(p.destroy(id)));
                })
            }),
        };
        tally.finish(&*self, op, iters, spent)
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
        // `MemoryStore` has no failure path.
        peer.insert(&mut record)
            .unwrap_or_else(|e| panic!("bench set-up: MemoryStore create failed: {e}"));
        Self { peer, data, record }
    }
}

impl Subject for MemoryStoreSubject {
    fn label(&self) -> String {
        "tower-sessions MemoryStore".to_string()
    }

    fn run(&mut self, op: Op, iters: u64) -> Result<Duration, BenchError> {
        let peer = &self.peer;
        let mut tally = Tally::default();
        let spent = match op {
            // What a create costs MemoryStore: `create` of a record the
            // session layer has built (tower-sessions' `Session` does,
            // before it calls the store): its random id and expiry (timed,
            // as kv-session draws and reads them inside its create), a
            // collision check and a clone into the map. Copying the data
            // map into each record is untimed, as for `update`; the
            // sessions are deleted untimed after each batch.
            Op::Create => in_batches(iters, |n| {
                let mut ids: Vec<Id> = Vec::with_capacity(n as usize);
                let spent = in_batches_of(INPUT_BATCH, n, |m| {
                    let mut records: Vec<Record> = (0..m)
                        .map(|_| MemoryStorePeer::record(&self.data))
                        .collect();
                    let started = Instant::now();
                    for r in &mut records {
                        tally.check(peer.insert(r));
                    }
                    let spent = started.elapsed();
                    ids.extend(records.iter().map(|r| r.id));
                    spent
                });
                for id in &ids {
                    let _ = peer.delete(id);
                }
                spent
            }),
            Op::Load => timed(iters, || {
                let record = tally.check(peer.load(&self.record.id)).flatten();
                black_box(tally.present(record, NOT_LOADED));
            }),
            // What an update costs MemoryStore: `save` of a record the request
            // has already built (it clones it into the map and drops the old
            // one). Building the record (the data map) is the application's
            // work, as producing the JSON text is on our side, so it happens
            // untimed. `save` writes blindly: no read, no expiry check.
            Op::Update => {
                let (id, data) = (self.record.id, &self.data);
                in_batches_of(INPUT_BATCH, iters, |n| {
                    let expiry_date = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                    let records: Vec<Record> = (0..n)
                        .map(|_| Record {
                            id,
                            data: data.clone(),
                            expiry_date,
                        })
                        .collect();
                    timed_each(&records, |r| {
                        tally.check(peer.save(r));
                    })
                })
            }
            // A new expiry and a blind `save` (which clones the record).
            Op::Touch => {
                let record = &mut self.record;
                timed(iters, || {
                    record.expiry_date = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                    tally.check(peer.save(record));
                })
            }
            Op::Destroy => in_batches(iters, |n| {
                let ids: Vec<Id> = (0..n)
                    .filter_map(|_| tally.check(peer.create(&self.data)))
                    .collect();
                timed_each(&ids, |id| {
                    tally.check(peer.delete(id));
                })
            }),
        };
        tally.finish(&*self, op, iters, spent)
    }
}

/// The `cookie` crate's jars sealing the same record.
pub struct CookieJarSubject {
    peer: CookieJarPeer,
    record: SealedRecord,
    sealed: String,
    private: bool,
    format: PeerFormat,
}

impl CookieJarSubject {
    /// Benchmarks a private (`true`) or signed jar with `json` as data, in
    /// tower-sessions-cookie-store's format.
    pub fn new(master: &[u8], private: bool, json: &str) -> Self {
        Self::with_format(master, private, json, PeerFormat::Envelope)
    }

    /// [`Self::new`] sealing `format`.
    pub fn with_format(master: &[u8], private: bool, json: &str, format: PeerFormat) -> Self {
        let peer = CookieJarPeer::with_format(master, private, format);
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
            format,
        }
    }
}

impl Subject for CookieJarSubject {
    fn label(&self) -> String {
        let jar = if self.private {
            "PrivateJar"
        } else {
            "SignedJar"
        };
        match self.format {
            PeerFormat::Envelope => format!("cookie {jar}"),
            PeerFormat::SameBytes => format!("cookie {jar}, same bytes"),
        }
    }

    /// Every operation reads the clock, as the plugin does.
    fn run(&mut self, op: Op, iters: u64) -> Result<Duration, BenchError> {
        let peer = &self.peer;
        let now = || SystemClock.now_secs();
        let mut tally = Tally::default();
        const NOT_OPENED: &str = "the seal does not open";
        let spent = match op {
            Op::Create => timed(iters, || {
                let now = now();
                let r = SealedRecord {
                    created_at: now,
                    expires_at: now + self.record.ttl_seconds,
                    ..self.record.clone()
                };
                black_box(peer.seal(&r));
            }),
            Op::Load => timed(iters, || {
                black_box(tally.present(peer.open(&self.sealed, now()), NOT_OPENED));
            }),
            // cookie-session's destroy only checks the seal is authentic.
            Op::Destroy => timed(iters, || {
                let authentic = peer.verify(&self.sealed);
                black_box(tally.present(authentic.then_some(()), NOT_OPENED));
            }),
            Op::Update => timed(iters, || {
                let now = now();
                if let Some(mut r) = tally.present(peer.open(&self.sealed, now), NOT_OPENED) {
                    r.data = self.record.data.clone();
                    r.expires_at = now + r.ttl_seconds;
                    black_box(peer.seal(&r));
                }
            }),
            Op::Touch => timed(iters, || {
                let now = now();
                if let Some(mut r) = tally.present(peer.open(&self.sealed, now), NOT_OPENED) {
                    r.expires_at = now + r.ttl_seconds;
                    black_box(peer.seal(&r));
                }
            }),
        };
        tally.finish(&*self, op, iters, spent)
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

/// Persistent worker threads that run one operation in timed batches.
///
/// The threads live as long as the `Workers`, so a batch pays neither thread
/// start-up nor a cold per-thread instance-pool shard: on one thread a batch
/// costs what the same operation costs in a plain loop
/// ([`Subject::run`]), and the 1- and 2-thread figures come from one method.
pub struct Workers {
    jobs: Vec<Sender<u64>>,
    results: Receiver<(Instant, Instant, Tally)>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `threads` (at least 1) threads, each calling `op` on request;
    /// `op` says what went wrong when a call did not do its work.
    pub fn new<F>(threads: usize, op: F) -> Self
    where
        F: Fn() -> Result<(), Missed> + Clone + Send + 'static,
    {
        let n = threads.max(1);
        let start = Arc::new(Barrier::new(n));
        let (report, results) = channel();
        let (jobs, threads) = (0..n)
            .map(|_| {
                let (job, jobs) = channel::<u64>();
                let (op, start, report) = (op.clone(), start.clone(), report.clone());
                let thread = std::thread::spawn(move || {
                    for iters in jobs {
                        // All threads start together, then time their share.
                        start.wait();
                        let mut tally = Tally::default();
                        let started = Instant::now();
                        for _ in 0..iters {
                            tally.check(op());
                        }
                        if report.send((started, Instant::now(), tally)).is_err() {
                            break;
                        }
                    }
                });
                (job, thread)
            })
            .unzip();
        Self {
            jobs,
            results,
            threads,
        }
    }

    /// Runs `iters` operations split evenly over the threads and returns the
    /// wall time from the first thread starting to the last one finishing,
    /// with the failed calls of all threads.
    pub fn run(&self, iters: u64) -> (Duration, Tally) {
        let mut all = Tally::default();
        let n = self.jobs.len() as u64;
        for (i, job) in self.jobs.iter().enumerate() {
            let share = iters / n + u64::from((i as u64) < iters % n);
            if job.send(share).is_err() {
                all.fail("a worker thread is gone");
                return (Duration::ZERO, all);
            }
        }
        let (mut first, mut last) = (None::<Instant>, None::<Instant>);
        for _ in 0..n {
            let Ok((started, ended, tally)) = self.results.recv() else {
                all.fail("a worker thread is gone");
                return (Duration::ZERO, all);
            };
            all.merge(tally);
            first = Some(first.map_or(started, |f| f.min(started)));
            last = Some(last.map_or(ended, |l| l.max(ended)));
        }
        let spent = match (first, last) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        };
        (spent, all)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.jobs.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One operation from `threads` persistent threads, as a [`Subject`] (its
/// `run` ignores the `op` it is given: the operation is fixed when it is
/// built). [`Threaded::load`] reads one session from every thread;
/// [`Threaded::update`] writes one session per thread (as requests of
/// different users do), which, unlike loads, write-lock their key's stripe
/// of the memory backend, so it shows what writers contend on.
pub struct Threaded {
    workers: Workers,
    threads: usize,
    op: Op,
}

impl Threaded {
    /// `load(id)` on `plugin` from `threads` threads.
    pub fn load(plugin: &Plugin, id: &str, threads: usize) -> Self {
        let (plugin, id) = (plugin.clone(), id.to_string());
        Self {
            workers: Workers::new(threads, move || {
                loaded(plugin.load(&id)).map(|record| drop(black_box(record)))
            }),
            threads: threads.max(1),
            op: Op::Load,
        }
    }

    /// `update(id, data)` on `plugin` from `threads` threads, each on a
    /// session of `data` it creates here (set-up, untimed).
    pub fn update(plugin: &Plugin, data: &str, threads: usize) -> Result<Self, CallError> {
        let ids = (0..threads.max(1))
            .map(|_| plugin.create(CreateOptions::new(data)))
            .collect::<Result<Vec<_>, _>>()?;
        let (plugin, ids, data) = (plugin.clone(), Arc::new(ids), data.to_string());
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Each thread runs its own clone of the closure: its own slot.
        let mine = std::cell::OnceCell::new();
        Ok(Self {
            workers: Workers::new(threads, move || {
                let i =
                    *mine.get_or_init(|| next.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                let id = ids
                    .get(i % ids.len().max(1))
                    .ok_or("no session to update")?;
                Ok(plugin.update(id, &data, None).map(drop)?)
            }),
            threads: threads.max(1),
            op: Op::Update,
        })
    }
}

impl Subject for Threaded {
    fn label(&self) -> String {
        format!("{} on {} thread(s)", self.op.name(), self.threads)
    }

    /// Wall time for `iters` operations spread over the threads.
    fn run(&mut self, _op: Op, iters: u64) -> Result<Duration, BenchError> {
        let (spent, tally) = self.workers.run(iters);
        tally.finish(&*self, self.op, iters, spent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn workers_split_the_operations_exactly() {
        for threads in [1, 2, 3] {
            let calls = Arc::new(AtomicU64::new(0));
            let counter = calls.clone();
            let workers = Workers::new(threads, move || {
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(())
            });
            for iters in [0, 1, 2, 7, 1000] {
                let before = calls.load(Ordering::Relaxed);
                let (_, tally) = workers.run(iters);
                assert_eq!(tally.failed(), 0);
                assert_eq!(
                    calls.load(Ordering::Relaxed) - before,
                    iters,
                    "{threads} threads"
                );
            }
        }
    }
}
