//! Behaviour specific to `kv-session`: its id format, what it writes to the
//! kv, and how it treats records the backend kept past their expiry.

use host_harness::{
    CallError, Clock, CreateOptions, KvBackend, MemoryBackend, SessionError, WriteMode,
};
use session_tests::assert_session_err;
use session_tests::faulty::{KvCall, harness_with_faulty_kv};
use session_tests::fixtures::{T0, harness, load_into};
use std::time::Duration;

/// The kv namespace a plugin loaded with default options writes to.
const NS: &str = "kv-session";

/// Rewrites the record of session `id` with no kv ttl, as a backend without
/// native expiry holds it: it stays until someone deletes it.
fn keep_past_expiry(kv: &MemoryBackend, id: &str) {
    let key = format!("s:{id}");
    let value = kv.get(NS, &key).unwrap().expect("the record is there");
    kv.set(NS, &key, value, None, WriteMode::Always).unwrap();
}

#[test]
fn ids_are_32_url_safe_characters() {
    let (h, _, _) = harness();
    let p = load_into(&h, "kv_session", &[]);
    for _ in 0..200 {
        let id = p.create(CreateOptions::new("{}")).unwrap();
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
    }
}

/// No fresh id starts with `-` (a command line would read it as an option:
/// `session-harness call … load -abc…` did, one id in 64); an imported one
/// may, and loads as any other. (5,000 ids: one in 64 would show ~78.)
#[test]
fn no_fresh_id_starts_with_a_hyphen() {
    let (h, _, _) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let mut first_chars = std::collections::BTreeSet::new();
    for _ in 0..5000 {
        let id = p.create(CreateOptions::new("{}")).unwrap();
        assert!(!id.starts_with('-'), "{id}");
        first_chars.insert(id.as_bytes()[0]);
    }
    assert_eq!(first_chars.len(), 63, "every other first character occurs");
    let imported = format!("-{}", "A".repeat(31));
    let id = p
        .create(CreateOptions::new("{}").with_id(imported.clone()))
        .unwrap();
    assert_eq!(id, imported);
    assert!(p.load(&imported).unwrap().is_some());
}

