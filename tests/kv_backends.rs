//! The `kv` import's contract (DESIGN.md, "Semantics of the kv import"), run
//! against every host backend: the embedded memory backend and a real Redis
//! server. Then kv-session on Redis as users run it: two hosts sharing one
//! server, and a server that stalls or dies.

use host_harness::kv::RESERVED_NAMESPACE_PREFIX;
use host_harness::{
    CallError, CreateOptions, KvBackend, KvError, ManualClock, MemoryBackend, RedisBackend,
    SessionError,
};
use session_tests::fixtures::{self, Kv};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A backend with a way to let time pass for its ttls.
struct Subject {
    kv: Arc<dyn KvBackend>,
    clock: ManualClock,
    which: Kv,
}

impl Subject {
    fn new(which: Kv) -> Self {
        let clock = ManualClock::new(fixtures::T0);
        Self {
            kv: which.backend(&clock),
            clock,
            which,
        }
    }

    /// A backend like [`Subject::new`]'s whose namespaces hold at most `quota`
    /// bytes each.
    fn with_quota(which: Kv, quota: usize) -> Self {
        let clock = ManualClock::new(fixtures::T0);
        let kv: Arc<dyn KvBackend> = match which {
            Kv::Memory => {
                Arc::new(MemoryBackend::new(Arc::new(clock.clone())).with_namespace_quota(quota))
            }
            Kv::Redis => Arc::new(redis_with_quota(&fixtures::unique_redis_prefix(), quota)),
        };
        Self { kv, clock, which }
    }

    /// Lets `secs` seconds pass as the backend's ttls see them: the test clock
    /// for memory, real time for Redis (whose ttls run on the server's clock).
    fn let_pass(&self, secs: u64) {
        match self.which {
            Kv::Memory => self.clock.advance(Duration::from_secs(secs)),
            Kv::Redis => std::thread::sleep(Duration::from_millis(secs * 1000 + 150)),
        }
    }

    fn set(&self, key: &str, value: &str, ttl: Option<u64>, mode: host_harness::WriteMode) -> bool {
        self.kv
            .set("ns", key, value.as_bytes().to_vec(), ttl, mode)
            .unwrap_or_else(|e| panic!("set {key}: {e}"))
    }

    fn get(&self, key: &str) -> Option<String> {
        self.kv
            .get("ns", key)
            .unwrap_or_else(|e| panic!("get {key}: {e}"))
            .map(|v| String::from_utf8(v).unwrap())
    }

    /// Every key under `prefix`, page by page, checking each page's shape.
    fn all_keys(&self, prefix: &str, limit: u32) -> Vec<String> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let page = self
                .kv
                .list_keys("ns", prefix, cursor.as_deref(), limit)
                .unwrap_or_else(|e| panic!("list {prefix:?}: {e}"));
            assert!(page.keys.len() <= limit as usize, "page over limit");
            if let (Some(c), Some(first)) = (&cursor, page.keys.first()) {
                assert!(
                    first > c,
                    "page starts at {first:?}, not after cursor {c:?}"
                );
            }
            keys.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return keys,
            }
        }
        panic!("listing {prefix:?} never ended");
    }
}

use host_harness::WriteMode::{Always, IfAbsent, IfPresent};

/// What a key with a `value_len`-byte value costs against its namespace's
/// quota on `which`.
fn entry_cost(which: Kv, key: &str, value_len: usize, has_ttl: bool) -> usize {
    match which {
        Kv::Memory => host_harness::kv::memory::entry_cost(key, value_len, has_ttl),
        Kv::Redis => host_harness::kv::redis::entry_cost(key, value_len, has_ttl),
    }
}

/// A backend on the test Redis server under key prefix `prefix` whose
/// namespaces hold at most `quota` bytes each.
fn redis_with_quota(prefix: &str, quota: usize) -> RedisBackend {
    fixtures::redis_backend_with(&fixtures::redis_url(), prefix, |b| b.namespace_quota(quota))
}

fn round_trip_and_delete(s: Subject) {
    assert_eq!(s.get("a"), None);
    assert!(s.set("a", "1", None, Always));
    assert_eq!(s.get("a").as_deref(), Some("1"));
    assert!(s.set("a", "2", Some(100), Always), "always overwrites");
    assert_eq!(s.get("a").as_deref(), Some("2"));
    assert!(s.kv.delete("ns", "a").unwrap(), "a live key existed");
    assert!(!s.kv.delete("ns", "a").unwrap(), "nothing left to delete");
    assert_eq!(s.get("a"), None);
    // Binary values and odd keys come back as stored.
    let odd = "k:with/separators and spaces\u{e9}";
    let bytes = vec![0u8, 255, 10, 13, 0];
    assert!(s.kv.set("ns", odd, bytes.clone(), None, Always).unwrap());
    assert_eq!(s.kv.get("ns", odd).unwrap(), Some(bytes));
}

/// The harness's compare-and-delete (its own records: migration markers):
/// only a live key holding exactly the value given goes.
fn delete_if_equals_deletes_only_the_value_it_was_given(s: Subject) {
    for ns in ["ns", &format!("{RESERVED_NAMESPACE_PREFIX}markers")] {
        let bytes = vec![0u8, 255, 10];
        assert!(s.kv.set(ns, "k", bytes.clone(), None, Always).unwrap());
        for other in [&b"\0\xff"[..], b"\0\xff\n\0", b"", b"k"] {
            assert!(!s.kv.delete_if_equals(ns, "k", other).unwrap(), "{other:?}");
        }
        assert_eq!(s.kv.get(ns, "k").unwrap(), Some(bytes.clone()), "kept");
        assert!(s.kv.delete_if_equals(ns, "k", &bytes).unwrap());
        assert_eq!(s.kv.get(ns, "k").unwrap(), None);
        assert!(!s.kv.delete_if_equals(ns, "k", &bytes).unwrap(), "gone");
        assert!(!s.kv.delete_if_equals(ns, "never", b"").unwrap());
        assert!(
            s.kv.set(ns, "short", b"v".to_vec(), Some(1), Always)
                .unwrap()
        );
    }
    s.let_pass(2);
    for ns in ["ns", &format!("{RESERVED_NAMESPACE_PREFIX}markers")] {
        assert!(
            !s.kv.delete_if_equals(ns, "short", b"v").unwrap(),
            "an expired key is not live"
        );
    }
}

