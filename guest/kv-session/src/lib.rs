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

session_guest_support::export_session_plugin!(KvSession, name: "kv-session", server_side: true);
