//! `kv-session`: a server-side session store over the host's `kv` import.
//!
//! Session ids are random tokens ([`id`]); each session is one kv record
//! ([`record`]) under `s:<id>`, written with the session's remaining lifetime
//! as its kv ttl so the host expires it natively. All the session logic lives in
//! [`store`]; this file only binds it to the WIT world.
#![deny(missing_docs)]

mod config;
mod id;
mod kv_access;
mod record;
mod store;

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "kv-session",
        path: "../../wit",
        generate_all,
    });
}

use bindings::exports::session::plugin::session_plugin::Guest;
use bindings::session::plugin::types::{
    CreateOptions, PluginInfo, SessionError, SessionId, SessionRecord,
};
use session_guest_support::Invalid;

struct KvSession;

impl From<Invalid> for SessionError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::Data(m) => SessionError::InvalidData(m),
            Invalid::TooLarge(m) => SessionError::TooLarge(m),
            Invalid::Config(m) => SessionError::Config(m),
        }
    }
}

impl Guest for KvSession {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "kv-session".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            server_side: true,
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
        store::purge_expired()
    }

    fn count() -> Result<u64, SessionError> {
        store::count()
    }
}

bindings::export!(KvSession with_types_in bindings);
