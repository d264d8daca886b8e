//! The `session.*` configuration keys both stores read through `wasi:config`.

use crate::Invalid;
use crate::lifetime::MAX_TTL_SECONDS;

/// Default `session.ttl-seconds`: 24 hours of inactivity.
pub const DEFAULT_TTL_SECONDS: u64 = 24 * 3600;
/// Default `session.max-lifetime-seconds`: 7 days, however often touched.
pub const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 7 * 24 * 3600;
/// Default `session.max-data-bytes`: 64 KiB.
pub const DEFAULT_MAX_DATA_BYTES: u64 = 64 * 1024;

/// The settings every store shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Default lifetime of a session, in seconds.
    pub ttl_seconds: u64,
    /// Absolute cap on a session's lifetime, in seconds.
    pub max_lifetime_seconds: u64,
    /// Largest accepted session data, in bytes.
    pub max_data_bytes: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            ttl_seconds: DEFAULT_TTL_SECONDS,
            max_lifetime_seconds: DEFAULT_MAX_LIFETIME_SECONDS,
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
        }
    }
}

/// A configuration as `wasi:config/store.get-all` returns it, with the keys a
/// store understands checked off as it reads them.
pub struct ConfigMap {
    pairs: Vec<(String, String)>,
}

impl ConfigMap {
    /// Wraps the pairs read from the host.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parses `key` as an integer in `min..=max`, or returns `default`.
    pub fn u64_in(&self, key: &str, min: u64, max: u64, default: u64) -> Result<u64, Invalid> {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        let value: u64 = raw
            .trim()
            .parse()
            .map_err(|_| Invalid::Config(format!("{key} must be a whole number, got {raw:?}")))?;
        if value < min || value > max {
            return Err(Invalid::Config(format!(
                "{key} must be between {min} and {max}, got {value}"
            )));
        }
        Ok(value)
    }

    /// Refuses keys under one of `prefixes` that are not in `known`, so a typo
    /// such as `session.ttl_seconds` is an error instead of a silent default.
    pub fn reject_unknown(&self, prefixes: &[&str], known: &[&str]) -> Result<(), Invalid> {
        for (k, _) in &self.pairs {
            if prefixes.iter().any(|p| k.starts_with(p)) && !known.contains(&k.as_str()) {
                return Err(Invalid::Config(format!(
                    "unknown configuration key {k:?}; known keys: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Reads the shared `session.*` keys.
    pub fn session_settings(&self) -> Result<SessionSettings, Invalid> {
        let d = SessionSettings::default();
        Ok(SessionSettings {
            ttl_seconds: self.u64_in("session.ttl-seconds", 1, MAX_TTL_SECONDS, d.ttl_seconds)?,
            max_lifetime_seconds: self.u64_in(
                "session.max-lifetime-seconds",
                1,
                MAX_TTL_SECONDS,
                d.max_lifetime_seconds,
            )?,
            max_data_bytes: self.u64_in(
                "session.max-data-bytes",
                2,
                64 * 1024 * 1024,
                d.max_data_bytes,
            )?,
        })
    }
}

/// The `session.*` keys every store understands.
pub const SESSION_KEYS: [&str; 3] = [
    "session.ttl-seconds",
    "session.max-lifetime-seconds",
    "session.max-data-bytes",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        ConfigMap::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(map(&[]).session_settings(), Ok(SessionSettings::default()));
        let s = map(&[("session.ttl-seconds", "60")])
            .session_settings()
            .unwrap();
        assert_eq!(s.ttl_seconds, 60);
    }

    #[test]
    fn bad_values_name_the_key() {
        let Err(Invalid::Config(msg)) = map(&[("session.ttl-seconds", "soon")]).session_settings()
        else {
            panic!("expected a config error")
        };
        assert!(msg.contains("session.ttl-seconds"), "{msg}");
        assert!(
            map(&[("session.ttl-seconds", "0")])
                .session_settings()
                .is_err()
        );
    }

    #[test]
    fn typos_are_refused() {
        let m = map(&[("session.ttl_seconds", "60"), ("other.x", "1")]);
        assert!(m.reject_unknown(&["session."], &SESSION_KEYS).is_err());
        let m = map(&[("other.x", "1")]);
        assert!(m.reject_unknown(&["session."], &SESSION_KEYS).is_ok());
    }
}
