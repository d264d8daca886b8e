//! What a guest can make the host allocate. A guest's arguments to the `kv`
//! import are checked where they lie in its memory, so passing keys and
//! values over the host's limits costs the host no copy of them, and what
//! one crossing of the boundary may carry is capped
//! (`Limits::copy_limit_bytes`), so neither a host call's arguments nor a
//! call's answer past it is copied. This suite is its own test binary,
//! whose tests run one at a time, because it counts every allocation of
//! the process.

use host_harness::{CallError, CreateOptions, Harness, Limits, LoadOptions, SessionError};
use session_tests::fixtures::{guest_path, harness, load_into};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, keeping the largest single allocation asked for.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as `GlobalAlloc::alloc`, with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as `GlobalAlloc::realloc`, with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Held by each test, so one's allocations are not counted in another's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The test's turn: held until it ends (a test that failed before does not
/// keep the others from theirs).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The largest single allocation while `f` runs.
fn largest_allocation_in<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    let answer = f();
    (answer, LARGEST.load(Ordering::Relaxed))
}

/// What these tests allow the host to allocate at once while refusing.
const SMALL: usize = 4 << 20;

/// Checks that `h` still serves a well-behaved plugin.
fn still_serving(h: &Harness) {
    let good = load_into(h, "kv_session", &[]);
    let id = good.create(CreateOptions::new("{}")).unwrap();
    assert!(good.load(&id).unwrap().is_some());
}

#[test]
fn oversized_kv_arguments_are_refused_without_copying_them() {
    let _one = one_at_a_time();
    let (h, _, _) = harness();
    let bad = load_into(&h, "hostile", &[("hostile.mode", "huge-kv")]);
    // Warm up (instantiation and the first call allocate what they need).
    still_serving(&h);
    bad.info();
    let (answer, largest) = largest_allocation_in(|| bad.create(CreateOptions::new("{}")));
    // The guest passed 8 MiB keys, prefix and cursor and a value just over
    // 16 MiB; every call was refused, saying why, and the host never held
    // one of them.
    let Err(CallError::Session(SessionError::Backend(seen))) = answer else {
        panic!("expected the guest's report, got {answer:?}");
    };
    let key_refused = "TooLarge(\"key is 8388608 bytes; the limit is 1024\")";
    for (call, refusal) in [
        ("get", key_refused),
        (
            "set",
            "TooLarge(\"value is 16777217 bytes; the limit is 16777216\")",
        ),
        ("delete", key_refused),
        (
            "list",
            "TooLarge(\"prefix is 8388608 bytes; the limit is 1024\")",
        ),
        (
            "cursor",
            "TooLarge(\"cursor is 8388608 bytes; the limit is 1024\")",
        ),
    ] {
        let said = format!("{call}: Err(KvError::{refusal})");
        assert!(seen.contains(&said), "{said} not in {seen}");
    }
    assert!(
        largest < SMALL,
        "the host allocated {largest} bytes at once while refusing them"
    );
    still_serving(&h);
}

/// A host call whose arguments are more than one crossing may carry stops
/// the call before they are copied, saying so.
#[test]
fn a_host_call_past_the_copy_limit_stops_the_call_uncopied() {
    let _one = one_at_a_time();
    let (h, _, _) = harness();
    let bad = load_into(&h, "hostile", &[("hostile.mode", "flood-kv")]);
    still_serving(&h);
    bad.info();
    let (answer, largest) = largest_allocation_in(|| bad.create(CreateOptions::new("{}")));
    assert!(
        matches!(answer, Err(CallError::CopyLimit { op: "create", .. })),
        "a 24 MiB kv value: {answer:?}"
    );
    assert!(
        largest < SMALL,
        "the host allocated {largest} bytes at once"
    );
    still_serving(&h);
}

/// Strings a call returns past the copy limit, together, are refused before
/// they are copied: the output limits, checked after the copy, would have
/// let a 100 MB id cost the host 100 MB first.
#[test]
fn an_answer_past_the_copy_limit_is_refused_uncopied() {
    let _one = one_at_a_time();
    let (h, _, _) = harness();
    let roomy = Limits {
        memory_bytes: 512 << 20,
        call_deadline: std::time::Duration::from_secs(10),
        ..Limits::default()
    };
    let load = |mode: &str, bytes: usize| {
        let options = LoadOptions::default()
            .name(format!("hostile-{mode}-{bytes}"))
            .limits(roomy.clone())
            .config("hostile.mode", mode)
            .config("hostile.bytes", bytes.to_string());
        h.load_file(guest_path("hostile"), options).unwrap()
    };
    still_serving(&h);
    // A 100 MiB id; a record of three 6 MiB strings (18 MiB together).
    let bad = load("huge", 100 << 20);
    let (answer, largest) = largest_allocation_in(|| bad.create(CreateOptions::new("{}")));
    assert!(
        matches!(answer, Err(CallError::CopyLimit { op: "create", .. })),
        "{answer:?}"
    );
    assert!(
        largest < SMALL,
        "the host allocated {largest} bytes at once"
    );
    let bad = load("huge", 6 << 20);
    let (answer, largest) = largest_allocation_in(|| bad.load("x"));
    assert!(
        matches!(answer, Err(CallError::CopyLimit { op: "load", .. })),
        "{answer:?}"
    );
    // The strings within the limit were copied before the one past it.
    assert!(
        largest < (6 << 20) + SMALL,
        "the host allocated {largest} bytes at once"
    );
    still_serving(&h);
}
