//! Pre-instantiated instances of one plugin, reused across calls. An instance
//! leaves the pool for exactly one call at a time; one that failed is never
//! put back.
//!
//! The pool is sharded: each thread has a home shard (assigned round-robin on
//! its first call), so threads calling the same plugin do not contend on one
//! lock. A thread whose home shard is empty takes from the others before
//! instantiating.

use crate::bindings::SessionHost;
use crate::state::HostState;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::Store;

/// Shards per pool; more than the threads a host usually runs per plugin.
pub(crate) const SHARDS: usize = 8;

/// One live instance and the store it lives in.
pub(crate) struct Instance {
    pub(crate) store: Store<HostState>,
    pub(crate) api: SessionHost,
}

/// A shard on its own cache line, so shards do not share one.
#[repr(align(128))]
struct Shard(Mutex<Vec<Instance>>);

/// Idle instances, most recently used last in each shard.
pub(crate) struct InstancePool {
    shards: Vec<Shard>,
    max_idle_per_shard: usize,
    /// When set, each shard keeps at most one returned instance (none when
    /// configured to keep none).
    closed: std::sync::atomic::AtomicBool,
}

/// The calling thread's home shard.
pub(crate) fn home() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    HOME.with(|h| *h)
}

impl InstancePool {
    pub(crate) fn new(max_idle: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard(Mutex::new(Vec::new()))).collect(),
            // Shards split the budget, rounding up: a positive limit keeps at
            // least one idle instance per shard, zero keeps none.
            max_idle_per_shard: max_idle.div_ceil(SHARDS),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// An idle instance: from the home shard if it has one, else any shard.
    pub(crate) fn take(&self) -> Option<Instance> {
        let h = home();
        (0..SHARDS).find_map(|i| {
            let shard = &self.shards[(h + i) % SHARDS];
            shard.0.lock().ok()?.pop()
        })
    }

    /// Returns a healthy instance to the home shard; dropped when it is full.
    pub(crate) fn put(&self, instance: Instance) {
        let most = match self.closed.load(Ordering::Relaxed) {
            true => self.max_idle_per_shard.min(1),
            false => self.max_idle_per_shard,
        };
        let rejected = match self.shards[home()].0.lock() {
            Ok(mut idle) if idle.len() < most => {
                idle.push(instance);
                None
            }
            _ => Some(instance),
        };
        // Drop a rejected instance outside the lock.
        drop(rejected);
    }

    /// Drops one idle instance (the one idle longest in the first shard
    /// holding any), freeing its instance slot for another plugin; false
    /// when none is idle.
    pub(crate) fn evict_one(&self) -> bool {
        let evicted = self.shards.iter().find_map(|s| {
            let mut idle = s.0.lock().ok()?;
            (!idle.is_empty()).then(|| idle.remove(0))
        });
        // Dropped here, outside the lock.
        evicted.is_some()
    }

    /// Idle instances right now.
    pub(crate) fn idle(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().map(|i| i.len()).unwrap_or(0))
            .sum()
    }

    /// Keeps at most one idle instance per shard (dropping the others now),
    /// or as many as configured again.
    pub(crate) fn set_closed(&self, closed: bool) {
        self.closed.store(closed, Ordering::Relaxed);
        if closed {
            self.clear();
        }
    }

    /// Drops every idle instance.
    pub(crate) fn clear(&self) {
        for s in &self.shards {
            let drained: Vec<Instance> =
                s.0.lock()
                    .map(|mut i| i.drain(..).collect())
                    .unwrap_or_default();
            drop(drained);
        }
    }
}
