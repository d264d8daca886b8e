//! Behaviour specific to `kv-session`: its id format, what it writes to the
//! kv, and how it treats records the backend kept past their expiry.

use host_harness::{CreateOptions, KvBackend, SessionError, WriteMode};
use session_tests::assert_session_err;
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
    use host_harness::{KeyPage, KvError, MemoryBackend};
    use std::sync::Arc;
    use std::sync::Mutex;

    /// A memory backend whose deletes of one key can be made to fail.
    struct FlakyDeletes {
        inner: MemoryBackend,
        fail_key: Mutex<Option<String>>,
    }
    impl KvBackend for FlakyDeletes {
        fn name(&self) -> &str {
            "flaky"
        }
        fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.inner.get(ns, key)
        }
        fn set(
            &self,
            ns: &str,
            key: &str,
            value: Vec<u8>,
            ttl: Option<u64>,
            mode: WriteMode,
        ) -> Result<bool, KvError> {
            self.inner.set(ns, key, value, ttl, mode)
        }
        fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
            if self.fail_key.lock().unwrap().as_deref() == Some(key) {
                return Err(KvError::Backend("connection reset by peer".into()));
            }
            self.inner.delete(ns, key)
        }
        fn list_keys(
            &self,
            ns: &str,
            prefix: &str,
            cursor: Option<&str>,
            limit: u32,
        ) -> Result<KeyPage, KvError> {
            self.inner.list_keys(ns, prefix, cursor, limit)
        }
    }

    let clock = host_harness::ManualClock::new(session_tests::fixtures::T0);
    let backend = Arc::new(FlakyDeletes {
        inner: MemoryBackend::new(Arc::new(clock.clone())),
        fail_key: Mutex::new(None),
    });
    let h = host_harness::Harness::builder()
        .clock(Arc::new(clock))
        .kv_backend(backend.clone())
        .engine_settings(host_harness::EngineSettings {
            max_instances: 8,
            ..Default::default()
        })
        .build()
        .unwrap();
    let p = load_into(&h, "kv_session", &[]);
    let id = p.create(CreateOptions::new(r#"{"precious":1}"#)).unwrap();
    *backend.fail_key.lock().unwrap() = Some(format!("s:{id}"));
    let e = assert_session_err!(p.regenerate(&id), SessionError::Backend(_));
    assert!(e.to_string().contains("connection reset by peer"), "{e}");
    assert_session_err!(p.destroy(&id), SessionError::Backend(_));
    *backend.fail_key.lock().unwrap() = None;
    // The session is still there, under its old id, and only once.
    assert_eq!(p.load(&id).unwrap().unwrap().data, r#"{"precious":1}"#);
    assert_eq!(p.count().unwrap(), 1);
}

#[test]
fn purge_and_count_report_backend_failures() {
    use host_harness::{KeyPage, KvError, MemoryBackend};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A memory backend whose reads can be made to fail.
    struct FailingReads {
        inner: MemoryBackend,
        fail: AtomicBool,
    }
    impl KvBackend for FailingReads {
        fn name(&self) -> &str {
            "failing-reads"
        }
        fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(KvError::Backend("read timed out".into()));
            }
            self.inner.get(ns, key)
        }
        fn set(
            &self,
            ns: &str,
            key: &str,
            value: Vec<u8>,
            ttl: Option<u64>,
            mode: WriteMode,
        ) -> Result<bool, KvError> {
            self.inner.set(ns, key, value, ttl, mode)
        }
        fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
            self.inner.delete(ns, key)
        }
        fn list_keys(
            &self,
            ns: &str,
            prefix: &str,
            cursor: Option<&str>,
            limit: u32,
        ) -> Result<KeyPage, KvError> {
            self.inner.list_keys(ns, prefix, cursor, limit)
        }
    }

    let clock = host_harness::ManualClock::new(session_tests::fixtures::T0);
    let backend = Arc::new(FailingReads {
        inner: MemoryBackend::new(Arc::new(clock.clone())),
        fail: AtomicBool::new(false),
    });
    let h = host_harness::Harness::builder()
        .clock(Arc::new(clock))
        .kv_backend(backend.clone())
        .engine_settings(host_harness::EngineSettings {
            max_instances: 8,
            ..Default::default()
        })
        .build()
        .unwrap();
    let p = load_into(&h, "kv_session", &[]);
    p.create(CreateOptions::new("{}")).unwrap();
    backend.fail.store(true, Ordering::SeqCst);
    let e = assert_session_err!(p.purge_expired(), SessionError::Backend(_));
    assert!(e.to_string().contains("read timed out"), "{e}");
    assert_session_err!(p.count(), SessionError::Backend(_));
}
