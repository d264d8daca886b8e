//! The guest's notion of "now": Unix seconds from the WASI wall clock, so the
//! host controls time by giving the guest a clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current time in whole Unix seconds (0 if the host clock is before 1970).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
