//! The sandbox's limits on a plugin: CPU time per call, memory per instance,
//! size of what it may hand back, and how many idle instances to keep.

use std::time::Duration;

/// Per-plugin limits. [`Limits::default`] suits the shipped stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU deadline of an ordinary call (create, load, update, ...): the CPU
    /// time of the thread running it, whose wall time is also capped at
    /// five times this (time off the CPU, waiting for a core or on a kv
    /// server, counts only there).
    pub call_deadline: Duration,
    /// CPU deadline of `count` and `purge-expired`, which walk every session
    /// (the same cap of five times it in wall time).
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

/// Room in [`Limits::copy_limit_bytes`] over the largest crossing a correct
/// plugin makes, for the short strings around it (error messages, the name
/// and version `info` returns, a `list-keys` cursor).
const COPY_SLACK_BYTES: usize = 64 * 1024;

impl Limits {
    /// Most bytes of strings and lists one crossing of the component boundary
    /// may carry from the guest into the host: everything one call returns,
    /// together, or the arguments of one host call the guest makes
    /// (wasmtime's hostcall fuel). Past it the call fails with
    /// [`crate::CallError::CopyLimit`] and no more is copied, so a plugin
    /// returning three 20 MB strings costs the host no 60 MB before the
    /// output limits refuse them.
    ///
    /// Not a separate knob: the larger of what a `load` may return (an id,
    /// data and a user id at their limits) and what a `kv` `set` may pass
    /// (a key and a value at the kv import's limits), plus 64 KiB, so a
    /// correct plugin never meets it and an answer or argument just over its
    /// own limit still gets that limit's error.
    pub fn copy_limit_bytes(&self) -> usize {
        use crate::kv::host::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
        let returned = self
            .max_id_bytes
            .saturating_add(self.max_output_bytes.saturating_mul(2));
        returned
            .max(MAX_KEY_BYTES + MAX_VALUE_BYTES)
            .saturating_add(COPY_SLACK_BYTES)
    }
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
/// reported as what it is. It also caps how many core instances, tables and
/// memories the instance's store may create, and how many elements its
/// tables hold together: with the pooling allocator off nothing else does.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    /// Bytes of linear memory the instance's memories hold together.
    memory: Budget,
    /// Set when a growth was refused (by this limiter, or after its approval
    /// by the memory's own maximum or the allocator) during the current call.
    pub(crate) hit: bool,
    /// Elements the instance's tables hold together.
    tables: Budget,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            memory: Budget::new(limit),
            hit: false,
            tables: Budget::new(MAX_TABLE_ELEMENTS),
        }
    }

    /// Bytes of linear memory counted now.
    #[cfg(test)]
    fn total(&self) -> usize {
        self.memory.used
    }

    /// Table elements counted now.
    #[cfg(test)]
    fn table_elements(&self) -> usize {
        self.tables.used
    }
}

/// What the instance's memories (or tables) hold together against a limit,
/// and what they held before the last growth approved, until that growth is
/// known to have happened or failed.
#[derive(Debug)]
struct Budget {
    limit: usize,
    used: usize,
    before_growth: Option<usize>,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            before_growth: None,
        }
    }

    /// Approves one memory or table growing from `current` to `desired`
    /// when all of them together stay within the limit, and counts it.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let used = self.used.saturating_sub(current).saturating_add(desired);
        if used > self.limit {
            self.before_growth = None;
            return false;
        }
        self.before_growth = Some(self.used);
        self.used = used;
        true
    }

    /// A growth failed with `error`: the last approved one did not happen
    /// and comes off the count again, unless `error` is `unasked`, what
    /// wasmtime reports for a growth it refuses before asking the limiter
    /// (the last approval may then be a growth that happened, which must
    /// stay counted, or a guest could alternate the two and grow without
    /// bound).
    fn grow_failed(&mut self, error: &wasmtime::Error, unasked: &str) {
        match self.before_growth.take() {
            Some(before) if error.to_string() != unasked => self.used = before,
            _ => {}
        }
    }
}

