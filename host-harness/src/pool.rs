//! Pre-instantiated instances of one plugin, reused across calls. An instance
//! leaves the pool for exactly one call at a time; one that failed is never
//! put back.

use crate::bindings::SessionHost;
use crate::state::HostState;
use std::sync::Mutex;
use wasmtime::Store;

/// One live instance and the store it lives in.
pub(crate) struct Instance {
    pub(crate) store: Store<HostState>,
    pub(crate) api: SessionHost,
}

/// Idle instances, most recently used last.
pub(crate) struct InstancePool {
    idle: Mutex<Vec<Instance>>,
    max_idle: usize,
}

impl InstancePool {
    pub(crate) fn new(max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            max_idle,
        }
    }

    /// An idle instance, if any (the warmest one).
    pub(crate) fn take(&self) -> Option<Instance> {
        self.idle.lock().ok()?.pop()
    }

    /// Returns a healthy instance; dropped when the pool is full.
    pub(crate) fn put(&self, instance: Instance) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(instance);
        }
    }

    /// Idle instances right now.
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// Drops every idle instance.
    pub(crate) fn clear(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
