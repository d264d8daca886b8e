//! What a guest can make the host allocate. A guest's arguments to the `kv`
//! import are checked where they lie in its memory, so passing keys and
//! values far over the host's limits costs the host no copy of them. This
//! suite is its own test binary, with one test, because it counts every
//! allocation of the process.

use host_harness::{CreateOptions, SessionError};
use session_tests::fixtures::{harness, load_into};
use std::alloc::{GlobalAlloc, Layout, System};
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

#[test]
fn oversized_kv_arguments_are_refused_without_copying_them() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let bad = load_into(&h, "hostile", &[("hostile.mode", "huge-kv")]);
    // Warm up (instantiation and the first call allocate what they need).
    good.create(CreateOptions::new("{}")).unwrap();
    bad.info();
    LARGEST.store(0, Ordering::Relaxed);
    let answer = bad.create(CreateOptions::new("{}"));
    let largest = LARGEST.load(Ordering::Relaxed);
    // The guest passed 24 MiB keys, prefix, cursor and value; every call was
    // refused, saying why, and the host never held one of them.
    let Err(host_harness::CallError::Session(SessionError::Backend(seen))) = answer else {
        panic!("expected the guest's report, got {answer:?}");
    };
    let key_refused = "TooLarge(\"key is 25165824 bytes; the limit is 1024\")";
    for (call, refusal) in [
        ("get", key_refused),
        (
            "set",
            "TooLarge(\"value is 25165824 bytes; the limit is 16777216\")",
        ),
        ("delete", key_refused),
        (
            "list",
            "TooLarge(\"prefix is 25165824 bytes; the limit is 1024\")",
        ),
        (
            "cursor",
            "TooLarge(\"cursor is 25165824 bytes; the limit is 1024\")",
        ),
    ] {
        let said = format!("{call}: Err(KvError::{refusal})");
        assert!(seen.contains(&said), "{said} not in {seen}");
    }
    assert!(
        largest < 4 << 20,
        "the host allocated {largest} bytes at once while refusing them"
    );
    // And it keeps serving.
    let id = good.create(CreateOptions::new("{}")).unwrap();
    assert!(good.load(&id).unwrap().is_some());
}
