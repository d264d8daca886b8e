//! Security of the stateless cookie store: tampering, foreign keys and names,
//! rotation, replay after expiry, secrecy in private mode, pinned formats, and
//! property tests over arbitrary input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use host_harness::{
    CallError, CreateOptions, Limits, LoadOptions, Plugin, SessionError, SessionRecord,
};
use proptest::prelude::*;
use session_tests::assert_session_err;
use session_tests::fixtures::{KEY_A, KEY_B, T0, guest_path, harness, load, load_into};
use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

const MODES: [&str; 2] = ["private", "signed"];

/// The cookie store with `keys` in `mode`, with its clock and harness.
fn with_keys(keys: &str, mode: &str) -> (Plugin, host_harness::ManualClock, host_harness::Harness) {
    load(
        "cookie_session",
        &[("cookie.keys", keys), ("cookie.mode", mode)],
    )
}

/// The cookie store with `keys` in `mode`.
fn store(keys: &str, mode: &str) -> Plugin {
    with_keys(keys, mode).0
}

/// The cookie store with key A in `mode`.
fn in_mode(mode: &str) -> (Plugin, host_harness::ManualClock, host_harness::Harness) {
    with_keys(KEY_A, mode)
}

fn sample() -> CreateOptions {
    CreateOptions::new(r#"{"cart":"3 items","role":"admin"}"#).user("alice")
}

/// Asserts that `r` is `invalid-id`; its message.
fn rejected(r: Result<Option<SessionRecord>, CallError>, what: &str) -> String {
    match r {
        Err(CallError::Session(SessionError::InvalidId(msg))) => msg,
        other => panic!("{what}: expected invalid-id, got {other:?}"),
    }
}

/// Asserts that `r` is `invalid-id` with a message that gives `reason`.
fn rejected_because(r: Result<Option<SessionRecord>, CallError>, what: &str, reason: &str) {
    let msg = rejected(r, what);
    assert!(
        msg.contains(reason),
        "{what}: expected the reason {reason:?}, got {msg:?}"
    );
}

// The store's reasons for refusing a seal, as its messages give them
// (guest/cookie-session/src/seal.rs).
/// A seal no configured key authenticates (the MAC or the AEAD refused it).
const NOT_AUTHENTIC: &str = "seal failed authentication";
/// A part of the seal that is not strict unpadded base64url.
const NOT_BASE64: &str = "seal is not valid unpadded base64url";
/// A seal whose parts are missing or too short to hold a nonce and a tag.
const TRUNCATED: &str = "seal is truncated";
/// Text that does not start with a version label.
const NOT_A_SEAL: &str = "not a cookie-session seal";
/// A version label other than `v1`.
const UNKNOWN_VERSION: &str = "unknown format version";
/// Default `cookie.max-bytes` with cookie name `id`: 4096 - "id=".
const DEFAULT_MAX_BYTES: usize = 4093;

/// The reason a store in `mode` (default settings) must give for refusing
/// `input`, a seal no configured key made: the first check of the documented
/// format (`v1.p.<b64url>`, `v1.s.<b64url>.<b64url of 32 bytes>`) it fails,
/// in the store's order: size, version, mode, the parts' base64url and
/// lengths, and last the crypto.
fn refusal(mode: &str, input: &str) -> String {
    if input.len() > DEFAULT_MAX_BYTES {
        return "over cookie.max-bytes".to_string();
    }
    let Some((version, rest)) = input.split_once('.') else {
        return NOT_A_SEAL.to_string();
    };
    if version != "v1" {
        let label = version.len() > 1
            && version.len() <= 8
            && version.starts_with('v')
            && version[1..].bytes().all(|b| b.is_ascii_digit());
        return if label { UNKNOWN_VERSION } else { NOT_A_SEAL }.to_string();
    }
    let Some((tag, body)) = rest.split_once('.') else {
        return TRUNCATED.to_string();
    };
    if tag != &mode[..1] {
        return format!("seal was not made in {mode} mode");
    }
    // Strict: no padding, canonical trailing bits (as the guest decodes).
    let decoded = |b64: &str| URL_SAFE_NO_PAD.decode(b64).map_err(drop);
    let reason = if mode == "private" {
        match decoded(body) {
            Err(()) => NOT_BASE64,
            // nonce[24] and tag[16] at least.
            Ok(raw) if raw.len() < 40 => TRUNCATED,
            Ok(_) => NOT_AUTHENTIC,
        }
    } else {
        let Some((payload, mac)) = body.split_once('.') else {
            return TRUNCATED.to_string();
        };
        if mac.len() != 43 {
            return format!("seal's MAC is {} characters", mac.len());
        }
        match (decoded(payload), decoded(mac)) {
            (Err(()), _) => NOT_BASE64,
            // nonce[16] at least.
            (Ok(raw), _) if raw.len() < 16 => TRUNCATED,
            (_, Err(())) => NOT_BASE64,
            (Ok(_), Ok(_)) => NOT_AUTHENTIC,
        }
    };
    reason.to_string()
}

/// `s` with the byte at `pos` (an ASCII character) replaced by `with`.
fn replaced(s: &str, pos: usize, with: &str) -> String {
    format!("{}{with}{}", &s[..pos], &s[pos + 1..])
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

/// Bytes outside base64url (and not `.`): padding, the standard alphabet's
/// two extra characters, URL escapes, non-ASCII and whitespace.
const NOT_BASE64URL: [&str; 6] = ["=", "+", "/", "%", "é", " "];

#[test]
fn changing_any_character_is_rejected() {
    for mode in MODES {
        let p = store(KEY_A, mode);
        let seal = p.create(sample()).unwrap();
        for pos in 0..seal.len() {
            let at = ALPHABET
                .iter()
                .position(|&c| c == seal.as_bytes()[pos])
                .unwrap_or(0);
            // Two substitutions per position: neighbours in the alphabet, which
            // also exercise base64url's non-canonical trailing bits.
            for step in [1, 32] {
                let c = ALPHABET[(at + step) % ALPHABET.len()] as char;
                let bad = replaced(&seal, pos, c.encode_utf8(&mut [0; 4]));
                rejected_because(
                    p.load(&bad),
                    &format!("{mode}: char {pos} -> {c:?}"),
                    &refusal(mode, &bad),
                );
            }
            // Bytes no seal contains: refused by the format checks or the
            // decoder, never left to the crypto.
            for c in NOT_BASE64URL {
                let bad = replaced(&seal, pos, c);
                let reason = refusal(mode, &bad);
                assert_ne!(reason, NOT_AUTHENTIC, "{mode}: char {pos} -> {c:?}");
                rejected_because(
                    p.load(&bad),
                    &format!("{mode}: char {pos} -> {c:?}"),
                    &reason,
                );
            }
        }
    }
}

#[test]
fn flipping_any_bit_of_the_sealed_bytes_is_rejected() {
    for mode in MODES {
        let p = store(KEY_A, mode);
        let seal = p.create(sample()).unwrap();
        let (prefix, rest) = seal.split_at(5); // "v1.p." / "v1.s."
        let parts: Vec<&str> = rest.split('.').collect();
        for (part, text) in parts.iter().enumerate() {
            let bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
            // Every bit of every byte: nonce, header, user id, data, tag.
            for i in 0..bytes.len() {
                for bit in 0..8 {
                    let mut flipped = bytes.clone();
                    flipped[i] ^= 1 << bit;
                    let mut pieces: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
                    pieces[part] = URL_SAFE_NO_PAD.encode(&flipped);
                    let bad = format!("{prefix}{}", pieces.join("."));
                    rejected_because(
                        p.load(&bad),
                        &format!("{mode}: part {part} byte {i} bit {bit}"),
                        NOT_AUTHENTIC,
                    );
                }
            }
        }
    }
}

#[test]
fn truncation_and_extension_are_rejected() {
    for mode in MODES {
        let p = store(KEY_A, mode);
        let seal = p.create(sample()).unwrap();
        // Each with the reason the store gives: no version, a missing part,
        // a body whose length is not base64url or too short for a nonce and
        // a tag, a signed seal's MAC of the wrong length, or (a canonical
        // body long enough) the crypto.
        let mut reasons = HashSet::new();
        for len in 0..seal.len() {
            let reason = refusal(mode, &seal[..len]);
            rejected_because(
                p.load(&seal[..len]),
                &format!("{mode}: first {len} chars"),
                &reason,
            );
            reasons.insert(reason);
        }
        for extra in ["A", "AA", "AAA", "AAAA", ".", ".AAAA", "=", "%3D"] {
            let bad = format!("{seal}{extra}");
            rejected_because(
                p.load(&bad),
                &format!("{mode}: +{extra}"),
                &refusal(mode, &bad),
            );
        }
        rejected_because(p.load(&format!("A{seal}")), mode, NOT_A_SEAL);
        // The cuts reached every check (the oracle is no constant).
        let expected: &[&str] = if mode == "private" {
            &[NOT_A_SEAL, TRUNCATED, NOT_BASE64, NOT_AUTHENTIC]
        } else {
            &[NOT_A_SEAL, TRUNCATED, "seal's MAC is 0 characters"]
        };
        for reason in expected {
            assert!(reasons.contains(*reason), "{mode}: {reasons:?}");
        }
    }
}

#[test]
fn a_seal_for_one_cookie_name_is_rejected_under_another() {
    for mode in MODES {
        let sid = load(
            "cookie_session",
            &[
                ("cookie.keys", KEY_A),
                ("cookie.mode", mode),
                ("cookie.name", "sid"),
            ],
        )
        .0;
        let other = load(
            "cookie_session",
            &[
                ("cookie.keys", KEY_A),
                ("cookie.mode", mode),
                ("cookie.name", "remember"),
            ],
        )
        .0;
        let seal = sid.create(sample()).unwrap();
        assert!(sid.load(&seal).unwrap().is_some());
        rejected_because(other.load(&seal), mode, NOT_AUTHENTIC);
    }
}

#[test]
fn a_seal_from_another_key_or_mode_is_rejected() {
    for mode in MODES {
        let seal = store(KEY_A, mode).create(sample()).unwrap();
        rejected_because(
            store(KEY_B, mode).load(&seal),
            &format!("{mode}: key B only"),
            NOT_AUTHENTIC,
        );
    }
    let private = store(KEY_A, "private").create(sample()).unwrap();
    rejected_because(
        store(KEY_A, "signed").load(&private),
        "private seal, signed store",
        "seal was not made in signed mode",
    );
    let signed = store(KEY_A, "signed").create(sample()).unwrap();
    rejected_because(
        store(KEY_A, "private").load(&signed),
        "signed seal, private store",
        "seal was not made in private mode",
    );
}

#[test]
fn rotation_reissues_and_a_removed_key_opens_nothing() {
    for mode in MODES {
        let ab = format!("{KEY_A},{KEY_B}");
        let ba = format!("{KEY_B},{KEY_A}");
        let old_store = store(&ab, mode);
        let old = old_store.create(sample().ttl(600)).unwrap();
        let before = old_store.load(&old).unwrap().unwrap();
        assert_eq!(before.id, old, "current key: no re-issue");
        assert_eq!(
            (before.created_at, before.expires_at),
            (T0.as_secs(), T0.as_secs() + 600)
        );

        // Rotate 100 s later: a re-seal that slid the expiry or restarted the
        // session would show here.
        let (rotated, clock, _h) = load(
            "cookie_session",
            &[("cookie.keys", &ba), ("cookie.mode", mode)],
        );
        clock.advance(Duration::from_secs(100));
        let record = rotated.load(&old).unwrap().unwrap();
        assert_ne!(
            record.id, old,
            "{mode}: sealed with the retired key, so re-issued"
        );
        assert_eq!(record.data, r#"{"cart":"3 items","role":"admin"}"#);
        assert_eq!(record.user_id.as_deref(), Some("alice"));
        assert_eq!(
            (record.created_at, record.expires_at),
            (before.created_at, before.expires_at),
            "{mode}: the re-seal keeps created-at and expires-at"
        );
        // The re-issued seal is made with B: it opens once A is gone, and
        // carries the same times...
        let b_only = store(KEY_B, mode);
        let reopened = b_only.load(&record.id).unwrap().unwrap();
        assert_eq!(reopened.id, record.id);
        assert_eq!(
            (reopened.created_at, reopened.expires_at),
            (before.created_at, before.expires_at),
            "{mode}: times sealed into the re-issued id"
        );
        // ...while the old one does not.
        rejected_because(
            b_only.load(&old),
            &format!("{mode}: A removed"),
            NOT_AUTHENTIC,
        );
        // And under (B, A) the new seal is current: no further re-issue.
        assert_eq!(rotated.load(&record.id).unwrap().unwrap().id, record.id);
    }
}

#[test]
fn an_expired_seal_replayed_is_none() {
    let t0 = T0.as_secs();
    for mode in MODES {
        let (p, clock, _) = in_mode(mode);
        let seal = p.create(sample().ttl(60)).unwrap();
        // Touched half-way: the new seal expires at t=90, the old one still
        // at t=60. Each seal keeps the expiry sealed into it.
        clock.advance(Duration::from_secs(30));
        let refreshed = p.touch(&seal, None).unwrap();
        assert_eq!(
            p.load(&refreshed).unwrap().unwrap().expires_at,
            t0 + 90,
            "{mode}"
        );
        clock.advance(Duration::from_secs(30)); // t=60
        assert_eq!(p.load(&seal).unwrap(), None, "{mode}: old seal at t=60");
        let r = p.load(&refreshed).unwrap();
        assert!(r.is_some(), "{mode}: refreshed seal at t=60");
        assert_session_err!(p.update(&seal, "{}", None), SessionError::NotFound);
        assert_session_err!(p.touch(&seal, None), SessionError::NotFound);
        assert_session_err!(p.regenerate(&seal), SessionError::NotFound);
        clock.advance(Duration::from_secs(29)); // t=89
        assert!(p.load(&refreshed).unwrap().is_some(), "{mode}: t=89");
        clock.advance(Duration::from_secs(1)); // t=90
        assert_eq!(p.load(&seal).unwrap(), None, "{mode}: old seal at t=90");
        assert_eq!(
            p.load(&refreshed).unwrap(),
            None,
            "{mode}: refreshed at t=90"
        );
        assert_session_err!(p.update(&refreshed, "{}", None), SessionError::NotFound);
        assert_session_err!(p.touch(&refreshed, None), SessionError::NotFound);
        // Destroy of an authentic but expired seal is fine; a forged one is not.
        p.destroy(&seal).unwrap();
        p.destroy(&refreshed).unwrap();
        assert_session_err!(p.destroy("v1.p.AAAA"), SessionError::InvalidId(_));
    }
}

#[test]
fn update_and_touch_issue_a_new_seal_and_the_old_one_still_opens() {
    for mode in MODES {
        let (p, clock, _h) = in_mode(mode);
        let id = p.create(sample().ttl(600)).unwrap();
        clock.advance(Duration::from_secs(10));
        let updated = p.update(&id, r#"{"cart":"4 items"}"#, Some("bob")).unwrap();
        assert_ne!(updated, id, "{mode}: update returns a new seal");
        let touched = p.touch(&id, None).unwrap();
        assert_ne!(touched, id, "{mode}: touch returns a new seal");
        // Even when nothing would change, the nonce is fresh.
        let again = p.touch(&touched, None).unwrap();
        assert_ne!(again, touched, "{mode}: touch at the same instant");

        let new = p.load(&updated).unwrap().unwrap();
        assert_eq!(new.data, r#"{"cart":"4 items"}"#, "{mode}");
        assert_eq!(new.user_id.as_deref(), Some("bob"), "{mode}");
        assert_eq!(new.expires_at, T0.as_secs() + 610, "{mode}");
        assert_eq!(
            p.load(&touched).unwrap().unwrap().expires_at,
            T0.as_secs() + 610,
            "{mode}"
        );
        // Stateless: nothing revokes the seal that went in. It still opens,
        // with its own data and expiry, as the id to hold (no re-issue).
        let old = p.load(&id).unwrap().expect("the old seal still opens");
        assert_eq!(old.id, id, "{mode}");
        assert_eq!(old.data, r#"{"cart":"3 items","role":"admin"}"#, "{mode}");
        assert_eq!(old.user_id.as_deref(), Some("alice"), "{mode}");
        assert_eq!(old.expires_at, T0.as_secs() + 600, "{mode}");
    }
}

/// A seal created while the clock ran ahead (10 000 s), opened after the
/// clock was corrected, is no session yet: its absolute cap cannot be placed
/// in time. (Counted from each load, as the store did before, created-at
/// slid with the clock, and the seal the browser keeps stayed valid for the
/// 10 000 s plus its ttl whatever `session.max-lifetime-seconds` said.) Once
/// the clock reaches its creation time, it is a session like any other.
#[test]
fn a_seal_created_by_a_clock_far_ahead_is_no_session() {
    for mode in MODES {
        let (p, clock, _h) = load(
            "cookie_session",
            &[
                ("cookie.keys", KEY_A),
                ("cookie.mode", mode),
                ("session.max-lifetime-seconds", "300"),
                ("session.ttl-seconds", "100"),
            ],
        );
        clock.set(T0 + Duration::from_secs(10_000));
        let ahead = p.create(sample()).unwrap();
        clock.set(T0);
        assert_eq!(p.load(&ahead).unwrap(), None, "{mode}");
        assert_session_err!(p.update(&ahead, "{}", None), SessionError::NotFound);
        assert_session_err!(p.touch(&ahead, None), SessionError::NotFound);
        assert_session_err!(p.touch(&ahead, Some(50)), SessionError::NotFound);
        assert_session_err!(p.regenerate(&ahead), SessionError::NotFound);
        // Every second until the clock catches up, and within the cap after.
        for at in [1_000, 5_000, 9_939] {
            clock.set(T0 + Duration::from_secs(at));
            assert_eq!(p.load(&ahead).unwrap(), None, "{mode}: at T0+{at}");
        }
        clock.set(T0 + Duration::from_secs(10_000));
        let r = p
            .load(&ahead)
            .unwrap()
            .expect("live once the clock caught up");
        assert_eq!(r.id, ahead, "{mode}: nothing to re-issue");
        assert_eq!(r.created_at, T0.as_secs() + 10_000, "{mode}");
        assert_eq!(r.data, r#"{"cart":"3 items","role":"admin"}"#);
    }
}

/// A seal whose expiry was refreshed by a clock that ran ahead (a touch on
/// a replica 10 000 s ahead) keeps its creation time, so the absolute cap
/// holds; its expiry is reported at most its ttl from now, and `load`
/// re-issues it so the seal handed back idles out after its ttl.
#[test]
fn a_seal_refreshed_by_a_clock_far_ahead_keeps_the_absolute_cap() {
    let t0 = T0.as_secs();
    for mode in MODES {
        let (p, clock, _h) = load(
            "cookie_session",
            &[
                ("cookie.keys", KEY_A),
                ("cookie.mode", mode),
                ("session.max-lifetime-seconds", "20000"),
                ("session.ttl-seconds", "100"),
            ],
        );
        let id = p.create(sample().ttl(20_000)).unwrap();
        clock.set(T0 + Duration::from_secs(10_000 - 50));
        let refreshed = p.touch(&id, Some(100)).expect("within the cap");
        // Created at T0 (an honest clock), this seal says it expires at
        // T0+10 050: the clock that touched it ran 9 950 s ahead.
        clock.set(T0);
        let r = p.load(&refreshed).unwrap().expect("live");
        assert_eq!(r.created_at, t0, "{mode}");
        assert!(
            r.expires_at <= t0 + 100,
            "{mode}: expires-at T0+{}",
            r.expires_at.saturating_sub(t0)
        );
        assert_ne!(r.id, refreshed, "{mode}: re-issued with its ttl from now");
        clock.set(T0 + Duration::from_secs(150));
        assert_eq!(p.load(&r.id).unwrap(), None, "{mode}: idle past its ttl");
        // The seal the browser kept lives to its own expiry, never past the
        // cap counted from its creation.
        clock.set(T0 + Duration::from_secs(10_049));
        assert!(p.load(&refreshed).unwrap().is_some(), "{mode}");
        clock.set(T0 + Duration::from_secs(10_050));
        assert_eq!(p.load(&refreshed).unwrap(), None, "{mode}");
    }
}

/// Replicas' clocks differ by seconds: a seal created by one up to a minute
/// ahead is served as it is, not re-sealed on every request of a lagging
/// one; beyond that it is no session yet.
#[test]
fn a_seal_from_a_clock_up_to_a_minute_ahead_is_served_as_it_is() {
    for mode in MODES {
        let (p, clock, _h) = in_mode(mode);
        for ahead in [5, 60] {
            clock.set(T0 + Duration::from_secs(ahead));
            let seal = p.create(sample()).unwrap();
            clock.set(T0);
            let r = p.load(&seal).unwrap().expect("live");
            assert_eq!(r.id, seal, "{mode}: {ahead} s ahead");
            assert!(r.created_at <= T0.as_secs(), "{mode}: {r:?}");
        }
        clock.set(T0 + Duration::from_secs(61));
        let seal = p.create(sample()).unwrap();
        clock.set(T0);
        assert_eq!(p.load(&seal).unwrap(), None, "{mode}: 61 s ahead");
    }
}

/// Data far over `cookie.max-bytes` (but under `session.max-data-bytes`) is
/// refused from its length, before it is parsed or sealed. Sealing 20 MiB
/// first (as the store did before) needs ~67 MiB of guest memory beside the
/// input and runs past the call deadline: a trap that discards the instance
/// instead of a `too-large` answer.
#[test]
fn data_far_over_the_cookie_is_too_large_without_sealing_it() {
    let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(20 * 1024 * 1024));
    for mode in MODES {
        // The host must pass data as large as the store accepts.
        let (h, _, _) = harness();
        let p = h
            .load_file(
                guest_path("cookie_session"),
                LoadOptions::default()
                    .limits(Limits {
                        max_output_bytes: 32 * 1024 * 1024,
                        ..Limits::default()
                    })
                    .config("cookie.keys", KEY_A)
                    .config("cookie.mode", mode)
                    .config("session.max-data-bytes", "33554432"),
            )
            .unwrap();
        let check = |what: &str, r: Result<String, CallError>| {
            let r = r.map(|id| format!("an id of {} bytes", id.len()));
            let e = assert_session_err!(r, SessionError::TooLarge(_));
            assert!(
                e.to_string().contains("cookie.max-bytes"),
                "{mode}: {what}: {e}"
            );
            assert_eq!(p.stats().discarded, 0, "{mode}: {what}: {:?}", p.stats());
        };
        check("create", p.create(CreateOptions::new(big.clone())));
        let id = p.create(sample()).unwrap();
        check("update", p.update(&id, &big, Some("alice")));
        // The session is untouched and the instance still serves calls.
        let r = p.load(&id).unwrap().expect("still live");
        assert_eq!(r.data, r#"{"cart":"3 items","role":"admin"}"#);
        let next = p.update(&id, r#"{"a":1}"#, None).unwrap();
        assert_eq!(p.load(&next).unwrap().unwrap().data, r#"{"a":1}"#);
        assert_eq!(p.stats().discarded, 0, "{mode}: {:?}", p.stats());
    }
}

/// Every window of `len` bytes of `s`, plus of its base64url encodings at all
/// three alignments (how a signed seal would carry it).
fn windows(s: &str, len: usize) -> Vec<String> {
    let mut texts = vec![s.to_string()];
    for skip in 0..3 {
        texts.push(URL_SAFE_NO_PAD.encode(&s.as_bytes()[skip..]));
    }
    let mut out = vec![];
    for t in texts {
        let chars: Vec<char> = t.chars().collect();
        for w in chars.windows(len) {
            out.push(w.iter().collect());
        }
    }
    out
}

#[test]
fn private_seals_reveal_nothing_of_the_data_and_signed_ones_do() {
    let data = r#"{"ssn":"078-05-1120","note":"the quick brown fox"}"#;
    let private = store(KEY_A, "private")
        .create(CreateOptions::new(data).user("very-secret-user"))
        .unwrap();
    let signed = store(KEY_A, "signed")
        .create(CreateOptions::new(data).user("very-secret-user"))
        .unwrap();
    let needles: Vec<String> = windows(data, 6)
        .into_iter()
        .chain(windows("very-secret-user", 6))
        .collect();
    let leaked: Vec<&String> = needles
        .iter()
        .filter(|n| private.contains(n.as_str()))
        .collect();
    assert!(leaked.is_empty(), "private seal contains {leaked:?}");
    assert!(
        needles.iter().any(|n| signed.contains(n.as_str())),
        "signed mode is readable by design, so the check above can fail"
    );
}

#[test]
fn unknown_versions_and_foreign_strings_are_invalid_id() {
    for mode in MODES {
        let p = store(KEY_A, mode);
        let seal = p.create(sample()).unwrap();
        for (bad, needle) in [
            (seal.replacen("v1.", "v2.", 1), "unknown format version"),
            (seal.replacen("v1.", "v0.", 1), "unknown format version"),
            (seal.replacen("v1.", "v10.", 1), "unknown format version"),
            (seal.replacen("v1.", "", 1), "not a cookie-session seal"),
            ("session=abc".to_string(), "not a cookie-session seal"),
        ] {
            let e = assert_session_err!(p.load(&bad), SessionError::InvalidId(_));
            assert!(e.to_string().contains(needle), "{mode}: {bad}: {e}");
        }
    }
}

/// The store's own check: longer than `cookie.max-bytes` (4093 by default)
/// but within what the host passes on (ids over `Limits::max_id_bytes`,
/// 8 KiB, the host refuses itself, `tests/sandbox.rs`).
#[test]
fn over_long_input_is_refused_before_any_crypto() {
    let p = store(KEY_A, "private");
    let e = assert_session_err!(p.load(&"A".repeat(6 * 1024)), SessionError::InvalidId(_));
    assert!(e.to_string().contains("over cookie.max-bytes"), "{e}");
}

#[test]
fn a_seal_that_would_not_fit_the_cookie_is_too_large() {
    for mode in MODES {
        let p = store(KEY_A, mode);
        let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(3500));
        let e = assert_session_err!(
            p.create(CreateOptions::new(big.clone())),
            SessionError::TooLarge(_)
        );
        assert!(e.to_string().contains("cookie.max-bytes"), "{e}");
        let id = p.create(CreateOptions::new("{}")).unwrap();
        assert_session_err!(p.update(&id, &big, None), SessionError::TooLarge(_));
        // The default limit leaves room for the name and '=' in 4096 bytes.
        let fits = format!(r#"{{"x":"{}"}}"#, "y".repeat(2000));
        let id = p.create(CreateOptions::new(fits)).unwrap();
        assert!(id.len() <= 4096 - "id=".len());
    }
    // A lowered limit lets less in.
    let tight = load(
        "cookie_session",
        &[("cookie.keys", KEY_A), ("cookie.max-bytes", "1024")],
    )
    .0;
    let kib = format!(r#"{{"x":"{}"}}"#, "y".repeat(1000));
    assert_session_err!(
        tight.create(CreateOptions::new(kib)),
        SessionError::TooLarge(_)
    );
}

/// Loads cookie-session with `config` (plus KEY_A unless `cookie.keys` is
/// given), letting the host pass ids of up to 128 KiB so every limit is
/// checked by the guest itself.
fn configured(config: &[(&str, &str)]) -> Plugin {
    let (h, _, _) = harness();
    let mut options = LoadOptions::default().limits(Limits {
        max_id_bytes: 128 * 1024,
        ..Limits::default()
    });
    if !config.iter().any(|(k, _)| *k == "cookie.keys") {
        options = options.config("cookie.keys", KEY_A);
    }
    h.load_file(
        guest_path("cookie_session"),
        options.configs(config.iter().copied()),
    )
    .unwrap_or_else(|e| panic!("loading cookie_session with {config:?}: {e}"))
}

/// Panics when `msg` holds any 8 characters in a row of `key`: a message
/// quoting part of a key leaks that much of it.
fn assert_no_part_of(key: &str, msg: &str) {
    let key = key.as_bytes();
    for part in key.windows(8) {
        let part = std::str::from_utf8(part).unwrap();
        assert!(!msg.contains(part), "{part:?} of a key in: {msg}");
    }
}

/// The `config` error every call of a store configured with `config` gives.
fn config_error(config: &[(&str, &str)]) -> String {
    let p = configured(config);
    let e = assert_session_err!(p.create(CreateOptions::new("{}")), SessionError::Config(_));
    let msg = e.to_string();
    for (key, value) in config {
        if *key == "cookie.keys" {
            for entry in value.split(',') {
                assert_no_part_of(entry.trim(), &msg);
            }
        }
    }
    assert_no_part_of(KEY_A, &msg);
    assert_no_part_of(KEY_B, &msg);
    msg
}

/// A store configured with `config` works: it seals and opens a session.
fn accepted(config: &[(&str, &str)]) -> Plugin {
    let p = configured(config);
    let id = p
        .create(CreateOptions::new("{}"))
        .unwrap_or_else(|e| panic!("{config:?}: {e}"));
    assert!(p.load(&id).unwrap().is_some(), "{config:?}");
    p
}

#[test]
fn cookie_max_bytes_range() {
    for bad in ["0", "127"] {
        let msg = config_error(&[("cookie.max-bytes", bad)]);
        assert!(
            msg.contains("cookie.max-bytes must be at least 128"),
            "{bad}: {msg}"
        );
    }
    accepted(&[("cookie.max-bytes", "128")]);
    // Beyond one cookie, for hosts that split a seal over several.
    accepted(&[("cookie.max-bytes", "65536")]);
    for bad in ["65537", "100000"] {
        let msg = config_error(&[("cookie.max-bytes", bad)]);
        assert!(
            msg.contains("cookie.max-bytes must be at most 65536"),
            "{bad}: {msg}"
        );
        assert!(msg.contains("4093"), "says what one cookie holds: {msg}");
    }
    let long = "n".repeat(255);
    // The default always fits.
    let p = accepted(&[("cookie.name", &long)]);
    let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(2000));
    let id = p.create(CreateOptions::new(big)).unwrap();
    assert!(long.len() + 1 + id.len() <= 4096);
}

#[test]
fn cookie_name_must_be_a_short_token() {
    for bad in [
        "a=b".to_string(),
        "a;b".to_string(),
        "sessión".to_string(),
        "a b".to_string(),
        String::new(),
        "n".repeat(256),
    ] {
        let msg = config_error(&[("cookie.name", &bad)]);
        assert!(msg.contains("cookie.name"), "{bad:?}: {msg}");
    }
    for good in ["id", "__Host-sid", "session_id.v2", &"n".repeat(255)] {
        accepted(&[("cookie.name", good)]);
    }
}

/// `n` distinct 32-byte keys, hex, comma-separated.
fn many_keys(n: usize) -> String {
    (1..=n)
        .map(|i| format!("{i:064x}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn cookie_keys_are_trimmed_and_capped() {
    for mode in MODES {
        // Whitespace around entries is ignored: the first key still seals
        // and the second still opens.
        let spaced = format!("  {KEY_A} ,\t{KEY_B}\n");
        let p = accepted(&[("cookie.keys", &spaced), ("cookie.mode", mode)]);
        let seal = p.create(sample()).unwrap();
        assert!(store(KEY_A, mode).load(&seal).unwrap().is_some(), "{mode}");
        let from_b = store(KEY_B, mode).create(sample()).unwrap();
        assert!(p.load(&from_b).unwrap().is_some(), "{mode}");
    }
    // Empty entries and repeated keys are errors.
    let msg = config_error(&[("cookie.keys", &format!("{KEY_A}, ,{KEY_B}"))]);
    assert!(msg.contains("entry 2 is empty"), "{msg}");
    let msg = config_error(&[("cookie.keys", &format!("{KEY_A},{KEY_B},{KEY_A}"))]);
    assert!(msg.contains("entry 3 repeats entry 1"), "{msg}");
    // At most 16 keys.
    accepted(&[("cookie.keys", &many_keys(16))]);
    let msg = config_error(&[("cookie.keys", &many_keys(17))]);
    assert!(
        msg.contains("17 entries") && msg.contains("at most 16"),
        "{msg}"
    );
}

#[test]
fn touch_with_a_new_ttl_respects_the_absolute_cap() {
    for mode in MODES {
        let (p, clock, _h) = load(
            "cookie_session",
            &[
                ("cookie.keys", KEY_A),
                ("cookie.mode", mode),
                ("session.max-lifetime-seconds", "300"),
            ],
        );
        let id = p.create(sample()).unwrap();
        let created = p.load(&id).unwrap().unwrap();
        assert_eq!(created.created_at, T0.as_secs());
        assert_eq!(created.expires_at, T0.as_secs() + 300);
        clock.advance(Duration::from_secs(100));
        let touched = p.touch(&id, Some(10_000)).unwrap();
        let r = p.load(&touched).unwrap().expect("still live at t=100");
        assert_eq!(r.created_at, created.created_at, "{mode}");
        assert_eq!(
            r.expires_at,
            r.created_at + 300,
            "{mode}: a new ttl never lifts the absolute cap"
        );
        clock.advance(Duration::from_secs(199));
        assert!(p.load(&touched).unwrap().is_some(), "{mode}: t=299");
        clock.advance(Duration::from_secs(1));
        assert_eq!(p.load(&touched).unwrap(), None, "{mode}: t=300");
    }
}

/// The documented shape of a seal, checked without a regex:
/// private `v1.p.<b64url>`, signed `v1.s.<b64url>.<b64url>`, where b64url
/// is `[A-Za-z0-9_-]+`: URL- and cookie-safe, no padding, no other character.
fn assert_seal_shape(mode: &str, seal: &str) {
    let parts: Vec<&str> = seal.split('.').collect();
    let (tag, count) = if mode == "private" {
        ("p", 3)
    } else {
        ("s", 4)
    };
    assert_eq!(parts.len(), count, "{mode}: {seal}");
    assert_eq!(&parts[..2], &["v1", tag], "{mode}: {seal}");
    for part in &parts[2..] {
        assert!(
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{mode}: {seal}"
        );
    }
    if mode == "signed" {
        assert_eq!(parts[3].len(), 43, "HMAC-SHA256 tag: {seal}");
    }
}

#[test]
fn every_seal_is_url_and_cookie_safe() {
    for mode in MODES {
        let p = store(KEY_A, mode);
        // Bytes a cookie or URL must not carry raw, in the data and user id.
        let unsafe_text = "é~<>;=,%+/ \\\"";
        for reps in [0, 1, 2, 3, 5, 80, 160] {
            let data = if reps == 0 {
                "{}".to_string()
            } else {
                format!(r#"{{"x":"{}"}}"#, unsafe_text.repeat(reps))
            };
            for user in [None, Some("alice"), Some("ålice <a@b>; x=y")] {
                let mut o = CreateOptions::new(data.clone());
                if let Some(u) = user {
                    o = o.user(u);
                }
                let id = p.create(o).unwrap();
                assert_seal_shape(mode, &id);
                assert_seal_shape(mode, &p.touch(&id, None).unwrap());
                assert_seal_shape(mode, &p.regenerate(&id).unwrap());
                assert_seal_shape(mode, &p.update(&id, "{}", None).unwrap());
            }
        }
    }
}

#[test]
fn key_problems_are_config_errors_that_never_echo_the_key() {
    let short = "c2hvcnQta2V5LW9mLTIwLWJ5dGVz"; // 20 bytes
    for (config, needle) in [
        (vec![], "cookie.keys is not set"),
        (vec![("cookie.keys", short)], "at least 32 bytes"),
        (vec![("cookie.keys", "%%%")], "neither hex nor base64"),
        (
            vec![("cookie.keys", KEY_A), ("cookie.mode", "clear")],
            "cookie.mode",
        ),
    ] {
        let p = load("cookie_session", &config).0;
        let e = assert_session_err!(p.create(CreateOptions::new("{}")), SessionError::Config(_));
        let msg = e.to_string();
        assert!(msg.contains(needle), "{msg}");
        assert_no_part_of(short, &msg);
        assert_no_part_of(KEY_A, &msg);
        // The maintenance calls too: a store that cannot open a seal is not
        // reported healthy by a host's periodic purge.
        for e in [
            assert_session_err!(p.purge_expired(), SessionError::Config(_)),
            assert_session_err!(p.count(), SessionError::Config(_)),
        ] {
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}

/// Seals pinned when the v1 format was fixed (also asserted byte for byte by
/// the guest's unit tests): KEY_A, cookie name `id`, created at T0, expiring
/// an hour later, user `alice`, data `{"cart":"3 items"}`.
const PINNED: [(&str, &str); 2] = [
    (
        "private",
        "v1.p.AAECAwQFBgcICQoLDA0ODxAREhMUFRYX2m6xaxpf4z_HuOaiT5zQol3wSOVivUTj1nmlqwwLKTD8tpmNs2X9Fg3mTH7DvMYfMzlIMycBnVJT-DrJgiiSCm4",
    ),
    (
        "signed",
        "v1.s.AAECAwQFBgcICQoLDA0ODwC5VWkAAAAAEMdVaQAAAAAQDgAAAAAAAAUAYWxpY2V7ImNhcnQiOiIzIGl0ZW1zIn0.QOUMfZxOiXe56pkYHi-RLD5QEQIts8x4mNBRNcsazNE",
    ),
];

#[test]
fn pinned_seals_still_open() {
    for (mode, seal) in PINNED {
        let r = store(KEY_A, mode)
            .load(seal)
            .unwrap()
            .expect("pinned seal opens");
        assert_eq!(r.id, seal);
        assert_eq!(r.user_id.as_deref(), Some("alice"));
        assert_eq!(r.data, r#"{"cart":"3 items"}"#);
        assert_eq!(
            (r.created_at, r.expires_at),
            (T0.as_secs(), T0.as_secs() + 3600)
        );
    }
}

/// The signed format, checked by an independent implementation of the
/// README's description with RustCrypto on the host side.
#[test]
fn signed_seals_follow_the_documented_format() {
    use hmac::{Hmac, Mac};
    let p = store(KEY_A, "signed");
    let seal = p.create(sample().ttl(3600)).unwrap();
    let parts: Vec<&str> = seal.split('.').collect();
    assert_eq!(&parts[..2], &["v1", "s"]);
    let body = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let tag = URL_SAFE_NO_PAD.decode(parts[3]).unwrap();
    let master: Vec<u8> = (0u8..32).collect();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"session:plugin/cookie-session"), &master);
    let mut mac_key = [0u8; 32];
    hk.expand(b"v1 hmac-sha256", &mut mac_key).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&mac_key).unwrap();
    mac.update(b"session:plugin/cookie-session");
    mac.update(b"v1s\x02id");
    mac.update(&body);
    mac.verify_slice(&tag).expect("HMAC as documented");
    let payload = &body[16..];
    let created = u64::from_le_bytes(payload[0..8].try_into().unwrap());
    let expires = u64::from_le_bytes(payload[8..16].try_into().unwrap());
    let ttl = u64::from_le_bytes(payload[16..24].try_into().unwrap());
    let user_len = u16::from_le_bytes(payload[24..26].try_into().unwrap()) as usize;
    assert_eq!(
        (created, expires, ttl),
        (T0.as_secs(), T0.as_secs() + 3600, 3600)
    );
    assert_eq!(&payload[26..26 + user_len], b"alice");
    assert_eq!(
        &payload[26 + user_len..],
        br#"{"cart":"3 items","role":"admin"}"#
    );
}

/// The private format, checked by an independent implementation of the
/// documented layout with RustCrypto on the host side: the sub-key from
/// HKDF-SHA256, XChaCha20-Poly1305 over the payload with the seal's context
/// as associated data.
#[test]
fn private_seals_follow_the_documented_format() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let master: Vec<u8> = (0u8..32).collect();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"session:plugin/cookie-session"), &master);
    let mut enc_key = [0u8; 32];
    hk.expand(b"v1 xchacha20poly1305", &mut enc_key).unwrap();
    let cipher = XChaCha20Poly1305::new((&enc_key).into());
    let context = |name: &str| {
        let mut aad = b"session:plugin/cookie-session".to_vec();
        aad.extend_from_slice(b"v1p");
        aad.push(u8::try_from(name.len()).unwrap());
        aad.extend_from_slice(name.as_bytes());
        aad
    };
    let long_name = "n".repeat(255);
    for name in ["id", "__Host-sid", long_name.as_str()] {
        for user in [Some("alice"), None] {
            let (p, clock, _h) = load(
                "cookie_session",
                &[
                    ("cookie.keys", KEY_A),
                    ("cookie.mode", "private"),
                    ("cookie.name", name),
                ],
            );
            clock.advance(Duration::from_secs(7));
            let mut o = sample().ttl(3600);
            o.user_id = user.map(str::to_string);
            let seal = p.create(o).unwrap();
            let b64 = seal.strip_prefix("v1.p.").expect("private prefix");
            let raw = URL_SAFE_NO_PAD.decode(b64).unwrap();
            assert_eq!(URL_SAFE_NO_PAD.encode(&raw), b64, "canonical base64url");
            let (nonce, sealed) = raw.split_at(24);
            let plain = cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &context(name),
                    },
                )
                .unwrap_or_else(|_| panic!("{name}: XChaCha20-Poly1305 as documented"));
            assert_eq!(plain.len() + 24 + 16, raw.len(), "nonce | ct | tag[16]");
            // The name is bound in: under another name's context it fails.
            let other = cipher.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &context("other"),
                },
            );
            assert!(other.is_err(), "{name}");

            let u64_at = |i: usize| u64::from_le_bytes(plain[i..i + 8].try_into().unwrap());
            let now = T0.as_secs() + 7;
            assert_eq!(
                (u64_at(0), u64_at(8), u64_at(16)),
                (now, now + 3600, 3600),
                "{name}"
            );
            let user_len = u16::from_le_bytes(plain[24..26].try_into().unwrap());
            let data_at = match user {
                Some(u) => {
                    assert_eq!(usize::from(user_len), u.len(), "{name}");
                    assert_eq!(&plain[26..26 + u.len()], u.as_bytes(), "{name}");
                    26 + u.len()
                }
                None => {
                    assert_eq!(user_len, 0xFFFF, "{name}: no user");
                    26
                }
            };
            assert_eq!(
                &plain[data_at..],
                br#"{"cart":"3 items","role":"admin"}"#,
                "{name}"
            );
        }
    }
}

/// One plugin per mode, shared by the property test's cases.
fn shared(mode: &str) -> &'static (Plugin, String) {
    static PRIVATE: OnceLock<(Plugin, String)> = OnceLock::new();
    static SIGNED: OnceLock<(Plugin, String)> = OnceLock::new();
    let cell = if mode == "private" { &PRIVATE } else { &SIGNED };
    cell.get_or_init(|| {
        let (h, _, _) = harness();
        let p = load_into(
            &h,
            "cookie_session",
            &[
                ("cookie.keys", KEY_A),
                ("cookie.mode", mode),
                ("session.ttl-seconds", "3600"),
            ],
        );
        let seal = p.create(sample()).unwrap();
        // The plugin keeps what it needs of the harness alive.
        drop(h);
        (p, seal)
    })
}

/// `load` never traps and never accepts what it should not. The clock does
/// not move, so nothing authentic is expired: anything but the original seal
/// must be `invalid-id` (not `none`, which would hide a forgery as a logout).
/// Returns the message of the refusal (none for the original).
fn check_load(p: &Plugin, original: &str, input: &str) -> Result<Option<String>, TestCaseError> {
    match p.load(input) {
        Err(CallError::Session(SessionError::InvalidId(msg))) if input != original => Ok(Some(msg)),
        Ok(Some(r)) if input == original => {
            prop_assert_eq!(r.data, r#"{"cart":"3 items","role":"admin"}"#);
            Ok(None)
        }
        other => Err(TestCaseError::fail(format!("{input:?} gave {other:?}"))),
    }
}

/// Arbitrary text; or arbitrary text after a seal's prefix (`v1.p.`,
/// `v1.s.`), which with the store's mode gets past the version and mode
/// checks to the decoder.
fn arbitrary_id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (
            prop::sample::select(vec!["v1.p.", "v1.s."]),
            any::<String>()
        )
            .prop_map(|(prefix, text)| format!("{prefix}{text}")),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    Swap(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Mutation::Swap(i, j)),
    ]
}

fn apply(seal: &str, mutations: &[Mutation]) -> String {
    let mut b = seal.as_bytes().to_vec();
    for m in mutations {
        let n = b.len().max(1);
        match *m {
            Mutation::Replace(i, c) if !b.is_empty() => b[i % n] = c,
            Mutation::Insert(i, c) => b.insert(i % (b.len() + 1), c),
            Mutation::Remove(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            Mutation::Truncate(i) => b.truncate(i % (b.len() + 1)),
            Mutation::Swap(i, j) if !b.is_empty() => b.swap(i % n, j % n),
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Refused for the reason the format gives (see [`refusal`]): text
    /// after the store's own prefix is refused by the decoder or a length
    /// check, not as a foreign string.
    #[test]
    fn arbitrary_strings_are_invalid_id(s in arbitrary_id(), mode in 0usize..2) {
        let (p, seal) = shared(MODES[mode]);
        let msg = check_load(p, seal, &s)?.unwrap_or_default();
        let reason = refusal(MODES[mode], &s);
        prop_assert!(msg.contains(&reason), "{:?}: expected {:?}, got {:?}", s, reason, msg);
    }

    #[test]
    fn seal_shaped_strings_are_invalid_id(
        s in "v1\\.[ps]\\.[A-Za-z0-9_-]{0,200}(\\.[A-Za-z0-9_-]{0,60})?",
        mode in 0usize..2,
    ) {
        let (p, seal) = shared(MODES[mode]);
        check_load(p, seal, &s)?;
    }

    /// Strings that pass every check before the crypto (the mode's prefix,
    /// canonical base64url of a body long enough to hold a nonce and a tag,
    /// in signed mode a 32-byte tag): the MAC or the AEAD must refuse them.
    #[test]
    fn strings_that_reach_the_crypto_are_invalid_id(
        body in prop::collection::vec(any::<u8>(), 66..240),
        tag in prop::array::uniform32(any::<u8>()),
        mode in 0usize..2,
    ) {
        let (p, _) = shared(MODES[mode]);
        let body = URL_SAFE_NO_PAD.encode(&body);
        let input = match MODES[mode] {
            "private" => format!("v1.p.{body}"),
            _ => format!("v1.s.{body}.{}", URL_SAFE_NO_PAD.encode(tag)),
        };
        match p.load(&input) {
            Err(CallError::Session(SessionError::InvalidId(m))) => {
                prop_assert!(m.contains("failed authentication"), "not the crypto: {}", m)
            }
            other => prop_assert!(false, "{:?} gave {:?}", input, other),
        }
    }
}

proptest! {
    // Cheap (one load per case on a shared instance): many cases.
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_seals_are_invalid_id(
        mutations in prop::collection::vec(mutation(), 1..4),
        mode in 0usize..2,
    ) {
        let (p, seal) = shared(MODES[mode]);
        let input = apply(seal, &mutations);
        check_load(p, seal, &input)?;
    }
}
