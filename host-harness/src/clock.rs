//! The harness clock: one source of "now" shared by the guests' WASI wall clock
//! and the kv backend's ttls, so a test can move time for both at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Time since the Unix epoch.
    fn now(&self) -> Duration;

    /// Whole Unix seconds, the unit session expiry is kept in.
    fn now_secs(&self) -> u64 {
        self.now().as_secs()
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start` since the Unix epoch.
    pub fn new(start: Duration) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(duration_nanos(start))),
        }
    }

    /// A clock starting at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward, stopping at the latest time it can read
    /// (about the year 2554) rather than wrapping around.
    pub fn advance(&self, by: Duration) {
        let by = duration_nanos(by);
        // The closure always returns `Some`, so this cannot fail.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `to` since the Unix epoch.
    pub fn set(&self, to: Duration) {
        self.nanos.store(duration_nanos(to), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Adapts a [`Clock`] to the WASI wall clock a guest reads.
pub(crate) struct GuestWallClock(pub(crate) Arc<dyn Clock>);

impl wasmtime_wasi::HostWallClock for GuestWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let c = ManualClock::new(Duration::from_secs(100));
        let c2 = c.clone();
        assert_eq!(c.now_secs(), 100);
        c.advance(Duration::from_secs(5));
        assert_eq!(c2.now_secs(), 105);
        c2.set(Duration::from_secs(7));
        assert_eq!(c.now_secs(), 7);
    }

    #[test]
    fn advancing_by_a_huge_duration_saturates_instead_of_wrapping() {
        let c = ManualClock::new(Duration::from_secs(100));
        c.advance(Duration::MAX);
        let end = c.now();
        assert_eq!(end, Duration::from_nanos(u64::MAX));
        // Further advances stay at the end; time never moves back.
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now(), end);
        c.advance(Duration::MAX);
        assert_eq!(c.now(), end);
        // Just short of the end, then past it.
        let c = ManualClock::new(Duration::from_nanos(u64::MAX - 10));
        c.advance(Duration::from_nanos(5));
        assert_eq!(c.now(), Duration::from_nanos(u64::MAX - 5));
        c.advance(Duration::from_nanos(6));
        assert_eq!(c.now(), Duration::from_nanos(u64::MAX));
    }
}
