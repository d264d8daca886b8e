//! World-independent helpers shared by the session-plugin guests.
//!
//! Nothing here touches WIT bindings: each guest generates its own and maps
//! [`Invalid`] onto its `session-error` variants.
#![deny(missing_docs)]

pub mod clock;
pub mod data;
pub mod lifetime;
pub mod settings;

/// An input a guest refuses, before any storage work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The session data is not the text of a JSON object.
    Data(String),
    /// An input exceeds a configured limit.
    TooLarge(String),
    /// The configuration is missing or invalid.
    Config(String),
}

/// Implements a store's `session-plugin` exports: the generated `Guest` trait
/// for `$store`, forwarding each operation to the function of the same name in
/// the store's `store` module, plus the mapping of [`Invalid`] onto the
/// generated `session-error`. Expects the bindings in `crate::bindings`.
// `crate::bindings` deliberately names the *calling* crate's bindings: each
// store generates its own for its own world.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! export_session_plugin {
    ($store:ident, name: $name:expr, server_side: $server_side:expr) => {
        use crate::bindings::exports::session::plugin::session_plugin::Guest;
        use crate::bindings::session::plugin::types::{
            CreateOptions, PluginInfo, SessionError, SessionId, SessionRecord,
        };

        struct $store;

        impl From<$crate::Invalid> for SessionError {
            fn from(e: $crate::Invalid) -> Self {
                match e {
                    $crate::Invalid::Data(m) => SessionError::InvalidData(m),
                    $crate::Invalid::TooLarge(m) => SessionError::TooLarge(m),
                    $crate::Invalid::Config(m) => SessionError::Config(m),
                }
            }
        }

        impl Guest for $store {
            fn info() -> PluginInfo {
                PluginInfo {
                    name: $name.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    server_side: $server_side,
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

        crate::bindings::export!($store with_types_in crate::bindings);
    };
}
