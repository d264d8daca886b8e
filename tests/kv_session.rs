//! Behaviour specific to `kv-session`: its id format, what it writes to the
//! kv, and how it treats records the backend kept past their expiry.

use host_harness::{CreateOptions, KvBackend, SessionError, WriteMode};
use session_tests::assert_session_err;
use session_tests::faulty::{KvCall, harness_with_faulty_kv};
use session_tests::fixtures::{harness, load_into};

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

#[test]
fn purge_removes_records_a_backend_kept_past_their_expiry() {
    let (h, clock, kv) = harness();
    let p = load_into(&h, "kv_session", &[]);
    let ns = "kv-session";
    let expired: Vec<_> = (0..3)
        .map(|_| p.create(CreateOptions::new("{}").ttl(10)).unwrap())
        .collect();
    let live = p.create(CreateOptions::new("{}").ttl(1000)).unwrap();
    // Simulate a backend without native expiry: rewrite the records with no ttl.
    for id in expired.iter().chain([&live]) {
        let key = format!("s:{id}");
        let value = kv.get(ns, &key).unwrap().unwrap();
        kv.set(ns, &key, value, None, WriteMode::Always).unwrap();
    }
    clock.advance(std::time::Duration::from_secs(20));
    for id in &expired {
        assert_eq!(p.load(id).unwrap(), None, "load checks expires-at itself");
        assert_session_err!(p.update(id, "{}", None), SessionError::NotFound);
    }
    assert_eq!(p.count().unwrap(), 1, "count skips expired records");
    assert_eq!(p.purge_expired().unwrap(), 3);
    assert_eq!(
        kv.list_keys(ns, "", None, 100).unwrap().keys,
        vec![format!("s:{live}")]
    );
    assert_eq!(p.purge_expired().unwrap(), 0);
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
fn a_record_whose_data_is_not_utf8_fails_to_load_and_an_update_replaces_it() {
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
    // update and touch read only the header; the update writes new data.
    p.touch(&id, None).unwrap();
    assert_session_err!(p.load(&id), SessionError::Backend(_));
    p.update(&id, r#"{"fixed":true}"#, None).unwrap();
    let r = p.load(&id).unwrap().unwrap();
    assert_eq!((r.data.as_str(), r.user_id), (r#"{"fixed":true}"#, None));
}

#[test]
fn two_plugins_in_different_namespaces_do_not_share_sessions() {
    let (h, _, _) = harness();
    let a = h
        .load_file(
            session_tests::fixtures::guest_path("kv_session"),
            host_harness::LoadOptions::default().namespace("tenant-a"),
        )
        .unwrap();
    let b = h
        .load_file(
            session_tests::fixtures::guest_path("kv_session"),
            host_harness::LoadOptions::default().namespace("tenant-b"),
        )
        .unwrap();
    let id = a.create(CreateOptions::new("{}")).unwrap();
    assert_eq!(b.load(&id).unwrap(), None);
    assert_eq!(b.count().unwrap(), 0);
    // Same namespace: a new load of the store sees the old sessions.
    let a2 = h
        .load_file(
            session_tests::fixtures::guest_path("kv_session"),
            host_harness::LoadOptions::default().namespace("tenant-a"),
        )
        .unwrap();
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
