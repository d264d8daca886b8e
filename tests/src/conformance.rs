//! The conformance suite: the contract of DESIGN.md section 2 as executable
//! cases, run against every store through [`crate::conformance_suite!`]
//! (tower-sessions style).
//!
//! Every case takes a [`StoreUnderTest`]: which guest, the config it needs,
//! and [`Capabilities`] that say where a stateless store legitimately differs
//! (old ids stay valid until they expire, no `count`, no id import).

use crate::fixtures;
use host_harness::{
    CallError, CreateOptions, Harness, Limits, LoadOptions, ManualClock, Plugin, SessionError,
    SessionRecord, encode_data_map,
};
use std::collections::HashSet;
use std::time::Duration;

/// What a store can do, where stores legitimately differ.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// `destroy` and `regenerate` invalidate old ids (server-side stores).
    /// When false, old ids stay valid until they expire.
    pub invalidates_ids: bool,
    /// `count` answers (otherwise it is `unsupported`).
    pub counts: bool,
    /// `create-options.id` imports an id (otherwise it is `unsupported`).
    pub imports_ids: bool,
}

/// A store as the suite sees it.
#[derive(Debug, Clone)]
pub struct StoreUnderTest {
    /// File stem of the guest component, e.g. `kv_session`.
    pub stem: &'static str,
    /// Config every instance needs (e.g. cookie keys).
    pub base_config: Vec<(&'static str, &'static str)>,
    /// Where the store differs from a server-side store.
    pub caps: Capabilities,
    /// Makes a well-formed id that names no session, for stores that have them.
    pub unknown_id: Option<fn() -> String>,
    /// Makes the `n`th well-formed id to import, for stores that import ids.
    pub importable_id: Option<fn(u32) -> String>,
    /// The kv backend the store runs on (stateless stores ignore it).
    pub kv: fixtures::Kv,
}

/// A running plugin on its own movable clock.
pub struct Subject {
    /// The plugin.
    pub plugin: Plugin,
    /// Its clock (also the kv's).
    pub clock: ManualClock,
    /// The harness it runs in.
    pub harness: Harness,
}

impl Subject {
    /// Moves time forward by `secs` seconds.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Current time in Unix seconds.
    pub fn now(&self) -> u64 {
        fixtures::T0.as_secs() + self.elapsed()
    }

    fn elapsed(&self) -> u64 {
        use host_harness::Clock;
        self.clock.now_secs() - fixtures::T0.as_secs()
    }

    /// Creates a session or panics with the error.
    pub fn create(&self, options: CreateOptions) -> String {
        self.plugin
            .create(options)
            .unwrap_or_else(|e| panic!("create failed: {e}"))
    }

    /// Loads a session that must be live.
    pub fn live(&self, id: &str) -> SessionRecord {
        match self.plugin.load(id) {
            Ok(Some(r)) => r,
            other => panic!("expected a live session, got {other:?}"),
        }
    }

    /// Asserts `id` loads as none.
    pub fn gone(&self, id: &str) {
        match self.plugin.load(id) {
            Ok(None) => {}
            other => panic!("expected none, got {other:?}"),
        }
    }
}

/// Default ttl the suite configures, in seconds.
pub const TTL: u64 = 3600;

/// Longest `ttl-seconds` a store accepts (100 years, as the guests' shared
/// support crate defines it); one more is `invalid-data`.
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600;

impl StoreUnderTest {
    /// Starts the store with its base config, `session.ttl-seconds` = [`TTL`],
    /// and `extra` (which wins over both).
    pub fn start(&self, extra: &[(&str, &str)]) -> Subject {
        self.start_limited(extra, None)
    }

    /// [`Self::start`], with the host's `limits` for the plugin: e.g. a
    /// larger [`Limits::max_id_bytes`], so that ids the host would refuse
    /// itself ([`HOST_REFUSAL`]) reach the store.
    pub fn start_with_limits(&self, extra: &[(&str, &str)], limits: Limits) -> Subject {
        self.start_limited(extra, Some(limits))
    }

