//! Settings, read once per instance from `wasi:config/store`: the shared
//! `session.*` keys plus `cookie.keys`, `cookie.name`, `cookie.mode` and
//! `cookie.max-bytes`.

use crate::bindings::session::plugin::types::SessionError;
use crate::bindings::wasi::config::store;
use crate::keys::KeyRing;
use crate::seal::{Mode, Sealer};
use session_guest_support::Invalid;
use session_guest_support::settings::{ConfigMap, SESSION_KEYS, SessionSettings};
use std::sync::OnceLock;

/// Default cookie name.
pub const DEFAULT_NAME: &str = "id";
/// Browsers keep at least 4096 bytes per cookie, name and `=` included.
const COOKIE_BYTES: u64 = 4096;

/// Everything the store needs, built once.
#[derive(Debug)]
pub struct Settings {
    /// Shared session settings.
    pub session: SessionSettings,
    /// Seals and opens ids.
    pub sealer: Sealer,
}

static SETTINGS: OnceLock<Result<Settings, SessionError>> = OnceLock::new();

/// The settings, or the `config` error that makes every operation fail.
pub fn settings() -> Result<&'static Settings, SessionError> {
    SETTINGS.get_or_init(read).as_ref().map_err(Clone::clone)
}

fn read() -> Result<Settings, SessionError> {
    let pairs = store::get_all()
        .map_err(|e| SessionError::Config(format!("cannot read configuration: {e:?}")))?;
    Ok(from_map(&ConfigMap::new(pairs))?)
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
                "cookie.mode must be private or signed, got {other:?}"
            )));
        }
    };
    let default_max = COOKIE_BYTES - name.len() as u64 - 1;
    let max_bytes = map.u64_in("cookie.max-bytes", 128, 64 * 1024, default_max)?;
    let ring = KeyRing::parse(map.get("cookie.keys")).map_err(Invalid::Config)?;
    Ok(Settings {
        session,
        sealer: Sealer::new(ring, mode, name, max_bytes as usize),
    })
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
                vec![("cookie.keys", KEY), ("cookie.key", KEY)],
                "unknown configuration key",
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
