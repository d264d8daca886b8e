//! A call kept off the CPU past its deadline is not a timeout: the per-call
//! deadline is the CPU time of the guest's own work, not the wall clock, so
//! a correct call on a machine short of cores is slow, not failed (and its
//! instance is not discarded). A test binary of its own: it crowds one core
//! on purpose, which would slow the tests beside it.

use host_harness::{CallError, CreateOptions, Limits, LoadOptions, Plugin, SessionError};
use session_tests::fixtures::{guest_path, harness};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The hostile plugin spinning `iterations` times in every call.
fn spinner(h: &host_harness::Harness, iterations: u64, deadline: Duration) -> Plugin {
    let options = LoadOptions::default()
        .name("hostile-spin")
        .limits(Limits {
            call_deadline: deadline,
            ..Limits::default()
        })
        .config("hostile.mode", "spin")
        .config("hostile.spin-iterations", iterations.to_string());
    h.load_file(guest_path("hostile"), options)
        .unwrap_or_else(|e| panic!("loading hostile spin: {e}"))
}

/// The CPU time one create on `p` takes on this thread (whatever else runs
/// on the machine meanwhile), and whether it spun to the end.
fn spin_cpu(p: &Plugin) -> (Duration, Result<(), CallError>) {
    let started = cpu_time::ThreadTime::now();
    let (_, answer) = spin_once(p);
    (started.elapsed(), answer)
}

/// Runs `f` while fifteen threads spin on `core` (the caller's own).
fn crowded<T>(core: core_affinity::CoreId, f: impl FnOnce() -> T) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let crowd: Vec<_> = (0..15)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                core_affinity::set_for_current(core);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let answer = f();
    stop.store(true, Ordering::Relaxed);
    for t in crowd {
        t.join().unwrap();
    }
    answer
}

/// One create on `p`: its wall time, and whether it spun to the end.
fn spin_once(p: &Plugin) -> (Duration, Result<(), CallError>) {
    let started = Instant::now();
    let answer = match p.create(CreateOptions::new("{}")) {
        Err(CallError::Session(SessionError::Backend(m))) if m.starts_with("SPUN") => Ok(()),
        Err(e) => Err(e),
        Ok(id) => panic!("the spinner created {id:?}"),
    };
    (started.elapsed(), answer)
}

#[test]
fn a_call_kept_off_the_cpu_past_its_deadline_is_not_a_timeout() {
    let core = core_affinity::get_core_ids().expect("the cores this test may use")[0];
    assert!(
        core_affinity::set_for_current(core),
        "pinning the test thread"
    );
    let (h, _, _) = harness();
    let deadline = Duration::from_millis(250);
    // Iterations that take about 30 ms of CPU (an eighth of the deadline),
    // measured in this thread's CPU time: a machine busy with other work
    // while this calibrates does not shrink the work.
    let mut iterations = 1 << 20;
    let alone = loop {
        let (took, answer) = spin_cpu(&spinner(&h, iterations, deadline));
        answer.expect("a short spin ends");
        if took >= Duration::from_millis(10) {
            break took;
        }
        iterations *= 2;
    };
    let iterations = (iterations as f64 * 30e-3 / alone.as_secs_f64()) as u64;
    let p = spinner(&h, iterations, deadline);
    let (took, answer) = spin_cpu(&p);
    answer.expect("the calibrated spin ends alone");
    assert!(took < deadline / 2, "alone, the spin took {took:?} of CPU");

    // Fifteen threads spinning on the same core: the call gets about a
    // sixteenth of it, so its 30 ms of work takes about 480 ms, past the
    // deadline (and within the cap of five deadlines of wall time). Every
    // call must succeed; one the crowd did not hold past the deadline (the
    // scheduler gave it more than its share) shows nothing, and the crowd
    // tries again, up to three times.
    let mut held = Vec::new();
    for _ in 0..3 {
        let (took, answer) = crowded(core, || spin_once(&p));
        answer.unwrap_or_else(|e| panic!("a call of 30 ms of work that took {took:?}: {e}"));
        held.push(took);
        if took > deadline {
            break;
        }
    }
    assert!(
        held.iter().any(|took| *took > deadline),
        "the crowd never held the call past its deadline ({held:?}), so this test showed nothing"
    );
    assert_eq!(p.stats().discarded, 0);
}
