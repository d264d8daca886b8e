//! Runtime swaps of the active store, with lazy migration in both directions.

use host_harness::{
    CallError, CreateOptions, Harness, Limits, LoadOptions, Plugin, SessionError, SwapError,
    SwapOptions, SwappableStore,
};
use session_tests::assert_session_err;
use session_tests::fixtures::{KEY_A, guest_bytes, guest_path, harness, load_into};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

fn kv(h: &Harness) -> Plugin {
    load_into(h, "kv_session", &[])
}

fn cookie(h: &Harness) -> Plugin {
    load_into(h, "cookie_session", &[("cookie.keys", KEY_A)])
}

/// The hostile plugin in `mode` (`trap`: traps in every call but `info`;
/// `loop`: spins until the deadline).
fn hostile(h: &Harness, mode: &str) -> Plugin {
    load_into(h, "hostile", &[("hostile.mode", mode)])
}

fn trapping(h: &Harness) -> Plugin {
    hostile(h, "trap")
}

/// Runs `f` on a clone of `store` and a copy of `id` on a thread of its own.
fn on_thread<T: Send + 'static>(
    store: &SwappableStore,
    id: &str,
    f: impl FnOnce(&SwappableStore, &str) -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let (store, id) = (store.clone(), id.to_string());
    std::thread::spawn(move || f(&store, &id))
}

