//! What a plugin's wasmtime `Store` holds: its WASI context (granting nothing),
//! its configuration, its kv view and its memory limiter.

use crate::guest_log::GuestLog;
use crate::kv::host::KvView;
use crate::limits::MemoryLimiter;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// The current call's clock, kept only when the kv backend does I/O
    /// (see [`HostState::time_left`]).
    pub(crate) call: Option<CallClock>,
}

/// When a call started, its deadline, and how long it has waited on the kv
/// backend so far.
pub(crate) struct CallClock {
    started: Instant,
    deadline: Duration,
    waited: Duration,
}

impl HostState {
    /// Forgets what an earlier call on this pooled instance left behind (a
    /// memory-limit hit, stderr lines), so a failure is reported as this
    /// call's.
    pub(crate) fn begin_call(&mut self, deadline: Duration) {
        self.limiter.hit = false;
        self.log.begin_call();
        self.call = self.kv.is_timed().then(|| {
            self.kv.take_waited();
            CallClock {
                started: Instant::now(),
                deadline,
                waited: Duration::ZERO,
            }
        });
    }

    /// Called when the epoch deadline is reached: how much of the call's
    /// deadline the guest has left, counting wall time since the call began
    /// minus what it waited on the kv backend (that wait given back up to
    /// [`IO_CREDIT_FACTOR`] times the deadline). Zero: the guest used it up
    /// (always so without a call clock: an in-memory kv, or instantiation).
    pub(crate) fn time_left(&mut self) -> Duration {
        let Some(c) = self.call.as_mut() else {
            return Duration::ZERO;
        };
        let (waited, elapsed) = (self.kv.take_waited(), c.started.elapsed());
        c.left(waited, elapsed)
    }
}

impl CallClock {
    /// What is left of the deadline `elapsed` into the call, `new_wait`
    /// more having been spent waiting on the kv since the last look: each
    /// wait is counted once, and at most [`IO_CREDIT_FACTOR`] deadlines of
    /// waiting are given back in all.
    fn left(&mut self, new_wait: Duration, elapsed: Duration) -> Duration {
        self.waited = (self.waited + new_wait).min(self.deadline.saturating_mul(IO_CREDIT_FACTOR));
        self.deadline
            .saturating_sub(elapsed.saturating_sub(self.waited))
    }
}

/// A call may have at most this many times its deadline given back for
/// waiting on the kv backend: a slow server makes calls slower, but a
/// plugin that loops on kv calls still meets a deadline (its wall time is
/// at most `1 + IO_CREDIT_FACTOR` deadlines, its own work at most one).
pub(crate) const IO_CREDIT_FACTOR: u32 = 4;

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(deadline_ms: u64) -> CallClock {
        CallClock {
            started: Instant::now(),
            deadline: Duration::from_millis(deadline_ms),
            waited: Duration::ZERO,
        }
    }

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn without_waits_the_wall_clock_counts() {
        let mut c = clock(100);
        assert_eq!(c.left(ms(0), ms(30)), ms(70));
        assert_eq!(c.left(ms(0), ms(120)), ms(0));
    }

    /// Each wait is credited once, however often the deadline is looked at
    /// (crediting the running total again at every look let a guest that
    /// alternated kv calls and spinning run for several deadlines).
    #[test]
    fn each_wait_is_credited_once() {
        let mut c = clock(100);
        assert_eq!(c.left(ms(40), ms(60)), ms(80));
        assert_eq!(c.left(ms(0), ms(60)), ms(80), "looked at again");
        assert_eq!(c.left(ms(40), ms(150)), ms(30));
        assert_eq!(c.left(ms(0), ms(200)), ms(0));
    }

    #[test]
    fn waits_are_credited_up_to_four_deadlines() {
        let mut c = clock(100);
        assert_eq!(c.left(ms(1000), ms(1000)), ms(0), "600 ms of own work");
        let mut c = clock(100);
        assert_eq!(c.left(ms(1000), ms(450)), ms(50), "credit 400 of the 1000");
    }
}