    fn start_limited(&self, extra: &[(&str, &str)], limits: Option<Limits>) -> Subject {
        let ttl = TTL.to_string();
        let mut config: Vec<(&str, &str)> = self.base_config.clone();
        config.push(("session.ttl-seconds", &ttl));
        // `extra` overrides: the harness refuses a key given twice.
        config.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        config.extend_from_slice(extra);
        let clock = ManualClock::new(fixtures::T0);
        let harness = fixtures::harness_on(self.kv.backend(&clock), &clock);
        let plugin = match limits {
            None => fixtures::load_into(&harness, self.stem, &config),
            Some(limits) => harness
                .load_file(
                    fixtures::guest_path(self.stem),
                    LoadOptions::default()
                        .configs(config.iter().copied())
                        .limits(limits.clone()),
                )
                .unwrap_or_else(|e| panic!("loading {} with {limits:?}: {e}", self.stem)),
        };
        Subject {
            plugin,
            clock,
            harness,
        }
    }
}

/// Words of the host's own refusal of an input too large to pass to any
/// plugin (`host-harness/src/input.rs`): a message with them never came
/// from the store under test.
pub const HOST_REFUSAL: &str = "not passed to the plugin";

/// Asserts that `result` failed with a session error matching `pattern`.
#[macro_export]
macro_rules! assert_session_err {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err(host_harness::CallError::Session(e)) if matches!(e, $pattern) => e,
            other => panic!(
                "expected session error {}, got {:?}",
                stringify!($pattern),
                other
            ),
        }
    };
}

/// Instantiates every conformance case as a `#[test]` in module `$name`.
#[macro_export]
macro_rules! conformance_suite {
    ($name:ident, $sut:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn sut() -> $crate::conformance::StoreUnderTest {
                $sut
            }
            $crate::conformance_suite!(@cases
                info_matches_capabilities,
                create_load_round_trip,
                data_is_kept_byte_for_byte,
                anonymous_and_logged_in_sessions,
                unknown_id_loads_as_none,
                malformed_ids_are_invalid_id,
                non_object_and_broken_json_are_invalid_data,
                oversized_data_is_too_large,
                oversized_user_id_is_too_large,
                zero_ttl_is_refused,
                ttls_out_of_range_are_invalid_data,
                update_after_destroy,
                update_after_expiry_is_not_found,
                expiry_follows_the_clock,
                touch_slides_expiry,
                touch_with_a_new_ttl,
                absolute_lifetime_holds_under_repeated_touch,
                update_keeps_created_at_and_slides_expiry,
                regenerate_keeps_data_and_handles_the_old_id,
                destroy_is_idempotent,
                import_of_an_id_and_conflict,
                purge_removes_exactly_the_expired,
                count_counts_live_sessions,
                ten_thousand_ids_are_distinct,
                bad_config_is_a_config_error,
                a_lowered_absolute_lifetime_applies_to_existing_sessions,
                documented_defaults_hold,
            );
        }
    };
    (@cases $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$case(&sut());
            }
        )*
    };
}

