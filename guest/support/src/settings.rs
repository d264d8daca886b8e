//! The `session.*` configuration keys both stores read through `wasi:config`.

use crate::Invalid;
use crate::lifetime::MAX_TTL_SECONDS;
use std::fmt::Debug;
use std::sync::OnceLock;

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
        let value: u64 = raw.trim().parse().map_err(|e: std::num::ParseIntError| {
            let what = match e.kind() {
                std::num::IntErrorKind::PosOverflow => "is too large",
                _ => "must be a whole number",
            };
            Invalid::Config(format!("{key} {what}, got {}", shown(raw)))
        })?;
        if value < min || value > max {
            return Err(Invalid::Config(format!(
                "{key} must be between {min} and {max}, got {value}"
            )));
        }
        Ok(value)
    }

    /// Refuses keys under one of `prefixes` that are not in `known`, so a typo
    /// such as `session.ttl_seconds` or `Session.ttl-seconds` is an error
    /// instead of a silent default, and a known key set twice, since which
    /// value wins would depend on the host.
    ///
    /// A key outside those prefixes belongs to someone else and is left
    /// alone, unless it is within two edits of a known key
    /// (`sesion.ttl-seconds`, `session_ttl-seconds`, `sessions.ttl-seconds`):
    /// that is a typo whose setting would otherwise be silently ignored.
    pub fn reject_unknown(&self, prefixes: &[&str], known: &[&str]) -> Result<(), Invalid> {
        for (i, (k, _)) in self.pairs.iter().enumerate() {
            let folded = k.trim().to_ascii_lowercase();
            let ours = prefixes.iter().any(|p| folded.starts_with(p));
            if !ours && let Some(meant) = near_miss(&folded, known) {
                return Err(Invalid::Config(format!(
                    "unknown configuration key {}; did you mean {meant}? (a key this close \
                     to one this store reads is taken for a misspelling of it)",
                    shown_key(k)
                )));
            }
            if ours && !known.contains(&k.as_str()) {
                let hint = if known.contains(&folded.as_str()) {
                    format!("keys are lower-case without spaces: {folded:?}")
                } else if let Some(meant) = near_miss(&folded, known) {
                    format!("did you mean {meant}?")
                } else {
                    format!("known keys: {}", known.join(", "))
                };
                return Err(Invalid::Config(format!(
                    "unknown configuration key {}; {hint}",
                    shown_key(k)
                )));
            }
            if ours && self.pairs[..i].iter().any(|(earlier, _)| earlier == k) {
                return Err(Invalid::Config(format!(
                    "configuration key {k} is set more than once"
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

/// A configuration value as error messages show it: short values (a typo in
/// a mode or a number) as given, longer ones only by length, so a secret
/// pasted under the wrong key never reaches a log.
pub fn shown(value: &str) -> String {
    const SHOWN_BYTES: usize = 16;
    if value.len() <= SHOWN_BYTES {
        format!("{value:?}")
    } else {
        format!("a value of {} bytes", value.len())
    }
}

/// A configuration key as error messages show it. Every key this project
/// reads is well under 40 bytes, so a longer one is shown only by its first
/// dotted segment and its length: a key (at least 32 bytes, so 43 or more
/// characters of base64 or hex) pasted into a key's name with a wrong
/// separator does not reach a log whole; at most 40 bytes of anything do.
fn shown_key(key: &str) -> String {
    const SHOWN_BYTES: usize = 40;
    if key.len() <= SHOWN_BYTES {
        return format!("{key:?}");
    }
    match key.split_once('.') {
        Some((head, _)) if head.len() <= SHOWN_BYTES => {
            format!("of {} bytes starting {:?}", key.len(), format!("{head}."))
        }
        _ => format!("of {} bytes", key.len()),
    }
}

/// Edits (insertions, deletions, substitutions) within which a key not
/// under a store's prefixes is taken for a misspelling of a known key.
const NEAR_MISS_EDITS: usize = 2;

/// The known key `key` (lower-cased) misspells, if it is within
/// [`NEAR_MISS_EDITS`] of one (and is not one).
fn near_miss<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    // Edits count characters: an invisible one (a byte-order mark, a
    // zero-width space) is one edit, however many bytes it takes (a byte
    // count once let a leading BOM hide a key as no near miss at all).
    let chars = key.chars().count();
    known.iter().copied().find(|k| {
        // Two edits cannot bridge a longer length difference; this also
        // keeps the comparison short whatever the key's length.
        chars.abs_diff(k.chars().count()) <= NEAR_MISS_EDITS
            && key != *k
            && strsim::levenshtein(key, k) <= NEAR_MISS_EDITS
    })
}

/// A store's settings as `kept` holds them, read on an instance's first call
/// and kept for its life (and so is a refusal of them, from `validate`). A
/// configuration the host could not hand over (`get_all` failed: a remote
/// source down) is not kept: this call fails, and the next one asks again.
pub fn kept_or_read<T: Send + Sync, E: Debug>(
    kept: &'static OnceLock<Result<T, Invalid>>,
    get_all: impl FnOnce() -> Result<Vec<(String, String)>, E>,
    validate: impl FnOnce(&ConfigMap) -> Result<T, Invalid>,
) -> Result<&'static T, Invalid> {
    let kept = match kept.get() {
        Some(kept) => kept,
        None => {
            let pairs = get_all().map_err(|e| {
                Invalid::Config(format!("cannot read configuration (will ask again): {e:?}"))
            })?;
            kept.get_or_init(|| validate(&ConfigMap::new(pairs)))
        }
    };
    kept.as_ref().map_err(Clone::clone)
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

    #[test]
    fn settings_are_kept_once_read_and_read_again_after_a_failed_read() {
        let kept = Box::leak(Box::new(OnceLock::new()));
        let ttl = |m: &ConfigMap| m.session_settings().map(|s| s.ttl_seconds);
        let down = kept_or_read(kept, || Err("vault is sealed"), ttl);
        let Err(Invalid::Config(m)) = down else {
            panic!("{down:?}");
        };
        assert!(
            m.contains("will ask again") && m.contains("vault is sealed"),
            "{m}"
        );
        let pairs = || Ok::<_, ()>(vec![("session.ttl-seconds".into(), "120".into())]);
        assert_eq!(kept_or_read(kept, pairs, ttl), Ok(&120));
        // Kept: neither read nor checked again.
        let unread = || -> Result<Vec<(String, String)>, ()> { panic!("read again") };
        assert_eq!(
            kept_or_read(kept, unread, |_| panic!("checked again")),
            Ok(&120)
        );
        // A refusal is kept too.
        let refused = Box::leak(Box::new(OnceLock::new()));
        let bad = || Ok::<_, ()>(vec![("session.ttl-seconds".into(), "0".into())]);
        assert!(kept_or_read(refused, bad, ttl).is_err());
        assert_eq!(
            kept_or_read(refused, unread, ttl),
            kept_or_read(refused, bad, ttl)
        );
    }

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

    /// The ranges the README documents, at both ends: 1 to 3153600000 for
    /// the two lifetimes, 2 to 67108864 for the data.
    #[test]
    fn the_documented_ranges_hold_at_their_ends() {
        let read = |k: &str, v: &str| map(&[(k, v)]).session_settings();
        for key in ["session.ttl-seconds", "session.max-lifetime-seconds"] {
            for v in ["1", "3153600000"] {
                assert!(read(key, v).is_ok(), "{key}={v}");
            }
            for v in ["0", "3153600001"] {
                assert!(read(key, v).is_err(), "{key}={v}");
            }
        }
        let data = |v: &str| read("session.max-data-bytes", v).map(|s| s.max_data_bytes);
        assert_eq!(data("2"), Ok(2));
        assert_eq!(data("67108864"), Ok(67_108_864));
        assert!(data("1").is_err());
        assert!(data("67108865").is_err());
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

    fn config_error(m: &ConfigMap) -> String {
        match m.reject_unknown(&["session."], &SESSION_KEYS) {
            Err(Invalid::Config(msg)) => msg,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn typos_are_refused() {
        let m = map(&[("session.ttl_seconds", "60"), ("other.x", "1")]);
        assert!(m.reject_unknown(&["session."], &SESSION_KEYS).is_err());
        let m = map(&[("other.x", "1")]);
        assert!(m.reject_unknown(&["session."], &SESSION_KEYS).is_ok());
    }

    #[test]
    fn other_spellings_of_a_known_key_are_refused() {
        for k in [
            "Session.ttl-seconds",
            "SESSION.TTL-SECONDS",
            " session.ttl-seconds",
        ] {
            let msg = config_error(&map(&[(k, "60")]));
            assert!(msg.contains("\"session.ttl-seconds\""), "{msg}");
        }
    }

    /// A misspelt prefix once fell outside the check, and the setting was
    /// silently ignored (`sesion.ttl-seconds=5`: sessions lived 24 h).
    #[test]
    fn near_misses_outside_the_prefixes_are_refused() {
        for k in [
            "sesion.ttl-seconds",
            "sessions.ttl-seconds",
            "session_ttl-seconds",
            "session .ttl-seconds",
            "Sesion.TTL-seconds",
            "session.ttl-second",
            // Invisible characters pasted in: a byte-order mark, a
            // zero-width space (3 bytes each, one edit).
            "\u{feff}session.ttl-seconds",
            "session.\u{200b}ttl-seconds",
            "\u{feff}sesion.ttl-seconds",
        ] {
            let msg = config_error(&map(&[(k, "5")]));
            assert!(
                msg.contains("did you mean session.ttl-seconds?"),
                "{k}: {msg}"
            );
        }
        // Someone else's keys, however session-like, are left alone.
        for k in [
            "sessionstore.ttl",
            "ttl-seconds",
            "sess.ttl-seconds",
            "cookie.keys",
        ] {
            let m = map(&[(k, "5")]);
            assert!(
                m.reject_unknown(&["session."], &SESSION_KEYS).is_ok(),
                "{k}"
            );
        }
    }

    #[test]
    fn a_key_set_twice_is_refused() {
        let m = map(&[("session.ttl-seconds", "0"), ("session.ttl-seconds", "60")]);
        assert_eq!(
            config_error(&m),
            "configuration key session.ttl-seconds is set more than once"
        );
        let m = map(&[("other.x", "1"), ("other.x", "2")]);
        assert!(m.reject_unknown(&["session."], &SESSION_KEYS).is_ok());
    }

    #[test]
    fn long_values_and_keys_are_not_echoed() {
        let secret = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";
        let Err(Invalid::Config(msg)) = map(&[("session.ttl-seconds", secret)]).session_settings()
        else {
            panic!("expected a config error")
        };
        assert_eq!(
            msg,
            "session.ttl-seconds must be a whole number, got a value of 64 bytes"
        );
        let Err(Invalid::Config(msg)) =
            map(&[("session.ttl-seconds", "99999999999999999999")]).session_settings()
        else {
            panic!("expected a config error")
        };
        assert!(msg.contains("is too large"), "{msg}");
        let long_key = format!("session.{}", "x".repeat(10_000));
        assert!(config_error(&map(&[(&long_key, "1")])).len() < 300);
        // A key pasted into a key's name (a wrong separator) is not echoed.
        let pasted = format!("session.ttl-seconds{secret}");
        let msg = config_error(&map(&[(&pasted, "1")]));
        assert!(
            msg.starts_with("unknown configuration key of 83 bytes starting \"session.\";"),
            "{msg}"
        );
        assert!(!msg.contains(&secret[..8]), "{msg}");
    }
}
