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
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(8))
            .total_memories(n)
            // A component defining many memories or core instances would
            // otherwise take the slots other plugins need.
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .total_tables(n.saturating_mul(4))
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