/// With no `session.*` settings, the defaults the README documents hold:
/// a 24 h ttl, a 7-day absolute cap and (on server-side stores, where no
/// cookie limit comes first) 64 KiB of data.
pub fn documented_defaults_hold(s: &StoreUnderTest) {
    let clock = ManualClock::new(fixtures::T0);
    let harness = fixtures::harness_on(s.kv.backend(&clock), &clock);
    let plugin = fixtures::load_into(&harness, s.stem, &s.base_config);
    let now = fixtures::T0.as_secs();
    let load = |id: &str| plugin.load(id).unwrap().expect("live");
    let id = plugin.create(CreateOptions::new("{}")).unwrap();
    assert_eq!(load(&id).expires_at, now + 86_400, "session.ttl-seconds");
    let id = plugin
        .create(CreateOptions::new("{}").ttl(10_000_000))
        .unwrap();
    assert_eq!(
        load(&id).expires_at,
        now + 604_800,
        "session.max-lifetime-seconds"
    );
    if s.caps.invalidates_ids {
        let data = |len: usize| format!(r#"{{"x":"{}"}}"#, "y".repeat(len - 8));
        assert_eq!(data(65_536).len(), 65_536);
        plugin.create(CreateOptions::new(data(65_536))).unwrap();
        assert_session_err!(
            plugin.create(CreateOptions::new(data(65_537))),
            SessionError::TooLarge(_)
        );
    }
}

/// `info.server-side` says whether ids are really invalidated.
pub fn info_matches_capabilities(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let info = sub.plugin.fetch_info().unwrap();
    assert_eq!(info.server_side, s.caps.invalidates_ids);
    assert!(!info.name.is_empty() && !info.version.is_empty());
}

/// What is created loads back, with the times the clock says.
pub fn create_load_round_trip(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let data = encode_data_map([("cart", "3 items")]);
    let id = sub.create(CreateOptions::new(data.clone()));
    let r = sub.live(&id);
    assert_eq!(r.id, id, "a store re-issues an id only when it must");
    assert_eq!(r.data, data);
    assert_eq!(r.user_id, None);
    assert_eq!(r.created_at, sub.now());
    assert_eq!(r.expires_at, sub.now() + TTL);
}

/// Data comes back exactly as given: whitespace, key order, duplicates,
/// escapes, non-ASCII, numbers beyond f64, deep nesting, and at the size limit.
pub fn data_is_kept_byte_for_byte(s: &StoreUnderTest) {
    let sub = s.start(&[("session.max-data-bytes", "2048")]);
    let mut samples = vec![
        "{}".to_string(),
        "  {\n\t\"b\" : 1 ,\"a\":[true,null,1.50e3] }  \r\n".to_string(),
        r#"{"a":1,"a":2}"#.to_string(),
        r#"{"e":"\u00e9\n\"\\\/","ключ":"値 🎉"}"#.to_string(),
        r#"{"n":1e999,"m":-1E+400,"i":123456789012345678901234567890}"#.to_string(),
        format!(
            "{}{}",
            r#"{"d":"#.to_string() + &"[".repeat(60),
            "]".repeat(60) + "}"
        ),
    ];
    let filler = 2048 - r#"{"x":""}"#.len();
    samples.push(format!(r#"{{"x":"{}"}}"#, "y".repeat(filler)));
    for data in samples {
        let id = sub.create(CreateOptions::new(data.clone()));
        assert_eq!(sub.live(&id).data, data, "after create");
        let id = sub.plugin.update(&id, &data, None).unwrap();
        assert_eq!(sub.live(&id).data, data, "after update");
    }
}

/// Sessions with and without a user, and changes between the two.
pub fn anonymous_and_logged_in_sessions(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let anon = sub.create(CreateOptions::new("{}"));
    assert_eq!(sub.live(&anon).user_id, None);
    let alice = sub.create(CreateOptions::new("{}").user("alice"));
    assert_eq!(sub.live(&alice).user_id.as_deref(), Some("alice"));
    let alice = sub.plugin.touch(&alice, None).unwrap();
    let r = sub.live(&alice);
    assert_eq!(r.user_id.as_deref(), Some("alice"), "touch keeps the user");
    assert_eq!(r.data, "{}", "touch keeps the data");
    let alice = sub.plugin.regenerate(&alice).unwrap();
    assert_eq!(
        sub.live(&alice).user_id.as_deref(),
        Some("alice"),
        "regenerate keeps the user"
    );
    let id = sub.plugin.update(&anon, "{}", Some("bøb 🙂")).unwrap();
    assert_eq!(sub.live(&id).user_id.as_deref(), Some("bøb 🙂"));
    let id = sub.plugin.update(&id, "{}", None).unwrap();
    assert_eq!(sub.live(&id).user_id, None, "logging out clears the user");
    let id = sub.plugin.update(&id, "{}", Some("")).unwrap();
    assert_eq!(
        sub.live(&id).user_id.as_deref(),
        Some(""),
        "an empty user id is not no user"
    );
}

/// A well-formed id that names nothing: none on load, not-found on writes,
/// ok on destroy.
pub fn unknown_id_loads_as_none(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = match s.unknown_id {
        Some(unknown) => unknown(),
        // Every authentic id of a stateless store is a session: the nearest
        // to an unknown one is a session that has expired.
        None => {
            let id = sub.create(CreateOptions::new("{}").ttl(10));
            sub.advance(11);
            id
        }
    };
    sub.gone(&id);
    assert_session_err!(sub.plugin.update(&id, "{}", None), SessionError::NotFound);
    assert_session_err!(sub.plugin.touch(&id, None), SessionError::NotFound);
    assert_session_err!(sub.plugin.regenerate(&id), SessionError::NotFound);
    sub.plugin.destroy(&id).unwrap();
    sub.gone(&id);
}

/// Malformed ids of every kind are `invalid-id` on every operation, with a
/// message that says what is wrong and does not echo the input.
///
/// The host refuses ids over [`Limits::max_id_bytes`] (8 KiB by default)
/// before a plugin sees them: the store runs here with room for 256 KiB, so
/// the 100 KiB id is the store's to refuse, and no answer may be the host's.
pub fn malformed_ids_are_invalid_id(s: &StoreUnderTest) {
    let roomy = Limits {
        max_id_bytes: 256 * 1024,
        ..Limits::default()
    };
    let sub = s.start_with_limits(&[], roomy);
    let valid = sub.create(CreateOptions::new("{}"));
    let mut bad = vec![
        String::new(),
        "abc".to_string(),
        valid[..valid.len() - 1].to_string(),
        format!("{valid}A"),
        "!".repeat(valid.len()),
        format!("{} ", &valid[..valid.len() - 1]),
        "é".repeat(valid.len() / 2),
        "a".repeat(100 * 1024),
        "\0".repeat(valid.len()),
    ];
    // One character changed to another of the same alphabet: still malformed
    // or tampered for stateless stores; for random-token stores it is simply
    // another (unknown) id, so it is not in this list.
    if !s.caps.invalidates_ids {
        let mut chars: Vec<char> = valid.chars().collect();
        let mid = chars.len() / 2;
        chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
        bad.push(chars.into_iter().collect());
    }
    for id in &bad {
        let what = format!("id of {} bytes", id.len());
        let every = [
            ("load", sub.plugin.load(id).map(drop)),
            ("update", sub.plugin.update(id, "{}", None).map(drop)),
            ("touch", sub.plugin.touch(id, None).map(drop)),
            ("regenerate", sub.plugin.regenerate(id).map(drop)),
            ("destroy", sub.plugin.destroy(id)),
        ];
        for (op, result) in every {
            let msg = match result {
                Err(CallError::Session(SessionError::InvalidId(m))) => m,
                other => panic!("{what}: {op}: expected invalid-id, got {other:?}"),
            };
            assert!(!msg.is_empty() && msg.len() < 500, "{what}: {op}: {msg}");
            if id.len() >= 8 {
                assert!(
                    !msg.contains(id.as_str()),
                    "{what}: {op}: the message echoes the id"
                );
            }
            assert!(
                !msg.contains(HOST_REFUSAL),
                "{what}: {op}: the host answered, not the store: {msg}"
            );
        }
    }
    // None of that disturbed the real session.
    sub.live(&valid);
}

/// Anything but the text of one JSON object is `invalid-data`, on create and
/// on update, with a message that names the problem (the wording of the
/// stores' shared `session-guest-support` crate), and a refused update leaves
/// the session as it was.
pub fn non_object_and_broken_json_are_invalid_data(s: &StoreUnderTest) {
    const NOT_AN_OBJECT: &str = "session data must be a JSON object";
    const EMPTY: &str = "session data is empty";
    const BROKEN: &str = "session data is not valid JSON";
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new(r#"{"keep":1}"#));
    for (data, problem) in [
        ("[]", NOT_AN_OBJECT),
        ("1", NOT_AN_OBJECT),
        ("\"s\"", NOT_AN_OBJECT),
        ("null", NOT_AN_OBJECT),
        ("true", NOT_AN_OBJECT),
        ("", EMPTY),
        ("   ", EMPTY),
        ("{", BROKEN),
        ("{\"a\":}", BROKEN),
        ("{}x", BROKEN),
        ("{}{}", BROKEN),
        ("{'a':1}", BROKEN),
        ("{\"a\":\"\\ud800\"}", BROKEN),
        ("{\"a\":1,}", BROKEN),
        ("{a:1}", BROKEN),
    ] {
        let results = [
            ("create", sub.plugin.create(CreateOptions::new(data))),
            ("update", sub.plugin.update(&id, data, None)),
        ];
        for (op, result) in results {
            match result {
                Err(CallError::Session(SessionError::InvalidData(msg))) => assert!(
                    msg.contains(problem),
                    "{op} {data:?}: the message does not say {problem:?}: {msg:?}"
                ),
                other => panic!("{op} {data:?}: expected invalid-data, got {other:?}"),
            }
        }
    }
    assert_eq!(sub.live(&id).data, r#"{"keep":1}"#);
}

/// Data over `session.max-data-bytes` is `too-large`, with a message giving
/// the size, the limit and the setting; at the limit it fits.
pub fn oversized_data_is_too_large(s: &StoreUnderTest) {
    let sub = s.start(&[("session.max-data-bytes", "1024")]);
    let at_limit = format!(r#"{{"x":"{}"}}"#, "y".repeat(1024 - 8));
    assert_eq!(at_limit.len(), 1024);
    let id = sub.create(CreateOptions::new(at_limit.clone()));
    let over = format!(r#"{{"x":"{}"}}"#, "y".repeat(1024 - 7));
    let results = [
        (
            "create",
            sub.plugin.create(CreateOptions::new(over.clone())),
        ),
        ("update", sub.plugin.update(&id, &over, None)),
    ];
    for (op, result) in results {
        match result {
            Err(CallError::Session(SessionError::TooLarge(msg))) => assert!(
                msg.contains("session data is 1025 bytes")
                    && msg.contains("session.max-data-bytes")
                    && msg.contains("1024"),
                "{op}: the message does not name the size, the setting and its limit: {msg:?}"
            ),
            other => panic!("{op}: expected too-large, got {other:?}"),
        }
    }
    assert_eq!(sub.live(&id).data, at_limit);
}

/// A user id over the limit is `too-large`, however far over it is.
pub fn oversized_user_id_is_too_large(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new(r#"{"keep":1}"#));
    // The limit is 1 KiB: 1024 bytes fit, 1025 do not.
    let longest = "u".repeat(1024);
    let at_limit = sub.create(CreateOptions::new("{}").user(longest.clone()));
    assert_eq!(sub.live(&at_limit).user_id.as_deref(), Some(&longest[..]));
    for big in ["u".repeat(1025), "u".repeat(4096), "u".repeat(1 << 20)] {
        let what = format!("user id of {} bytes", big.len());
        assert_session_err!(
            sub.plugin
                .create(CreateOptions::new("{}").user(big.clone())),
            SessionError::TooLarge(_)
        );
        let e = assert_session_err!(
            sub.plugin.update(&id, "{}", Some(&big)),
            SessionError::TooLarge(_)
        );
        assert!(e.to_string().len() < 500, "{what}: {e}");
    }
    let r = sub.live(&id);
    assert_eq!((r.data.as_str(), r.user_id), (r#"{"keep":1}"#, None));
}

/// A ttl of zero is refused rather than creating a dead session.
pub fn zero_ttl_is_refused(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    assert_session_err!(
        sub.plugin.create(CreateOptions::new("{}").ttl(0)),
        SessionError::InvalidData(_)
    );
    let id = sub.create(CreateOptions::new("{}"));
    assert_session_err!(sub.plugin.touch(&id, Some(0)), SessionError::InvalidData(_));
}

/// A ttl over [`MAX_TTL_SECONDS`] (up to `u64::MAX`) is `invalid-data` on
/// create and on touch, rather than silently clamped or overflowing; the
/// longest accepted one is capped by the absolute lifetime.
pub fn ttls_out_of_range_are_invalid_data(s: &StoreUnderTest) {
    let sub = s.start(&[("session.max-lifetime-seconds", "600")]);
    let id = sub.create(CreateOptions::new("{}").ttl(100));
    for ttl in [MAX_TTL_SECONDS + 1, u64::MAX] {
        assert_session_err!(
            sub.plugin.create(CreateOptions::new("{}").ttl(ttl)),
            SessionError::InvalidData(_)
        );
        assert_session_err!(
            sub.plugin.touch(&id, Some(ttl)),
            SessionError::InvalidData(_)
        );
    }
    assert_eq!(
        sub.live(&id).expires_at,
        sub.now() + 100,
        "a refused touch changed nothing"
    );
    let long = sub.create(CreateOptions::new("{}").ttl(MAX_TTL_SECONDS));
    assert_eq!(sub.live(&long).expires_at, sub.now() + 600);
    let id = sub.plugin.touch(&id, Some(MAX_TTL_SECONDS)).unwrap();
    assert_eq!(sub.live(&id).expires_at, sub.now() + 600);
}

/// Server-side: after destroy, update is `not-found` and does not resurrect.
/// Stateless: destroy cannot revoke, so the id keeps working until it expires.
pub fn update_after_destroy(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new(r#"{"a":1}"#));
    sub.plugin.destroy(&id).unwrap();
    if s.caps.invalidates_ids {
        assert_session_err!(
            sub.plugin.update(&id, r#"{"b":2}"#, None),
            SessionError::NotFound
        );
        assert_session_err!(sub.plugin.touch(&id, None), SessionError::NotFound);
        assert_session_err!(sub.plugin.regenerate(&id), SessionError::NotFound);
        sub.gone(&id);
    } else {
        let id = sub.plugin.update(&id, r#"{"b":2}"#, None).unwrap();
        assert_eq!(sub.live(&id).data, r#"{"b":2}"#);
    }
}

/// After expiry, every write is `not-found` and load is none.
pub fn update_after_expiry_is_not_found(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new("{}").ttl(60));
    sub.advance(61);
    assert_session_err!(sub.plugin.update(&id, "{}", None), SessionError::NotFound);
    assert_session_err!(sub.plugin.touch(&id, None), SessionError::NotFound);
    assert_session_err!(sub.plugin.regenerate(&id), SessionError::NotFound);
    sub.gone(&id);
}

/// Live at ttl-1, gone at ttl (and after), on the harness clock.
pub fn expiry_follows_the_clock(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let short = sub.create(CreateOptions::new("{}").ttl(100));
    let default = sub.create(CreateOptions::new("{}"));
    sub.advance(99);
    sub.live(&short);
    sub.advance(1);
    sub.gone(&short);
    sub.advance(1);
    sub.gone(&short);
    sub.live(&default);
    sub.advance(TTL);
    sub.gone(&default);
}

/// `touch` moves the expiry to now + ttl, without changing data.
pub fn touch_slides_expiry(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new(r#"{"k":"v"}"#).ttl(100));
    sub.advance(90);
    let id = sub.plugin.touch(&id, None).unwrap();
    let r = sub.live(&id);
    assert_eq!(r.expires_at, sub.now() + 100);
    assert_eq!(r.data, r#"{"k":"v"}"#);
    sub.advance(99);
    sub.live(&id);
    sub.advance(1);
    sub.gone(&id);
}

/// `touch` with a ttl changes the session's lifetime from then on.
pub fn touch_with_a_new_ttl(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new("{}").ttl(100));
    let id = sub.plugin.touch(&id, Some(1000)).unwrap();
    assert_eq!(sub.live(&id).expires_at, sub.now() + 1000);
    sub.advance(500);
    let id = sub.plugin.update(&id, "{}", None).unwrap();
    assert_eq!(
        sub.live(&id).expires_at,
        sub.now() + 1000,
        "the new ttl sticks for later slides"
    );
}

/// However often touched, no session outlives created-at + max-lifetime.
pub fn absolute_lifetime_holds_under_repeated_touch(s: &StoreUnderTest) {
    let sub = s.start(&[("session.max-lifetime-seconds", "300")]);
    let created = sub.now();
    let mut id = sub.create(CreateOptions::new("{}").ttl(100));
    for _ in 0..5 {
        sub.advance(50);
        id = sub.plugin.touch(&id, None).unwrap();
        let r = sub.live(&id);
        assert!(r.expires_at <= created + 300, "{r:?}");
    }
    // t = 250: the cap (300) is closer than now + ttl (350).
    assert_eq!(sub.live(&id).expires_at, created + 300);
    sub.advance(49);
    id = sub.plugin.update(&id, r#"{"still":"here"}"#, None).unwrap();
    sub.advance(1);
    sub.gone(&id);
    assert_session_err!(sub.plugin.touch(&id, Some(10_000)), SessionError::NotFound);
    // A ttl longer than the cap is capped at create too.
    let long = sub.create(CreateOptions::new("{}").ttl(10_000));
    assert_eq!(sub.live(&long).expires_at, sub.now() + 300);
}

/// `update` keeps created-at and slides the expiry by the session's ttl.
pub fn update_keeps_created_at_and_slides_expiry(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let created = sub.now();
    let id = sub.create(CreateOptions::new("{}").ttl(200));
    sub.advance(150);
    let id = sub.plugin.update(&id, r#"{"n":2}"#, Some("carol")).unwrap();
    let r = sub.live(&id);
    assert_eq!(r.created_at, created);
    assert_eq!(r.expires_at, sub.now() + 200);
    assert_eq!(
        (r.data.as_str(), r.user_id.as_deref()),
        (r#"{"n":2}"#, Some("carol"))
    );
}

/// `regenerate` gives a new id with the same data, user, creation time and
/// expiry (a new id is no new lifetime, nor a shorter one), which holds in
/// the backend too; server-side stores kill the old id at once.
pub fn regenerate_keeps_data_and_handles_the_old_id(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let data = encode_data_map([("csrf", "t0k3n")]);
    let old = sub.create(CreateOptions::new(data.clone()).user("dave"));
    let before = sub.live(&old);
    sub.advance(10);
    let new = sub.plugin.regenerate(&old).unwrap();
    assert_ne!(new, old);
    let after = sub.live(&new);
    assert_eq!(after.data, data);
    assert_eq!(after.user_id.as_deref(), Some("dave"));
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(after.expires_at, before.expires_at, "the same expiry");
    if s.caps.invalidates_ids {
        sub.gone(&old);
        assert_session_err!(sub.plugin.update(&old, "{}", None), SessionError::NotFound);
        assert_session_err!(sub.plugin.touch(&old, None), SessionError::NotFound);
        assert_session_err!(sub.plugin.regenerate(&old), SessionError::NotFound);
        if s.caps.counts {
            assert_eq!(
                sub.plugin.count().unwrap(),
                1,
                "no record left under the old id"
            );
        }
    } else {
        sub.live(&old);
    }
    sub.advance(after.expires_at - sub.now() - 1);
    sub.live(&new);
    sub.advance(1);
    sub.gone(&new);
}

/// Destroying twice, or destroying what never existed, is fine.
pub fn destroy_is_idempotent(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new("{}"));
    sub.plugin.destroy(&id).unwrap();
    sub.plugin.destroy(&id).unwrap();
    if let Some(unknown) = s.unknown_id {
        sub.plugin.destroy(&unknown()).unwrap();
    }
    if s.caps.invalidates_ids {
        sub.gone(&id);
    }
}

/// Importing an id: it is used as given, a taken one is `conflict`, a
/// malformed one `invalid-id`; stateless stores say `unsupported`.
pub fn import_of_an_id_and_conflict(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let Some(make) = s.importable_id.filter(|_| s.caps.imports_ids) else {
        assert_session_err!(
            sub.plugin
                .create(CreateOptions::new("{}").with_id("anything")),
            SessionError::Unsupported(_)
        );
        return;
    };
    let wanted = make(1);
    let got = sub.create(CreateOptions::new(r#"{"imported":true}"#).with_id(wanted.clone()));
    assert_eq!(got, wanted);
    assert_eq!(sub.live(&wanted).data, r#"{"imported":true}"#);
    assert_session_err!(
        sub.plugin
            .create(CreateOptions::new("{}").with_id(wanted.clone())),
        SessionError::Conflict
    );
    assert_eq!(
        sub.live(&wanted).data,
        r#"{"imported":true}"#,
        "conflict changed nothing"
    );
    // An id the store issued itself is taken just the same.
    let issued = sub.create(CreateOptions::new(r#"{"issued":true}"#));
    assert_session_err!(
        sub.plugin
            .create(CreateOptions::new("{}").with_id(issued.clone())),
        SessionError::Conflict
    );
    assert_eq!(sub.live(&issued).data, r#"{"issued":true}"#);
    assert_session_err!(
        sub.plugin
            .create(CreateOptions::new("{}").with_id("not an id")),
        SessionError::InvalidId(_)
    );
    // Once destroyed, the id can be imported again.
    sub.plugin.destroy(&wanted).unwrap();
    sub.create(CreateOptions::new("{}").with_id(wanted.clone()));
    // An expired id is free too, once no record holds it: a backend whose
    // ttls run on another clock keeps the record until purge-expired, which
    // removes it a minute after it expired (the clock-skew tolerance).
    let other = make(2);
    sub.create(CreateOptions::new("{}").with_id(other.clone()).ttl(5));
    sub.advance(5 + 60);
    sub.plugin.purge_expired().unwrap();
    sub.create(CreateOptions::new("{}").with_id(other));
}

/// `purge-expired` removes expired sessions and only those.
pub fn purge_removes_exactly_the_expired(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let short: Vec<_> = (0..3)
        .map(|_| sub.create(CreateOptions::new("{}").ttl(10)))
        .collect();
    let long: Vec<_> = (0..2)
        .map(|_| sub.create(CreateOptions::new(r#"{"long":1}"#).ttl(1000)))
        .collect();
    // A minute past the short ones' expiry: purge-expired leaves records
    // expired for less (kv-session's clock-skew tolerance).
    sub.advance(10 + 60);
    let removed = sub.plugin.purge_expired().unwrap();
    if s.caps.counts {
        match s.kv {
            // Its ttls run on the test clock: it dropped them itself, and
            // purge finds none (kv_session.rs purges records kept past
            // their expiry).
            fixtures::Kv::Memory => assert_eq!(removed, 0),
            // Its ttls run on the server's clock, which did not move: the
            // records are all still there and purge must find exactly these.
            fixtures::Kv::Redis => assert_eq!(removed, 3),
        }
        assert_eq!(sub.plugin.count().unwrap(), 2);
    } else {
        assert_eq!(removed, 0, "a stateless store has nothing to purge");
    }
    for id in &short {
        sub.gone(id);
    }
    for id in &long {
        assert_eq!(sub.live(id).data, r#"{"long":1}"#);
    }
    assert_eq!(
        sub.plugin.purge_expired().unwrap(),
        0,
        "nothing left to purge"
    );
}

/// `count` follows creates, destroys and expiry; stateless stores say
/// `unsupported`.
pub fn count_counts_live_sessions(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    if !s.caps.counts {
        assert_session_err!(sub.plugin.count(), SessionError::Unsupported(_));
        return;
    }
    assert_eq!(sub.plugin.count().unwrap(), 0);
    let ids: Vec<_> = (0..5)
        .map(|i| sub.create(CreateOptions::new("{}").ttl(if i < 2 { 10 } else { 1000 })))
        .collect();
    assert_eq!(sub.plugin.count().unwrap(), 5);
    sub.plugin.destroy(&ids[4]).unwrap();
    assert_eq!(sub.plugin.count().unwrap(), 4);
    sub.advance(10);
    assert_eq!(sub.plugin.count().unwrap(), 2);
    // More than one kv page (the guest pages by 256).
    for _ in 0..600 {
        sub.create(CreateOptions::new("{}"));
    }
    assert_eq!(sub.plugin.count().unwrap(), 602);
}

/// 10,000 creates give 10,000 distinct ids.
pub fn ten_thousand_ids_are_distinct(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let ids: HashSet<String> = (0..10_000)
        .map(|_| sub.create(CreateOptions::new("{}")))
        .collect();
    assert_eq!(ids.len(), 10_000);
}

/// A bad setting is a `config` error naming the key, on every operation that
/// needs settings, and never a trap.
pub fn bad_config_is_a_config_error(s: &StoreUnderTest) {
    for (key, value) in [
        ("session.ttl-seconds", "soon"),
        ("session.max-lifetime-seconds", "0"),
        ("session.max-data-bytes", "-5"),
        ("session.ttl_seconds", "60"),
        ("Session.TTL-Seconds", "60"),
    ] {
        let sub = s.start(&[(key, value)]);
        let e = assert_session_err!(
            sub.plugin.create(CreateOptions::new("{}")),
            SessionError::Config(_)
        );
        assert!(e.to_string().contains(key), "{key}: {e}");
        // A well-formed id gets as far as the settings (a stateless store
        // needs its settings to tell whether an id is well formed at all).
        let id = s
            .unknown_id
            .map_or_else(|| "x".to_string(), |unknown| unknown());
        let every = [
            ("load", sub.plugin.load(&id).map(drop)),
            ("update", sub.plugin.update(&id, "{}", None).map(drop)),
            ("touch", sub.plugin.touch(&id, None).map(drop)),
            ("regenerate", sub.plugin.regenerate(&id).map(drop)),
        ];
        for (op, result) in every {
            match result {
                Err(CallError::Session(SessionError::Config(m))) => {
                    assert!(m.contains(key), "{key}: {op}: {m}")
                }
                other => panic!("{key}: {op}: expected a config error, got {other:?}"),
            }
        }
        // Every store, stateless ones too (a destroy still authenticates
        // the seal, and a purge says the store cannot work).
        assert_session_err!(sub.plugin.destroy(&id), SessionError::Config(_));
        assert_session_err!(sub.plugin.purge_expired(), SessionError::Config(_));
        if s.caps.counts {
            assert_session_err!(sub.plugin.count(), SessionError::Config(_));
        }
    }
}

/// Lowering `session.max-lifetime-seconds` shortens sessions already issued:
/// the cap is enforced on every read, not only when a session is written.
pub fn a_lowered_absolute_lifetime_applies_to_existing_sessions(s: &StoreUnderTest) {
    let sub = s.start(&[]);
    let id = sub.create(CreateOptions::new("{}").ttl(3000));
    let mut config: Vec<(&str, &str)> = s.base_config.clone();
    config.push(("session.max-lifetime-seconds", "100"));
    // Same harness (so the same kv namespace and clock), stricter settings.
    let strict = fixtures::load_into(&sub.harness, s.stem, &config);
    let r = strict.load(&id).unwrap().expect("still within the new cap");
    assert_eq!(
        r.expires_at,
        sub.now() + 100,
        "load reports the capped expiry"
    );
    sub.advance(100);
    assert_eq!(strict.load(&id).unwrap(), None);
    assert_session_err!(strict.touch(&id, None), SessionError::NotFound);
    assert!(
        sub.plugin.load(&id).unwrap().is_some(),
        "the lenient one still serves it"
    );
}
