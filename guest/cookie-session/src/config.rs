//! Settings, read from `wasi:config/store` on an instance's first call and
//! kept (a read the host could not serve is tried again on the next call):
//! the shared `session.*` keys plus `cookie.keys`, `cookie.name`, `cookie.mode` and
//! `cookie.max-bytes`.

use crate::bindings::session::plugin::types::SessionError;
use crate::bindings::wasi::config::store;
use crate::keys::KeyRing;
use crate::seal::{Mode, Sealer};
use session_guest_support::Invalid;
use session_guest_support::settings::{
    ConfigMap, SESSION_KEYS, SessionSettings, kept_or_read, shown,
};
use std::sync::OnceLock;

/// Default cookie name.
pub const DEFAULT_NAME: &str = "id";
/// Browsers keep at least 4096 bytes per cookie, name and `=` included, and
/// drop larger cookies silently.
const COOKIE_BYTES: usize = 4096;
/// Smallest accepted `cookie.max-bytes`.
const MIN_SEAL_BYTES: usize = 128;
/// Largest accepted `cookie.max-bytes`.
const MAX_SEAL_BYTES: usize = 64 * 1024;

/// Everything the store needs, built once.
#[derive(Debug)]
pub struct Settings {
    /// Shared session settings.
    pub session: SessionSettings,
    /// Seals and opens ids.
    pub sealer: Sealer,
}

static SETTINGS: OnceLock<Result<Settings, Invalid>> = OnceLock::new();

/// The settings, or the `config` error that makes every operation fail
/// ([`kept_or_read`]: kept once read, asked again after a failed read).
pub fn settings() -> Result<&'static Settings, SessionError> {
    Ok(kept_or_read(&SETTINGS, store::get_all, from_map)?)
}

/// The cookie keys this store understands.
const COOKIE_KEYS: [&str; 4] = [
    "cookie.keys",
    "cookie.name",
    "cookie.mode",
    "cookie.max-bytes",
];

/// Builds the settings from a configuration map.
pub fn from_map(map: &ConfigMap) -> Result<Settings, Invalid> {
    let known: Vec<&str> = SESSION_KEYS
        .iter()
        .chain(COOKIE_KEYS.iter())
        .copied()
        .collect();
    map.reject_unknown(&["session.", "cookie."], &known)?;
    let session = map.session_settings()?;
    let name = map.get("cookie.name").unwrap_or(DEFAULT_NAME);
    validate_name(name)?;
    let mode = match map.get("cookie.mode").map(str::trim) {
        None | Some("private") => Mode::Private,
        Some("signed") => Mode::Signed,
        Some(other) => {
            return Err(Invalid::Config(format!(
                "cookie.mode must be private or signed, got {}",
                shown(other)
            )));
        }
    };
    let max_bytes = max_bytes(map, name)?;
    let ring = KeyRing::parse(map.get("cookie.keys")).map_err(Invalid::Config)?;
    let sealer = Sealer::new(ring, mode, name, max_bytes).map_err(Invalid::Config)?;
    Ok(Settings { session, sealer })
}

/// `cookie.max-bytes`: from [`MIN_SEAL_BYTES`] to [`MAX_SEAL_BYTES`]; the
/// default is what fits one 4096-byte cookie with its name and `=`. Larger
/// values are for hosts that split a seal over several cookies (browsers
/// drop a single cookie over 4096 bytes silently).
fn max_bytes(map: &ConfigMap, name: &str) -> Result<usize, Invalid> {
    let one_cookie = COOKIE_BYTES - name.len() - 1;
    let value = map.u64_in("cookie.max-bytes", 0, u64::MAX, one_cookie as u64)?;
    if value < MIN_SEAL_BYTES as u64 {
        return Err(Invalid::Config(format!(
            "cookie.max-bytes must be at least {MIN_SEAL_BYTES} (a seal of an empty session \
             needs about 100 bytes), got {value}"
        )));
    }
    if value > MAX_SEAL_BYTES as u64 {
        return Err(Invalid::Config(format!(
            "cookie.max-bytes must be at most {MAX_SEAL_BYTES}, got {value} (one cookie holds \
             {one_cookie} bytes of seal with a cookie.name of {} bytes; more needs the host to \
             split the seal over several cookies)",
            name.len()
        )));
    }
    Ok(value as usize)
}

/// A cookie name is an RFC 6265 token of at most 255 bytes.
fn validate_name(name: &str) -> Result<(), Invalid> {
    let token = |b: u8| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b);
    if name.is_empty() || name.len() > 255 || !name.bytes().all(token) {
        return Err(Invalid::Config(
            "cookie.name must be 1 to 255 characters of an RFC 6265 token (no spaces or ()<>@,;:\\\"/[]?={})"
                .to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        ConfigMap::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults() {
        let s = from_map(&map(&[("cookie.keys", KEY)])).unwrap();
        assert_eq!(s.sealer.max_bytes(), 4096 - 3);
        let s = from_map(&map(&[("cookie.keys", KEY), ("cookie.name", "__Host-sid")])).unwrap();
        assert_eq!(s.sealer.max_bytes(), 4096 - 11);
    }

    #[test]
    fn max_bytes_range_depends_on_the_name() {
        let ok = |name: &str, max: &str| {
            from_map(&map(&[
                ("cookie.keys", KEY),
                ("cookie.name", name),
                ("cookie.max-bytes", max),
            ]))
            .map(|s| s.sealer.max_bytes())
        };
        assert_eq!(ok("id", "128"), Ok(128));
        assert!(ok("id", "127").is_err());
        assert_eq!(ok("id", "65536"), Ok(65536));
        assert!(ok("id", "65537").is_err());
        let long = "n".repeat(255);
        assert_eq!(ok(&long, "128"), Ok(128));
    }

    #[test]
    fn bad_settings_are_config_errors_naming_the_key() {
        for (pairs, needle) in [
            (vec![], "cookie.keys is not set"),
            (
                vec![("cookie.keys", KEY), ("cookie.mode", "open")],
                "cookie.mode",
            ),
            (
                vec![("cookie.keys", KEY), ("cookie.name", "a b")],
                "cookie.name",
            ),
            (
                vec![("cookie.keys", KEY), ("cookie.name", "")],
                "cookie.name",
            ),
            (
                vec![("cookie.keys", KEY), ("cookie.max-bytes", "10")],
                "cookie.max-bytes",
            ),
            (
                vec![("cookie.keys", KEY), ("cookie.max-bytes", "65537")],
                "several cookies",
            ),
            (
                vec![("cookie.keys", KEY), ("cookie.key", KEY)],
                "unknown configuration key",
            ),
            // A key pasted under cookie.name is a valid name: the max-bytes
            // error about it gives its length, not the name.
            (
                vec![
                    ("cookie.keys", KEY),
                    ("cookie.name", KEY),
                    ("cookie.max-bytes", "70000"),
                ],
                "a cookie.name of 64 bytes",
            ),
        ] {
            match from_map(&map(&pairs)) {
                Err(Invalid::Config(m)) => {
                    assert!(m.contains(needle), "{m}");
                    assert!(!m.contains(KEY), "{m}");
                }
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }
}
