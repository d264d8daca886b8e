//! The sandbox's limits on a plugin: CPU time per call, memory per instance,
//! size of what it may hand back, and how many idle instances to keep.

use std::time::Duration;

/// Per-plugin limits. [`Limits::default`] suits the shipped stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU deadline of an ordinary call (create, load, update, ...).
    pub call_deadline: Duration,
    /// CPU deadline of `count` and `purge-expired`, which walk every session.
    pub maintenance_deadline: Duration,
    /// Largest linear memory one instance may grow to, in bytes (all of its
    /// memories together).
    pub memory_bytes: usize,
    /// Largest session data or user id a plugin may return, in bytes.
    pub max_output_bytes: usize,
    /// Largest session id a plugin may return, in bytes.
    pub max_id_bytes: usize,
    /// Check that returned data is a JSON object by parsing it, instead of the
    /// default cheap check of its first and last characters.
    pub strict_output: bool,
    /// Idle instances kept per plugin for reuse (split across the pool's 8
    /// shards, rounded up per shard; 0 keeps none).
    pub max_idle_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_deadline: Duration::from_millis(250),
            maintenance_deadline: Duration::from_secs(5),
            memory_bytes: 64 * 1024 * 1024,
            max_output_bytes: 1024 * 1024,
            max_id_bytes: 8 * 1024,
            strict_output: false,
            max_idle_instances: 16,
        }
    }
}

/// Tracks memory growth against [`Limits::memory_bytes`], counting every
/// linear memory of the instance together (a component may define several),
/// and remembers whether the limit was hit, so a trap that follows can be
/// reported as what it is.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// Bytes of linear memory the instance's memories hold together.
    total: usize,
    /// Set when a growth was refused during the current call.
    pub(crate) hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            total: 0,
            hit: false,
        }
    }
}

/// Table elements an instance may grow to (Rust guests need a few hundred).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_limit_covers_all_memories_of_an_instance_together() {
        let mut l = MemoryLimiter::new(64 * MIB);
        // Two memories created at 40 MiB each: the second passes the limit.
        assert!(l.memory_growing(0, 40 * MIB, None).unwrap());
        assert!(!l.memory_growing(0, 40 * MIB, None).unwrap());
        assert!(l.hit);
        // Growing the first within what is left is fine, past it is not.
        assert!(l.memory_growing(40 * MIB, 64 * MIB, None).unwrap());
        assert!(!l.memory_growing(0, MIB, None).unwrap());
    }

    #[test]
    fn one_memory_may_use_the_whole_limit() {
        let mut l = MemoryLimiter::new(64 * MIB);
        assert!(l.memory_growing(0, MIB, None).unwrap());
        assert!(l.memory_growing(MIB, 64 * MIB, None).unwrap());
        assert!(!l.hit);
        assert!(!l.memory_growing(64 * MIB, 64 * MIB + 65536, None).unwrap());
        assert!(l.hit);
    }
}
