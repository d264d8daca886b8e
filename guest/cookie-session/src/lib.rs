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

session_guest_support::export_session_plugin!(CookieSession, name: "cookie-session", server_side: false);
