//! Settings, read from `wasi:config/store` on an instance's first call and
//! kept (a read the host could not serve is tried again on the next call).

use crate::bindings::session::plugin::types::SessionError;
use crate::bindings::wasi::config::store;
use session_guest_support::settings::{ConfigMap, SESSION_KEYS, SessionSettings};
use std::sync::OnceLock;

static SETTINGS: OnceLock<Result<SessionSettings, SessionError>> = OnceLock::new();

/// The store's settings, or the `config` error that makes every operation
/// fail. Settings read are kept for the life of the instance (so is a
/// refusal of them); a configuration the host could not hand over this time
/// fails this call only, and the next one asks again.
pub fn settings() -> Result<SessionSettings, SessionError> {
    if let Some(kept) = SETTINGS.get() {
        return kept.clone();
    }
    let pairs = store::get_all().map_err(|e| {
        SessionError::Config(format!("cannot read configuration (will ask again): {e:?}"))
    })?;
    SETTINGS.get_or_init(|| validate(pairs)).clone()
}

fn validate(pairs: Vec<(String, String)>) -> Result<SessionSettings, SessionError> {
    let map = ConfigMap::new(pairs);
    map.reject_unknown(&["session."], &SESSION_KEYS)?;
    Ok(map.session_settings()?)
}
