//! The wasmtime engine every plugin of a harness shares, and the epoch ticker
//! that drives per-call deadlines.

use crate::error::{SetupError, chain};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are accurate to about one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// Pre-allocate instance slots (fast instantiation, reserved address space)
    /// instead of allocating on demand.
    pub pooling: bool,
    /// Instance slots in the pool, across all plugins of the harness.
    pub max_instances: u32,
    /// Largest linear memory any plugin may be configured to use, in bytes;
    /// per-plugin limits ([`crate::Limits::memory_bytes`]) sit below it.
    pub max_memory_bytes: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: 256,
            max_memory_bytes: 1 << 30,
        }
    }
}

/// Linear memories one component may define (the shipped stores define one;
/// composed components may bring a few). The memory limit covers them all.
pub(crate) const MAX_MEMORIES_PER_COMPONENT: u32 = 4;

/// Core module instances one component may create (the shipped stores
/// create a handful: the store itself and wit-component's glue).
pub(crate) const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 32;

/// Tables one component may create (the shipped stores create a few: the
/// guest's own and wit-component's glue).
pub(crate) const MAX_TABLES_PER_COMPONENT: u32 = 16;

/// Builds the engine: component model, no concurrency support (about 3x
/// cheaper calls), epoch interruption for deadlines, optionally pooled slots.
pub(crate) fn build_engine(settings: &EngineSettings) -> Result<Engine, SetupError> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(true)
        // Guests ship stripped, so wasm backtraces carry no names: skip the cost.
        .wasm_backtrace_max_frames(None)
        .parallel_compilation(true);
    if settings.pooling {
        let mut pool = PoolingAllocationConfig::new();
        let n = settings.max_instances;
        // Room for every component instance to use all a component may:
        // with fewer memories, tables or core instances than that, the
        // instances of one component defining many (n/4 of them, for
        // memories) would take every slot, and every other plugin's
        // instantiation would fail. Only memory slots cost much: address
        // space (about 4 GiB each), reserved, not used.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(MAX_CORE_INSTANCES_PER_COMPONENT))
            .total_memories(n.saturating_mul(MAX_MEMORIES_PER_COMPONENT))
            .total_tables(n.saturating_mul(MAX_TABLES_PER_COMPONENT))
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            // And as much in one core module as in the whole component,
            // and a table as large as the limiter lets a store's tables be
            // together: the pool's own defaults (one memory and one table
            // per module, 20,000 elements a table) refused components that
            // load, and ran, with pooling off. A table slot reserves its
            // 800 KB of address space, committed only as the table grows.
            .max_memories_per_module(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_module(MAX_TABLES_PER_COMPONENT)
            .table_elements(crate::limits::MAX_TABLE_ELEMENTS)
            .max_memory_size(settings.max_memory_bytes)
            // Keep the first pages of a recycled memory resident and reset them
            // with memset instead of madvise: cheaper reinstantiation.
            .linear_memory_keep_resident(128 * 1024)
            .table_keep_resident(16 * 1024);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config).map_err(|e| SetupError::Engine(chain(&e)))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("session-harness-epoch".to_string())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Self { stop, thread }
    }

    /// Whether the ticker thread could be started (deadlines need it).
    pub(crate) fn running(&self) -> bool {
        self.thread.is_some()
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Epoch ticks that cover `time` (at least one).
pub(crate) fn ticks_covering(time: Duration) -> u64 {
    // wasmtime adds the ticks to the current epoch unchecked: kept far
    // from wrapping.
    let ticks = time.as_nanos().div_ceil(EPOCH_TICK.as_nanos().max(1));
    u64::try_from(ticks)
        .map_or(u64::MAX / 2, |t| t.min(u64::MAX / 2))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::component::{Component, Linker};

    /// A component making as many memories, tables and core instances as
    /// one may (`hog`), or one memory alone: instances of a module with a
    /// memory and a table, of one with a table, and of an empty one (the
    /// pooling allocator takes a slot for each memory, table and instance).
    fn component(hog: bool) -> Vec<u8> {
        let [memories, tables, empty] = if hog {
            let memories = MAX_MEMORIES_PER_COMPONENT;
            let tables = MAX_TABLES_PER_COMPONENT - memories;
            [
                memories,
                tables,
                MAX_CORE_INSTANCES_PER_COMPONENT - memories - tables,
            ]
        } else {
            [1, 0, 0]
        };
        let instances = |module: &str, n: u32| {
            format!("(core instance (instantiate ${module}))\n").repeat(n as usize)
        };
        let text = format!(
            "(component
               (core module $memory (memory 1) (table 1 funcref))
               (core module $table (table 1 funcref))
               (core module $empty)
               {}{}{})",
            instances("memory", memories),
            instances("table", tables),
            instances("empty", empty),
        );
        wat::parse_str(text).expect("the test component is valid text")
    }

    /// Instances of a component that makes all the memories, tables and
    /// core instances a component may, in every instance slot but one,
    /// leave room for an instance of another: they once took every memory
    /// slot at a quarter of the instance slots, every table slot too, and
    /// other plugins' instances failed.
    #[test]
    fn one_components_instances_leave_the_other_slots_usable() {
        let engine = build_engine(&EngineSettings {
            max_instances: 4,
            max_memory_bytes: 1 << 20,
            ..EngineSettings::default()
        })
        .unwrap();
        let linker = Linker::<()>::new(&engine);
        let hog = Component::new(&engine, component(true)).unwrap();
        let held: Vec<_> = (0..3)
            .map(|i| {
                let mut store = wasmtime::Store::new(&engine, ());
                let instance = linker
                    .instantiate(&mut store, &hog)
                    .unwrap_or_else(|e| panic!("hog {i}: {e:?}"));
                (store, instance)
            })
            .collect();
        let other = Component::new(&engine, component(false)).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        linker
            .instantiate(&mut store, &other)
            .expect("the last slot is usable");
        drop(held);
    }

    /// A core module may define as many memories and tables as a whole
    /// component, and a table as large as the limiter allows, with pooling
    /// as without: the pool's defaults (one of each per module, 20,000
    /// elements a table) refused at load what loads with pooling off.
    #[test]
    fn pooling_takes_what_the_limits_allow_without_it() {
        let module = "(component (core module \
             (memory 1) (memory 1) (memory 1) (memory 1) \
             (table 100000 funcref) (table 1 funcref)))";
        for pooling in [true, false] {
            let engine = build_engine(&EngineSettings {
                pooling,
                max_instances: 2,
                max_memory_bytes: 1 << 20,
            })
            .unwrap();
            let text = wat::parse_str(module).unwrap();
            let component = Component::new(&engine, text)
                .unwrap_or_else(|e| panic!("pooling {pooling}: {e:?}"));
            drop(component);
        }
    }
}