/// The harness's compare-and-write (a migration marker that moves on to
/// another store): it writes only over a live key holding exactly the value
/// given, with the new ttl, and never creates a key.
fn replace_if_equals_writes_only_over_the_value_it_was_given(s: Subject) {
    for ns in ["ns", &format!("{RESERVED_NAMESPACE_PREFIX}markers")] {
        let bytes = vec![0u8, 255, 10];
        assert!(s.kv.set(ns, "k", bytes.clone(), Some(2), Always).unwrap());
        for other in [&b"\0\xff"[..], b"\0\xff\n\0", b"", b"k"] {
            let wrote = s.kv.replace_if_equals(ns, "k", other, b"x".to_vec(), None);
            assert!(!wrote.unwrap(), "{other:?}");
        }
        assert_eq!(s.kv.get(ns, "k").unwrap(), Some(bytes.clone()), "kept");
        let wrote =
            s.kv.replace_if_equals(ns, "k", &bytes, b"new".to_vec(), Some(60));
        assert!(wrote.unwrap());
        assert_eq!(s.kv.get(ns, "k").unwrap(), Some(b"new".to_vec()));
        let again =
            s.kv.replace_if_equals(ns, "k", &bytes, b"newer".to_vec(), None);
        assert!(!again.unwrap(), "it holds something else now");
        let absent =
            s.kv.replace_if_equals(ns, "never", b"", b"v".to_vec(), None);
        assert!(!absent.unwrap(), "no key is created");
        assert_eq!(s.kv.get(ns, "never").unwrap(), None);
        let zero =
            s.kv.replace_if_equals(ns, "k", b"new", b"v".to_vec(), Some(0));
        assert!(matches!(zero, Err(KvError::Backend(_))), "{zero:?}");
        assert_eq!(
            s.kv.get(ns, "k").unwrap(),
            Some(b"new".to_vec()),
            "a refused ttl writes nothing"
        );
        assert!(
            s.kv.set(ns, "short", b"v".to_vec(), Some(1), Always)
                .unwrap()
        );
        assert!(
            s.kv.set(ns, "kept", b"v".to_vec(), Some(1), Always)
                .unwrap()
        );
        let forever =
            s.kv.replace_if_equals(ns, "kept", b"v", b"w".to_vec(), None);
        assert!(forever.unwrap());
    }
    s.let_pass(3);
    for ns in ["ns", &format!("{RESERVED_NAMESPACE_PREFIX}markers")] {
        assert_eq!(
            s.kv.get(ns, "k").unwrap(),
            Some(b"new".to_vec()),
            "the replacement's ttl, not the old one's"
        );
        assert_eq!(
            s.kv.get(ns, "kept").unwrap(),
            Some(b"w".to_vec()),
            "no ttl given: the old one is gone too"
        );
        let expired =
            s.kv.replace_if_equals(ns, "short", b"v", b"w".to_vec(), None);
        assert!(!expired.unwrap(), "an expired key is not live");
        assert_eq!(s.kv.get(ns, "short").unwrap(), None);
    }
}

fn write_modes_check_and_write_in_one_step(s: Subject) {
    assert!(
        !s.set("k", "x", None, IfPresent),
        "if-present on a missing key"
    );
    assert_eq!(s.get("k"), None, "if-present wrote nothing");
    assert!(s.set("k", "first", None, IfAbsent));
    assert!(
        !s.set("k", "second", None, IfAbsent),
        "if-absent on a live key"
    );
    assert_eq!(
        s.get("k").as_deref(),
        Some("first"),
        "if-absent wrote nothing"
    );
    assert!(s.set("k", "third", None, IfPresent));
    assert_eq!(s.get("k").as_deref(), Some("third"));
}