/// Table elements the tables of an instance may hold together (Rust guests
/// need a few hundred): host memory outside [`Limits::memory_bytes`], at
/// most 800 KB of 8-byte references, whatever number of tables it makes.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Core module instances one store (one plugin instance) may create: the
/// pooling allocator's per-component cap, applied without it too.
pub(crate) const MAX_CORE_INSTANCES: usize =
    crate::engine::MAX_CORE_INSTANCES_PER_COMPONENT as usize;

/// Linear memories one store may create: the pooling allocator's
/// per-component cap, applied without it too.
pub(crate) const MAX_MEMORIES: usize = crate::engine::MAX_MEMORIES_PER_COMPONENT as usize;

/// What wasmtime 48 (`runtime/vm/memory.rs`) reports, without asking the
/// limiter first, for a growth past what a memory's index type can address
/// (a 32-bit memory of 1-byte pages to 4 GiB; custom page sizes are off in
/// the harness's engine, so only if that changes). A test below pins it.
const TYPE_LIMITS_FAILURE: &str = "memory growth exceeds memory type's limits";

/// What wasmtime 48 (`runtime/vm/table.rs`) reports, without asking the
/// limiter first, for a table growth whose new size overflows (possible for
/// a 64-bit table, which the engine's default features allow). A test below
/// pins it.
const TABLE_OVERFLOW_FAILURE: &str = "overflow calculating new table size";

