//! `cookie-session`: a stateless session store. The session id *is* the
//! session, sealed ([`seal`]) with keys from `cookie.keys`; nothing is kept on
//! the server, so destroy cannot revoke a seal and old ids stay valid until
//! they expire.
#![deny(missing_docs)]

mod config;
pub mod keys;
pub mod payload;
pub mod seal;
mod store;

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "cookie-session",
        path: "../../wit",
        generate_all,
    });
}

use bindings::exports::session::plugin::session_plugin::Guest;
use bindings::session::plugin::types::{
    CreateOptions, PluginInfo, SessionError, SessionId, SessionRecord,
};
use session_guest_support::Invalid;

struct CookieSession;

impl From<Invalid> for SessionError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::Data(m) => SessionError::InvalidData(m),
            Invalid::TooLarge(m) => SessionError::TooLarge(m),
            Invalid::Config(m) => SessionError::Config(m),
        }
    }
}

impl Guest for CookieSession {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "cookie-session".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            server_side: false,
        }
    }

    fn create(options: CreateOptions) -> Result<SessionId, SessionError> {
        store::create(options)
    }

    fn load(id: SessionId) -> Result<Option<SessionRecord>, SessionError> {
        store::load(id)
    }

    fn update(
        id: SessionId,
        data: String,
        user_id: Option<String>,
    ) -> Result<SessionId, SessionError> {
        store::update(id, data, user_id)
    }

    fn touch(id: SessionId, ttl_seconds: Option<u64>) -> Result<SessionId, SessionError> {
        store::touch(id, ttl_seconds)
    }

    fn regenerate(id: SessionId) -> Result<SessionId, SessionError> {
        store::regenerate(id)
    }

    fn destroy(id: SessionId) -> Result<(), SessionError> {
        store::destroy(id)
    }

    fn purge_expired() -> Result<u64, SessionError> {
        Ok(0)
    }

    fn count() -> Result<u64, SessionError> {
        Err(SessionError::Unsupported(
            "cookie-session is stateless: no sessions are kept on the server to count".to_string(),
        ))
    }
}

bindings::export!(CookieSession with_types_in bindings);