fn racing_if_absent_writers_have_one_winner(s: Subject) {
    let kv = s.kv.clone();
    let winners: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let kv = kv.clone();
                scope.spawn(move || {
                    (0..50)
                        .filter(|n| {
                            kv.set("ns", &format!("race-{n}"), vec![i], None, IfAbsent)
                                .unwrap()
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(winners, 50, "each key is won exactly once");
}

fn expired_keys_are_invisible_to_every_operation(s: Subject) {
    assert!(s.set("short", "v", Some(1), Always));
    assert!(s.set("long", "v", Some(1000), Always));
    assert!(s.set("forever", "v", None, Always));
    assert!(s.set("slid", "v", Some(2), Always));
    assert!(
        s.set("slid", "v", Some(1000), IfPresent),
        "a rewrite sets a new ttl"
    );
    s.let_pass(2);
    assert_eq!(s.get("short"), None);
    assert_eq!(s.get("long").as_deref(), Some("v"));
    assert_eq!(s.get("forever").as_deref(), Some("v"));
    assert_eq!(s.get("slid").as_deref(), Some("v"));
    assert_eq!(s.all_keys("", 10), ["forever", "long", "slid"]);
    assert!(
        !s.kv.delete("ns", "short").unwrap(),
        "an expired key is not live"
    );
    assert!(
        !s.set("short", "x", None, IfPresent),
        "if-present sees no live key"
    );
    assert!(
        s.set("short", "again", None, IfAbsent),
        "if-absent sees no live key"
    );
    assert_eq!(s.get("short").as_deref(), Some("again"));
}

fn a_ttl_of_zero_is_refused_and_writes_nothing(s: Subject) {
    assert!(s.set("k", "kept", None, Always));
    for mode in [Always, IfAbsent, IfPresent] {
        for key in ["k", "new"] {
            match s.kv.set("ns", key, b"x".to_vec(), Some(0), mode) {
                Err(host_harness::KvError::Backend(m)) => {
                    assert!(m.contains("ttl-seconds must be at least 1"), "{m}")
                }
                other => {
                    panic!("ttl 0 on {key:?} ({mode:?}): expected a backend error, got {other:?}")
                }
            }
        }
    }
    assert_eq!(
        s.get("k").as_deref(),
        Some("kept"),
        "the refused writes changed nothing"
    );
    assert_eq!(s.get("new"), None);
    assert_eq!(s.all_keys("", 10), ["k"]);
    let bound = s.kv.bind("ns").expect("both backends bind");
    assert!(matches!(
        bound.set("k", b"x".to_vec(), Some(0), Always),
        Err(host_harness::KvError::Backend(_))
    ));
    assert_eq!(s.get("k").as_deref(), Some("kept"));
}

fn a_limit_of_zero_is_refused(s: Subject) {
    assert!(s.set("k", "v", None, Always));
    let bound = s.kv.bind("ns").expect("both backends bind");
    for cursor in [None, Some("a")] {
        for (how, answer) in [
            ("by name", s.kv.list_keys("ns", "", cursor, 0)),
            ("bound", bound.list_keys("", cursor, 0)),
        ] {
            match answer {
                Err(host_harness::KvError::Backend(m)) => assert_eq!(
                    m,
                    "list-keys limit must be at least 1 (a page of 0 keys could never move on)"
                ),
                other => panic!(
                    "limit 0 {how} after {cursor:?}: expected a backend error, got {other:?}"
                ),
            }
        }
    }
    assert_eq!(s.all_keys("", 1), ["k"], "a limit of 1 still lists");
}

fn huge_ttls_mean_practically_forever(s: Subject) {
    assert!(s.set("k", "v", Some(u64::MAX), Always));
    assert_eq!(s.get("k").as_deref(), Some("v"));
    assert!(s.set("k", "w", Some(u64::MAX / 2), IfPresent));
    assert_eq!(s.get("k").as_deref(), Some("w"));
}

fn listing_is_ordered_prefixed_and_paged(s: Subject) {
    let mut expected: Vec<String> = (0..57).map(|i| format!("s:{i:03}")).collect();
    for k in expected.iter().rev() {
        assert!(s.set(k, "v", Some(1000), Always));
    }
    for other in ["r:1", "t:1", "s", "S:1"] {
        assert!(s.set(other, "v", None, Always));
    }
    // Byte order, not insertion order, at every page size.
    for limit in [1, 7, 57, 58, 1000] {
        assert_eq!(s.all_keys("s:", limit), expected, "limit {limit}");
    }
    // Strictly after the cursor.
    let page = s.kv.list_keys("ns", "s:", Some("s:010"), 3).unwrap();
    assert_eq!(page.keys, ["s:011", "s:012", "s:013"]);
    assert_eq!(page.cursor.as_deref(), Some("s:013"));
    // A cursor before the prefix starts at the prefix; one past it ends at once.
    assert_eq!(
        s.kv.list_keys("ns", "s:", Some("a"), 1).unwrap().keys,
        ["s:000"]
    );
    let end = s.kv.list_keys("ns", "s:", Some("s:999"), 10).unwrap();
    assert!(end.keys.is_empty() && end.cursor.is_none(), "{end:?}");
    // The last page says there is nothing more.
    let last = s.kv.list_keys("ns", "s:", Some("s:050"), 100).unwrap();
    assert_eq!(last.keys.len(), 6);
    assert_eq!(last.cursor, None);
    // No keys under a prefix: an empty page, no cursor.
    let none = s.kv.list_keys("ns", "zzz", None, 10).unwrap();
    assert!(none.keys.is_empty() && none.cursor.is_none());
    // Deleted keys leave the listing.
    for k in expected.drain(..10) {
        assert!(s.kv.delete("ns", &k).unwrap());
    }
    assert_eq!(s.all_keys("s:", 5), expected);
    let all = s.all_keys("", 4);
    assert_eq!(all.len(), expected.len() + 4);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "ascending: {all:?}");
}

/// Ascending byte order holds beyond ASCII: UTF-8 sorts as its code points
/// do (a character's first byte says how many follow), and a prefix of
/// several bytes cuts no character in two.
fn listing_orders_text_beyond_ascii_by_its_bytes(s: Subject) {
    let keys = [
        "u:\u{10000}",
        "u:z",
        "u:\u{7f}",
        "u:\u{e9}",
        "u:\u{e9}a",
        "u:\u{ffff}",
        "u:e",
        "u:\u{800}",
    ];
    for k in keys {
        assert!(s.set(k, "v", None, Always), "{k:?}");
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for limit in [1, 3, 100] {
        assert_eq!(s.all_keys("u:", limit), sorted, "limit {limit}");
    }
    assert_eq!(s.all_keys("u:\u{e9}", 10), ["u:\u{e9}", "u:\u{e9}a"]);
    let page = s.kv.list_keys("ns", "u:", Some("u:\u{e9}a"), 10).unwrap();
    assert_eq!(page.keys, ["u:\u{800}", "u:\u{ffff}", "u:\u{10000}"]);
}

/// An `if-present` write racing a delete of its key ends with no key either
/// way: written then deleted, or refused after the delete. A check apart
/// from the write could see the key, lose it to the delete, then write it
/// back: `update` resurrecting a session destroyed meanwhile.
fn if_present_racing_a_delete_never_brings_the_key_back(s: Subject) {
    let keys: Vec<String> = (0..200).map(|i| format!("race-{i:03}")).collect();
    for k in &keys {
        assert!(s.set(k, "v", None, Always));
    }
    let both = std::sync::Barrier::new(2);
    // Results are collected, not unwrapped in the loop: a thread that
    // panicked there would leave the other waiting at the barrier for ever.
    let (deletes, writes) = std::thread::scope(|scope| {
        let deleter = scope.spawn(|| {
            keys.iter()
                .map(|k| {
                    both.wait();
                    s.kv.delete("ns", k).map(drop)
                })
                .collect::<Vec<_>>()
        });
        let writer = scope.spawn(|| {
            keys.iter()
                .map(|k| {
                    both.wait();
                    s.kv.set("ns", k, b"w".to_vec(), None, IfPresent).map(drop)
                })
                .collect::<Vec<_>>()
        });
        (deleter.join().unwrap(), writer.join().unwrap())
    });
    for r in deletes.iter().chain(&writes) {
        assert_eq!(r, &Ok(()));
    }
    for k in &keys {
        assert_eq!(s.get(k), None, "{k} came back");
    }
}

fn listing_passes_long_runs_of_expired_keys(s: Subject) {
    // Far more expired keys than one call examines: the listing may return
    // short pages but must still reach every live key and then end.
    for i in 0..1500 {
        assert!(s.set(&format!("e:{i:05}"), "v", Some(1), Always));
    }
    for i in [3, 700, 1499] {
        assert!(s.set(&format!("e:{i:05}"), "v", None, Always));
    }
    assert!(s.set("e:live-after", "v", None, Always));
    s.let_pass(1);
    assert_eq!(
        s.all_keys("e:", 10),
        ["e:00003", "e:00700", "e:01499", "e:live-after"]
    );
    // Once passed over, the expired keys are gone for good.
    assert_eq!(s.all_keys("e:", 1000).len(), 4);
}

fn a_listing_of_only_expired_keys_ends_without_a_cursor(s: Subject) {
    // As many expired keys as one Redis listing of limit 1 examines, then a
    // live key outside the prefix: the listing must end, not hand back a
    // cursor to nothing.
    for i in 0..258 {
        assert!(s.set(&format!("x:{i:04}"), "v", Some(1), Always));
    }
    assert!(s.set("y", "v", None, Always));
    s.let_pass(1);
    let page = s.kv.list_keys("ns", "x:", None, 1).unwrap();
    assert!(page.keys.is_empty(), "{page:?}");
    assert_eq!(page.cursor, None);
}

fn namespaces_are_apart(s: Subject) {
    let get = |ns: &str, key: &str| s.kv.get(ns, key).unwrap();
    s.kv.set("one", "k", b"1".to_vec(), None, Always).unwrap();
    s.kv.set("two", "k", b"2".to_vec(), None, Always).unwrap();
    // A namespace that is a prefix of another, and one with the separator in
    // it: namespace `one/k/` key `k` and namespace `one` key `/k/k` would be
    // the same key `one/k//k/k` to a backend that just joined the names.
    s.kv.set("on", "ek", b"3".to_vec(), None, Always).unwrap();
    s.kv.set("one/k/", "k", b"4".to_vec(), None, Always)
        .unwrap();
    assert_eq!(get("one", "/k/k"), None, "one/k/ + k is not one + /k/k");
    assert!(
        s.kv.set("one", "/k/k", b"5".to_vec(), None, IfAbsent)
            .unwrap()
    );
    assert_eq!(get("one/k/", "k"), Some(b"4".to_vec()), "not overwritten");
    assert_eq!(get("one", "/k/k"), Some(b"5".to_vec()));
    assert!(s.kv.delete("one", "/k/k").unwrap());
    assert_eq!(get("one/k/", "k"), Some(b"4".to_vec()), "not deleted");
    assert!(!s.kv.delete("one", "/k/k").unwrap());
    // And the other way round.
    assert!(
        s.kv.set("one", "/k/k", b"6".to_vec(), None, Always)
            .unwrap()
    );
    assert!(s.kv.delete("one/k/", "k").unwrap());
    assert_eq!(get("one/k/", "k"), None);
    assert_eq!(get("one", "/k/k"), Some(b"6".to_vec()), "not deleted");
    assert!(
        s.kv.set("one/k/", "k", b"4".to_vec(), None, IfAbsent)
            .unwrap(),
        "one + /k/k does not make one/k/ + k present"
    );
    assert_eq!(get("one", "/k/k"), Some(b"6".to_vec()));
    assert!(s.kv.delete("one", "/k/k").unwrap());
    assert_eq!(s.kv.get("one", "k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.kv.get("two", "k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(s.kv.get("one", "ek").unwrap(), None);
    assert_eq!(s.kv.list_keys("one", "", None, 10).unwrap().keys, ["k"]);
    assert_eq!(s.kv.list_keys("on", "", None, 10).unwrap().keys, ["ek"]);
    assert!(s.kv.delete("two", "k").unwrap());
    assert_eq!(s.kv.get("one", "k").unwrap(), Some(b"1".to_vec()));
    // A bound namespace sees the same keys as the by-name methods.
    let bound = s.kv.bind("one").expect("both backends bind");
    assert_eq!(bound.get("k").unwrap(), Some(b"1".to_vec()));
    assert!(bound.set("b", b"x".to_vec(), None, IfAbsent).unwrap());
    assert_eq!(s.kv.get("one", "b").unwrap(), Some(b"x".to_vec()));
}

/// The ttl of a batch of keys whose test checks them all still live once
/// written (nothing expired, nothing reaped yet) before it lets them expire:
/// long enough that a slow machine writes the whole batch within it (with 1 s
/// the first keys of a batch could expire, and be reaped, before the check).
const BATCH_TTL: u64 = 3;

/// Real time to sleep until a Redis key written with [`BATCH_TTL`] expired.
fn past_batch_ttl() -> Duration {
    Duration::from_millis(BATCH_TTL * 1000 + 300)
}

/// One plugin cannot fill the backend: each namespace holds at most its quota
/// of bytes, and a write past it is `too-large` and writes nothing.
fn a_namespace_cannot_pass_its_quota(which: Kv) {
    let c = |key: &str, n: usize, ttl: bool| entry_cost(which, key, n, ttl);
    let quota = c("a", 49, false) + c("b", 39, false);
    let s = Subject::with_quota(which, quota);
    let set = |ns: &str, key: &str, n: usize, mode| s.kv.set(ns, key, vec![7; n], None, mode);
    let refused = |r: Result<bool, KvError>, cost: usize| match r {
        Err(KvError::TooLarge(m)) => {
            assert!(m.contains(&format!("quota of {quota}")), "{m}");
            assert!(m.contains(&format!("writing {cost} more")), "{m}");
            m
        }
        other => panic!("expected a too-large error, got {other:?}"),
    };
    assert!(set("ns", "a", 49, Always).unwrap());
    assert!(set("ns", "b", 39, Always).unwrap()); // full to the byte
    let m = refused(set("ns", "c", 0, Always), c("c", 0, false));
    assert!(m.contains(&format!("holds {quota} bytes")), "{m}");
    assert_eq!(s.kv.get("ns", "c").unwrap(), None, "nothing written");
    assert_eq!(s.all_keys("", 10), ["a", "b"]);
    // A refused overwrite leaves the old value.
    refused(set("ns", "a", 50, Always), c("a", 50, false));
    assert_eq!(s.kv.get("ns", "a").unwrap(), Some(vec![7; 49]));
    // Overwriting counts the difference.
    assert!(set("ns", "a", 48, Always).unwrap());
    assert!(set("ns", "a", 49, IfPresent).unwrap());
    refused(set("ns", "a", 50, IfPresent), c("a", 50, false));
    // A write mode that refuses writes and charges nothing, whatever the size.
    assert!(!set("ns", "a", 0, IfAbsent).unwrap());
    assert!(!set("ns", "a", 1000, IfAbsent).unwrap());
    assert!(!set("ns", "c", 0, IfPresent).unwrap());
    assert!(!set("ns", "c", 1000, IfPresent).unwrap());
    assert_eq!(s.kv.get("ns", "a").unwrap(), Some(vec![7; 49]));
    refused(set("ns", "a", 50, Always), c("a", 50, false));
    assert!(set("ns", "a", 49, Always).unwrap());
    // So does a bound namespace.
    let bound = s.kv.bind("ns").expect("both backends bind");
    assert!(matches!(
        bound.set("c", vec![], None, Always),
        Err(KvError::TooLarge(_))
    ));
    // A delete frees the room its key took.
    assert!(s.kv.delete("ns", "b").unwrap());
    assert!(set("ns", "d", 39, Always).unwrap());
    refused(set("ns", "e", 0, Always), c("e", 0, false));
    // Another namespace has a quota of its own.
    let fill = quota - c("x", 0, false);
    assert!(set("other", "x", fill, Always).unwrap());
    refused(set("other", "y", 0, Always), c("y", 0, false));
    // The harness's own namespaces (migration markers) have none.
    let markers = format!("{RESERVED_NAMESPACE_PREFIX}quota-test");
    for i in 0..4 {
        assert!(set(&markers, &format!("m{i}"), quota, Always).unwrap());
    }
    assert_eq!(
        s.kv.get(&markers, "m3").unwrap().map(|v| v.len()),
        Some(quota)
    );

    // Expired keys count until reaped, and are reaped to make room: here one
    // write needs the room of more of them than a write reaps as it goes by.
    let expiring = 20;
    let one = c("e:00", 0, true);
    let s = Subject::with_quota(which, expiring * one);
    for i in 0..expiring {
        assert!(
            s.kv.set("ns", &format!("e:{i:02}"), vec![], Some(BATCH_TTL), Always)
                .unwrap()
        );
    }
    let full = s.kv.set("ns", "c", vec![], None, Always);
    assert!(matches!(full, Err(KvError::TooLarge(_))), "{full:?}");
    s.let_pass(BATCH_TTL);
    let big = expiring * one - c("big", 0, false);
    assert!(s.kv.set("ns", "big", vec![1; big], None, Always).unwrap());
    assert_eq!(s.kv.get("ns", "big").unwrap().map(|v| v.len()), Some(big));
    assert_eq!(s.all_keys("", 100), ["big"]);
}

macro_rules! backend_suite {
    ($name:ident, $kv:expr) => {
        mod $name {
            use super::*;
            backend_suite!(@cases $kv;
                round_trip_and_delete,
                delete_if_equals_deletes_only_the_value_it_was_given,
                replace_if_equals_writes_only_over_the_value_it_was_given,
                write_modes_check_and_write_in_one_step,
                racing_if_absent_writers_have_one_winner,
                expired_keys_are_invisible_to_every_operation,
                a_ttl_of_zero_is_refused_and_writes_nothing,
                a_limit_of_zero_is_refused,
                huge_ttls_mean_practically_forever,
                listing_is_ordered_prefixed_and_paged,
                listing_orders_text_beyond_ascii_by_its_bytes,
                if_present_racing_a_delete_never_brings_the_key_back,
                listing_passes_long_runs_of_expired_keys,
                a_listing_of_only_expired_keys_ends_without_a_cursor,
                namespaces_are_apart,
            );

            #[test]
            fn a_namespace_cannot_pass_its_quota() {
                super::a_namespace_cannot_pass_its_quota($kv);
            }
        }
    };
    (@cases $kv:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                super::$case(Subject::new($kv));
            }
        )*
    };
}

backend_suite!(memory, Kv::Memory);
backend_suite!(redis, Kv::Redis);

/// Two hosts, each with its own harness and connection pool, on one Redis
/// server: a session created on one is served by the other, which is what a
/// shared backend is for.
#[test]
fn two_hosts_on_one_redis_share_sessions() {
    let prefix = fixtures::unique_redis_prefix();
    let host = || {
        let clock = ManualClock::new(fixtures::T0);
        let kv = Arc::new(fixtures::redis_backend_at(&fixtures::redis_url(), &prefix));
        let harness = fixtures::harness_on(kv, &clock);
        let plugin = fixtures::load_into(&harness, "kv_session", &[]);
        (plugin, harness)
    };
    let (a, _ha) = host();
    let (b, _hb) = host();
    let id = a
        .create(CreateOptions::new(r#"{"cart":3}"#).user("alice"))
        .unwrap();
    let seen = b
        .load(&id)
        .unwrap()
        .expect("host b serves host a's session");
    assert_eq!(seen.data, r#"{"cart":3}"#);
    assert_eq!(seen.user_id.as_deref(), Some("alice"));
    b.update(&id, r#"{"cart":4}"#, Some("alice")).unwrap();
    assert_eq!(a.load(&id).unwrap().unwrap().data, r#"{"cart":4}"#);
    let new_id = a.regenerate(&id).unwrap();
    assert_eq!(
        b.load(&id).unwrap(),
        None,
        "regenerate on a kills the id on b"
    );
    assert_eq!(b.count().unwrap(), 1);
    b.destroy(&new_id).unwrap();
    assert_eq!(a.load(&new_id).unwrap(), None, "destroy on b ends it on a");
    assert_eq!(a.count().unwrap(), 0);
}

/// Keys that Redis expired on its own leave its key index as writes go by,
/// on a deployment that never lists (which would also prune them): each
/// write reaps a few index members whose keys are gone, as the memory
/// backend's writes do.
#[test]
fn redis_key_indexes_shrink_as_expired_keys_are_reaped() {
    let kv = fixtures::redis_backend();
    let expiring = 200;
    for i in 0..expiring {
        assert!(
            kv.set(
                "ns",
                &format!("e:{i:04}"),
                b"v".to_vec(),
                Some(BATCH_TTL),
                Always
            )
            .unwrap()
        );
    }
    // A key written with a ttl and then without one leaves the expiry set.
    assert!(
        kv.set("ns", "kept", b"v".to_vec(), Some(BATCH_TTL), Always)
            .unwrap()
    );
    assert!(kv.set("ns", "kept", b"w".to_vec(), None, Always).unwrap());
    assert_eq!(kv.indexed_keys("ns").unwrap(), expiring + 1);
    assert_eq!(kv.expiring_keys("ns").unwrap(), expiring);
    // Past the ttl on the server's clock.
    std::thread::sleep(past_batch_ttl());
    assert_eq!(
        kv.indexed_keys("ns").unwrap(),
        expiring + 1,
        "nothing reaped yet"
    );
    // Each write reaps up to 16: these writes reap them all.
    let writes = 20;
    for i in 0..writes {
        assert!(
            kv.set("ns", &format!("w:{i:02}"), b"v".to_vec(), None, Always)
                .unwrap()
        );
        let left = kv.indexed_keys("ns").unwrap();
        let floor = expiring.saturating_sub(16 * (i + 1)) + i + 2;
        assert!(
            left <= floor,
            "after {} writes the index holds {left}",
            i + 1
        );
    }
    assert_eq!(
        kv.indexed_keys("ns").unwrap(),
        writes + 1,
        "only live keys left"
    );
    assert_eq!(kv.expiring_keys("ns").unwrap(), 0);
    assert_eq!(kv.get("ns", "kept").unwrap(), Some(b"w".to_vec()));
    // Deleting a key with a ttl drops it from the expiry set too.
    assert!(kv.set("ns", "d", b"v".to_vec(), Some(100), Always).unwrap());
    assert_eq!(kv.expiring_keys("ns").unwrap(), 1);
    assert!(kv.delete("ns", "d").unwrap());
    assert_eq!(kv.expiring_keys("ns").unwrap(), 0);
    assert_eq!(kv.indexed_keys("ns").unwrap(), writes + 1);
}

/// Runs `redis-cli` on the test server; its output, trimmed.
fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(fixtures::redis_url())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): run `make redis-up`"));
    let text = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        out.status.success() && !text.starts_with("ERR"),
        "redis-cli {args:?}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The Redis quota's books (the byte counter `…/b` and the cost hash `…/l`)
/// follow every way a key goes: its byte count is back at 0, and its cost
/// hash gone, once every key is deleted, reaped after expiring, or dropped
/// by a listing that passed it expired.
#[test]
fn redis_quota_books_return_to_zero() {
    let prefix = fixtures::unique_redis_prefix();
    let kv = redis_with_quota(&prefix, 1 << 20);
    let cost = host_harness::kv::redis::entry_cost;
    let bytes = || kv.namespace_bytes("ns").unwrap();
    let costs_key = format!("{prefix}2:ns/l");
    let set =
        |key: &str, n: usize, ttl: Option<u64>, mode| kv.set("ns", key, vec![0; n], ttl, mode);
    assert_eq!(bytes(), 0);
    assert!(set("a", 10, None, Always).unwrap());
    assert_eq!(bytes(), cost("a", 10, false) as u64);
    assert!(set("a", 3, Some(100), Always).unwrap());
    assert_eq!(
        bytes(),
        cost("a", 3, true) as u64,
        "an overwrite counts the difference"
    );
    assert!(set("b", 5, None, IfAbsent).unwrap());
    let both = (cost("a", 3, true) + cost("b", 5, false)) as u64;
    assert_eq!(bytes(), both);
    // Writes that write nothing charge nothing.
    assert!(!set("b", 50, None, IfAbsent).unwrap());
    assert!(!set("z", 50, None, IfPresent).unwrap());
    assert!(matches!(
        set("z", 2 << 20, None, Always),
        Err(KvError::TooLarge(_))
    ));
    assert!(matches!(
        set("a", 2 << 20, None, IfPresent),
        Err(KvError::TooLarge(_))
    ));
    assert_eq!(bytes(), both);
    // A compare-and-write charges the new value's cost, or nothing when the
    // value differs.
    assert!(
        !kv.replace_if_equals("ns", "b", &[1; 5], vec![0; 40], None)
            .unwrap()
    );
    assert_eq!(bytes(), both, "a compare-and-write that writes nothing");
    assert!(
        kv.replace_if_equals("ns", "b", &[0; 5], vec![0; 40], None)
            .unwrap()
    );
    assert_eq!(bytes(), (cost("a", 3, true) + cost("b", 40, false)) as u64);
    assert!(
        kv.replace_if_equals("ns", "b", &[0; 40], vec![0; 5], None)
            .unwrap()
    );
    assert_eq!(bytes(), both);
    let past_quota = kv.replace_if_equals("ns", "b", &[0; 5], vec![0; 2 << 20], None);
    assert!(
        matches!(past_quota, Err(KvError::TooLarge(_))),
        "{past_quota:?}"
    );
    assert_eq!(
        kv.get("ns", "b").unwrap(),
        Some(vec![0; 5]),
        "refused: unchanged"
    );
    assert_eq!(bytes(), both);
    assert!(!kv.delete_if_equals("ns", "a", &[1; 3]).unwrap());
    assert_eq!(bytes(), both, "a compare-and-delete that deletes nothing");
    assert!(kv.delete_if_equals("ns", "a", &[0; 3]).unwrap());
    assert_eq!(bytes(), cost("b", 5, false) as u64);
    assert!(kv.delete("ns", "b").unwrap());
    assert!(!kv.delete("ns", "b").unwrap());
    assert_eq!(bytes(), 0, "everything deleted");
    assert_eq!(redis_cli(&["EXISTS", &costs_key]), "0");

    // Reaped by the writes that go by once expired (16 each).
    let expiring = 40;
    for i in 0..expiring {
        assert!(set(&format!("e:{i:02}"), 1, Some(BATCH_TTL), Always).unwrap());
    }
    assert_eq!(bytes(), (expiring * cost("e:00", 1, true)) as u64);
    std::thread::sleep(past_batch_ttl());
    assert_eq!(
        bytes(),
        (expiring * cost("e:00", 1, true)) as u64,
        "expired keys count until reaped"
    );
    // A compare-and-delete of an expired key deletes nothing live, but its
    // books go, as a plain delete's would.
    assert!(!kv.delete_if_equals("ns", "e:00", &[0]).unwrap());
    assert_eq!(
        bytes(),
        ((expiring - 1) * cost("e:00", 1, true)) as u64,
        "the expired key's charge is gone"
    );
    for i in 0..3 {
        assert!(set(&format!("w:{i}"), 0, None, Always).unwrap());
    }
    assert_eq!(kv.indexed_keys("ns").unwrap(), 3, "all reaped");
    assert_eq!(bytes(), (3 * cost("w:0", 0, false)) as u64);
    for i in 0..3 {
        assert!(kv.delete("ns", &format!("w:{i}")).unwrap());
    }
    assert_eq!(bytes(), 0, "everything reaped or deleted");
    assert_eq!(redis_cli(&["EXISTS", &costs_key]), "0");

    // Dropped by a listing.
    for i in 0..30 {
        assert!(set(&format!("l:{i:02}"), 2, Some(1), Always).unwrap());
    }
    std::thread::sleep(Duration::from_millis(1300));
    assert!(kv.list_keys("ns", "", None, 100).unwrap().keys.is_empty());
    assert_eq!(kv.indexed_keys("ns").unwrap(), 0);
    assert_eq!(bytes(), 0, "every expired key passed by a listing");
    assert_eq!(redis_cli(&["EXISTS", &costs_key]), "0");
}

/// Keys written before the Redis backend kept a quota have no charged cost:
/// they count as nothing until rewritten, going takes nothing off, and the
/// counter never goes below 0 even when it lost track.
#[test]
fn redis_keys_from_before_the_quota_are_charged_nothing() {
    let prefix = fixtures::unique_redis_prefix();
    let kv = redis_with_quota(&prefix, 1 << 20);
    let cost = host_harness::kv::redis::entry_cost;
    let bytes = || kv.namespace_bytes("ns").unwrap();
    let base = format!("{prefix}2:ns");
    // As the backend wrote them before: data key and index member only.
    for key in ["old", "old2", "old3"] {
        redis_cli(&["SET", &format!("{base}/k/{key}"), "value"]);
        redis_cli(&["ZADD", &format!("{base}/i"), "0", key]);
    }
    redis_cli(&["SET", &format!("{base}/k/gone"), "v", "EX", "1"]);
    redis_cli(&["ZADD", &format!("{base}/i"), "0", "gone"]);
    assert_eq!(kv.get("ns", "old").unwrap(), Some(b"value".to_vec()));
    assert_eq!(bytes(), 0);
    assert!(kv.set("ns", "new", vec![0; 4], None, Always).unwrap());
    let new = cost("new", 4, false) as u64;
    assert_eq!(bytes(), new);
    // Deleting an old key takes nothing off.
    assert!(kv.delete("ns", "old").unwrap());
    assert_eq!(bytes(), new);
    // Rewriting one charges it in full, and then deleting it frees that.
    assert!(kv.set("ns", "old2", vec![0; 9], None, IfPresent).unwrap());
    assert_eq!(bytes(), new + cost("old2", 9, false) as u64);
    assert!(kv.delete("ns", "old2").unwrap());
    assert_eq!(bytes(), new);
    // A listing that passes an old key that expired takes nothing off.
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(
        kv.list_keys("ns", "", None, 10).unwrap().keys,
        ["new", "old3"]
    );
    assert_eq!(bytes(), new);
    // The counter lost (say, evicted): a delete leaves it at 0, not below.
    redis_cli(&["DEL", &format!("{base}/b")]);
    assert!(kv.delete("ns", "new").unwrap());
    assert_eq!(bytes(), 0);
    assert_eq!(redis_cli(&["GET", &format!("{base}/b")]), "");
}

/// A `redis-server` of the test's own, on a unix socket in a fresh
/// directory, that the test can stall and kill without touching the shared
/// test server. Killed when dropped.
struct OwnServer {
    child: Child,
    url: String,
    _dir: PathBuf,
}

impl OwnServer {
    fn start() -> Self {
        // Tests run in parallel: each server gets its own directory, short
        // (a unix socket's path holds at most 107 bytes; a deep checkout's
        // target/ could pass that).
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sh-redis-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): run `make test`, which installs it")
            });
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            url: format!("redis+unix://{}", socket.display()),
            _dir: dir,
        }
    }

    /// Runs `redis-cli` against this server; its output.
    fn cli(&self, args: &[&str]) -> String {
        let socket = self.url.trim_start_matches("redis+unix://");
        let out = Command::new("redis-cli")
            .arg("-s")
            .arg(socket)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "redis-cli {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The number `field` of `INFO section`.
    fn info(&self, section: &str, field: &str) -> u64 {
        self.cli(&["info", section])
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("INFO {section} has {field}"))
    }

    /// Clients connected now, redis-cli's own included.
    fn connected_clients(&self) -> u64 {
        self.info("clients", "connected_clients")
    }

    /// Connections the server has accepted so far.
    fn connections_received(&self) -> u64 {
        self.info("stats", "total_connections_received")
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{sig}");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // A stopped process still dies of SIGKILL; an exited one is reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// A server that stops answering is a `backend` error naming the server once
/// the backend's I/O timeout passes (not a timeout of the call, not a trap,
/// not `none`), the host keeps serving, and once the server answers again
/// the session is still there. (Timeouts here are generous, so a loaded
/// machine does not fail the steps before and after the stall.)
#[test]
fn a_stalled_or_dead_server_is_a_backend_error_and_nothing_is_lost() {
    let mut server = OwnServer::start();
    let clock = ManualClock::new(fixtures::T0);
    let kv = Arc::new(
        host_harness::RedisBackend::builder(&server.url)
            .io_timeout(Duration::from_millis(800))
            .checkout_timeout(Duration::from_millis(800))
            .connect()
            .expect("own server answers"),
    );
    let harness = fixtures::harness_on(kv, &clock);
    let plugin = harness
        .load_file(
            fixtures::guest_path("kv_session"),
            host_harness::LoadOptions::default().limits(host_harness::Limits {
                call_deadline: Duration::from_secs(10),
                ..host_harness::Limits::default()
            }),
        )
        .unwrap();
    let id = plugin
        .create(CreateOptions::new(r#"{"keep":true}"#))
        .unwrap();

    server.signal("STOP");
    for attempt in [
        plugin.load(&id).map(|_| ()),
        plugin.update(&id, r#"{"keep":false}"#, None).map(|_| ()),
        plugin.create(CreateOptions::new("{}")).map(|_| ()),
    ] {
        match attempt {
            Err(CallError::Session(SessionError::Backend(m))) => {
                assert!(m.contains("redis"), "message names the backend: {m}");
                assert!(
                    !m.contains("sh-redis"),
                    "the plugin is not told where the server is: {m}"
                );
            }
            other => panic!("expected a backend error, got {other:?}"),
        }
    }
    server.signal("CONT");
    let back = plugin.load(&id).unwrap().expect("the session survived");
    assert_eq!(
        back.data, r#"{"keep":true}"#,
        "the failed update changed nothing"
    );

    let _ = server.child.kill();
    let _ = server.child.wait();
    match plugin.load(&id) {
        Err(CallError::Session(SessionError::Backend(m))) => assert!(m.contains("redis"), "{m}"),
        other => panic!("expected a backend error from a dead server, got {other:?}"),
    }
    // The plugin itself is fine: a stateless answer still comes back.
    assert!(plugin.fetch_info().is_ok());
}

/// A write cut off by the I/O timeout (a large value while the server
/// stalls) leaves the server waiting for the rest of the command. The
/// connection must not be reused: the next command on it, from any
/// namespace, would be read as that rest, its bytes stored in the first
/// namespace's key (another plugin's session data, leaked) and its own write
/// reported done or failed by whatever the server makes of the mix.
#[test]
fn a_command_cut_off_by_a_timeout_does_not_poison_the_next_one() {
    let server = OwnServer::start();
    let kv = fixtures::redis_backend_with(&server.url, "cutoff:", |b| {
        b.pool_size(1)
            .io_timeout(Duration::from_millis(300))
            .checkout_timeout(Duration::from_secs(2))
    });
    server.signal("STOP");
    // Far more than a socket buffer: the write blocks, then times out.
    let cut = kv.set("attacker", "k", vec![b'A'; 4 << 20], None, Always);
    server.signal("CONT");
    assert!(cut.is_err(), "a write to a stopped server succeeded");
    let secret = format!(
        r#"{{"card":"4111-1111-1111-1111","pad":"{}"}}"#,
        "p".repeat(8000)
    );
    assert_eq!(
        kv.set(
            "victim",
            "s:v",
            secret.clone().into_bytes(),
            Some(3600),
            IfAbsent
        ),
        Ok(true),
        "the next write, on the one pooled connection"
    );
    assert_eq!(
        kv.get("victim", "s:v").unwrap().as_deref(),
        Some(secret.as_bytes())
    );
    let theirs = kv.get("attacker", "k").unwrap().unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&theirs).contains("4111-1111"),
        "the victim's write landed in the attacker's key"
    );
}

/// The server closes pooled connections (its idle `timeout`, a restart,
/// `CLIENT KILL`), which the client learns only from the next command on
/// each: a read then runs again on another connection, and a connection
/// idle for a second is pinged before it carries a write, so no session
/// call fails for it (one in a row failed per pooled connection).
#[test]
fn connections_the_server_closed_fail_no_call() {
    let server = OwnServer::start();
    let kv = fixtures::redis_backend_with(&server.url, "closed:", |b| b.pool_size(4));
    assert_eq!(kv.set("ns", "k", b"v".to_vec(), None, Always), Ok(true));

    server.cli(&["client", "kill", "type", "normal"]);
    for _ in 0..5 {
        assert_eq!(
            kv.get("ns", "k").unwrap().as_deref(),
            Some(&b"v"[..]),
            "a read after the server closed its connection"
        );
    }
    server.cli(&["client", "kill", "type", "normal"]);
    assert_eq!(
        kv.list_keys("ns", "", None, 10).unwrap().keys,
        ["k"],
        "a listing after the server closed its connection"
    );

    server.cli(&["config", "set", "timeout", "1"]);
    std::thread::sleep(Duration::from_millis(2500));
    // Redis closes a client idle for more than the timeout in whole seconds,
    // on its next check: usually by now, within a few seconds at worst.
    let until = Instant::now() + Duration::from_secs(10);
    while server.connected_clients() > 1 {
        assert!(
            Instant::now() < until,
            "the server never closed the pool's idle connections"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        kv.set("ns", "k2", b"w".to_vec(), Some(60), IfAbsent),
        Ok(true),
        "a write on a connection the server closed as idle"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(kv.delete("ns", "k"), Ok(true), "a delete after the same");
    assert_eq!(kv.list_keys("ns", "", None, 10).unwrap().keys, ["k2"]);
}

/// A server that stalls after the pool sat idle: the ping before the first
/// command times out once and that is the call's error, not one I/O timeout
/// per pooled connection (each pinged in turn, the call would wait the
/// timeout times the pool's size).
#[test]
fn a_server_stalled_after_an_idle_spell_costs_one_timeout() {
    let server = OwnServer::start();
    let io_timeout = Duration::from_millis(500);
    let kv = Arc::new(fixtures::redis_backend_with(&server.url, "stall:", |b| {
        b.pool_size(8).io_timeout(io_timeout)
    }));
    assert_eq!(kv.set("ns", "k", b"v".to_vec(), None, Always), Ok(true));
    // Grow the pool: calls from several threads at once open connections.
    let clients = || {
        server
            .cli(&["info", "clients"])
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    for _ in 0..20 {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let kv = kv.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        kv.get("ns", "k").unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        // redis-cli counts itself.
        if clients() > 4 {
            break;
        }
    }
    let pooled = clients() - 1;
    assert!(pooled >= 4, "the pool holds {pooled} connections");
    std::thread::sleep(Duration::from_millis(1200));
    server.signal("STOP");
    let started = Instant::now();
    let answer = kv.get("ns", "k");
    let waited = started.elapsed();
    server.signal("CONT");
    assert!(matches!(answer, Err(KvError::Backend(_))), "{answer:?}");
    // Not a speed figure: one timeout against one per connection (>= 4).
    assert!(
        waited < io_timeout * 4,
        "waited {waited:?} with {pooled} pooled connections"
    );
    assert_eq!(kv.get("ns", "k").unwrap().as_deref(), Some(&b"v"[..]));
}

/// A ping the server answers with an error (here an ACL denying PING) is
/// still a reply: the idle connection is kept and the command runs on it,
/// rather than the connection being dropped for a new one.
#[test]
fn a_ping_answered_with_an_error_keeps_the_connection() {
    let server = OwnServer::start();
    let kv = fixtures::redis_backend_with(&server.url, "noping:", |b| b.pool_size(1));
    assert_eq!(kv.set("ns", "k", b"v".to_vec(), None, Always), Ok(true));
    server.cli(&["acl", "setuser", "default", "-ping"]);
    std::thread::sleep(Duration::from_millis(1200));
    let before = server.connections_received();
    assert_eq!(kv.get("ns", "k").unwrap().as_deref(), Some(&b"v"[..]));
    // redis-cli's own connection for the count is the one more.
    assert_eq!(server.connections_received() - before, 1, "reconnected");
    let denied = server.cli(&["acl", "log"]);
    assert!(
        denied.contains("ping"),
        "the ping was sent and refused: {denied}"
    );
}

/// A server refusing writes with an error reply (here `OOM`, with no memory
/// to spare and no eviction) answers in step: the connection is kept, not
/// replaced for every refused write (a reconnect storm exactly when the
/// server is under pressure).
#[test]
fn error_replies_keep_the_connection() {
    let server = OwnServer::start();
    let kv = fixtures::redis_backend_with(&server.url, "oom:", |b| b.pool_size(1));
    assert_eq!(kv.set("ns", "k", b"v".to_vec(), None, Always), Ok(true));
    server.cli(&["config", "set", "maxmemory", "1"]);
    let before = server.connections_received();
    for _ in 0..20 {
        match kv.set("ns", "k", vec![b'x'; 1000], None, Always) {
            Err(KvError::Backend(m)) => assert!(m.contains("OOM"), "{m}"),
            other => panic!("a write past maxmemory: {other:?}"),
        }
    }
    let made = server.connections_received() - before;
    assert!(made <= 1, "{made} connections for 20 refused writes");
    server.cli(&["config", "set", "maxmemory", "0"]);
    assert_eq!(kv.get("ns", "k").unwrap().as_deref(), Some(&b"v"[..]));
}

/// Credentials the server refuses are a setup error of their own, found at
/// `connect` (not at the first session call), that says so without the
/// password: a wrong password (`WRONGPASS` to `AUTH`), a user it does not
/// know, none given to a server that wants one (`NOAUTH` to the first
/// command). Right ones connect, also for a user the ACL does not let
/// `PING` (its answer is the server's).
#[test]
fn refused_credentials_are_a_setup_error_that_names_them() {
    use host_harness::kv::redis::RedisSetupError;
    let server = OwnServer::start();
    let socket = server.url.trim_start_matches("redis+unix://").to_string();
    server.cli(&["acl", "setuser", "alice", "on", ">right-pw", "~*", "+@all"]);
    server.cli(&["acl", "setuser", "bob", "on", ">bob-pw", "~*", "-@all"]);
    let connect = |query: &str| {
        RedisBackend::builder(format!("redis+unix://{socket}?{query}"))
            .io_timeout(Duration::from_secs(2))
            .connect()
    };
    let alice = connect("user=alice&pass=right-pw").expect("alice connects");
    assert_eq!(alice.set("ns", "k", b"v".to_vec(), None, Always), Ok(true));
    connect("user=bob&pass=bob-pw").expect("a user denied PING connects");
    for query in ["user=alice&pass=wrong-pw", "user=nobody&pass=wrong-pw"] {
        let Err(e) = connect(query) else {
            panic!("{query}: connected");
        };
        let text = e.to_string();
        assert!(
            matches!(e, RedisSetupError::Refused { .. }),
            "{query}: {text}"
        );
        assert!(text.contains("refused the connection"), "{query}: {text}");
        assert!(
            !text.contains("wrong-pw"),
            "{query}: the password shown: {text}"
        );
    }
    // Last: from here on redis-cli (no password) is refused too.
    server.cli(&["config", "set", "requirepass", "server-pw"]);
    let e = connect("db=0").map(|_| ()).unwrap_err();
    assert!(matches!(e, RedisSetupError::Refused { .. }), "{e}");
    assert!(
        connect("pass=server-pw").is_ok(),
        "the server's password refused"
    );
}

/// The backend is chosen by name in one place; an unknown name says what
/// would have worked.
#[test]
fn backends_are_chosen_by_name() {
    let clock: Arc<dyn host_harness::Clock> = Arc::new(ManualClock::new(fixtures::T0));
    assert_eq!(
        host_harness::kv::open("memory", clock.clone())
            .unwrap()
            .name(),
        "memory"
    );
    let redis = host_harness::kv::open(&fixtures::redis_url(), clock.clone()).unwrap();
    assert_eq!(redis.name(), "redis");
    let Err(e) = host_harness::kv::open("postgres://x", clock) else {
        panic!("an unknown backend name was accepted");
    };
    assert!(
        e.to_string()
            .contains("expected `memory` or a `redis://` URL"),
        "{e}"
    );
}

/// Runs `session-harness` with `args`; stdout on success, else a panic with stderr.
fn cli_ok(args: &[&str]) -> String {
    let out = fixtures::harness_cli()
        .args(args)
        .output()
        .expect("session-harness runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "session-harness {args:?} failed: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// With `--kv redis://...`, a session created by one `call` is there for the
/// next: the server keeps it, not the process.
#[test]
fn cli_calls_share_sessions_through_redis() {
    let url = fixtures::redis_url();
    let prefix = fixtures::unique_redis_prefix();
    let wasm = fixtures::guest_path("kv_session");
    let wasm = wasm.to_str().unwrap();
    let kv = ["--kv", url.as_str(), "--kv-prefix", prefix.as_str()];
    let call = |rest: &[&str]| {
        let mut args = kv.to_vec();
        args.extend(["call", wasm]);
        args.extend(rest);
        cli_ok(&args)
    };
    let id = call(&["create", "--data", r#"{"n":1}"#, "--user", "bob"]);
    let id = id.trim();
    let loaded = call(&["load", id]);
    assert!(loaded.contains(r#"data={"n":1}"#), "{loaded}");
    assert!(loaded.contains(r#"user-id="bob""#), "{loaded}");
    call(&["destroy", id]);
    assert_eq!(call(&["load", id]).trim(), "none");
}

/// `exercise` on Redis passes every check (it runs in a fresh key prefix, so
/// sessions already on the server do not change its counts).
#[test]
fn cli_exercise_runs_on_redis() {
    let url = fixtures::redis_url();
    let wasm = fixtures::guest_path("kv_session");
    for _ in 0..2 {
        let table = cli_ok(&["--kv", &url, "exercise", wasm.to_str().unwrap()]);
        assert!(!table.contains("UNEXPECTED"), "{table}");
        assert!(table.contains("count"), "{table}");
    }
}

/// An unknown backend or an unreachable server is one clear line, not a
/// backtrace.
#[test]
fn cli_names_a_bad_kv_backend() {
    let wasm = fixtures::guest_path("kv_session");
    // What the command line got wrong is a usage error (exit 2); a server
    // that does not answer is the command failing (exit 1).
    for (spec, prefix, expect, code) in [
        (
            "postgres://x",
            "p:",
            "expected `memory` or a `redis://` URL",
            2,
        ),
        ("redis://u:s3cret@host:notaport/0", "p:", "bad redis url", 2),
        (
            "redis://127.0.0.1:1/0",
            "p1",
            "bad redis key prefix \"p1\"",
            2,
        ),
        (
            "redis://127.0.0.1:1/",
            "p:",
            "cannot reach redis at redis://127.0.0.1:1/",
            1,
        ),
    ] {
        let out = fixtures::harness_cli()
            .args(["--kv", spec, "--kv-prefix", prefix])
            .args(["info", wasm.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{spec}: {err}");
        assert!(err.contains(expect), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// `--help` names the environment variable behind `--kv` but not its
/// value, which may hold a Redis password.
#[test]
fn cli_help_does_not_show_the_kv_url_from_the_environment() {
    for args in [&["--help"][..], &["call", "--help"]] {
        let out = fixtures::harness_cli()
            .args(args)
            .env("SESSION_HARNESS_KV", "redis://:hunter2pw@127.0.0.1:1/0")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(help.contains("SESSION_HARNESS_KV"), "{help}");
        assert!(!help.contains("hunter2pw"), "{args:?}: {help}");
    }
}
