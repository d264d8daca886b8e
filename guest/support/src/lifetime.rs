//! Expiry arithmetic: sliding lifetime capped by the absolute lifetime.

use crate::Invalid;

/// Longest accepted `ttl-seconds` (100 years); larger values are refused
/// rather than silently clamped.
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// Checks a caller-supplied ttl.
pub fn validate_ttl(ttl: u64) -> Result<(), Invalid> {
    if ttl == 0 || ttl > MAX_TTL_SECONDS {
        return Err(Invalid::Data(format!(
            "ttl-seconds must be between 1 and {MAX_TTL_SECONDS}, got {ttl}"
        )));
    }
    Ok(())
}

/// When a session last refreshed at `now` expires: `now + ttl`, but never
/// after the absolute cap (OWASP's absolute timeout, see [`absolute_cap`]).
pub fn expiry(now: u64, ttl: u64, created_at: u64, max_lifetime: u64) -> u64 {
    now.saturating_add(ttl)
        .min(absolute_cap(created_at, max_lifetime, now))
}

/// `created_at + max_lifetime`, with a `created_at` later than `now` (a clock
/// that stepped back, or a record written by someone else) counted as `now`:
/// a session never has more than `max_lifetime` left, whatever it claims.
pub fn absolute_cap(created_at: u64, max_lifetime: u64, now: u64) -> u64 {
    clamp_created_at(created_at, now).saturating_add(max_lifetime)
}

/// The creation time to keep for a session read at `now`: a `created_at`
/// later than `now` (written under a clock that ran ahead, on another
/// replica or before a correction) becomes `now`, so the absolute cap counts
/// from a fixed point once the record is rewritten, instead of sliding with
/// every touch until the clock catches up, and a record never claims to be
/// created after it expires.
pub fn clamp_created_at(created_at: u64, now: u64) -> u64 {
    created_at.min(now)
}

/// How far ahead of the clock a seal's times may be before `load` re-issues
/// it with clamped ones: replicas' clocks differ by a second or two, and
/// re-sealing on every request for that would be work for nothing.
pub const CLOCK_SKEW_TOLERANCE_SECONDS: u64 = 60;

/// A session is live while `now < expires_at`.
pub fn is_live(now: u64, expires_at: u64) -> bool {
    now < expires_at
}

/// The expiry in force at `now` for a stored session under the current
/// settings: its stored expiry, but never past the [`absolute_cap`] (so
/// lowering `session.max-lifetime-seconds` also shortens sessions already
/// issued), nor more than its `ttl` from now. A session refreshed under an
/// honest clock always expires within `ttl` of now; one written under a
/// clock that ran ahead would otherwise get the whole gap as idle time.
pub fn effective_expiry(
    expires_at: u64,
    created_at: u64,
    ttl: u64,
    max_lifetime: u64,
    now: u64,
) -> u64 {
    expires_at
        .min(now.saturating_add(ttl))
        .min(absolute_cap(created_at, max_lifetime, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_cap_wins_over_sliding() {
        assert_eq!(expiry(100, 50, 100, 1000), 150);
        assert_eq!(expiry(1090, 50, 100, 1000), 1100);
        assert_eq!(expiry(u64::MAX - 1, 50, u64::MAX - 1, u64::MAX), u64::MAX);
    }

    #[test]
    fn a_lowered_cap_shortens_stored_sessions() {
        assert_eq!(effective_expiry(500, 100, 5000, 1000, 200), 500);
        assert_eq!(effective_expiry(5000, 100, 5000, 1000, 200), 1100);
        assert_eq!(
            effective_expiry(u64::MAX, u64::MAX, u64::MAX, 10, u64::MAX),
            u64::MAX
        );
    }

    #[test]
    fn an_expiry_ahead_of_the_clock_keeps_only_the_ttl() {
        // Refreshed at 10_000 by a clock that ran ahead, read at 200 with a
        // ttl of 100: idle for at most 100 s more, not until 10_100.
        assert_eq!(effective_expiry(10_100, 100, 100, 1000, 200), 300);
        // An honest expiry (refreshed at 150) is untouched.
        assert_eq!(effective_expiry(250, 100, 100, 1000, 200), 250);
    }

    #[test]
    fn a_creation_time_in_the_future_does_not_stretch_the_cap() {
        // Created "in an hour", expiring never: at most max_lifetime from now.
        assert_eq!(
            effective_expiry(u64::MAX, 3_600 + 100, u64::MAX, 1000, 100),
            1100
        );
        assert_eq!(expiry(100, 5000, 3_600 + 100, 1000), 1100);
        assert_eq!(absolute_cap(50, 1000, 100), 1050);
    }

    #[test]
    fn ttl_bounds() {
        assert!(validate_ttl(0).is_err());
        assert!(validate_ttl(1).is_ok());
        assert!(validate_ttl(MAX_TTL_SECONDS + 1).is_err());
    }
}
