//! The session cookie around real stores: what a host sends in `Set-Cookie`,
//! read back as a browser would return it, finds the same session; the
//! largest seal a cookie store makes under its default `cookie.max-bytes`
//! fits the cookie.

use host_harness::session_cookie::{Cookie, CookieError, CookiePolicy, MAX_COOKIE_BYTES};
use host_harness::{CallError, CreateOptions, Plugin, SessionError};
use session_tests::fixtures::{KEY_A, load};
use std::time::Duration;

const NAME: &str = "__Host-sid";

fn stores() -> Vec<(&'static str, Plugin, host_harness::ManualClock)> {
    let kv = load("kv_session", &[]);
    let private = load(
        "cookie_session",
        &[("cookie.keys", KEY_A), ("cookie.name", NAME)],
    );
    let signed = load(
        "cookie_session",
        &[
            ("cookie.keys", KEY_A),
            ("cookie.name", NAME),
            ("cookie.mode", "signed"),
        ],
    );
    vec![
        ("kv", kv.0, kv.1),
        ("private", private.0, private.1),
        ("signed", signed.0, signed.1),
    ]
}

fn now(clock: &host_harness::ManualClock) -> u64 {
    host_harness::Clock::now_secs(clock)
}

/// What a browser sends back for a `Set-Cookie` it accepted, beside another
/// site cookie.
fn browser_returns(set_cookie: &str) -> String {
    let stored = Cookie::parse(set_cookie.to_string()).expect("Set-Cookie parses");
    format!("theme=dark; {}={}", stored.name(), stored.value())
}