#[test]
fn each_session_is_one_kv_record_with_a_native_ttl() {
    let (h, clock, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let id = p.create(CreateOptions::new("{}").ttl(100)).unwrap();
    let page = kv.list_keys("kv-session", "", None, 100).unwrap();
    assert_eq!(page.keys, vec![format!("s:{id}")]);
    // The backend itself forgets the record when the session expires.
    clock.advance(std::time::Duration::from_secs(100));
    assert_eq!(kv.get("kv-session", &format!("s:{id}")).unwrap(), None);
}

/// How long a record must have been expired before `purge-expired` removes
/// it: kv-session's clock-skew tolerance (guest/support/src/lifetime.rs).
const PURGE_AFTER_SECONDS: u64 = 60;

#[test]
fn purge_removes_records_a_backend_kept_past_their_expiry() {
    let (h, clock, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let expired: Vec<_> = (0..3)
        .map(|_| p.create(CreateOptions::new("{}").ttl(10)).unwrap())
        .collect();
    let live = p.create(CreateOptions::new("{}").ttl(1000)).unwrap();
    // Simulate a backend without native expiry: rewrite the records with no ttl.
    for id in expired.iter().chain([&live]) {
        keep_past_expiry(&kv, id);
    }
    clock.advance(Duration::from_secs(10 + PURGE_AFTER_SECONDS));
    for id in &expired {
        assert_eq!(p.load(id).unwrap(), None, "load checks expires-at itself");
        assert_session_err!(p.update(id, "{}", None), SessionError::NotFound);
        assert_session_err!(p.touch(id, None), SessionError::NotFound);
        assert_session_err!(p.touch(id, Some(1000)), SessionError::NotFound);
        assert_session_err!(p.regenerate(id), SessionError::NotFound);
    }
    assert_eq!(p.count().unwrap(), 1, "count skips expired records");
    assert_eq!(p.purge_expired().unwrap(), 3);
    assert_eq!(
        kv.list_keys(NS, "", None, 100).unwrap().keys,
        vec![format!("s:{live}")],
        "neither touch nor regenerate revived or copied an expired record"
    );
    assert_eq!(p.purge_expired().unwrap(), 0);
}

/// A record expired by less than the clock-skew tolerance stays: a host
/// whose clock is that far behind still sees it live and may just have
/// updated it. Before, a purge on a host whose clock ran a few seconds
/// ahead deleted a session another host had just updated (its `ok` lost).
#[test]
fn purge_leaves_a_record_expired_less_than_the_skew_tolerance_ago() {
    let (h, clock, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let id = p.create(CreateOptions::new(r#"{"a":1}"#).ttl(10)).unwrap();
    keep_past_expiry(&kv, &id);
    clock.advance(Duration::from_secs(10 + 5));
    assert_eq!(p.load(&id).unwrap(), None, "expired by this host's clock");
    assert_eq!(p.purge_expired().unwrap(), 0, "5 s past expiry: kept");
    assert!(kv.get(NS, &format!("s:{id}")).unwrap().is_some());
    clock.advance(Duration::from_secs(PURGE_AFTER_SECONDS - 5 - 1));
    assert_eq!(p.purge_expired().unwrap(), 0, "59 s past expiry: kept");
    clock.advance(Duration::from_secs(1));
    assert_eq!(p.purge_expired().unwrap(), 1, "60 s past expiry: removed");
    assert_eq!(kv.get(NS, &format!("s:{id}")).unwrap(), None);
}

/// Purge walks every page of keys (the guest lists 256 at a time), deleting
/// as it goes, and removes exactly the expired records.
#[test]
fn purge_removes_the_expired_records_of_every_page() {
    let (h, clock, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let mut live = Vec::new();
    for i in 0..600 {
        let ttl = if i % 2 == 0 { 10 } else { 1000 };
        let id = p.create(CreateOptions::new("{}").ttl(ttl)).unwrap();
        keep_past_expiry(&kv, &id);
        if ttl == 1000 {
            live.push(format!("s:{id}"));
        }
    }
    clock.advance(Duration::from_secs(10 + PURGE_AFTER_SECONDS));
    assert_eq!(p.purge_expired().unwrap(), 300);
    assert_eq!(p.count().unwrap(), 300);
    live.sort();
    let page = kv.list_keys(NS, "", None, 10_000).unwrap();
    assert_eq!(page.cursor, None);
    assert_eq!(page.keys, live, "exactly the live records are left");
    assert_eq!(p.purge_expired().unwrap(), 0);
}

/// An import is one `if-absent` write: a record the backend still holds
/// under the id takes it, even one expired by the store's clock, until
/// purge-expired removes it.
#[test]
fn an_import_conflicts_with_a_record_the_backend_kept_past_its_expiry() {
    let (h, clock, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let id = "imported-session-id-000000000001";
    let got = p
        .create(CreateOptions::new(r#"{"old":1}"#).with_id(id).ttl(10))
        .unwrap();
    assert_eq!(got, id);
    keep_past_expiry(&kv, id);
    clock.advance(Duration::from_secs(10 + PURGE_AFTER_SECONDS));
    assert_session_err!(
        p.create(CreateOptions::new(r#"{"new":1}"#).with_id(id)),
        SessionError::Conflict
    );
    assert_eq!(p.load(id).unwrap(), None, "the kept record is no session");
    assert_eq!(p.purge_expired().unwrap(), 1);
    let got = p
        .create(CreateOptions::new(r#"{"new":1}"#).with_id(id))
        .unwrap();
    assert_eq!(got, id);
    assert_eq!(p.load(id).unwrap().unwrap().data, r#"{"new":1}"#);
}

#[test]
fn a_corrupt_record_is_a_backend_error_not_a_trap() {
    let (h, _, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let id = p.create(CreateOptions::new("{}")).unwrap();
    kv.set(
        "kv-session",
        &format!("s:{id}"),
        b"garbage".to_vec(),
        None,
        WriteMode::Always,
    )
    .unwrap();
    assert_session_err!(p.load(&id), SessionError::Backend(_));
    assert_session_err!(p.update(&id, "{}", None), SessionError::Backend(_));
    // The instance survived: the next call works.
    p.create(CreateOptions::new("{}")).unwrap();
    assert_eq!(p.stats().discarded, 0);
}

#[test]
fn a_record_whose_data_is_not_utf8_fails_to_load_or_touch_and_an_update_replaces_it() {
    let (h, _, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let id = p.create(CreateOptions::new("{}").user("alice")).unwrap();
    let key = format!("s:{id}");
    let mut value = kv.get("kv-session", &key).unwrap().unwrap();
    assert!(
        value.ends_with(b"alice{}"),
        "user then data close the record"
    );
    let data_at = value.len() - 2;
    value[data_at] = 0xFF;
    kv.set("kv-session", &key, value, Some(100), WriteMode::Always)
        .unwrap();
    let e = assert_session_err!(p.load(&id), SessionError::Backend(_));
    assert!(e.to_string().contains("data is not UTF-8"), "{e}");
    // A new id is not handed out for data that cannot be loaded.
    assert_session_err!(p.regenerate(&id), SessionError::Backend(_));
    // Nor is it kept alive as if it were fine: touch says what load says
    // (it once answered ok, sliding the broken session's expiry).
    let e = assert_session_err!(p.touch(&id, Some(600)), SessionError::Backend(_));
    assert!(e.to_string().contains("data is not UTF-8"), "{e}");
    assert_eq!(
        kv.get("kv-session", &key).unwrap().unwrap()[data_at],
        0xFF,
        "touch wrote nothing"
    );
    // The update writes new data: the session works again.
    p.update(&id, r#"{"fixed":true}"#, None).unwrap();
    let r = p.load(&id).unwrap().unwrap();
    assert_eq!((r.data.as_str(), r.user_id), (r#"{"fixed":true}"#, None));
}

#[test]
fn two_plugins_in_different_namespaces_do_not_share_sessions() {
    let (h, _, _) = harness();
    let a = session_tests::fixtures::load_in_namespace(&h, "kv_session", "tenant-a");
    let b = session_tests::fixtures::load_in_namespace(&h, "kv_session", "tenant-b");
    let id = a.create(CreateOptions::new("{}")).unwrap();
    assert_eq!(b.load(&id).unwrap(), None);
    assert_eq!(b.count().unwrap(), 0);
    // Same namespace: a new load of the store sees the old sessions.
    let a2 = session_tests::fixtures::load_in_namespace(&h, "kv_session", "tenant-a");
    assert!(a2.load(&id).unwrap().is_some());
}

#[test]
fn a_failing_backend_is_reported_and_loses_nothing() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    let id = p.create(CreateOptions::new(r#"{"precious":1}"#)).unwrap();
    backend.fail_delete_of(Some(format!("s:{id}")));
    let e = assert_session_err!(p.regenerate(&id), SessionError::Backend(_));
    assert!(e.to_string().contains("connection reset by peer"), "{e}");
    assert_session_err!(p.destroy(&id), SessionError::Backend(_));
    backend.fail_delete_of(None);
    // The session is still there, under its old id, and only once.
    assert_eq!(p.load(&id).unwrap().unwrap().data, r#"{"precious":1}"#);
    assert_eq!(p.count().unwrap(), 1);
}

/// A delete that ran on the server but whose reply was lost: the old id is
/// gone, so regenerate hands out the copy instead of undoing it (which
/// would lose the session).
#[test]
fn regenerate_survives_a_delete_whose_reply_was_lost() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    let old = p
        .create(CreateOptions::new(r#"{"precious":1}"#).user("erin"))
        .unwrap();
    backend.lose_next_delete_reply_of(&format!("s:{old}"));
    let new = p.regenerate(&old).unwrap();
    assert_ne!(new, old);
    let r = p.load(&new).unwrap().expect("the copy is the session now");
    assert_eq!(
        (r.data.as_str(), r.user_id.as_deref()),
        (r#"{"precious":1}"#, Some("erin"))
    );
    assert_eq!(p.load(&old).unwrap(), None);
    assert_eq!(p.count().unwrap(), 1);
}

/// A delete whose reply was lost, and then a failed read: regenerate
/// deletes again, and once that answers the old id is gone, so the copy is
/// handed out. (It once went straight to the read, reported its failure and
/// kept the copy unseen: the old id gone too, the session was lost.)
#[test]
fn regenerate_deletes_again_after_a_lost_reply_when_it_cannot_read() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    let old = p.create(CreateOptions::new(r#"{"precious":1}"#)).unwrap();
    let key = format!("s:{old}");
    backend.lose_next_delete_reply_of(&key);
    backend.fail_reads_of(Some((NS, &key, 1)));
    let new = p.regenerate(&old).expect("the session under its new id");
    backend.fail_reads_of(None);
    assert_eq!(p.load(&new).unwrap().unwrap().data, r#"{"precious":1}"#);
    assert_eq!(p.load(&old).unwrap(), None);
    assert_eq!(p.count().unwrap(), 1);
}

/// A failed delete and then a failed read: regenerate cannot tell whether
/// the old id went, so it reports the failure and keeps the copy (never
/// handed out) rather than risk deleting the only one.
#[test]
fn regenerate_keeps_its_copy_when_it_cannot_tell_whether_the_old_id_went() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    let old = p.create(CreateOptions::new(r#"{"precious":1}"#)).unwrap();
    let key = format!("s:{old}");
    backend.fail_delete_of(Some(key.clone()));
    // The first read (regenerate's own) goes through; the one after the
    // failed delete fails.
    backend.fail_reads_of(Some((NS, &key, 1)));
    let e = assert_session_err!(p.regenerate(&old), SessionError::Backend(_));
    assert!(e.to_string().contains("connection reset by peer"), "{e}");
    backend.fail_delete_of(None);
    backend.fail_reads_of(None);
    assert_eq!(p.load(&old).unwrap().unwrap().data, r#"{"precious":1}"#);
    assert_eq!(p.count().unwrap(), 2, "the old record and the kept copy");
}

/// A destroy that lands while regenerate copies the session: the old id's
/// delete finds nothing, so the session is gone (`not-found`), even when the
/// copy cannot be removed (it is never handed out; it once made the answer
/// the clean-up's `backend` error instead).
#[test]
fn regenerate_racing_a_destroy_is_not_found_even_when_its_copy_cannot_be_removed() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    let old = p.create(CreateOptions::new(r#"{"precious":1}"#)).unwrap();
    let old_key = format!("s:{old}");
    backend.take_log();
    let held = backend.hold_next_delete(NS, &old_key);
    let regenerating = {
        let (p, old) = (p.clone(), old.clone());
        held.wait_entered(
            std::thread::spawn(move || p.regenerate(&old)),
            "regenerate never deleted the old id",
        )
    };
    let copy = backend
        .take_log()
        .into_iter()
        .find_map(|c| match c {
            KvCall::Set(key, _, WriteMode::IfAbsent) => Some(key),
            _ => None,
        })
        .expect("the copy was written before the old id's delete");
    p.destroy(&old).unwrap();
    backend.fail_delete_of(Some(copy));
    held.release.send(()).unwrap();
    let answer = regenerating.join().unwrap();
    backend.fail_delete_of(None);
    assert_session_err!(answer, SessionError::NotFound);
    assert_eq!(p.load(&old).unwrap(), None, "the logout holds");
}

#[test]
fn purge_and_count_report_backend_failures() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    p.create(CreateOptions::new("{}")).unwrap();
    backend.fail_reads(true);
    let e = assert_session_err!(p.purge_expired(), SessionError::Backend(_));
    assert!(e.to_string().contains("read timed out"), "{e}");
    assert_session_err!(p.count(), SessionError::Backend(_));
}

/// A destroy (from another host, say) that lands between the store's read and
/// its write: the `if-present` write refuses, so the session stays dead.
#[test]
fn update_and_touch_racing_a_destroy_never_resurrect() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    for op in ["update", "touch"] {
        let id = p.create(CreateOptions::new("{}")).unwrap();
        backend.delete_before_next_if_present();
        let answer = match op {
            "update" => p.update(&id, r#"{"late":1}"#, None),
            _ => p.touch(&id, None),
        };
        assert_session_err!(answer, SessionError::NotFound);
        assert_eq!(
            p.load(&id).unwrap(),
            None,
            "{op} resurrected a destroyed session"
        );
    }
    assert_eq!(p.count().unwrap(), 0);
}

/// Every write carries a ttl no longer than the session's remaining lifetime,
/// with the write mode the contract asks for.
#[test]
fn every_write_passes_the_ttl_and_the_right_mode() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(
        &h,
        "kv_session",
        &[
            ("session.ttl-seconds", "600"),
            ("session.max-lifetime-seconds", "900"),
        ],
    );
    let id = p.create(CreateOptions::new("{}")).unwrap();
    let id = p.update(&id, r#"{"a":1}"#, Some("u")).unwrap();
    let id = p.touch(&id, Some(5000)).unwrap();
    let new_id = p.regenerate(&id).unwrap();
    let sets: Vec<_> = backend
        .take_log()
        .into_iter()
        .filter_map(|c| match c {
            KvCall::Set(key, ttl, mode) => Some((key, ttl, mode)),
            _ => None,
        })
        .collect();
    let key = format!("s:{id}");
    let new_key = format!("s:{new_id}");
    assert_eq!(
        sets,
        vec![
            (key.clone(), Some(600), WriteMode::IfAbsent),
            (key.clone(), Some(600), WriteMode::IfPresent),
            // touch asked for 5000 s; the absolute cap leaves 900.
            (key.clone(), Some(900), WriteMode::IfPresent),
            (new_key, Some(900), WriteMode::IfAbsent),
        ]
    );
}

/// A malformed id is `invalid-id` before the store touches the kv at all.
#[test]
fn a_malformed_id_never_reaches_the_kv() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    p.fetch_info().unwrap();
    backend.take_log();
    let long = "A".repeat(33);
    for bad in [
        "",
        "short",
        long.as_str(),
        "has space in it 0123456789abcdef",
        "s:../../etc/passwd00000000000000",
    ] {
        assert_session_err!(p.load(bad), SessionError::InvalidId(_));
        assert_session_err!(p.update(bad, "{}", None), SessionError::InvalidId(_));
        assert_session_err!(p.touch(bad, None), SessionError::InvalidId(_));
        assert_session_err!(p.regenerate(bad), SessionError::InvalidId(_));
        assert_session_err!(p.destroy(bad), SessionError::InvalidId(_));
        assert_session_err!(
            p.create(CreateOptions::new("{}").with_id(bad)),
            SessionError::InvalidId(_)
        );
    }
    assert_eq!(backend.take_log(), vec![]);
}

/// `create` retries under a fresh id when the one it drew is taken, and says
/// the random source looks broken when that keeps happening.
#[test]
fn create_retries_on_a_collision_and_then_gives_up() {
    let (h, backend) = harness_with_faulty_kv();
    let p = load_into(&h, "kv_session", &[]);
    backend.take_log();
    backend.refuse_if_absent(2);
    let id = p.create(CreateOptions::new("{}")).unwrap();
    let tried: Vec<String> = backend
        .take_log()
        .into_iter()
        .filter_map(|c| match c {
            KvCall::Set(key, _, WriteMode::IfAbsent) => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert_eq!(tried[2], format!("s:{id}"));
    assert!(
        tried[0] != tried[1] && tried[1] != tried[2],
        "a fresh id each time"
    );
    backend.refuse_if_absent(100);
    let e = assert_session_err!(p.create(CreateOptions::new("{}")), SessionError::Backend(_));
    assert!(e.to_string().contains("random source"), "{e}");
}

/// A record the store cannot read (another writer's, or damaged) does not
/// stop `count` or `purge-expired`: both skip it and leave it alone.
#[test]
fn count_and_purge_skip_a_record_they_cannot_read() {
    let (h, _, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    p.create(CreateOptions::new("{}")).unwrap();
    let odd = "s:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    kv.set(
        "kv-session",
        odd,
        b"garbage".to_vec(),
        None,
        WriteMode::Always,
    )
    .unwrap();
    assert_eq!(p.count().unwrap(), 1);
    assert_eq!(p.purge_expired().unwrap(), 0);
    assert!(kv.get("kv-session", odd).unwrap().is_some(), "left alone");
}

/// A record written under a clock that ran ahead (another replica's, or
/// before a correction) claims a creation time in the future. The store
/// reads it as now and writes that back on the first touch, so the absolute
/// lifetime counts from a fixed point instead of sliding with every touch.
#[test]
fn a_creation_time_ahead_of_the_clock_is_clamped_and_written_back() {
    let (h, clock, _) = harness();
    let p = load_into(&h, "kv_session", &[("session.max-lifetime-seconds", "300")]);
    let t0 = T0.as_secs();
    clock.set(T0 + Duration::from_secs(10_000));
    let id = p.create(CreateOptions::new("{}").ttl(100)).unwrap();
    // The memory kv's ttls run on the same clock: the entry survives.
    clock.set(T0);
    p.touch(&id, None).unwrap();
    let r = p.load(&id).unwrap().expect("live");
    assert_eq!((r.created_at, r.expires_at), (t0, t0 + 100));
    touch_every_90_s_until_the_cap(&p, &clock, &id, t0 + 300);
}

/// Touches `id` every 90 s, six times: each touch succeeds exactly while
/// the clock is before `cap`, and from then on the session is gone.
fn touch_every_90_s_until_the_cap(
    p: &host_harness::Plugin,
    clock: &host_harness::ManualClock,
    id: &str,
    cap: u64,
) {
    for _ in 0..6 {
        clock.advance(Duration::from_secs(90));
        let now = clock.now_secs();
        let touched = p.touch(id, None);
        if now < cap {
            assert!(
                touched.is_ok(),
                "at {now}, before the cap {cap}: {touched:?}"
            );
        } else {
            assert!(
                matches!(touched, Err(CallError::Session(SessionError::NotFound))),
                "at {now}, past the cap {cap}: {touched:?}"
            );
            assert_eq!(p.load(id).unwrap(), None, "live at {now}");
        }
    }
}

/// What `load` reports for such a record is consistent (created-at no later
/// than now, expiry within the cap from it), and the cap is fixed by the
/// first write: repeated touches do not push past it. `load` itself writes
/// nothing: without compare-and-set, writing back what it read could undo
/// an update landing meanwhile.
#[test]
fn a_creation_time_ahead_of_the_clock_is_capped_from_the_first_write() {
    let (h, backend, clock) = session_tests::faulty::harness_with_faulty_kv_and_clock();
    let p = load_into(&h, "kv_session", &[("session.max-lifetime-seconds", "300")]);
    let t0 = T0.as_secs();
    clock.set(T0 + Duration::from_secs(10_000));
    let id = p.create(CreateOptions::new("{}").ttl(100)).unwrap();
    // The memory kv's ttls run on the same clock: the entry survives.
    clock.set(T0);
    backend.take_log();
    let r = p.load(&id).unwrap().expect("live");
    assert!(r.created_at <= t0, "created in the future: {r:?}");
    assert!(r.expires_at <= t0 + 300, "past the absolute cap: {r:?}");
    assert!(
        r.expires_at <= t0 + 100,
        "more than its ttl from now: {r:?}"
    );
    assert!(r.created_at <= r.expires_at, "{r:?}");
    assert!(
        backend
            .take_log()
            .iter()
            .all(|c| !matches!(c, KvCall::Set(..))),
        "load wrote"
    );
    clock.advance(Duration::from_secs(90));
    p.touch(&id, None).unwrap();
    let first_write = t0 + 90;
    touch_every_90_s_until_the_cap(&p, &clock, &id, first_write + 300);
}

/// A record laid out as record.rs describes: version, created-at,
/// expires-at, ttl-seconds, user-id length (0xFFFF_FFFF: no user), rest.
fn raw_record(version: u8, times: [u64; 3], user_len: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![version];
    for t in times {
        v.extend_from_slice(&t.to_le_bytes());
    }
    v.extend_from_slice(&user_len.to_le_bytes());
    v.extend_from_slice(rest);
    v
}

/// `load` hands the data back as stored, without parsing it: a record
/// planted with text shaped like an object but not valid JSON comes back
/// byte for byte (the data was checked once, when it was written).
#[test]
fn load_returns_the_stored_data_without_parsing_it() {
    let (h, _, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let id = "plantedPlantedPlantedPlanted0000";
    let t0 = T0.as_secs();
    let unparsable = br#"{"a": , "b" [}"#;
    let value = raw_record(1, [t0, t0 + 100, 100], u32::MAX, unparsable);
    kv.set(NS, &format!("s:{id}"), value, None, WriteMode::Always)
        .unwrap();
    let r = p.load(id).unwrap().expect("live");
    assert_eq!(r.data.as_bytes(), unparsable);
}

/// Values with well-formed headers but impossible contents: every operation
/// answers with a session error (or a value) and no instance traps.
#[test]
fn corrupt_record_headers_never_trap() {
    const NO_USER: u32 = u32::MAX;
    let (h, _, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let id = "corruptCorruptCorruptCorrupt0000";
    let key = format!("s:{id}");
    let t0 = T0.as_secs();
    let max = u64::MAX;
    let header_only = raw_record(1, [t0, t0 + 100, 100], NO_USER, b"");
    assert_eq!(header_only.len(), 29);
    let cases = [
        (
            "every time u64::MAX",
            raw_record(1, [max; 3], NO_USER, b"{}"),
        ),
        ("ttl 0", raw_record(1, [t0, t0 + 100, 0], NO_USER, b"{}")),
        ("expires-at 0", raw_record(1, [t0, 0, 100], NO_USER, b"{}")),
        (
            "user length 0xFFFF_FFFE",
            raw_record(1, [t0, t0 + 100, 100], 0xFFFF_FFFE, b"{}"),
        ),
        (
            "version 2",
            raw_record(2, [t0, t0 + 100, 100], NO_USER, b"{}"),
        ),
        ("header only", header_only.clone()),
    ];
    let ops = [
        "load",
        "update",
        "touch",
        "regenerate",
        "destroy",
        "purge-expired",
        "count",
    ];
    for (case, value) in &cases {
        for op in ops {
            // Each operation meets the record as written, and nothing else.
            for k in kv.list_keys(NS, "", None, 100).unwrap().keys {
                kv.delete(NS, &k).unwrap();
            }
            kv.set(NS, &key, value.clone(), None, WriteMode::Always)
                .unwrap();
            let outcome = match op {
                "load" => p.load(id).map(|r| format!("{r:?}")),
                "update" => p.update(id, r#"{"new":1}"#, None),
                "touch" => p.touch(id, None),
                "regenerate" => p.regenerate(id),
                "destroy" => p.destroy(id).map(|()| String::new()),
                "purge-expired" => p.purge_expired().map(|n| n.to_string()),
                _ => p.count().map(|n| n.to_string()),
            };
            // Empty data is no JSON object: the store itself must say the
            // record is corrupt, not hand it out for the host to refuse.
            if let Err(e) = outcome
                && !matches!(e, CallError::Session(_))
            {
                panic!("{case}: {op} failed on the host side: {e}");
            }
        }
    }
    // Data that cannot be an object is a corrupt record, and no new id is
    // handed out for it.
    kv.set(NS, &key, header_only, None, WriteMode::Always)
        .unwrap();
    let e = assert_session_err!(p.load(id), SessionError::Backend(_));
    assert!(e.to_string().contains("not a JSON object"), "{e}");
    assert_session_err!(p.regenerate(id), SessionError::Backend(_));
    assert_session_err!(p.touch(id, None), SessionError::Backend(_));
    // The instances survived: the next calls work.
    let fresh = p.create(CreateOptions::new("{}")).unwrap();
    assert!(p.load(&fresh).unwrap().is_some());
    assert_eq!(p.stats().discarded, 0);
}
