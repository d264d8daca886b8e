//! A kv backend that fails on demand, for tests of how stores and the harness
//! report backend failures.

use host_harness::{
    EngineSettings, Harness, KeyPage, KvBackend, KvError, ManualClock, MemoryBackend, WriteMode,
};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A [`MemoryBackend`] whose reads, or deletes of one key, can be made to fail.
pub struct FaultyBackend {
    inner: MemoryBackend,
    fail_reads: AtomicBool,
    fail_delete_of: Mutex<Option<String>>,
}

impl FaultyBackend {
    /// Makes every `get` fail (or succeed again).
    pub fn fail_reads(&self, fail: bool) {
        self.fail_reads.store(fail, Ordering::SeqCst);
    }

    /// Makes deletes of `key` fail (none: no failures).
    pub fn fail_delete_of(&self, key: Option<String>) {
        if let Ok(mut k) = self.fail_delete_of.lock() {
            *k = key;
        }
    }
}

/// A harness on a [`ManualClock`] over a fresh [`FaultyBackend`].
pub fn harness_with_faulty_kv() -> (Harness, Arc<FaultyBackend>) {
    let clock = ManualClock::new(crate::fixtures::T0);
    let backend = Arc::new(FaultyBackend {
        inner: MemoryBackend::new(Arc::new(clock.clone())),
        fail_reads: AtomicBool::new(false),
        fail_delete_of: Mutex::new(None),
    });
    let harness = Harness::builder()
        .clock(Arc::new(clock))
        .kv_backend(backend.clone())
        .engine_settings(EngineSettings {
            max_instances: 8,
            ..EngineSettings::default()
        })
        .build()
        .expect("harness builds");
    (harness, backend)
}

impl KvBackend for FaultyBackend {
    fn name(&self) -> &str {
        "faulty"
    }

    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(KvError::Backend("read timed out".into()));
        }
        self.inner.get(ns, key)
    }

    fn set(
        &self,
        ns: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        self.inner.set(ns, key, value, ttl, mode)
    }

    fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        if self
            .fail_delete_of
            .lock()
            .ok()
            .and_then(|k| k.clone())
            .as_deref()
            == Some(key)
        {
            return Err(KvError::Backend("connection reset by peer".into()));
        }
        self.inner.delete(ns, key)
    }

    fn list_keys(
        &self,
        ns: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        self.inner.list_keys(ns, prefix, cursor, limit)
    }
}
