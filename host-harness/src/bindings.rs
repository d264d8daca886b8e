//! Host bindings generated from `wit/` for the `session-host` world, the
//! superset that can instantiate every store. Kept private: the public API
//! speaks the Rust types in [`crate::types`] and [`crate::error`].

wasmtime::component::bindgen!({
    path: "../wit",
    world: "session-host",
});

pub use exports::session::plugin::session_plugin as plugin_api;
pub use session::plugin::kv as kv_api;
pub use session::plugin::types as wit_types;