/// Tables one store may create: the pooling allocator's per-component cap,
/// applied without it too.
pub(crate) const MAX_TABLES: usize = crate::engine::MAX_TABLES_PER_COMPONENT as usize;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let approved = self.memory.grow(current, desired);
        self.hit |= !approved;
        Ok(approved)
    }

    /// A growth failed after all: if this limiter had approved it, its bytes
    /// were never added, so they come off the count again; either way the
    /// guest ran out of memory, so a trap that follows is the memory limit's.
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // Wasmtime refuses a growth past what the memory's index type can
        // address before it asks this limiter, and reports that here too.
        self.memory.grow_failed(&error, TYPE_LIMITS_FAILURE);
        self.hit = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.tables.grow(current, desired))
    }

    /// A table growth failed: if this limiter had approved it, its elements
    /// were never added, so they come off the count again.
    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // A size that overflows is refused before this limiter is asked
        // (alternated with growths that happen over its 16 tables, the
        // shared element budget would be passed 16 times over).
        self.tables.grow_failed(&error, TABLE_OVERFLOW_FAILURE);
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_copy_limit_covers_the_largest_crossing_a_correct_plugin_makes() {
        // By default a kv write of a key and a value at their limits leads.
        let kv = crate::kv::host::MAX_KEY_BYTES + crate::kv::host::MAX_VALUE_BYTES;
        assert_eq!(Limits::default().copy_limit_bytes(), kv + COPY_SLACK_BYTES);
        // Raised output limits raise it: a record at them still fits.
        let generous = Limits {
            max_output_bytes: 32 * MIB,
            max_id_bytes: MIB,
            ..Limits::default()
        };
        assert_eq!(generous.copy_limit_bytes(), 65 * MIB + COPY_SLACK_BYTES);
        let silly = Limits {
            max_output_bytes: usize::MAX,
            ..Limits::default()
        };
        assert_eq!(silly.copy_limit_bytes(), usize::MAX);
    }

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
    fn the_tables_of_an_instance_share_one_element_budget() {
        let mut l = MemoryLimiter::new(64 * MIB);
        assert!(l.table_growing(0, 60_000, None).unwrap());
        // A second table cannot take another 60,000: 16 tables of 100,000
        // each were 12.8 MB of host memory outside the memory limit.
        assert!(!l.table_growing(0, 60_000, None).unwrap());
        assert!(l.table_growing(0, 30_000, None).unwrap());
        // A growth that fails after approval gives its elements back.
        assert!(l.table_growing(30_000, 40_000, None).unwrap());
        l.table_grow_failed(wasmtime::Error::msg("out of memory"))
            .unwrap();
        assert!(l.table_growing(30_000, 40_000, None).unwrap());
        assert!(!l.table_growing(40_000, 40_001, None).unwrap());
        assert!(!l.hit, "a table is not the memory limit");
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

    #[test]
    fn a_growth_that_fails_after_approval_is_undone_and_counts_as_a_hit() {
        let mut l = MemoryLimiter::new(64 * MIB);
        assert!(l.memory_growing(0, 32 * MIB, None).unwrap());
        // Approved, then refused by the allocator: nothing was added.
        assert!(l.memory_growing(32 * MIB, 64 * MIB, None).unwrap());
        l.memory_grow_failed(wasmtime::Error::msg("out of memory"))
            .unwrap();
        assert!(l.hit, "the trap that follows is the memory limit's");
        assert_eq!(l.total(), 32 * MIB);
        // So the other 32 MiB are still there to use.
        assert!(l.memory_growing(32 * MIB, 64 * MIB, None).unwrap());
        // A failure the limiter was never asked about (past what the memory
        // type can address) undoes nothing (the approval before it was a
        // growth that happened), but is still out of memory.
        l.hit = false;
        l.memory_grow_failed(wasmtime::Error::msg(TYPE_LIMITS_FAILURE))
            .unwrap();
        assert_eq!(l.total(), 64 * MIB);
        assert!(l.hit);
    }

    /// A minimal core module: `memories` memories (the first of one page,
    /// at most `max` when given, exported as `m`; the others empty) and
    /// `tables` empty funcref tables.
    fn module_bytes(memories: u8, tables: u8, max: Option<u8>) -> Vec<u8> {
        fn section(id: u8, count: u8, items: &[u8]) -> Vec<u8> {
            let mut body = vec![count];
            body.extend_from_slice(items);
            let mut s = vec![id, u8::try_from(body.len()).unwrap()];
            s.extend(body);
            s
        }
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        if tables > 0 {
            let items: Vec<u8> = (0..tables).flat_map(|_| [0x70, 0x00, 0x00]).collect();
            wasm.extend(section(4, tables, &items));
        }
        if memories > 0 {
            let mut items = match max {
                Some(max) => vec![0x01, 0x01, max],
                None => vec![0x00, 0x01],
            };
            for _ in 1..memories {
                items.extend([0x00, 0x00]);
            }
            wasm.extend(section(5, memories, &items));
            wasm.extend(section(7, 1, &[1, b'm', 0x02, 0x00]));
        }
        wasm
    }

    fn store(engine: &wasmtime::Engine) -> wasmtime::Store<MemoryLimiter> {
        let mut store = wasmtime::Store::new(engine, MemoryLimiter::new(64 * MIB));
        store.limiter(|l| l);
        store
    }

    #[test]
    fn a_store_creates_a_bounded_number_of_instances_memories_and_tables() {
        let engine = wasmtime::Engine::default();
        let instantiate = |store: &mut wasmtime::Store<MemoryLimiter>, wasm: &[u8]| {
            let module = wasmtime::Module::new(&engine, wasm).unwrap();
            wasmtime::Instance::new(store, &module, &[]).map(drop)
        };
        let mut s = store(&engine);
        let too_many = |r: wasmtime::Result<()>, what: &str| {
            let e = r.expect_err(what);
            assert!(
                format!("{e:#}").contains(&format!("{what} count too high")),
                "{e:#}"
            );
        };
        instantiate(&mut s, &module_bytes(MAX_MEMORIES as u8, 0, None)).unwrap();
        too_many(instantiate(&mut s, &module_bytes(1, 0, None)), "memory");
        let mut s = store(&engine);
        too_many(
            instantiate(&mut s, &module_bytes(MAX_MEMORIES as u8 + 1, 0, None)),
            "memory",
        );
        let mut s = store(&engine);
        instantiate(&mut s, &module_bytes(0, MAX_TABLES as u8, None)).unwrap();
        too_many(instantiate(&mut s, &module_bytes(0, 1, None)), "table");
        let mut s = store(&engine);
        let empty = module_bytes(0, 0, None);
        for _ in 0..MAX_CORE_INSTANCES {
            instantiate(&mut s, &empty).unwrap();
        }
        too_many(instantiate(&mut s, &empty), "instance");
    }

    #[test]
    fn a_growth_past_a_memorys_own_maximum_leaves_the_count_as_it_was() {
        let engine = wasmtime::Engine::default();
        let mut s = store(&engine);
        // One page, at most two.
        let module = wasmtime::Module::new(&engine, module_bytes(1, 0, Some(2))).unwrap();
        let instance = wasmtime::Instance::new(&mut s, &module, &[]).unwrap();
        let memory = instance.get_memory(&mut s, "m").unwrap();
        assert_eq!(s.data().total(), 65536);
        // The limiter approves three more pages; the memory's maximum refuses.
        assert!(memory.grow(&mut s, 3).is_err());
        assert_eq!(s.data().total(), 65536, "the failed growth is not counted");
        assert!(s.data().hit);
        assert!(memory.grow(&mut s, 1).is_ok());
        assert_eq!(s.data().total(), 2 * 65536);
    }

    #[test]
    fn a_table_growth_that_overflows_does_not_undo_the_last_one() {
        // The harness's engine leaves memory64 (and so 64-bit tables) as
        // wasmtime's defaults have it: on.
        let engine = wasmtime::Engine::default();
        let mut s = store(&engine);
        // Two 64-bit funcref tables of no elements, exported as `t0`, `t1`.
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([4, 7, 2, 0x70, 0x04, 0, 0x70, 0x04, 0]);
        wasm.extend([7, 11, 2, 2, b't', b'0', 0x01, 0, 2, b't', b'1', 0x01, 1]);
        let module = wasmtime::Module::new(&engine, &wasm).unwrap();
        let instance = wasmtime::Instance::new(&mut s, &module, &[]).unwrap();
        let null = wasmtime::Ref::Func(None);
        for (n, name) in ["t0", "t1"].into_iter().enumerate() {
            let table = instance.get_table(&mut s, name).unwrap();
            table
                .grow(&mut s, 60_000, null.clone())
                .unwrap_or_else(|e| {
                    assert_eq!(n, 1, "{e:#}");
                    0
                });
            // Then one whose size overflows: the 60,000 stay counted, so
            // the second table cannot take another 60,000.
            let e = table.grow(&mut s, u64::MAX, null.clone()).unwrap_err();
            assert!(format!("{e:#}").contains("failed to grow table"), "{e:#}");
            assert_eq!(s.data().table_elements(), 60_000, "{name}");
        }
    }

    #[test]
    fn a_growth_past_what_a_memory_can_address_does_not_undo_the_last_one() {
        // Wasmtime refuses such a growth before asking the limiter only for
        // memories of 1-byte pages (custom-page-sizes, which the harness's
        // engine leaves off; checked here in case that changes).
        let mut config = wasmtime::Config::new();
        config.wasm_custom_page_sizes(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let mut s = store(&engine);
        // One memory of one 1-byte page, exported as `m`.
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([5, 4, 1, 0x08, 1, 0]);
        wasm.extend([7, 5, 1, 1, b'm', 0x02, 0]);
        let module = wasmtime::Module::new(&engine, &wasm).unwrap();
        let instance = wasmtime::Instance::new(&mut s, &module, &[]).unwrap();
        let memory = instance.get_memory(&mut s, "m").unwrap();
        for size in 2..=4u64 {
            // A growth that happens, then one to 4 GiB: the first stays
            // counted.
            memory.grow(&mut s, 1).unwrap();
            s.data_mut().hit = false;
            assert!(memory.grow(&mut s, (1 << 32) - size).is_err());
            assert!(s.data().hit);
            assert_eq!(s.data().total(), size as usize);
        }
    }
}
