//! Settings, read from `wasi:config/store` on an instance's first call and
//! kept (a read the host could not serve is tried again on the next call).

use crate::bindings::session::plugin::types::SessionError;
use crate::bindings::wasi::config::store;
use session_guest_support::Invalid;
use session_guest_support::settings::{SESSION_KEYS, SessionSettings, kept_or_read};
use std::sync::OnceLock;

static SETTINGS: OnceLock<Result<SessionSettings, Invalid>> = OnceLock::new();

/// The store's settings, or the `config` error that makes every operation
/// fail ([`kept_or_read`]: kept once read, asked again after a failed read).
pub fn settings() -> Result<SessionSettings, SessionError> {
    let kept = kept_or_read(&SETTINGS, store::get_all, |map| {
        map.reject_unknown(&["session."], &SESSION_KEYS)?;
        map.session_settings()
    })?;
    Ok(*kept)
}