/// Returns once `waiter` is waiting for the calls begun before the swap
/// (the store has counted `waits` such waits in all), failing if it
/// finished instead or did not get there within a minute.
fn waiting_for_earlier_calls<T>(
    store: &SwappableStore,
    waiter: &std::thread::JoinHandle<T>,
    waits: u64,
) {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while store.stats().waited_for_earlier_calls < waits {
        assert!(!waiter.is_finished(), "the call finished without waiting");
        assert!(std::time::Instant::now() < until, "the call never waited");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn swappable(h: &Harness, first: Plugin, options: SwapOptions) -> SwappableStore {
    SwappableStore::new(h, first, options)
}

const DATA: &str = r#"{"cart":"3 items"}"#;

#[test]
fn kv_to_cookie_migrates_on_load() {
    let (h, clock, _) = harness();
    let (a, b) = (kv(&h), cookie(&h));
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let old = store
        .create(CreateOptions::new(DATA).user("alice").ttl(600))
        .unwrap();
    let before = store.load(&old).unwrap().unwrap();
    clock.advance(Duration::from_secs(100));
    store.swap(b.clone());
    assert_eq!(store.retired(), vec!["kv-session"]);
    let moved = store.load(&old).unwrap().expect("migrated, not logged out");
    assert_ne!(moved.id, old, "the caller now holds the cookie store's id");
    assert!(moved.id.starts_with("v1.p."));
    assert_eq!(
        (moved.data.as_str(), moved.user_id.as_deref()),
        (DATA, Some("alice"))
    );
    assert_eq!(
        moved.expires_at, before.expires_at,
        "remaining lifetime kept"
    );
    // The kv copy is gone, so it cannot be migrated twice.
    assert_eq!(a.load(&old).unwrap(), None);
    assert_eq!(b.load(&moved.id).unwrap().unwrap().data, DATA);
    assert_eq!(store.stats().migrated, 1);
}

#[test]
fn cookie_to_kv_migrates_on_load() {
    let (h, clock, _) = harness();
    let (a, b) = (cookie(&h), kv(&h));
    let store = swappable(&h, a, SwapOptions::default());
    let seal = store
        .create(CreateOptions::new(DATA).user("bob").ttl(600))
        .unwrap();
    let before = store.load(&seal).unwrap().unwrap();
    clock.advance(Duration::from_secs(100));
    store.swap(b.clone());
    let moved = store.load(&seal).unwrap().expect("migrated");
    assert_eq!(moved.id.len(), 32, "a kv-session id");
    assert_eq!(moved.data, DATA);
    assert_eq!(moved.user_id.as_deref(), Some("bob"));
    assert_eq!(
        moved.expires_at, before.expires_at,
        "remaining lifetime kept"
    );
    assert_eq!(b.count().unwrap(), 1);
    assert_eq!(store.stats().migrated, 1);
}

#[test]
fn writes_on_old_ids_migrate_first() {
    let (h, _, _) = harness();
    let store = swappable(&h, kv(&h), SwapOptions::default());
    let ids: Vec<String> = (0..4)
        .map(|_| store.create(CreateOptions::new(DATA)).unwrap())
        .collect();
    store.swap(cookie(&h));
    let updated = store.update(&ids[0], r#"{"n":1}"#, Some("bob")).unwrap();
    let r = store.load(&updated).unwrap().unwrap();
    assert_eq!(
        (r.data.as_str(), r.user_id.as_deref()),
        (r#"{"n":1}"#, Some("bob"))
    );
    let touched = store.touch(&ids[1], Some(60)).unwrap();
    assert!(store.load(&touched).unwrap().is_some());
    let regenerated = store.regenerate(&ids[2]).unwrap();
    assert_eq!(store.load(&regenerated).unwrap().unwrap().data, DATA);
    store.destroy(&ids[3]).unwrap();
    assert_eq!(
        store.load(&ids[3]).unwrap(),
        None,
        "destroyed in the old store too"
    );
    assert_eq!(store.stats().migrated, 3);
}

#[test]
fn between_two_kv_stores_the_id_is_kept() {
    let (h, _, _) = harness();
    let (a, b) = (kv_ns(&h, "old"), kv_ns(&h, "new"));
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    assert_eq!(
        store.load(&id).unwrap().unwrap().id,
        id,
        "imported under the same id"
    );
    assert_eq!((a.count().unwrap(), b.count().unwrap()), (0, 1));
}

#[test]
fn without_migration_old_sessions_are_gone() {
    let (h, _, _) = harness();
    let options = SwapOptions {
        migrate: false,
        ..SwapOptions::default()
    };
    let store = swappable(&h, kv(&h), options);
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(cookie(&h));
    assert!(store.retired().is_empty());
    assert!(matches!(
        store.load(&id),
        Err(CallError::Session(SessionError::InvalidId(_)))
    ));
}

#[test]
fn the_old_store_is_dropped_after_the_grace_period() {
    let (h, clock, _) = harness();
    let options = SwapOptions {
        grace: Duration::from_secs(300),
        ..SwapOptions::default()
    };
    let a = kv(&h);
    let store = swappable(&h, a.clone(), options);
    let early = store.create(CreateOptions::new(DATA)).unwrap();
    let late = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(kv_ns(&h, "other"));
    clock.advance(Duration::from_secs(299));
    assert!(store.load(&early).unwrap().is_some());
    clock.advance(Duration::from_secs(1));
    assert_eq!(store.load(&late).unwrap(), None, "grace over: not migrated");
    assert!(store.retired().is_empty());
    assert!(
        a.load(&late).unwrap().is_some(),
        "the old store itself still has it"
    );
}

fn kv_ns(h: &Harness, ns: &str) -> Plugin {
    session_tests::fixtures::load_in_namespace(h, "kv_session", ns)
}

#[test]
fn swapping_back_takes_a_store_off_the_retired_list() {
    let (h, _, _) = harness();
    let (a, b) = (kv(&h), cookie(&h));
    let store = swappable(&h, a.clone(), SwapOptions::default());
    store.swap(b.clone());
    store.swap(a.clone());
    assert_eq!(store.retired(), vec!["cookie-session"]);
    assert!(store.current().same_as(&a));
    assert_eq!(store.stats().swaps, 2);
}

#[test]
fn no_call_fails_while_stores_are_swapped_under_load() {
    let (h, _, _) = harness();
    let (a, b) = (kv(&h), cookie(&h));
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rounds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let store = store.clone();
            let stop = stop.clone();
            let rounds = rounds.clone();
            std::thread::spawn(move || {
                let mut ops = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let data = format!(r#"{{"t":{t},"n":{ops}}}"#);
                    let id = store.create(CreateOptions::new(data.clone())).unwrap();
                    let r = store.load(&id).unwrap().expect("just created");
                    assert_eq!(r.data, data);
                    let id = store.update(&r.id, &data, Some("u")).unwrap();
                    let id = store.regenerate(&id).unwrap();
                    assert_eq!(store.load(&id).unwrap().expect("regenerated").data, data);
                    store.destroy(&id).unwrap();
                    ops += 6;
                    rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                ops
            })
        })
        .collect();
    for i in 0..40 {
        // Each swap lands while the workers are busy: after they have done
        // more rounds since the last one (not after a fixed sleep).
        let seen = rounds.load(std::sync::atomic::Ordering::SeqCst);
        while rounds.load(std::sync::atomic::Ordering::SeqCst) < seen + 6 {
            // A worker that stopped failed: its join below says how.
            if workers.iter().any(|w| w.is_finished()) {
                break;
            }
            std::thread::yield_now();
        }
        store.swap(if i % 2 == 0 { b.clone() } else { a.clone() });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ops: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(ops >= 40 * 6 * 6, "{ops} operations");
    let stats = store.stats();
    assert_eq!(stats.swaps, 40);
    assert_eq!(stats.migration_failures, 0);
    // Sessions created before a swap were used after it.
    assert!(stats.migrated > 0, "{stats:?}");
}

#[test]
fn a_migrated_cookie_is_not_migrated_again() {
    let (h, _, _) = harness();
    let store = swappable(&h, cookie(&h), SwapOptions::default());
    let seal = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(kv(&h));
    let first = store.load(&seal).unwrap().unwrap();
    // The seal cannot be revoked; presented again it leads to the same copy.
    let again = store.load(&seal).unwrap().unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(store.stats().migrated, 1);
    // Logging out destroys the copy; the old cookie must not bring it back.
    store.destroy(&first.id).unwrap();
    assert_eq!(store.load(&seal).unwrap(), None);
    assert!(matches!(
        store.update(&seal, "{}", None),
        Err(CallError::Session(SessionError::NotFound))
    ));
    assert_eq!(store.current().count().unwrap(), 0);
    // Regenerating the copy also leaves the old seal dead.
    let seal2 = {
        let c = cookie(&h);
        c.create(CreateOptions::new(DATA)).unwrap()
    };
    let moved = store.load(&seal2).unwrap().unwrap();
    let fresh = store.regenerate(&moved.id).unwrap();
    assert_eq!(store.load(&seal2).unwrap(), None);
    assert!(store.load(&fresh).unwrap().is_some());
}

/// Creates 20 sessions in `from`, swaps to `to`, then has 4 threads load
/// every old id at once; returns each thread's ids to hold, after checking
/// that all threads were given the same one for each session.
fn migrate_from_many_threads(
    h: &Harness,
    from: Plugin,
    to: Plugin,
) -> (SwappableStore, Vec<String>, Vec<String>) {
    let store = swappable(h, from, SwapOptions::default());
    let old: Vec<String> = (0..20)
        .map(|_| store.create(CreateOptions::new(DATA)).unwrap())
        .collect();
    store.swap(to);
    let seen: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (store, old) = (&store, &old);
                s.spawn(move || {
                    old.iter()
                        .map(|id| store.load(id).unwrap().expect("migrated, not lost").id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for t in &seen[1..] {
        assert_eq!(
            t, &seen[0],
            "every thread got the same copy of each session"
        );
    }
    let new = seen[0].clone();
    (store, old, new)
}

#[test]
fn the_same_seal_migrated_from_many_threads_gives_one_copy() {
    let (h, _, _) = harness();
    let (store, _, _) = migrate_from_many_threads(&h, cookie(&h), kv(&h));
    assert_eq!(store.current().count().unwrap(), 20);
}

/// kv-session holds 64 KiB of data, a cookie about 2.9 KiB: a bigger session
/// cannot move. It is answered as gone (not with `too-large` on every request
/// until the grace period ends), counted, and left in the old store.
#[test]
fn a_session_the_new_store_cannot_hold_is_gone_not_an_error_on_every_call() {
    let (h, _, _) = harness();
    let (a, b) = (kv(&h), cookie(&h));
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(3500));
    let id = store.create(CreateOptions::new(big.clone())).unwrap();
    let small = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b);
    for _ in 0..2 {
        assert_eq!(store.load(&id).unwrap(), None);
        assert_session_err!(store.update(&id, DATA, None), SessionError::NotFound);
    }
    let stats = store.stats();
    assert_eq!((stats.unmovable, stats.migration_failures), (4, 0));
    assert_eq!(
        a.load(&id).unwrap().unwrap().data,
        big,
        "kept in the old store"
    );
    // Sessions that fit still move.
    assert_eq!(store.load(&small).unwrap().unwrap().data, DATA);
    assert_eq!(store.stats().migrated, 1);
}

/// A new store whose kv is full is a failure to retry, not a session that
/// can never move: once there is room, it moves.
#[test]
fn a_full_new_store_is_an_error_then_the_session_moves() {
    let h = session_tests::fixtures::harness_with_kv_quota(16 * 1024);
    let (a, b) = (kv_ns(&h, "old"), kv_ns(&h, "new"));
    let filler = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2000));
    let mut fillers = Vec::new();
    // Big sessions, then ones as small as the one to move, until none fits.
    for data in [filler.as_str(), DATA] {
        while let Ok(id) = b.create(CreateOptions::new(data)) {
            fillers.push(id);
            assert!(fillers.len() < 1000, "the quota never applied");
        }
    }
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    let e = store.load(&id).unwrap_err();
    assert!(
        matches!(&e, CallError::Session(SessionError::Backend(m)) if m.contains("quota")),
        "{e}"
    );
    let stats = store.stats();
    assert_eq!((stats.unmovable, stats.migration_failures), (0, 1));
    assert!(a.load(&id).unwrap().is_some(), "still in the old store");
    b.destroy(&fillers[0]).unwrap();
    assert_eq!(store.load(&id).unwrap().unwrap().data, DATA);
    assert_eq!(store.stats().migrated, 1);
}

#[test]
fn a_failing_old_store_is_an_error_not_a_logout() {
    let (h, _, _) = harness();
    let broken = trapping(&h);
    let store = swappable(&h, broken, SwapOptions::default());
    store.swap(kv(&h));
    match store.load("unknownUnknownUnknownUnknown0000") {
        Err(CallError::Trap { .. }) => {}
        other => panic!("expected the old store's trap, got {other:?}"),
    }
}

#[test]
fn the_same_kv_id_migrated_from_many_threads_gives_one_copy() {
    let (h, _, _) = harness();
    let after = kv_ns(&h, "after");
    let (_, old, new) = migrate_from_many_threads(&h, kv_ns(&h, "before"), after.clone());
    assert_eq!(old, new, "imported under the caller's ids");
    assert_eq!(after.count().unwrap(), 20, "no duplicate copies");
}

#[test]
fn the_same_kv_id_migrated_to_cookies_from_many_threads_gives_one_copy() {
    let (h, _, _) = harness();
    let (store, _, _) = migrate_from_many_threads(&h, kv(&h), cookie(&h));
    assert_eq!(store.stats().migrated, 20);
}

/// A swap that loads the new plugin itself: a file that is not there, or a
/// store that loads but cannot serve (a cookie store without keys), never
/// goes live; the old store keeps serving.
#[test]
fn a_plugin_that_fails_to_load_or_to_serve_is_never_swapped_in() {
    let (h, _, _) = harness();
    let a = kv(&h);
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    let e = store
        .swap_file("/no/such/store.wasm", LoadOptions::default())
        .unwrap_err();
    assert!(matches!(e, SwapError::Load(_)), "{e:?}");
    let e = store
        .swap_bytes(
            &guest_bytes("cookie_session"),
            LoadOptions::default().name("no-keys"),
        )
        .unwrap_err();
    match &e {
        SwapError::Check {
            plugin,
            step,
            error: source,
        } => {
            assert_eq!((plugin.as_str(), *step), ("no-keys", "create"));
            assert!(
                matches!(source, CallError::Session(SessionError::Config(_))),
                "{source:?}"
            );
        }
        other => panic!("expected a failed check, got {other:?}"),
    }
    assert!(e.to_string().contains("cookie.keys"), "{e}");
    assert!(store.current().same_as(&a), "the old store is still active");
    assert_eq!(store.stats().swaps, 0);
    assert_eq!(store.load(&id).unwrap().unwrap().data, DATA);
    // A good one goes live, and the check left nothing behind.
    let b = store
        .swap_file(
            guest_path("cookie_session"),
            LoadOptions::default().config("cookie.keys", KEY_A),
        )
        .unwrap();
    assert!(store.current().same_as(&b));
    assert_eq!(store.load(&id).unwrap().unwrap().data, DATA, "migrated");
}

/// Destroying a session by the id it had before it migrated ends the copy
/// too: the old id does not bring it back.
#[test]
fn destroy_by_an_old_id_ends_the_migrated_copy() {
    let (h, _, _) = harness();
    let (a, b) = (cookie(&h), kv(&h));
    let store = swappable(&h, a, SwapOptions::default());
    let seal = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    let moved = store.load(&seal).unwrap().unwrap();
    assert_ne!(moved.id, seal);
    store.destroy(&seal).unwrap();
    assert_eq!(b.load(&moved.id).unwrap(), None, "the copy is gone");
    assert_eq!(store.load(&seal).unwrap(), None, "the old id finds nothing");
    assert_eq!(store.load(&moved.id).unwrap(), None);
}

/// Two kv-session stores (namespaces `a` and `b`) with a 30 s call deadline,
/// for tests that hold a kv write in flight.
fn patient_kv_stores(h: &Harness) -> (Plugin, Plugin) {
    let patient = Limits {
        call_deadline: Duration::from_secs(30),
        ..Limits::default()
    };
    let load_ns = |ns: &str| {
        h.load_file(
            guest_path("kv_session"),
            LoadOptions::default().namespace(ns).limits(patient.clone()),
        )
        .unwrap()
    };
    (load_ns("a"), load_ns("b"))
}

/// A write that started on the old store before the swap and is still
/// running there when the session is moved: the move waits for it, so the
/// write is neither lost nor answered `not-found`.
#[test]
fn a_write_in_flight_on_the_old_store_lands_before_the_move() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let (a, b) = patient_kv_stores(&h);
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(r#"{"v":1}"#)).unwrap();

    let held = backend.hold_next_if_present();
    let writer = held.wait_entered(
        on_thread(&store, &id, |s, id| s.update(id, r#"{"v":2}"#, None)),
        "the update never wrote",
    );
    // The update is inside the old store, between its read and its write.
    store.swap(b.clone());
    let reader = on_thread(&store, &id, |s, id| s.load(id));
    waiting_for_earlier_calls(&store, &reader, 1);
    assert!(!reader.is_finished(), "the move waits for the write");
    held.release.send(()).unwrap();
    assert_eq!(writer.join().unwrap().unwrap(), id, "the write succeeded");
    let moved = reader.join().unwrap().unwrap().expect("migrated");
    assert_eq!(moved.data, r#"{"v":2}"#, "the move carried the write");
    assert_eq!(b.load(&moved.id).unwrap().unwrap().data, r#"{"v":2}"#);
    assert_eq!(a.load(&id).unwrap(), None);
}

/// A load of `id` (in namespace `a`) moving it to the current store, caught
/// after the copy, at its delete of the old one, until `held` releases it.
fn move_held_at_its_delete(
    backend: &session_tests::faulty::FaultyBackend,
    store: &SwappableStore,
    id: &str,
) -> (
    session_tests::faulty::Held,
    std::thread::JoinHandle<Result<Option<host_harness::SessionRecord>, CallError>>,
) {
    let held = backend.hold_next_delete("a", &format!("s:{id}"));
    let mover = held.wait_entered(
        on_thread(store, id, |s, id| s.load(id)),
        "the move never deleted the old copy",
    );
    (held, mover)
}

/// Swap A -> B; a move of the session is between copying it into B and
/// deleting it from A when the operator swaps back to A (or on to a new
/// build in A's namespace), and an update lands on A's copy. The update
/// waits for the move, so the move's delete cannot throw it away: it once
/// answered `ok`, the delete removed A's copy, and the next load moved B's
/// stale copy back.
#[test]
fn an_update_after_swapping_back_is_not_lost_to_a_move_in_flight() {
    for new_build in [false, true] {
        let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
        let (a, b) = patient_kv_stores(&h);
        let back = if new_build {
            h.load_file(
                guest_path("kv_session"),
                LoadOptions::default().name("kv-v2").namespace("a"),
            )
            .unwrap()
        } else {
            a.clone()
        };
        let store = swappable(&h, a.clone(), SwapOptions::default());
        let id = store.create(CreateOptions::new(r#"{"v":1}"#)).unwrap();
        store.swap(b.clone());
        let (held, mover) = move_held_at_its_delete(&backend, &store, &id);
        store.swap(back.clone());
        let updater = on_thread(&store, &id, |s, id| s.update(id, r#"{"v":2}"#, None));
        // A create makes an id no move touches: it does not wait (were it
        // to, it would wait the whole drain limit, 10 s).
        let (tx, rx) = std::sync::mpsc::channel();
        let creator = store.clone();
        std::thread::spawn(move || {
            let _ = tx.send(creator.create(CreateOptions::new("{}")).is_ok());
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(true),
            "new build {new_build}: a create waited for the move"
        );
        waiting_for_earlier_calls(&store, &updater, 1);
        assert!(
            !updater.is_finished(),
            "new build {new_build}: the update waits for the move"
        );
        held.release.send(()).unwrap();
        mover.join().unwrap().unwrap().expect("moved");
        assert_eq!(updater.join().unwrap().unwrap(), id);
        let now = store.load(&id).unwrap().expect("the session lives");
        assert_eq!(now.data, r#"{"v":2}"#, "new build {new_build}: update lost");
        assert_eq!(back.load(&id).unwrap().unwrap().data, r#"{"v":2}"#);
        assert_eq!(b.load(&id).unwrap(), None, "moved back, not copied");
    }
}

/// A swap that does not make a store current again which moves are
/// leaving costs its calls no wait, even with a move held in flight.
#[test]
fn calls_after_an_unrelated_swap_do_not_wait_for_moves() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let (a, b) = patient_kv_stores(&h);
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(r#"{"v":1}"#)).unwrap();
    let other = store.create(CreateOptions::new(r#"{"o":1}"#)).unwrap();
    store.swap(b.clone());
    let (held, mover) = move_held_at_its_delete(&backend, &store, &id);
    store.swap(kv_ns(&h, "c"));
    // Were it to wait, it would wait the whole drain limit (10 s).
    let (tx, rx) = std::sync::mpsc::channel();
    let s = store.clone();
    std::thread::spawn(move || {
        let fresh = s.create(CreateOptions::new("{}")).unwrap();
        let _ = tx.send(s.load(&fresh).unwrap().is_some());
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(true),
        "calls on c did not wait for the move out of a"
    );
    held.release.send(()).unwrap();
    mover.join().unwrap().unwrap().expect("moved");
    assert_eq!(
        store.load(&other).unwrap().expect("moved on from a").data,
        r#"{"o":1}"#
    );
}

/// A regenerate (at login) while a move of the same id is between copying
/// the session into the new store and deleting it from the old one: the
/// old id must stop working at once, as on any server-side store. Before
/// the swap layer ended the old id everywhere after a regenerate, a second
/// request with the old id found it missing from the new store but still
/// in the old one, and moved it again: the fixed id lived on beside the
/// new one.
#[test]
fn a_regenerate_during_a_move_kills_the_old_id_everywhere() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let (a, b) = patient_kv_stores(&h);
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store
        .create(CreateOptions::new(r#"{"before":"login"}"#))
        .unwrap();
    store.swap(b.clone());
    let held = backend.hold_next_delete("a", &format!("s:{id}"));
    let mover = held.wait_entered(
        on_thread(&store, &id, |s, id| s.load(id)),
        "the move never deleted the old copy",
    );
    // The copy is in `b`; the old one in `a` is being deleted.
    let fresh = store.regenerate(&id).unwrap();
    assert_ne!(fresh, id);
    assert_eq!(store.load(&id).unwrap(), None, "the old id right after");
    held.release.send(()).unwrap();
    assert_eq!(
        mover.join().unwrap().unwrap(),
        None,
        "the move hands out the old id"
    );
    assert_eq!(store.load(&id).unwrap(), None, "the old id afterwards");
    assert_eq!(b.load(&id).unwrap(), None);
    assert_eq!(a.load(&id).unwrap(), None);
    let r = store.load(&fresh).unwrap().expect("the new id works");
    assert_eq!(r.data, r#"{"before":"login"}"#);
    assert_eq!(b.count().unwrap(), 1, "one session, not two");
}

/// How many markers and tombstones the harness keeps in `kv` (live ones).
fn markers(kv: &Arc<host_harness::MemoryBackend>) -> usize {
    host_harness::KvBackend::list_keys(&**kv, host_harness::swap::MARKER_NAMESPACE, "", None, 1000)
        .unwrap()
        .keys
        .len()
}

/// cookie -> kv: a logout by a seal that has already expired leaves no
/// tombstone (it cannot migrate back to life), and the tombstone a live
/// seal's logout leaves lasts until that seal expires, not for the whole
/// grace period: the marker namespace holds one entry per session that
/// could still come back, for no longer than it could.
#[test]
fn a_logout_by_a_seal_leaves_a_tombstone_only_while_the_seal_could_come_back() {
    let (h, clock, backend) = harness();
    let store = swappable(&h, cookie(&h), SwapOptions::default());
    let expired = store.create(CreateOptions::new(DATA).ttl(10)).unwrap();
    let live = store.create(CreateOptions::new(DATA).ttl(60)).unwrap();
    store.swap(kv(&h));
    clock.advance(Duration::from_secs(11));
    store.destroy(&expired).unwrap();
    assert_eq!(markers(&backend), 0, "a tombstone for an expired seal");
    store.destroy(&live).unwrap();
    assert_eq!(
        markers(&backend),
        1,
        "no tombstone for a seal that still opens"
    );
    assert_eq!(
        store.load(&live).unwrap(),
        None,
        "logged out stays logged out"
    );
    clock.advance(Duration::from_secs(50));
    assert_eq!(markers(&backend), 0, "the tombstone outlived the seal");
    assert_eq!(store.retired().len(), 1, "the cookie store is still kept");
    assert_eq!(store.load(&live).unwrap(), None, "the seal has expired");
    assert_eq!(store.stats().migrated, 0);
}

/// While a retired store fails, a logout leaves a tombstone (the failed
/// store may still hold the session). Its failures count toward its
/// quarantine, so a broken retired store is dropped after a few, instead of
/// letting every destroy of any made-up id write a marker into the
/// harness's namespace, which has no quota, for the whole grace period.
#[test]
fn destroys_that_meet_a_failing_retired_store_quarantine_it() {
    let (h, _, kv) = harness();
    let store = swappable(&h, trapping(&h), SwapOptions::default());
    store.swap(kv_ns(&h, "current"));
    for i in 0..50 {
        // Its trap while the trapping store is kept (it may hold the id:
        // a tombstone keeps it from migrating), then invalid-id.
        let answer = store.destroy(&format!("made-up-{i}"));
        assert!(
            matches!(
                answer,
                Err(CallError::Trap { .. } | CallError::Session(SessionError::InvalidId(_)))
            ),
            "{answer:?}"
        );
    }
    assert!(
        store.retired().is_empty(),
        "the trapping store is still kept"
    );
    let markers = markers(&kv);
    assert!(markers <= 3, "{markers} tombstones for made-up ids");
    assert!(matches!(
        store.destroy("made-up-again"),
        Err(CallError::Session(SessionError::InvalidId(_)))
    ));
}

/// A retired store that traps on `load` but destroys fine is still dropped
/// after a few traps: a logout in between (which it answers well) does not
/// reset its count of faults in a row. When destroy reset it, such a store
/// failed every request with an unknown id for the whole grace period.
#[test]
fn a_retired_store_that_traps_on_load_is_dropped_though_it_destroys() {
    let (h, _, _) = harness();
    let store = swappable(&h, hostile(&h, "trap-on-load"), SwapOptions::default());
    store.swap(kv_ns(&h, "current"));
    let mut traps = 0;
    for i in 0..30 {
        // Ok while the hostile store is kept (it knows every id), then
        // invalid-id from the current store alone.
        let answer = store.destroy(&format!("logout-{i}"));
        let kept = !store.retired().is_empty();
        match answer {
            Ok(()) => assert!(kept || i == 0, "ok from the current store alone"),
            Err(CallError::Session(SessionError::InvalidId(_))) => assert!(!kept),
            other => panic!("{other:?}"),
        }
        if let Err(CallError::Trap { .. }) = store.load(&format!("unknown-{i}")) {
            traps += 1;
        }
    }
    assert!(store.retired().is_empty(), "still kept after {traps} traps");
    // The third trap in a row drops it, and that call gets the current
    // store's answer instead: two requests failed.
    assert_eq!(traps, 2, "requests that failed before it was dropped");
}

/// A retired store that traps on its own ids is dropped after a few traps
/// though requests bringing other stores' ids, which it answers
/// `invalid-id`, come in between: that answer once reset its count of faults
/// in a row, so it was never dropped and failed every request bringing one
/// of its ids for the whole grace period.
#[test]
fn a_retired_store_that_traps_on_its_ids_is_dropped_though_it_refuses_others() {
    let (h, _, _) = harness();
    let store = swappable(&h, hostile(&h, "trap-on-load"), SwapOptions::default());
    store.swap(kv_ns(&h, "current"));
    let mut traps = 0;
    for i in 0..30 {
        assert!(matches!(
            store.load(&format!("foreign-{i}")),
            Err(CallError::Session(SessionError::InvalidId(_)))
        ));
        if let Err(CallError::Trap { .. }) = store.load(&format!("its-own-{i}")) {
            traps += 1;
        }
    }
    assert!(store.retired().is_empty(), "still kept after {traps} traps");
    assert_eq!(traps, 2, "requests that failed before it was dropped");
}

/// kv -> cookie: regenerating by the kv id moves the session into a seal,
/// then re-seals it. The kv id must not lead on to the pre-regenerate seal
/// (which, stateless, still opens): its record of the move is buried.
#[test]
fn a_regenerate_by_an_id_moved_into_a_stateless_store_leaves_it_leading_nowhere() {
    let (h, _, _) = harness();
    let store = swappable(&h, kv(&h), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(cookie(&h));
    let fresh = store.regenerate(&id).unwrap();
    assert_eq!(store.load(&fresh).unwrap().unwrap().data, DATA);
    assert_eq!(
        store.load(&id).unwrap(),
        None,
        "the kv id still leads to a seal"
    );
}

#[test]
fn swappable_stores_are_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<SwappableStore>();
}

/// Every swap to a freshly loaded plugin retires one; only the most recent
/// `max_retired` are kept.
#[test]
fn at_most_max_retired_plugins_are_kept() {
    let (h, _, _) = harness();
    let options = SwapOptions {
        max_retired: 2,
        ..SwapOptions::default()
    };
    let store = swappable(&h, kv_ns(&h, "n0"), options);
    let mut ids = Vec::new();
    for n in 1..=4 {
        ids.push(store.create(CreateOptions::new(DATA)).unwrap());
        store.swap(kv_ns(&h, &format!("n{n}")));
    }
    assert_eq!(store.retired().len(), 2);
    // Current n4; kept n3 and n2; n1 and n0 dropped.
    let found: Vec<bool> = ids
        .iter()
        .map(|id| store.load(id).unwrap().is_some())
        .collect();
    assert_eq!(found, [false, false, true, true]);
}

/// Logging out by the old cookie right after a swap ends the session for
/// good: the seal still opens in the retired cookie store, but it must not
/// migrate back to life afterwards.
#[test]
fn a_session_destroyed_by_its_old_id_does_not_migrate_back() {
    let (h, _, _) = harness();
    let (a, b) = (cookie(&h), kv(&h));
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let seal = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    store.destroy(&seal).unwrap();
    assert!(
        a.load(&seal).unwrap().is_some(),
        "the seal itself still opens"
    );
    assert_eq!(
        store.load(&seal).unwrap(),
        None,
        "logged out stays logged out"
    );
    assert_session_err!(store.update(&seal, DATA, None), SessionError::NotFound);
    assert_eq!(b.count().unwrap(), 0);
    assert_eq!(store.stats().migrated, 0);
}

/// A replaced plugin is still called (destroy reaches it, migrations read
/// it), so it keeps a pooled instance rather than instantiating per call,
/// while holding few instance slots. The sessions are the retired store's
/// own, so each destroy has real work there: the store must forget them.
#[test]
fn a_replaced_plugin_reuses_a_pooled_instance() {
    let (h, _, _) = harness();
    let a = kv_ns(&h, "old");
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let ids: Vec<String> = (0..50)
        .map(|_| store.create(CreateOptions::new(DATA)).unwrap())
        .collect();
    for id in &ids {
        assert_eq!(a.load(id).unwrap().expect("made in a").data, DATA);
    }
    store.swap(kv_ns(&h, "new"));
    assert_eq!(store.retired(), vec!["kv-session"]);
    let before = a.stats().instantiations;
    for id in &ids {
        store.destroy(id).unwrap();
    }
    let made = a.stats().instantiations - before;
    assert!(made <= 2, "{made} instances for 50 calls");
    assert!(a.stats().idle <= 8, "{:?}", a.stats());
    // The 50 destroys reached the retired plugin: its sessions are gone.
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            a.load(id).unwrap(),
            None,
            "session {n} survived its destroy"
        );
        assert_eq!(store.load(id).unwrap(), None, "session {n} came back");
    }
    assert_eq!(a.count().unwrap(), 0);
}

/// `max_idle_instances: 0` keeps no instance, also once the plugin is
/// replaced (a retired plugin once kept one per shard whatever it was
/// configured with).
#[test]
fn a_replaced_plugin_configured_to_pool_nothing_pools_nothing() {
    let (h, _, _) = harness();
    let none = Limits {
        max_idle_instances: 0,
        ..Limits::default()
    };
    let a = h
        .load_file(
            guest_path("kv_session"),
            LoadOptions::default().namespace("old").limits(none),
        )
        .unwrap();
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let old = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(kv_ns(&h, "new"));
    let before = a.stats().instantiations;
    for _ in 0..3 {
        let id = store.create(CreateOptions::new(DATA)).unwrap();
        store.destroy(&id).unwrap();
    }
    // Each destroy reached the retired plugin, each on a fresh instance.
    assert!(a.stats().instantiations >= before + 3, "{:?}", a.stats());
    store.destroy(&old).unwrap();
    assert_eq!(a.load(&old).unwrap(), None, "ended in the retired plugin");
    assert_eq!(a.stats().idle, 0, "{:?}", a.stats());
}

/// Two kv-session stores with their own namespaces on one faulty backend.
fn two_kv_stores_on_a_faulty_backend() -> (
    Harness,
    Arc<session_tests::faulty::FaultyBackend>,
    Plugin,
    Plugin,
) {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let (a, b) = (kv_ns(&h, "a"), kv_ns(&h, "b"));
    (h, backend, a, b)
}

/// The old store fails when the move first reads the session: the caller
/// gets its backend error, naming it as the retired plugin.
#[test]
fn a_retired_stores_backend_error_names_it() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b);
    backend.fail_reads_of(Some(("a", &format!("s:{id}"), 0)));
    match store.load(&id) {
        Err(CallError::Session(SessionError::Backend(m))) => {
            assert!(
                m.starts_with(&format!("retired plugin {} (", a.name())),
                "{m}"
            )
        }
        other => panic!("expected the old store's backend error, got {other:?}"),
    }
}

/// The old store fails when the move checks it a second time (whether the
/// session was destroyed meanwhile): the caller gets that error, not
/// "none", and the move is undone, so the next call moves the session.
#[test]
fn a_failure_while_a_move_rechecks_the_old_store_is_an_error_not_a_logout() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(b.clone());
    // The move reads s:<id> in the old store twice: to copy it, then to
    // check it is still there. The check fails.
    backend.fail_reads_of(Some(("a", &format!("s:{id}"), 1)));
    match store.load(&id) {
        Err(CallError::Session(SessionError::Backend(m))) => {
            assert!(m.contains("read timed out"), "{m}");
            // Named: it would otherwise read as the current store's error.
            let named = format!("retired plugin {} (consulted", a.name());
            assert!(m.starts_with(&named), "{m}");
        }
        other => panic!("expected the old store's backend error, got {other:?}"),
    }
    assert_eq!(b.load(&id).unwrap(), None, "the copy was taken back");
    backend.fail_reads_of(None);
    let moved = store.load(&id).unwrap().expect("moved on the next call");
    assert_eq!(
        (moved.data.as_str(), moved.user_id.as_deref()),
        (DATA, Some("ann"))
    );
    assert_eq!(a.load(&id).unwrap(), None, "and removed from the old store");
}

/// The old store cannot delete its copy after a move under the same id:
/// the move is recorded, so after a regenerate in the new store the stale
/// copy does not migrate back (which would undo the regenerate).
#[test]
fn a_stale_copy_left_in_the_old_store_never_migrates_back() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    backend.fail_delete_of(Some(format!("s:{id}")));
    let moved = store.load(&id).unwrap().expect("moved");
    assert_eq!(moved.id, id, "kv to kv keeps the id");
    assert!(a.load(&id).unwrap().is_some(), "the old copy stayed behind");
    backend.fail_delete_of(None);

    let fresh = store.regenerate(&id).unwrap();
    assert_ne!(fresh, id);
    assert_eq!(store.load(&id).unwrap(), None, "the old id stays dead");
    assert_session_err!(store.update(&id, DATA, None), SessionError::NotFound);
    assert_eq!(store.load(&fresh).unwrap().unwrap().data, DATA);
    assert_eq!(store.stats().migrated, 1);
}

/// A session moved under the same id whose old copy could not be deleted
/// moves on at the next swap, from the store it moved to (the newest that
/// knows it), and the stale copy in the oldest store stays out of it: after
/// the session ended in the middle store, the next swap finds none. Before,
/// the move's marker (the id to itself) was followed to itself until the
/// hop limit, and the session was lost at the second swap.
#[test]
fn a_session_moved_beside_a_stale_copy_moves_on_at_the_next_swap() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let (a, b, c) = (kv_ns(&h, "a"), kv_ns(&h, "b"), kv_ns(&h, "c"));
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let kept = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    let ended = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    for id in [&kept, &ended] {
        backend.fail_delete_of(Some(format!("s:{id}")));
        assert_eq!(store.load(id).unwrap().expect("moved").id, *id);
        assert!(
            a.load(id).unwrap().is_some(),
            "the stale copy stayed behind"
        );
    }
    backend.fail_delete_of(None);
    // Ended in b, the store it moved to, while a keeps its stale copy.
    assert!(b.destroy(&ended).is_ok());

    store.swap(c.clone());
    let moved = store.load(&kept).unwrap().expect("moved on from b");
    assert_eq!(moved.id, kept);
    assert_eq!(
        (moved.data.as_str(), moved.user_id.as_deref()),
        (DATA, Some("ann"))
    );
    assert!(c.load(&kept).unwrap().is_some());
    assert_eq!(b.load(&kept).unwrap(), None, "and removed from b");
    assert_eq!(
        store.load(&ended).unwrap(),
        None,
        "a's stale copy stays dead"
    );
    assert_session_err!(store.update(&ended, DATA, None), SessionError::NotFound);
    assert_eq!(c.load(&ended).unwrap(), None);
}

/// A sign-out while a move of the session is in flight, under the same id,
/// and the old store cannot delete its copy: the destroy says so (an error:
/// destroy again) and its tombstone keeps the old copy from migrating, and
/// the move, which read
/// the session before the destroy and writes its copy after it, finds the
/// tombstone and drops the copy. Before, a move under the same id recorded
/// nothing unless its own delete failed (here the old store answers again
/// by then), so its copy lived on in the current store after a logout that
/// had answered `ok`.
#[test]
fn a_move_in_flight_does_not_outlive_a_destroy() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    // The move has read the session from `a` and is about to write its
    // copy into `b`.
    let held = backend.hold_next_write(host_harness::WriteMode::IfAbsent, Some("b"));
    let mover = held.wait_entered(
        on_thread(&store, &id, |s, id| s.load(id)),
        "the move never wrote its copy",
    );
    backend.fail_delete_in(Some(("a", &format!("s:{id}"))));
    assert_retired_copy_survived(store.destroy(&id));
    // The old store answers again by the time the move deletes its copy.
    backend.fail_delete_in(None);
    held.release.send(()).unwrap();
    let moved = mover.join().unwrap();
    assert!(
        matches!(moved, Ok(None) | Err(CallError::Session(_))),
        "the move must not hand out the session, nor fail as a fault: {moved:?}"
    );
    assert_eq!(b.load(&id).unwrap(), None, "no copy outlives the destroy");
    assert_eq!(store.load(&id).unwrap(), None);
    assert_session_err!(store.update(&id, DATA, None), SessionError::NotFound);
    assert_eq!(b.load(&id).unwrap(), None);
}

/// A sign-out while a move of the session into a cookie store (under a new
/// id) checks the old store again, the old store failing throughout: the
/// destroy says the old copy survived (an error: destroy again) and writes
/// its tombstone over the move's record;
/// the move, undone because the old store failed, takes back only its own
/// record. Before, it deleted whatever was recorded under the old id, the
/// tombstone too, and the next call migrated the logged-out session back.
#[test]
fn a_move_undone_after_a_logout_does_not_bring_the_session_back() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let a = kv_ns(&h, "a");
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(cookie(&h));
    let key = format!("s:{id}");
    // The move reads the session to copy it, records the move, then reads
    // it again (was it destroyed meanwhile?): that read waits, then fails.
    let held = backend.hold_read_of("a", &key, 1);
    backend.fail_reads_of(Some(("a", &key, 1)));
    let mover = held.wait_entered(
        on_thread(&store, &id, |s, id| s.load(id)),
        "the move never checked the old store again",
    );
    backend.fail_delete_in(Some(("a", &key)));
    assert_retired_copy_survived(store.destroy(&id));
    held.release.send(()).unwrap();
    let moved = mover.join().unwrap();
    assert!(
        matches!(&moved, Err(CallError::Session(SessionError::Backend(m))) if m.contains("read timed out")),
        "the move reports the old store's failure: {moved:?}"
    );
    backend.fail_reads_of(None);
    backend.fail_delete_in(None);
    assert!(
        a.load(&id).unwrap().is_some(),
        "the old store kept its copy"
    );
    assert_eq!(store.load(&id).unwrap(), None, "the sign-out holds");
    assert_session_err!(store.update(&id, DATA, None), SessionError::NotFound);
    assert_eq!(store.stats().migrated, 0);
}

/// Logging out while a retired store is broken: the session ends in the
/// current store, and the broken one's copy can never migrate back. The
/// destroy reports the broken store's failure (it may still hold the
/// session, and would serve it again were it swapped back in: a logout
/// that answered ok was undone by a swap back), until the broken store is
/// quarantined and dropped: a retry then answers ok.
#[test]
fn destroy_ends_the_session_even_when_a_retired_store_fails() {
    let (h, _, _) = harness();
    let broken = trapping(&h);
    let store = swappable(&h, broken, SwapOptions::default());
    let b = kv(&h);
    store.swap(b.clone());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    let first = store.destroy(&id);
    assert!(
        matches!(&first, Err(CallError::Trap { .. })),
        "the broken store's copy may live: {first:?}"
    );
    assert_eq!(b.load(&id).unwrap(), None, "the current store forgot it");
    let mut tries = 1;
    while store.destroy(&id).is_err() {
        tries += 1;
        assert!(tries <= 3, "the broken store was never dropped");
    }
    assert!(store.retired().is_empty(), "dropped, after {tries} tries");
    // The broken store is never asked again for this id: it is tombstoned.
    assert_eq!(store.load(&id).unwrap(), None);
    assert_session_err!(store.update(&id, DATA, None), SessionError::NotFound);
}

/// A logout while the retired server-side store cannot delete its copy is
/// reported, not answered ok: swapped back in (a rollback), that store
/// would serve the copy again, the logged-out session and all. Meanwhile
/// the tombstone keeps it from migrating; a retry once the store answers
/// ends it there too, and the swap back finds nothing.
#[test]
fn a_logout_a_retired_store_could_not_finish_is_reported_and_survives_a_swap_back() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    backend.fail_delete_in(Some(("a", &format!("s:{id}"))));
    assert_retired_copy_survived(store.destroy(&id));
    assert!(
        a.load(&id).unwrap().is_some(),
        "the copy a swap back would serve"
    );
    assert_eq!(store.load(&id).unwrap(), None, "no migration meanwhile");
    backend.fail_delete_in(None);
    store.destroy(&id).expect("the retry ends it everywhere");
    store.swap(a.clone());
    assert_eq!(
        store.load(&id).unwrap(),
        None,
        "logged out stays logged out"
    );
}

/// Purging goes on past a retired store that fails, and reports it.
#[test]
fn purge_reaches_every_store_and_reports_a_failing_one() {
    let (h, backend, a, c) = two_kv_stores_on_a_faulty_backend();
    let broken = trapping(&h);
    let store = swappable(&h, a, SwapOptions::default());
    store.swap(broken);
    store.swap(c);
    // Retired, most recent first: the broken store, then `a`.
    backend.take_log();
    match store.purge_expired() {
        Err(CallError::Trap { .. }) => {}
        other => panic!("expected the retired store's trap, got {other:?}"),
    }
    let listings = backend
        .take_log()
        .into_iter()
        .filter(|call| matches!(call, session_tests::faulty::KvCall::List(_)))
        .count();
    assert_eq!(listings, 2, "the current store and `a` were both purged");
}

/// kv -> cookie: logging out by the kv id the session had before it moved
/// ends it for good, though the cookie store cannot forget the seal it made:
/// the old id no longer leads to it.
#[test]
fn destroy_by_an_old_kv_id_after_a_move_to_cookies_stays_destroyed() {
    let (h, _, _) = harness();
    let store = swappable(&h, kv(&h), SwapOptions::default());
    let old = store
        .create(CreateOptions::new(DATA).user("alice"))
        .unwrap();
    store.swap(cookie(&h));
    let moved = store.load(&old).unwrap().expect("migrated");
    assert!(moved.id.starts_with("v1.p."));
    store.destroy(&old).unwrap();
    assert_eq!(
        store.load(&old).unwrap(),
        None,
        "logged out stays logged out"
    );
    assert_session_err!(store.update(&old, DATA, None), SessionError::NotFound);
    assert_session_err!(store.touch(&old, None), SessionError::NotFound);
    assert_session_err!(store.regenerate(&old), SessionError::NotFound);
}

/// A session that moved kv -> cookie, after a second swap (cookie -> kv),
/// is still reached by its first id: the marker leads to the seal, which the
/// retired cookie store still opens, and the session moves on.
#[test]
fn an_id_that_moved_twice_still_finds_its_session() {
    let (h, _, _) = harness();
    let first = kv_ns(&h, "first");
    let third = kv_ns(&h, "third");
    let store = swappable(&h, first, SwapOptions::default());
    let old = store.create(CreateOptions::new(DATA).user("bob")).unwrap();
    store.swap(cookie(&h));
    let seal = store.load(&old).unwrap().expect("moved to cookies").id;
    store.swap(third.clone());
    let moved = store.load(&old).unwrap().expect("moved on, not logged out");
    assert_eq!(
        (moved.data.as_str(), moved.user_id.as_deref()),
        (DATA, Some("bob"))
    );
    assert_eq!(third.load(&moved.id).unwrap().unwrap().data, DATA);
    // The seal and the first id both lead to the one copy.
    assert_eq!(store.load(&seal).unwrap().unwrap().id, moved.id);
    assert_eq!(store.load(&old).unwrap().unwrap().id, moved.id);
    assert_eq!(third.count().unwrap(), 1);
    assert_eq!(store.stats().migrated, 2);
    // Logging out by the first id ends the copy two moves on, and neither
    // older id leads anywhere after.
    store.destroy(&old).unwrap();
    assert_eq!(third.load(&moved.id).unwrap(), None, "the copy was ended");
    for id in [&old, &seal, &moved.id] {
        assert_eq!(store.load(id).unwrap(), None, "{id}");
    }
}

/// A new version of a store on the same namespace with a shorter absolute
/// lifetime: a session the old version still counts as live is past the new
/// cap. The new store holds its record but answers none, and the old one
/// answers it; the migration's import meets the record (`conflict`) and the
/// answer is the new store's, not an endless loop between the two.
#[test]
fn a_shared_namespace_with_a_shorter_cap_answers_gone() {
    let (h, clock, _) = harness();
    let load = |cap: &str| {
        h.load_file(
            guest_path("kv_session"),
            LoadOptions::default()
                .namespace("shared")
                .config("session.max-lifetime-seconds", cap),
        )
        .unwrap()
    };
    let (lenient, strict) = (load("604800"), load("86400"));
    let store = swappable(&h, lenient.clone(), SwapOptions::default());
    let id = store
        .create(CreateOptions::new(DATA).ttl(3 * 86400))
        .unwrap();
    clock.advance(Duration::from_secs(2 * 86400));
    store.swap(strict.clone());
    assert_eq!(store.load(&id).unwrap(), None);
    assert_session_err!(store.update(&id, DATA, None), SessionError::NotFound);
    assert_session_err!(store.touch(&id, None), SessionError::NotFound);
    assert!(
        lenient.load(&id).unwrap().is_some(),
        "the old rules still hold it"
    );
    assert_eq!(store.stats().migrated, 0);
}

/// A retired store that times out on every lookup is dropped too, but only
/// after 8 timeouts in a row (a timeout can be a loaded machine), against 3
/// traps: until then each lookup is its timeout.
#[test]
fn a_retired_store_that_keeps_timing_out_is_dropped_later_than_one_that_traps() {
    let (h, _, _) = harness();
    let store = swappable(&h, hostile(&h, "loop"), SwapOptions::default());
    store.swap(kv(&h));
    let unknown = "unknownUnknownUnknownUnknown0000";
    for _ in 0..7 {
        match store.load(unknown) {
            Err(CallError::Timeout { .. }) => {}
            other => panic!("expected the old store's timeout, got {other:?}"),
        }
    }
    assert_eq!(store.retired(), vec!["hostile"], "kept after 7");
    assert_eq!(store.load(unknown).unwrap(), None, "the 8th drops it");
    assert!(store.retired().is_empty());
    assert_eq!(store.stats().retired_dropped, 1);
}

/// A retired store that hits the memory limit on a lookup is not dropped
/// for it, however often: the limit can be one session's size, and one
/// user's requests must not get every session not yet moved dropped. The
/// caller gets the error; the host can drop the store by name.
#[test]
fn a_retired_store_that_hits_the_memory_limit_is_kept_until_dropped_by_name() {
    let (h, _, _) = harness();
    let store = swappable(&h, hostile(&h, "huge"), SwapOptions::default());
    store.swap(kv(&h));
    let unknown = "unknownUnknownUnknownUnknown0000";
    for _ in 0..10 {
        match store.load(unknown) {
            Err(CallError::MemoryLimit { .. }) => {}
            other => panic!("expected the old store's memory limit, got {other:?}"),
        }
    }
    assert_eq!(store.retired(), vec!["hostile"], "kept after 10");
    assert!(store.drop_retired("hostile"));
    assert_eq!(store.load(unknown).unwrap(), None);
}

/// A session the old store returns past the host's output limits (they were
/// lowered since it was written) can never move: it is answered as gone and
/// counted as unmovable, not an error on every request of that user until
/// the grace period ends. Other sessions still move.
#[test]
fn a_session_the_old_store_returns_past_the_output_limits_is_gone() {
    let (h, _, _) = harness();
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(8 * 1024));
    let (big_id, small_id) = {
        let a = kv_ns(&h, "a");
        let big_id = a.create(CreateOptions::new(big)).unwrap();
        (big_id, a.create(CreateOptions::new(DATA)).unwrap())
    };
    let strict = Limits {
        max_output_bytes: 4 * 1024,
        ..Limits::default()
    };
    let a = h
        .load_file(
            guest_path("kv_session"),
            LoadOptions::default().namespace("a").limits(strict),
        )
        .unwrap();
    let store = swappable(&h, a.clone(), SwapOptions::default());
    store.swap(kv_ns(&h, "b"));
    assert!(matches!(
        a.load(&big_id),
        Err(CallError::OutputTooLarge { what: "data", .. })
    ));
    // An answer, not a fault: however often it comes, the store is kept.
    for _ in 0..10 {
        assert_eq!(store.load(&big_id).unwrap(), None);
    }
    assert_session_err!(store.update(&big_id, DATA, None), SessionError::NotFound);
    let stats = store.stats();
    assert_eq!((stats.unmovable, stats.migration_failures), (11, 0));
    assert_eq!(stats.retired_dropped, 0);
    let moved = store.load(&small_id).unwrap().expect("moved");
    assert_eq!(moved.data, DATA);
    assert_eq!(store.retired(), vec![a.name().to_string()]);
}

/// A store swapped out because it broke does not fail every request that
/// brings an unknown id for the whole grace period: after a few faults in a
/// row it is dropped, and the current store answers.
#[test]
fn a_retired_store_that_keeps_faulting_is_dropped() {
    let (h, _, _) = harness();
    let broken = trapping(&h);
    let store = swappable(&h, broken.clone(), SwapOptions::default());
    store.swap(kv(&h));
    let unknown = "unknownUnknownUnknownUnknown0000";
    for _ in 0..2 {
        match store.load(unknown) {
            Err(CallError::Trap { .. }) => {}
            other => panic!("expected the old store's trap, got {other:?}"),
        }
    }
    assert_eq!(
        store.load(unknown).unwrap(),
        None,
        "the current store answers"
    );
    assert!(store.retired().is_empty());
    assert_eq!(store.stats().retired_dropped, 1);
    let made = broken.stats().instantiations;
    assert_eq!(store.load(unknown).unwrap(), None);
    assert_session_err!(store.update(unknown, DATA, None), SessionError::NotFound);
    assert_eq!(broken.stats().instantiations, made, "never called again");
}

/// An operator can end migration from one retired store early.
#[test]
fn a_retired_store_can_be_dropped_by_name() {
    let (h, _, _) = harness();
    let store = swappable(&h, kv_ns(&h, "old"), SwapOptions::default());
    let old = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(kv_ns(&h, "new"));
    assert!(!store.drop_retired("no-such-store"));
    assert!(store.drop_retired("kv-session"));
    assert!(store.retired().is_empty());
    assert_eq!(store.load(&old).unwrap(), None, "no longer migrated");
    assert_eq!(store.stats().retired_dropped, 1);
}

/// A logout that lands while a migration begun before the grace period
/// ended is still copying the session: the destroy waits for the copy, so
/// it ends it, rather than pass an empty store and let the copy bring the
/// session back.
#[test]
fn a_destroy_during_a_move_begun_before_the_grace_period_ended_wins() {
    let (h, backend, clock) = session_tests::faulty::harness_with_faulty_kv_and_clock();
    let (a, b) = patient_kv_stores(&h);
    let options = SwapOptions {
        grace: Duration::from_secs(10),
        ..SwapOptions::default()
    };
    let store = swappable(&h, a.clone(), options);
    let id = store.create(CreateOptions::new(DATA).ttl(3600)).unwrap();
    store.swap(b.clone());
    // The move's write of the copy into `b` is caught in flight.
    let held = backend.hold_next_write(host_harness::WriteMode::IfAbsent, Some("b"));
    let mover = held.wait_entered(
        on_thread(&store, &id, |s, id| s.load(id)),
        "the move never wrote",
    );
    // The grace period ends: calls from now on see no retired store.
    clock.advance(Duration::from_secs(11));
    let logout = on_thread(&store, &id, |s, id| s.destroy(id));
    waiting_for_earlier_calls(&store, &logout, 1);
    held.release.send(()).unwrap();
    mover
        .join()
        .unwrap()
        .expect("the load that moved the session");
    logout.join().unwrap().unwrap();
    assert!(store.retired().is_empty());
    assert_eq!(b.load(&id).unwrap(), None, "the copy was ended");
    assert_eq!(a.load(&id).unwrap(), None);
    assert_eq!(
        store.load(&id).unwrap(),
        None,
        "logged out stays logged out"
    );
}

/// kv -> cookie -> kv: logging out by the first id ends the session even
/// though its seal still opens in the retired cookie store: that seal must
/// not migrate back either.
#[test]
fn destroy_by_the_first_id_ends_a_seal_still_open_in_a_retired_cookie_store() {
    let (h, _, _) = harness();
    let store = swappable(&h, kv_ns(&h, "first"), SwapOptions::default());
    let old = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(cookie(&h));
    let seal = store.load(&old).unwrap().expect("moved to cookies").id;
    let third = kv_ns(&h, "third");
    store.swap(third.clone());
    store.destroy(&old).unwrap();
    assert_eq!(
        store.load(&seal).unwrap(),
        None,
        "the seal stays logged out"
    );
    assert_eq!(store.load(&old).unwrap(), None);
    assert_session_err!(store.update(&seal, DATA, None), SessionError::NotFound);
    assert_eq!(third.count().unwrap(), 0);
}

/// A session moved under the same id (kv to kv) keeps being found through
/// later swaps to stores that never held it: the store it moved to is
/// asked, not just the newest retired one (which knows nothing of it).
/// Before, the marker of the move sent the look-up to the newest retired
/// store only, whose "none" logged the user out while the store the
/// session had moved to still held it.
#[test]
fn a_session_moved_under_its_id_is_found_after_swaps_to_stores_it_never_met() {
    let (h, _, _) = harness();
    let stores: Vec<Plugin> = ["a", "b", "c", "d"]
        .iter()
        .map(|ns| kv_ns(&h, ns))
        .collect();
    let store = swappable(&h, stores[0].clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(stores[1].clone());
    assert_eq!(store.load(&id).unwrap().expect("moved to b").id, id);
    // The visitor stays away while c is active, then comes back under d.
    store.swap(stores[2].clone());
    store.swap(stores[3].clone());
    assert_moves(&store, &id, &stores[1], &stores[3]);
}

/// A session moved under its id between two kv stores moves on into a
/// cookie store at the next swap, as a fresh seal. Before, the record of the
/// first move (the id to itself) made the move into the cookie store look
/// like a second move racing the first: its seal was dropped and the move
/// tried again until the hop limit, and the visitor was logged out.
#[test]
fn a_session_moved_under_its_id_moves_on_into_a_cookie_store() {
    let (h, _, _) = harness();
    let (a, b) = (kv_ns(&h, "a"), kv_ns(&h, "b"));
    let store = swappable(&h, a, SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(b.clone());
    assert_eq!(store.load(&id).unwrap().expect("moved to b").id, id);
    store.swap(cookie(&h));
    let moved = store.load(&id).unwrap().expect("moved on into a seal");
    assert_ne!(moved.id, id);
    assert_eq!(
        (moved.data.as_str(), moved.user_id.as_deref()),
        (DATA, Some("ann"))
    );
    assert_eq!(b.load(&id).unwrap(), None, "and removed from b");
    let again = store
        .load(&id)
        .unwrap()
        .expect("the old id leads to the seal");
    assert_eq!((again.data.as_str(), store.stats().migrated), (DATA, 2));
    store.destroy(&id).unwrap();
    assert_eq!(store.load(&id).unwrap(), None, "ended by its old id");
}

/// Makes the move of `id` out of the store with namespace `from` fail when
/// it checks that store again, and shows the move undone: the caller gets
/// the backend error and `into` keeps no copy.
fn undo_a_move(
    store: &SwappableStore,
    backend: &session_tests::faulty::FaultyBackend,
    from: &str,
    into: &Plugin,
    id: &str,
) {
    backend.fail_reads_of(Some((from, &format!("s:{id}"), 1)));
    assert!(matches!(
        store.load(id),
        Err(CallError::Session(SessionError::Backend(_)))
    ));
    backend.fail_reads_of(None);
    assert_eq!(into.load(id).unwrap(), None, "the copy was taken back");
}

/// Loads `id` (ann's session), which moves under its id from `from` into
/// `into`.
fn assert_moves(store: &SwappableStore, id: &str, from: &Plugin, into: &Plugin) {
    assert_moved(store.load(id), id, from, into);
}

/// `loaded` is ann's session `id`, moved under its id from `from` into
/// `into`.
fn assert_moved(
    loaded: Result<Option<host_harness::SessionRecord>, CallError>,
    id: &str,
    from: &Plugin,
    into: &Plugin,
) {
    let moved = loaded.unwrap().expect("moved, not gone");
    assert_eq!(
        (
            moved.id.as_str(),
            moved.data.as_str(),
            moved.user_id.as_deref()
        ),
        (id, DATA, Some("ann"))
    );
    assert!(into.load(id).unwrap().is_some());
    assert_eq!(
        from.load(id).unwrap(),
        None,
        "and removed from the old store"
    );
}

/// A move under the same id that is undone (the old store failed when the
/// move checked it again) leaves no record behind: at a swap before the
/// visitor's next request the session still moves from the store that holds
/// it. Before, the undone move's record sent the look-up to the store whose
/// copy had been taken back, and the visitor was logged out.
#[test]
fn a_move_undone_leaves_the_session_findable_after_another_swap() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let c = kv_ns(&h, "c");
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(b.clone());
    undo_a_move(&store, &backend, "a", &b, &id);
    store.swap(c.clone());
    assert_moves(&store, &id, &a, &c);
}

/// A move on under the same id (from the store the session moved to first)
/// that is undone puts back the record of the first move: after one more
/// swap the session still moves from that store.
#[test]
fn a_move_on_undone_leaves_the_session_where_it_moved_first() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let (c, d) = (kv_ns(&h, "c"), kv_ns(&h, "d"));
    let store = swappable(&h, a, SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(b.clone());
    assert_eq!(store.load(&id).unwrap().expect("moved to b").id, id);
    store.swap(c.clone());
    undo_a_move(&store, &backend, "b", &c, &id);
    store.swap(d.clone());
    assert_moves(&store, &id, &b, &d);
}

/// a -> b (moved under its id), then c: a move on from b into c is caught
/// writing its copy when the operator swaps on to d, and a request under d
/// looks the session up meanwhile: it reads the record of the first move
/// (b), waits for the move on in flight, and then b no longer holds it. It
/// follows the record the move on left (c), and the session moves into d.
/// Before, b's "none" logged the visitor out while c held the session.
#[test]
fn a_lookup_that_waited_for_a_move_on_follows_where_it_went() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let (a, b, c, d) = (
        kv_ns(&h, "a"),
        kv_ns(&h, "b"),
        kv_ns(&h, "c"),
        kv_ns(&h, "d"),
    );
    let store = swappable(&h, a, SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(b.clone());
    assert_eq!(store.load(&id).unwrap().expect("moved to b").id, id);
    store.swap(c.clone());
    let held = backend.hold_next_write(host_harness::WriteMode::IfAbsent, Some("c"));
    let mover = held.wait_entered(
        on_thread(&store, &id, |s, id| s.load(id)),
        "the move on never wrote its copy into c",
    );
    store.swap(d.clone());
    let reader = on_thread(&store, &id, |s, id| s.load(id));
    waiting_for_earlier_calls(&store, &reader, 1);
    held.release.send(()).unwrap();
    let first = mover.join().unwrap().unwrap().expect("moved on into c");
    assert_eq!(first.id, id);
    assert_moved(reader.join().unwrap(), &id, &c, &d);
    assert_eq!(b.load(&id).unwrap(), None, "removed from b");
}

/// A move that finds the record of its id taken when it records itself,
/// and then no record at all (another call's move was undone meanwhile and
/// took its record back), records itself after all: the visitor keeps the
/// session. Before, its copy was dropped and the session answered gone.
#[test]
fn a_move_whose_record_was_taken_back_meanwhile_records_itself() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let a = kv_ns(&h, "a");
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(cookie(&h));
    // A move into the cookie store makes no kv write but its record.
    backend.refuse_if_absent(1);
    let moved = store.load(&id).unwrap().expect("moved, not gone");
    assert_ne!(moved.id, id);
    assert_eq!(
        (moved.data.as_str(), moved.user_id.as_deref()),
        (DATA, Some("ann"))
    );
    assert_eq!(a.load(&id).unwrap(), None, "removed from the old store");
    let again = store.load(&id).unwrap().expect("the old id leads to it");
    assert_eq!(again.data, DATA);
    assert_eq!(store.stats().migrated, 1, "one copy");
}

/// A sign-out while the session, moved under its id into b, could be moved
/// on into c by another request, b failing to delete: the destroy buries
/// the record of the move before it passes the stores for the copies, so a
/// request that comes between its last pass over c and its answer finds the
/// session over, and the destroy leaves no copy but b's (which it reports,
/// to be destroyed again) and no way to it. Before, the
/// record was buried after that pass: such a request moved the session on
/// into c (b still held it), and the copy outlived the destroy.
#[test]
fn a_move_on_in_flight_does_not_outlive_a_destroy() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let c = kv_ns(&h, "c");
    let store = swappable(&h, a, SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    assert_eq!(store.load(&id).unwrap().expect("moved to b").id, id);
    store.swap(c.clone());
    let key = format!("s:{id}");
    backend.fail_delete_in(Some(("b", &key)));
    // The destroy passes every store twice (for the id, then for the copy
    // its record names): caught after its second delete in c.
    let held = backend.hold_after_delete_of("c", &key, 1);
    let logout = held.wait_entered(
        on_thread(&store, &id, |s, id| s.destroy(id)),
        "the destroy never passed c twice",
    );
    // Another request meanwhile, while b still answers for the session.
    assert_eq!(store.load(&id).unwrap(), None, "the session is over");
    held.release.send(()).unwrap();
    assert_retired_copy_survived(logout.join().unwrap());
    backend.fail_delete_in(None);
    assert_eq!(c.load(&id).unwrap(), None, "no copy outlives the destroy");
    assert_eq!(
        store.load(&id).unwrap(),
        None,
        "logged out stays logged out"
    );
    assert_session_err!(store.update(&id, DATA, None), SessionError::NotFound);
    assert_eq!(c.load(&id).unwrap(), None);
}

/// Checks the answer of a destroy that met a retired server-side store
/// failing to delete its copy: the logout is not done (that store would
/// serve the copy again were it swapped back in), and the error says which
/// store and to destroy again. Before, it answered ok.
fn assert_retired_copy_survived(answer: Result<(), CallError>) {
    assert!(
        matches!(&answer, Err(CallError::Session(SessionError::Backend(m)))
            if m.starts_with("retired plugin ") && m.contains("destroy it again")),
        "{answer:?}"
    );
}

/// The kv key of the migration marker of `id` (in
/// [`host_harness::swap::MARKER_NAMESPACE`]), for holding a read of it.
fn marker_key(id: &str) -> String {
    format!("{:x}", Sha256::digest(id.as_bytes()))
}

/// A sign-out racing a move on under a new id: the session moved under its
/// id into b (which then fails to delete), the current store makes its own
/// ids (it imports none), and a request moves the session on into it after
/// the destroy read the record of the first move. The destroy meets the
/// record of the move on where it expected the one it read, follows it and
/// ends that copy too. Before, it wrote its tombstone over the record of
/// the move on: the copy lived on, and the request that made it held a live
/// session after a logout that answered ok.
#[test]
fn a_move_on_under_a_new_id_does_not_outlive_a_destroy_racing_it() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let store = swappable(&h, a, SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(b.clone());
    assert_eq!(store.load(&id).unwrap().expect("moved to b").id, id);
    let own_ids = hostile(&h, "trap-on-update");
    store.swap(own_ids.clone());
    backend.fail_delete_in(Some(("b", &format!("s:{id}"))));
    let held =
        backend.hold_after_read_of(host_harness::swap::MARKER_NAMESPACE, &marker_key(&id), 0);
    let logout = held.wait_entered(
        on_thread(&store, &id, |s, id| s.destroy(id)),
        "the destroy never read the record of the move",
    );
    let during = store.load(&id).unwrap().expect("moved on from b");
    assert_ne!(during.id, id, "under an id of the current store's own");
    held.release.send(()).unwrap();
    assert_retired_copy_survived(logout.join().unwrap());
    backend.fail_delete_in(None);
    assert_eq!(
        own_ids.load(&during.id).unwrap(),
        None,
        "no copy outlives the destroy"
    );
    assert_eq!(store.load(&during.id).unwrap(), None);
    assert_eq!(
        store.load(&id).unwrap(),
        None,
        "logged out stays logged out"
    );
}

/// A logout that began before a swap, by a seal that a retired stateless
/// store opens, is not outrun by a lookup after the swap: the lookup waits
/// for it, then finds the session ended. Before, only lookups in
/// server-side stores waited: the lookup moved the seal into the new kv
/// store while the destroy, which looks for copies only in the stores of
/// its own generation, answered ok and left that copy live.
#[test]
fn a_logout_begun_before_a_swap_ends_the_copy_a_lookup_after_it_would_make() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let cookie_with = |name: &str, key: &str| {
        let options = LoadOptions::default().name(name).config("cookie.keys", key);
        h.load_file(guest_path("cookie_session"), options).unwrap()
    };
    let store = swappable(&h, cookie_with("a", KEY_A), SwapOptions::default());
    let seal = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(cookie_with("b", session_tests::fixtures::KEY_B));
    let held = backend.hold_read_of(host_harness::swap::MARKER_NAMESPACE, &marker_key(&seal), 0);
    let logout = held.wait_entered(
        on_thread(&store, &seal, |s, id| s.destroy(id)),
        "the destroy never read the seal's marker",
    );
    let c = kv_ns(&h, "c");
    store.swap(c.clone());
    let lookup = on_thread(&store, &seal, |s, id| s.load(id));
    waiting_for_earlier_calls(&store, &lookup, 1);
    held.release.send(()).unwrap();
    logout.join().unwrap().expect("logged out");
    assert_eq!(lookup.join().unwrap().unwrap(), None, "the session ended");
    assert_eq!(store.load(&seal).unwrap(), None);
    assert_eq!(c.count().unwrap(), 0, "no copy in the new store");
}

/// A logout by a seal whose session moved into b under a new id, b since
/// retired and failing to delete that copy: the destroy says so (destroy it
/// again), and the retry reaches the copy. Before, it answered ok and
/// buried the way to the copy, so b served the logged-out session once
/// swapped back.
#[test]
fn a_copy_a_retired_store_could_not_end_is_reported_and_reached_by_the_retry() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let store = swappable(&h, cookie(&h), SwapOptions::default());
    let seal = store.create(CreateOptions::new(DATA)).unwrap();
    let b = kv_ns(&h, "b");
    store.swap(b.clone());
    let moved = store.load(&seal).unwrap().expect("moved into b").id;
    assert_ne!(moved, seal, "under b's own id");
    store.swap(kv_ns(&h, "c"));
    backend.fail_delete_in(Some(("b", &format!("s:{moved}"))));
    assert_retired_copy_survived(store.destroy(&seal));
    assert!(b.load(&moved).unwrap().is_some(), "b still holds it");
    assert_eq!(store.load(&seal).unwrap(), None, "but it does not migrate");
    backend.fail_delete_in(None);
    store.destroy(&seal).expect("the retry ends it");
    assert_eq!(b.load(&moved).unwrap(), None, "the retry reached b");
    store.swap(b);
    assert_eq!(
        store.load(&moved).unwrap(),
        None,
        "logged out stays logged out"
    );
    assert_eq!(store.load(&seal).unwrap(), None);
}

/// A request under c looks the session up while its first move (a into b)
/// is still checking a, so it reads the record of that move and waits for
/// it; the move is then undone (a failed), and its record taken back. The
/// request finds the session where it was, in a, and moves it into c.
/// Before, b's "none" and the missing record logged the visitor out.
#[test]
fn a_lookup_that_waited_for_a_move_undone_finds_the_session_where_it_was() {
    let (h, backend, a, b) = two_kv_stores_on_a_faulty_backend();
    let c = kv_ns(&h, "c");
    let store = swappable(&h, a.clone(), SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA).user("ann")).unwrap();
    store.swap(b.clone());
    // The move reads the session in a to copy it, then again to check it
    // is still there: that read waits, then fails (once).
    let key = format!("s:{id}");
    let held = backend.hold_read_of("a", &key, 1);
    backend.fail_one_read_of("a", &key, 1);
    let mover = held.wait_entered(
        on_thread(&store, &id, |s, id| s.load(id)),
        "the move never checked a again",
    );
    store.swap(c.clone());
    let reader = on_thread(&store, &id, |s, id| s.load(id));
    waiting_for_earlier_calls(&store, &reader, 1);
    held.release.send(()).unwrap();
    let undone = mover.join().unwrap();
    assert!(
        matches!(&undone, Err(CallError::Session(SessionError::Backend(m))) if m.contains("read timed out")),
        "the first move reports a's failure: {undone:?}"
    );
    assert_moved(reader.join().unwrap(), &id, &a, &c);
    assert_eq!(b.load(&id).unwrap(), None, "the undone copy stays gone");
}

/// A session that moved between a cookie store and a kv store swapped back
/// and forth (seal -> kv id -> seal, the last seal still in the retired
/// cookie store): a logout by the first seal follows every record, though
/// the chain is longer than the retired list (a store swapped back in leaves
/// it), and the last seal stays logged out. Before, the walk stopped at the
/// length of the retired list, the last seal got no tombstone, and it moved
/// back to life at the next request.
#[test]
fn a_logout_follows_a_chain_longer_than_the_retired_list() {
    let (h, _, _) = harness();
    let (seals, kv_store) = (cookie(&h), kv(&h));
    let store = swappable(&h, seals.clone(), SwapOptions::default());
    let first = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(kv_store.clone());
    let middle = store.load(&first).unwrap().expect("moved to kv").id;
    store.swap(seals.clone());
    let last = store.load(&middle).unwrap().expect("moved to a seal").id;
    store.swap(kv_store.clone());
    assert_eq!(store.retired(), vec![seals.name().to_string()]);
    store.destroy(&first).unwrap();
    for id in [&last, &middle, &first] {
        assert_eq!(store.load(id).unwrap(), None, "{id}");
    }
    assert_eq!(kv_store.count().unwrap(), 0, "nothing moved back");
}

/// A logout by the old id that fails to end the copy its record leads to
/// (the current store cannot delete it) is an error, and a retry of it still
/// reaches the copy. Before, the old id was buried before the copy was
/// ended, so the retry stopped there and answered ok while the copy lived.
#[test]
fn a_logout_retried_after_failing_to_end_a_copy_reaches_the_copy() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let (first, last) = (kv_ns(&h, "first"), kv_ns(&h, "last"));
    let store = swappable(&h, first, SwapOptions::default());
    let id = store.create(CreateOptions::new(DATA)).unwrap();
    store.swap(cookie(&h));
    let seal = store.load(&id).unwrap().expect("moved to a seal").id;
    store.swap(last.clone());
    let copy = store.load(&seal).unwrap().expect("moved on into last").id;
    backend.fail_delete_in(Some(("last", &format!("s:{copy}"))));
    assert!(matches!(
        store.destroy(&id),
        Err(CallError::Session(SessionError::Backend(_)))
    ));
    backend.fail_delete_in(None);
    store.destroy(&id).expect("the retry ends it");
    assert_eq!(last.load(&copy).unwrap(), None, "the copy was ended");
    for old in [&id, &seal, &copy] {
        assert_eq!(store.load(old).unwrap(), None, "{old}");
    }
}
