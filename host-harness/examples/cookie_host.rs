//! A web host's session handling in a few lines: find the session a
//! request's `Cookie` header names, start one when there is none, and send
//! the `Set-Cookie` back. [`session_for_request`] is the code the README
//! shows; `main` plays three requests of one browser against each store.
//!
//! From the repository root, after `make guests`:
//!
//! ```sh
//! cargo run --release --example cookie_host
//! ```

use host_harness::session_cookie::CookiePolicy;
use host_harness::{
    CallError, CreateOptions, Harness, LoadOptions, Plugin, SessionError, SessionRecord,
    empty_data_json,
};

/// A demo key only: a real host reads its keys from its secret store.
const DEMO_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The session the request's `Cookie` header names, or a new one, and the
/// `Set-Cookie` text to send with the response.
fn session_for_request(
    harness: &Harness,
    store: &Plugin,
    policy: &CookiePolicy,
    cookie_header: &str,
) -> Result<(SessionRecord, String), Box<dyn std::error::Error>> {
    let now = harness.clock().now_secs();
    // Every cookie of the name, most specific path first: one planted beside
    // the real one (possible without a __Host- name) must not hide it.
    let mut existing = None;
    for id in policy.find_ids(cookie_header) {
        match store.load(id) {
            Ok(Some(record)) => {
                existing = Some(record);
                break;
            }
            // Unknown, expired, forged, tampered: try the next one.
            Ok(None) | Err(CallError::Session(SessionError::InvalidId(_))) => {}
            Err(e) => return Err(e.into()), // a backend error is not a logout
        }
    }
    let record = match existing {
        Some(record) => record, // record.id may be re-issued: always send it back
        None => {
            let id = store.create(CreateOptions::new(empty_data_json()))?;
            store
                .load(&id)?
                .ok_or("a session just created did not load")?
        }
    };
    let set_cookie = policy.issue_record(&record, now)?.to_string();
    Ok((record, set_cookie))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let harness = Harness::new()?;
    // A plain name, so a sibling subdomain could plant a cookie beside it
    // (the second visit shows one): an HTTPS-only site prefers `__Host-sid`,
    // which browsers accept only from this host.
    let policy = CookiePolicy::builder("sid").build()?;
    let dir = "target/wasm32-wasip2/release";
    for wasm in ["kv_session", "cookie_session"] {
        // cookie-session binds the cookie name into every seal.
        let options = LoadOptions::default()
            .config("cookie.keys", DEMO_KEY)
            .config("cookie.name", policy.name());
        let store = harness.load_file(format!("{dir}/{wasm}.wasm"), options)?;
        println!("== {}", store.info().name);

        let (first, set_cookie) = session_for_request(&harness, &store, &policy, "")?;
        println!("first visit:  Set-Cookie: {}", shorten(&set_cookie));

        // The browser sends the cookie back, behind one planted for a more
        // specific path.
        let header = format!("theme=dark; sid=planted; sid={}", first.id);
        let (again, _) = session_for_request(&harness, &store, &policy, &header)?;
        println!("second visit: same session: {}", again.id == first.id);

        // Logout: the store forgets it (a stateless one cannot: its seal
        // stays valid until it expires) and the browser is told to.
        store.destroy(&again.id)?;
        println!("logout:       Set-Cookie: {}", policy.removal());
    }
    Ok(())
}

/// A long `Set-Cookie` with its value cut to a few characters, for the demo.
fn shorten(set_cookie: &str) -> String {
    match set_cookie.split_once(';') {
        Some((pair, rest)) if pair.len() > 30 => format!("{}…;{rest}", &pair[..30]),
        _ => set_cookie.to_string(),
    }
}
