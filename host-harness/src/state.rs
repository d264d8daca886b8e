//! What a plugin's wasmtime `Store` holds: its WASI context (granting nothing),
//! its configuration, its kv view and its memory limiter.

use crate::engine::EPOCH_TICK;
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
    /// The current call's clock (see [`HostState::time_left`]).
    pub(crate) call: CallClock,
}

impl HostState {
    /// Forgets what an earlier call on this pooled instance left behind (a
    /// memory-limit hit, stderr lines, its clock), so a failure is reported
    /// as this call's. Reads no clock: a call that ends before the first
    /// epoch tick never does.
    pub(crate) fn begin_call(&mut self, deadline: Duration) {
        self.limiter.hit = false;
        self.log.begin_call();
        self.call = CallClock::new(deadline);
    }

    /// Called on the guest's thread at each epoch deadline: how much CPU
    /// time the call has left ([`CallClock::left`]). Zero: it is used up.
    pub(crate) fn time_left(&mut self) -> Duration {
        self.call.left(Instant::now(), thread_cpu_time())
    }
}

/// The CPU time the calling thread has used, or none where the platform
/// cannot tell (the wall clock then stands in: see [`CallClock::left`]).
fn thread_cpu_time() -> Option<Duration> {
    cpu_time::ThreadTime::try_now()
        .ok()
        .map(|t| t.as_duration())
}

/// A call's deadline, kept in the CPU time of the thread running it (the
/// guest and the host functions it calls): time the thread spends off the
/// CPU, waiting for a core on a loaded machine or blocked on a kv server,
/// is not the guest's work, and a call that used its deadline's worth of
/// CPU is stopped however slowly it got there. Its wall time is capped at
/// [`WALL_FACTOR`] deadlines, so a guest that loops on slow kv calls still
/// meets one.
///
/// The clocks are first read at the call's first epoch tick (a call that
/// ends sooner, as nearly all do, reads none); what ran before it counts
/// as one whole tick.
pub(crate) struct CallClock {
    deadline: Duration,
    /// The wall time and the thread's CPU time at the first look.
    first: Option<(Instant, Option<Duration>)>,
    /// Whether the cap on wall time, not the CPU time, ran out.
    wall_time_out: bool,
}

impl CallClock {
    /// A clock for a call with `deadline`, not yet looked at.
    pub(crate) fn new(deadline: Duration) -> Self {
        Self {
            deadline,
            first: None,
            wall_time_out: false,
        }
    }

    /// Whether the call was stopped by the cap on its wall time rather than
    /// by using its CPU deadline.
    pub(crate) fn stopped_by_wall_time(&self) -> bool {
        self.wall_time_out
    }

    /// What is left of the deadline at wall time `now`, the thread having
    /// used `cpu` in all (none: unknown, so the wall time since the first
    /// look counts as CPU time). Zero once the CPU time since the first look
    /// plus one tick reaches the deadline, or the wall time since the first
    /// look plus one tick reaches [`WALL_FACTOR`] deadlines. The first look
    /// leaves at least one tick, so a deadline of a tick or less still lets
    /// a call run into its second tick.
    fn left(&mut self, now: Instant, cpu: Option<Duration>) -> Duration {
        let Some((since, cpu_then)) = self.first else {
            self.first = Some((now, cpu));
            return self.deadline.saturating_sub(EPOCH_TICK).max(EPOCH_TICK);
        };
        let wall = now.saturating_duration_since(since) + EPOCH_TICK;
        let used = match (cpu, cpu_then) {
            (Some(now), Some(then)) => now.saturating_sub(then) + EPOCH_TICK,
            _ => wall,
        };
        let wall_left = self
            .deadline
            .saturating_mul(WALL_FACTOR)
            .saturating_sub(wall);
        let cpu_left = self.deadline.saturating_sub(used);
        self.wall_time_out = wall_left.is_zero() && !cpu_left.is_zero();
        cpu_left.min(wall_left)
    }
}

