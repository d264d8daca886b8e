//! What a plugin's wasmtime `Store` holds: its WASI context (granting nothing),
//! its configuration, its kv view and its memory limiter.

use crate::guest_log::GuestLog;
use crate::kv::host::KvView;
use crate::limits::MemoryLimiter;
use std::sync::Arc;
use std::time::Duration;
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
    /// Backend wait the current call may still have given back to its
    /// deadline (see [`HostState::io_credit`]).
    pub(crate) io_credit_left: Duration,
}

impl HostState {
    /// Forgets what an earlier call on this pooled instance left behind (a
    /// memory-limit hit, stderr lines), so a failure is reported as this
    /// call's.
    pub(crate) fn begin_call(&mut self, deadline: Duration) {
        self.limiter.hit = false;
        self.log.begin_call();
        self.kv.take_waited();
        self.io_credit_left = deadline.saturating_mul(IO_CREDIT_FACTOR);
    }

    /// Called when the call's deadline is reached: the time it has waited on
    /// the kv backend since the last time, up to what is left of its credit,
    /// to add to the deadline; zero means the guest itself used the time.
    pub(crate) fn io_credit(&mut self) -> Duration {
        let credit = self.kv.take_waited().min(self.io_credit_left);
        self.io_credit_left -= credit;
        credit
    }
}

/// A call may have at most this many times its deadline given back for
/// waiting on the kv backend: a slow server makes calls slower, but a
/// plugin that loops on kv calls still meets a deadline.
pub(crate) const IO_CREDIT_FACTOR: u32 = 4;

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