#[test]
fn the_cookie_a_browser_returns_finds_the_same_session() {
    let policy = CookiePolicy::builder(NAME).build().unwrap();
    for (what, store, clock) in stores() {
        let id = store
            .create(CreateOptions::new(r#"{"cart":"3 items"}"#).user("alice"))
            .unwrap();
        let record = store.load(&id).unwrap().expect("live");
        let set_cookie = policy
            .issue_record(&record, now(&clock))
            .unwrap()
            .to_string();
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("Secure"),
            "{what}: {set_cookie}"
        );
        let header = browser_returns(&set_cookie);
        let sent = policy.find_id(&header).expect("id in the header");
        let again = store.load(sent).unwrap().expect("same session");
        assert_eq!(
            (again.data.as_str(), again.user_id.as_deref()),
            (r#"{"cart":"3 items"}"#, Some("alice")),
            "{what}"
        );

        assert_eq!(
            Cookie::parse(set_cookie.clone()).unwrap().max_age(),
            None,
            "{what}: a session cookie by default, gone when the browser closes"
        );

        // Time passes; a persistent cookie's Max-Age is what is left of the session.
        clock.advance(Duration::from_secs(600));
        let kept = CookiePolicy::builder(NAME)
            .persistent(true)
            .build()
            .unwrap();
        let cookie = kept.issue_record(&again, now(&clock)).unwrap();
        assert_eq!(
            cookie.max_age().map(|d| d.whole_seconds() as u64),
            Some(again.expires_at - now(&clock)),
            "{what}"
        );
        assert_eq!(
            cookie.expires_datetime().map(|t| t.unix_timestamp() as u64),
            Some(again.expires_at),
            "{what}"
        );

        // Logout: the store forgets it (a server-side one: a seal stays
        // valid until it expires) and the browser is told to.
        store.destroy(sent).unwrap();
        if store.info().server_side {
            assert_eq!(store.load(sent).unwrap(), None, "{what}: live after logout");
        }
        let removal = policy.removal().to_string();
        assert!(
            removal.starts_with(&format!("{NAME}=;")) && removal.contains("Max-Age=0"),
            "{what}: {removal}"
        );
    }
}

/// A cookie of the same name planted for a more specific path comes first
/// in the header; trying every value (as the README's host does) still
/// finds the real session rather than logging the user out.
#[test]
fn a_planted_cookie_sent_first_does_not_hide_the_session() {
    let policy = CookiePolicy::builder(NAME).build().unwrap();
    for (what, store, _clock) in stores() {
        let id = store.create(CreateOptions::new(r#"{"k":1}"#)).unwrap();
        let forged = if store.info().server_side {
            "not-an-id"
        } else {
            "v1.p.forged"
        };
        let header = format!("{NAME}={forged}; theme=dark; {NAME}={id}");
        let found = policy
            .find_ids(&header)
            .find_map(|candidate| match store.load(candidate) {
                Ok(Some(record)) => Some(record),
                Ok(None) | Err(CallError::Session(SessionError::InvalidId(_))) => None,
                Err(e) => panic!("{what}: {e}"),
            })
            .expect("the real session is reached");
        assert_eq!(found.data, r#"{"k":1}"#, "{what}");
    }
}

#[test]
fn a_cookie_store_sealed_for_another_cookie_name_is_rejected_under_this_one() {
    let policy = CookiePolicy::builder("sid").build().unwrap();
    let (store, clock, _h) = load("cookie_session", &[("cookie.keys", KEY_A)]);
    let id = store.create(CreateOptions::new("{}")).unwrap();
    let header = browser_returns(
        &policy
            .issue(&id, now(&clock) + 60, now(&clock))
            .unwrap()
            .to_string(),
    );
    let (other, _, _h2) = load(
        "cookie_session",
        &[("cookie.keys", KEY_A), ("cookie.name", policy.name())],
    );
    assert!(matches!(
        other.load(policy.find_id(&header).unwrap()),
        Err(CallError::Session(SessionError::InvalidId(_)))
    ));
}

/// Data of `len` bytes: one JSON object of random-looking (incompressible)
/// text, so the seal grows with it.
fn data_of(len: usize) -> String {
    let filler: String = (0..len.saturating_sub(8))
        .map(|i| char::from(b'a' + ((i * 7919 + i / 26) % 26) as u8))
        .collect();
    format!(r#"{{"x":"{filler}"}}"#)
}

#[test]
fn the_largest_seal_under_the_default_limit_fits_the_cookie() {
    // The default limit depends on the name: the longest name allowed
    // (255 bytes) leaves 3840 bytes of seal.
    let longest = "n".repeat(255);
    for (name, mode) in [
        (NAME, "private"),
        (NAME, "signed"),
        (&longest[..], "private"),
        (&longest[..], "signed"),
    ] {
        let policy = CookiePolicy::builder(name).build().unwrap();
        let (store, clock, _h) = load(
            "cookie_session",
            &[
                ("cookie.keys", KEY_A),
                ("cookie.name", name),
                ("cookie.mode", mode),
                ("session.max-data-bytes", "16384"),
            ],
        );
        // The largest data the store still seals: bisect between a size that
        // fits and one whose seal is over cookie.max-bytes.
        let (mut ok, mut too_big) = (16, 8192);
        while too_big - ok > 1 {
            let mid = (ok + too_big) / 2;
            match store.create(CreateOptions::new(data_of(mid))) {
                Ok(_) => ok = mid,
                Err(CallError::Session(SessionError::TooLarge(_))) => too_big = mid,
                Err(e) => panic!("{mode}: {e}"),
            }
        }
        let id = store.create(CreateOptions::new(data_of(ok))).unwrap();
        assert!(id.len() <= policy.max_value_bytes(), "{mode}");
        assert!(
            policy.max_value_bytes() - id.len() < 8,
            "{mode}: the bisection ends next to the limit ({} of {})",
            id.len(),
            policy.max_value_bytes()
        );
        let cookie = policy.issue(&id, now(&clock) + 60, now(&clock)).unwrap();
        let (name, value) = cookie.name_value();
        assert!(name.len() + 1 + value.len() <= MAX_COOKIE_BYTES, "{mode}");
    }
}

#[test]
fn an_id_over_the_cookie_limit_is_an_error_not_a_truncated_cookie() {
    // A store configured for bigger seals than a browser keeps.
    let policy = CookiePolicy::builder(NAME).build().unwrap();
    let (store, clock, _h) = load(
        "cookie_session",
        &[
            ("cookie.keys", KEY_A),
            ("cookie.name", NAME),
            ("cookie.max-bytes", "8192"),
        ],
    );
    let id = store.create(CreateOptions::new(data_of(5000))).unwrap();
    assert!(matches!(
        policy.issue(&id, now(&clock) + 60, now(&clock)),
        Err(CookieError::TooLong { len, .. }) if len == NAME.len() + 1 + id.len()
    ));
}