/// A call's wall time is at most this many times its deadline, however
/// little CPU time it used: a slow kv server or a machine short of cores
/// makes calls slower, up to this, before they time out.
pub(crate) const WALL_FACTOR: u32 = 5;

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

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Looks at a 100 ms clock `steps` times, each (wall, cpu) in ms since
    /// the first look, which is at (0, 0); returns what was left each time.
    fn looks(steps: &[(u64, Option<u64>)]) -> Vec<Duration> {
        let t0 = Instant::now();
        let cpu0 = Duration::from_secs(7);
        let mut c = CallClock::new(ms(100));
        let first = c.left(t0, Some(cpu0));
        let tick = EPOCH_TICK.as_millis() as u64;
        assert_eq!(first, ms(100 - tick), "what ran before counts as a tick");
        steps
            .iter()
            .map(|&(wall, cpu)| c.left(t0 + ms(wall), cpu.map(|c| cpu0 + ms(c))))
            .collect()
    }

    #[test]
    fn a_call_on_the_cpu_all_along_stops_at_its_deadline() {
        let tick = EPOCH_TICK.as_millis() as u64;
        assert_eq!(
            looks(&[(50, Some(50)), (100 - tick, Some(100 - tick))]),
            [ms(50 - tick), ms(0)]
        );
    }

    /// A thread kept off the CPU (other threads on its core, a blocking kv
    /// call) keeps its deadline for its own work: with the wall clock it
    /// timed out, which failed a correct call on a loaded machine.
    #[test]
    fn time_off_the_cpu_is_not_counted() {
        let tick = EPOCH_TICK.as_millis() as u64;
        assert_eq!(
            looks(&[(300, Some(20)), (400, Some(100 - tick))]),
            [ms(80 - tick), ms(0)]
        );
    }

    #[test]
    fn wall_time_is_capped_at_five_deadlines() {
        let tick = EPOCH_TICK.as_millis() as u64;
        let cap = 100 * u64::from(WALL_FACTOR);
        assert_eq!(
            looks(&[(cap - tick - 30, Some(1)), (cap - tick, Some(2))]),
            [ms(30), ms(0)]
        );
    }

    /// The timeout says which limit ran out: a call stopped by the wall cap
    /// used little CPU, and "used its CPU deadline" would send its operator
    /// looking for a loop that is not there.
    #[test]
    fn the_clock_tells_which_limit_ran_out() {
        let t0 = Instant::now();
        let cpu0 = Some(Duration::from_secs(1));
        let mut by_wall = CallClock::new(ms(100));
        by_wall.left(t0, cpu0);
        assert!(by_wall.left(t0 + ms(600), cpu0).is_zero());
        assert!(by_wall.stopped_by_wall_time());
        let mut by_cpu = CallClock::new(ms(100));
        by_cpu.left(t0, cpu0);
        assert!(
            by_cpu
                .left(t0 + ms(100), Some(Duration::from_secs(1) + ms(100)))
                .is_zero()
        );
        assert!(!by_cpu.stopped_by_wall_time());
    }

    /// A deadline of a tick or less is not used up by the first look (which
    /// counts what ran before it as a tick): the call runs into its second.
    #[test]
    fn the_first_look_leaves_at_least_a_tick() {
        let t0 = Instant::now();
        for deadline in [ms(1), EPOCH_TICK] {
            assert_eq!(CallClock::new(deadline).left(t0, None), EPOCH_TICK);
        }
    }

    #[test]
    fn without_a_cpu_clock_the_wall_clock_counts() {
        let tick = EPOCH_TICK.as_millis() as u64;
        assert_eq!(looks(&[(30, None), (100, None)]), [ms(70 - tick), ms(0)]);
    }

    #[test]
    fn this_thread_has_a_cpu_clock_that_ignores_sleep() {
        let before = thread_cpu_time().expect("Linux has CLOCK_THREAD_CPUTIME_ID");
        std::thread::sleep(ms(50));
        let slept = thread_cpu_time().unwrap() - before;
        assert!(slept < ms(40), "a sleep used {slept:?} of CPU time");
    }
}
