//! What a plugin's wasmtime `Store` holds: its WASI context (granting nothing),
//! its configuration, its kv view and its memory limiter.

use crate::guest_log::GuestLog;
use crate::kv::host::KvView;
use crate::limits::MemoryLimiter;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;

/// The per-instance host state.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) config: Arc<WasiConfigVariables>,
    pub(crate) kv: KvView,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) log: GuestLog,
}

impl HostState {
    /// Forgets what an earlier call on this pooled instance left behind (a
    /// memory-limit hit, stderr lines), so a failure is reported as this
    /// call's.
    pub(crate) fn begin_call(&mut self) {
        self.limiter.hit = false;
        self.log.begin_call();
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
