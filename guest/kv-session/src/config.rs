//! Settings, read once per instance from `wasi:config/store`.

use crate::bindings::session::plugin::types::SessionError;
use crate::bindings::wasi::config::store;
use session_guest_support::settings::{ConfigMap, SESSION_KEYS, SessionSettings};
use std::sync::OnceLock;

static SETTINGS: OnceLock<Result<SessionSettings, SessionError>> = OnceLock::new();

/// The store's settings, or the `config` error that makes every operation fail.
pub fn settings() -> Result<SessionSettings, SessionError> {
    SETTINGS.get_or_init(read).clone()
}

fn read() -> Result<SessionSettings, SessionError> {
    let pairs = store::get_all()
        .map_err(|e| SessionError::Config(format!("cannot read configuration: {e:?}")))?;
    let map = ConfigMap::new(pairs);
    map.reject_unknown(&["session."], &SESSION_KEYS)?;
    Ok(map.session_settings()?)
}
