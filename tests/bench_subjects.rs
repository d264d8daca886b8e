//! The benchmark subjects refuse to report the speed of calls that failed:
//! a plugin answering errors (or a session that is not there) would
//! otherwise show up as a speed-up.

use host_harness::CreateOptions;
use host_harness::bench::peers::PeerFormat;
use host_harness::bench::subjects::{
    CookieJarSubject, MemoryStoreSubject, PluginSubject, Threaded,
};
use host_harness::bench::{Op, Subject};
use session_tests::fixtures::{KEY_A, harness, load_into};

#[test]
fn a_working_store_is_timed() {
    let (h, _, _) = harness();
    let kv = load_into(&h, "kv_session", &[]);
    let mut subject = PluginSubject::new(kv, "{}".to_string(), "kv-session");
    for op in Op::ALL {
        subject.run(op, 3).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
}

/// Every subject, ours and the peers, runs every operation over more than
/// one untimed batch of prepared inputs (16), and a server-side create run
/// leaves no session behind.
#[test]
fn every_subject_runs_every_operation_over_several_input_batches() {
    let (h, _, _) = harness();
    let kv = load_into(&h, "kv_session", &[]);
    let cookie = load_into(&h, "cookie_session", &[("cookie.keys", KEY_A)]);
    let data = r#"{"a":"b"}"#;
    let mut subjects: Vec<Box<dyn Subject>> = vec![
        Box::new(PluginSubject::new(
            kv.clone(),
            data.to_string(),
            "kv-session",
        )),
        Box::new(PluginSubject::new(
            cookie,
            data.to_string(),
            "cookie-session",
        )),
        Box::new(MemoryStoreSubject::new(data)),
        Box::new(CookieJarSubject::new(&[7; 32], true, data)),
        Box::new(CookieJarSubject::new(&[7; 32], false, data)),
        Box::new(CookieJarSubject::with_format(
            &[7; 32],
            true,
            data,
            PeerFormat::SameBytes,
        )),
        Box::new(CookieJarSubject::with_format(
            &[7; 32],
            false,
            data,
            PeerFormat::SameBytes,
        )),
    ];
    for subject in &mut subjects {
        for op in Op::ALL {
            subject
                .run(op, 37)
                .unwrap_or_else(|e| panic!("{} {op:?}: {e}", subject.label()));
        }
    }
    assert_eq!(
        kv_ids(&h).len(),
        1,
        "only the subject's own session is left"
    );
}

#[test]
fn failed_calls_are_an_error_not_a_time() {
    let (h, _, _) = harness();
    let kv = load_into(&h, "kv_session", &[]);
    let mut subject = PluginSubject::new(kv.clone(), "{}".to_string(), "kv-session");
    // Every session of this plugin ends: the subject's own too.
    for id in kv_ids(&h) {
        kv.destroy(&id).unwrap();
    }
    for op in [Op::Load, Op::Update, Op::Touch] {
        let e = subject.run(op, 5).expect_err("the session is gone");
        assert_eq!((e.failed, e.calls, e.op), (5, 5, op.name()), "{e}");
        assert_eq!(e.subject, "kv-session");
    }
    let e = subject.run(Op::Load, 1).unwrap_err();
    assert!(e.to_string().contains("loads as none"), "{e}");
    let e = subject.run(Op::Update, 1).unwrap_err();
    assert!(e.to_string().contains("no live session"), "{e}");
}

#[test]
fn a_store_that_traps_is_an_error_not_a_time() {
    let (h, _, _) = harness();
    let hostile = load_into(&h, "hostile", &[("hostile.mode", "trap-on-update")]);
    let mut subject = PluginSubject::new(hostile, "{}".to_string(), "hostile");
    subject.run(Op::Load, 2).unwrap();
    let e = subject.run(Op::Update, 2).unwrap_err();
    assert_eq!(e.failed, 2);
    assert!(e.to_string().contains("trap"), "{e}");
}

#[test]
fn threaded_loads_report_failures_from_every_thread() {
    let (h, _, _) = harness();
    let cookie = load_into(&h, "cookie_session", &[("cookie.keys", KEY_A)]);
    let id = cookie.create(CreateOptions::new("{}")).unwrap();
    let mut ok = Threaded::load(&cookie, &id, 2);
    ok.run(Op::Load, 10).unwrap();
    let mut bad = Threaded::load(&cookie, "v1.p.not-a-seal", 2);
    let e = bad.run(Op::Load, 10).unwrap_err();
    assert_eq!((e.failed, e.calls), (10, 10), "{e}");
    assert!(e.to_string().contains("invalid session id"), "{e}");
}

/// Threaded updates, each thread on its own session: timed while the
/// sessions live, an error once they are gone.
#[test]
fn threaded_updates_report_failures_from_every_thread() {
    let (h, _, _) = harness();
    let kv = load_into(&h, "kv_session", &[]);
    let mut ok = Threaded::update(&kv, "{}", 2).unwrap();
    ok.run(Op::Update, 10).unwrap();
    let ids = kv_ids(&h);
    assert_eq!(ids.len(), 2, "one session per thread");
    for id in ids {
        kv.destroy(&id).unwrap();
    }
    let e = ok.run(Op::Update, 10).unwrap_err();
    assert_eq!((e.failed, e.calls), (10, 10), "{e}");
}

/// The ids of every session kv-session holds in the harness kv.
fn kv_ids(h: &host_harness::Harness) -> Vec<String> {
    h.kv_backend()
        .list_keys("kv-session", "s:", None, 1000)
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.trim_start_matches("s:").to_string())
        .collect()
}
