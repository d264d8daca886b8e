//! The sandbox holds: hostile plugins (built from `guest/hostile`) get clear
//! errors, never reach what they were not granted, and never stop the host
//! from serving a well-behaved plugin.

use host_harness::{
    CallError, CreateOptions, EngineSettings, Harness, KvBackend, Limits, LoadOptions, ManualClock,
    MemoryBackend, Plugin, SessionError,
};
use session_tests::fixtures::{self, guest_bytes, guest_path, harness, load_into};
use sha2::{Digest, Sha256};
use std::net::TcpListener;
use std::sync::Arc;

fn hostile(h: &Harness, mode: &str, extra: &[(&str, &str)]) -> Plugin {
    hostile_with(h, mode, extra, Limits::default())
}

fn hostile_with(h: &Harness, mode: &str, extra: &[(&str, &str)], limits: Limits) -> Plugin {
    let mut options = LoadOptions::default()
        .name(format!("hostile-{mode}"))
        .limits(limits)
        .config("hostile.mode", mode);
    options = options.configs(extra.iter().copied());
    h.load_file(guest_path("hostile"), options)
        .unwrap_or_else(|e| panic!("loading hostile {mode}: {e}"))
}

/// `times` creates on `bad` each trap with a message naming the plugin and
/// saying `says`, and `good` serves after each.
fn creates_trap_saying(bad: &Plugin, good: &Plugin, times: usize, says: &str) {
    let name = bad.info().name.clone();
    for _ in 0..times {
        match bad.create(CreateOptions::new("{}")) {
            Err(e @ CallError::Trap { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&name), "{msg}");
                assert!(msg.contains(says), "{msg}");
            }
            other => panic!("expected a trap, got {other:?}"),
        }
        still_serving(good);
    }
}

/// The hostile plugin that allocates without end, under a 16 MiB memory
/// limit, after its first create was refused with the memory limit.
fn allocating_past_16_mib(h: &Harness) -> Plugin {
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let bad = hostile_with(h, "alloc", &[], limits);
    match bad.create(CreateOptions::new("{}")) {
        Err(e @ CallError::MemoryLimit { .. }) => {
            assert!(e.to_string().contains("16777216-byte memory limit"), "{e}");
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    bad
}

/// The host goes on serving a well-behaved plugin.
fn still_serving(good: &Plugin) {
    let id = good.create(CreateOptions::new(r#"{"ok":true}"#)).unwrap();
    assert_eq!(good.load(&id).unwrap().unwrap().data, r#"{"ok":true}"#);
}

/// The backend report a probing plugin sends back.
fn report(r: Result<String, CallError>) -> String {
    match r {
        Err(CallError::Session(SessionError::Backend(m))) => m,
        other => panic!("expected a report, got {other:?}"),
    }
}

#[test]
fn an_endless_loop_times_out_and_the_host_moves_on() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let limits = Limits {
        maintenance_deadline: std::time::Duration::from_millis(500),
        ..Limits::default()
    };
    let bad = hostile_with(&h, "loop", &[], limits);
    for _ in 0..2 {
        match bad.create(CreateOptions::new("{}")) {
            // The CPU deadline, or on a machine so loaded that the loop got
            // under a fifth of a core, the wall-time cap (which of the two
            // stops a call is shown by `state.rs`'s tests and starved.rs).
            Err(e @ CallError::Timeout { wall_time, .. }) => {
                let msg = e.to_string();
                let cause = match wall_time {
                    false => "used its 250ms CPU deadline",
                    true => "of wall time",
                };
                assert!(msg.contains("hostile-loop") && msg.contains(cause), "{msg}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        still_serving(&good);
    }
    assert_eq!(
        bad.stats().discarded,
        2,
        "a timed-out instance is never reused"
    );
    // count/purge get the longer maintenance deadline, and still stop.
    for (op, result) in [("count", bad.count()), ("purge", bad.purge_expired())] {
        match result {
            Err(e @ CallError::Timeout { deadline, .. }) => {
                assert_eq!(deadline, std::time::Duration::from_millis(500), "{op}: {e}");
            }
            other => panic!("{op}: expected a timeout, got {other:?}"),
        }
    }
}

#[test]
fn endless_allocation_hits_the_memory_limit() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let bad = allocating_past_16_mib(&h);
    still_serving(&good);
    assert!(matches!(bad.load("x"), Err(CallError::MemoryLimit { .. })));
}

#[test]
fn a_plugin_that_traps_in_every_call_is_contained() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let bad = hostile(&h, "trap", &[]);
    creates_trap_saying(&bad, &good, 3, "hostile plugin: trapping on purpose");
    assert!(matches!(bad.destroy("x"), Err(CallError::Trap { .. })));
    let stats = bad.stats();
    assert_eq!(stats.discarded, 4);
    assert_eq!(stats.idle, 0, "no instance that trapped is pooled");
}

/// A plugin whose `info` (called while loading it) traps or breaks the
/// contract does not load: a `Probe` error naming the plugin with the
/// call's own error inside, and the host serves on.
#[test]
fn a_plugin_failing_its_first_call_does_not_load() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    for (info, says) in [
        ("trap", "trapping in info on purpose"),
        ("liar", "info returned an empty name"),
    ] {
        let options = LoadOptions::default()
            .name("hostile-info")
            .config("hostile.info", info);
        let e = h
            .load_file(guest_path("hostile"), options)
            .map(|_| ())
            .expect_err(info);
        let msg = e.to_string();
        match &e {
            host_harness::LoadError::Probe { source, .. } => {
                assert!(source.is_plugin_fault(), "{info}: {source:?}");
            }
            other => panic!("{info}: expected a probe error, got {other:?}"),
        }
        assert!(msg.contains("hostile-info: failed its first call"), "{msg}");
        assert!(msg.contains(says), "{msg}");
        still_serving(&good);
    }
}

/// Set in the child process [`exit_is_a_trap_not_a_host_exit`] starts.
const EXIT_CHILD_VAR: &str = "SESSION_TESTS_EXIT_CHILD";

/// What that child prints once the guest's exit has come back as a trap.
const EXIT_SURVIVED: &str = "host survived the guest's exit(0)";

/// A guest's `exit(0)` must come back as a trap. Were it to exit the host,
/// it would exit this test process with status 0, which a test run counts
/// as a pass: so the calls run in a child process (this test binary again,
/// running only this test), which must finish and say it survived.
#[test]
fn exit_is_a_trap_not_a_host_exit() {
    if std::env::var_os(EXIT_CHILD_VAR).is_some() {
        let (h, _, _) = harness();
        let good = load_into(&h, "kv_session", &[]);
        let bad = hostile(&h, "exit", &[]);
        creates_trap_saying(&bad, &good, 2, "the guest called exit(0)");
        println!("{EXIT_SURVIVED}");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "exit_is_a_trap_not_a_host_exit",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EXIT_CHILD_VAR, "1")
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(EXIT_SURVIVED) && stdout.contains("1 passed"),
        "the child stopped before the end of the test (the guest's exit \
         exited the host?):\n{stdout}\n{stderr}"
    );
}

/// One create on `p`, on another thread so a call that is never stopped
/// fails the test (`never_stopped`) after `secs` instead of hanging it;
/// gives the answer and how long it took.
fn create_on_a_thread(
    p: &Plugin,
    secs: u64,
    never_stopped: &str,
) -> (Result<String, CallError>, std::time::Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = p.clone();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let _ = tx.send((p.create(CreateOptions::new("{}")), started.elapsed()));
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .expect(never_stopped)
}

/// A guest that loops on kv calls to a slow server uses little CPU, but its
/// wall time is capped at five deadlines: it is stopped, and the host
/// serves the next call at once.
#[test]
fn a_plugin_looping_on_a_slow_kv_is_stopped_at_five_deadlines() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let deadline = std::time::Duration::from_millis(100);
    let limits = Limits {
        call_deadline: deadline,
        ..Limits::default()
    };
    let bad = hostile_with(&h, "kv-loop", &[], limits);
    backend.delay_each_call(Some(std::time::Duration::from_millis(20)));
    let (answer, took) = create_on_a_thread(&bad, 30, "the loop on the kv was not stopped");
    backend.delay_each_call(None);
    match answer {
        Err(
            e @ CallError::Timeout {
                wall_time: true, ..
            },
        ) => {
            let msg = e.to_string();
            assert!(
                msg.contains("of wall time (5x its 100ms CPU deadline, mostly off the CPU"),
                "{msg}"
            );
        }
        other => panic!("expected a timeout on wall time, got {other:?}"),
    }
    // Not a timed figure: a stop at the CPU deadline would come after one
    // deadline, well before the cap, as the loop uses almost no CPU.
    assert!(took >= deadline * 4, "stopped after {took:?}");
    assert_eq!(bad.stats().discarded, 1);
    let good = load_into(&h, "kv_session", &[]);
    still_serving(&good);
}

/// A sleep is a host call that waits, which the per-call deadline (it only
/// interrupts running wasm) could not stop: blocking is not granted, so it
/// traps at once and the host keeps serving.
#[test]
fn a_sleeping_plugin_is_stopped_at_once() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let bad = hostile(&h, "sleep", &[]);
    let (answer, _) = create_on_a_thread(&bad, 20, "the sleep was not stopped");
    match answer {
        Err(e @ CallError::Trap { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("hostile-sleep"), "{msg}");
            assert!(msg.contains("blocking is not granted"), "{msg}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    still_serving(&good);
    assert_eq!(bad.stats().discarded, 1);
}

/// An error message is output too: a 10 MB one is cut to a few KB, keeping
/// its kind, and the instance serves on.
#[test]
fn an_enormous_error_message_is_cut() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let bad = hostile(&h, "loud", &[]);
    for _ in 0..2 {
        let message = report(bad.create(CreateOptions::new("{}")));
        assert!(
            message.len() <= host_harness::error::MAX_ERROR_MESSAGE_BYTES + 64,
            "{} bytes",
            message.len()
        );
        assert!(message.starts_with("éé"), "kept the start");
        assert!(
            message.ends_with("more bytes cut by the host)"),
            "says it was cut"
        );
        still_serving(&good);
    }
    assert_eq!(bad.stats().discarded, 0);
}

/// What a plugin says reaches the host's logs and terminals as text only: a
/// newline cannot start a forged log line, an escape sequence cannot
/// recolour or clear a terminal, a bidirectional override cannot reorder
/// what is shown. They arrive escaped, in its error messages and in the
/// stderr a trap is reported with; the rest of the text as it was.
#[test]
fn what_a_plugin_says_cannot_forge_log_lines_or_drive_a_terminal() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let said = "bad id\n2026-12-01 INFO login ok \u{1b}[2J \u{202e}Zoë";
    let shown = r"bad id\n2026-12-01 INFO login ok \u{1b}[2J \u{202e}Zoë";
    let bad = hostile(&h, "harmless", &[("hostile.message", said)]);
    match bad.create(CreateOptions::new("{}")) {
        Err(CallError::Session(SessionError::Unsupported(m))) => assert_eq!(m, shown),
        other => panic!("expected unsupported, got {other:?}"),
    }
    let logged = bad.load("x").unwrap_err().to_string();
    assert!(!logged.contains(['\n', '\u{1b}', '\u{202e}']), "{logged}");
    let trapping = hostile(&h, "trap", &[("hostile.message", said)]);
    // Its stderr's last lines are joined by a space; the rest is escaped.
    let says = r"hostile plugin: bad id 2026-12-01 INFO login ok \u{1b}[2J \u{202e}Zoë";
    creates_trap_saying(&trapping, &good, 1, says);
    let logged = trapping.load("x").unwrap_err().to_string();
    assert!(!logged.contains(['\n', '\u{1b}', '\u{202e}']), "{logged}");
    // Its name (`hostile-<mode>`) and version are its words too.
    let odd = hostile(&h, "odd\u{1b}[2J\nmode\u{2028}", &[]);
    assert_eq!(odd.info().name, r"hostile-odd\u{1b}[2J\nmode\u{2028}");
    // A long message is cut with its escapes counted, never inside one.
    let noisy = "\u{1b}".repeat(host_harness::error::MAX_ERROR_MESSAGE_BYTES);
    let bad = hostile(&h, "harmless", &[("hostile.message", &noisy)]);
    match bad.create(CreateOptions::new("{}")) {
        Err(CallError::Session(SessionError::Unsupported(m))) => {
            let max = host_harness::error::MAX_ERROR_MESSAGE_BYTES;
            let (kept, cut) = m.split_once('…').expect("says it was cut");
            assert!(kept.len() <= max && kept.len() > max - 6, "{}", kept.len());
            assert_eq!(kept.len() % 6, 0, "whole escapes only");
            assert!(kept.split("\\u{1b}").all(str::is_empty));
            let left = max - kept.len() / 6;
            assert_eq!(cut, format!(" ({left} more bytes cut by the host)"));
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
}

/// The harness's own kv namespaces (migration markers map old session ids to
/// live new ones) cannot be given to a plugin.
#[test]
fn the_harness_namespaces_are_reserved() {
    let (h, _, _) = harness();
    for ns in [
        host_harness::swap::MARKER_NAMESPACE,
        "session-harness/anything",
    ] {
        let e = h
            .load_file(
                guest_path("hostile"),
                LoadOptions::default().name("snooper").namespace(ns),
            )
            .unwrap_err();
        assert!(
            matches!(e, host_harness::LoadError::Config { .. })
                && e.to_string().contains("reserved"),
            "{e}"
        );
    }
}

#[test]
fn a_100_mb_output_is_refused() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    // Under the default 64 MiB memory limit the guest cannot even build it.
    let bad = hostile(&h, "huge", &[]);
    assert!(matches!(
        bad.create(CreateOptions::new("{}")),
        Err(CallError::MemoryLimit { .. })
    ));
    // With room to build it, it is more than one call may hand the host:
    // refused before it is copied.
    let roomy = Limits {
        memory_bytes: 512 * 1024 * 1024,
        // Building 300 MB takes the guest a while; the point here is the output.
        call_deadline: std::time::Duration::from_secs(10),
        ..Limits::default()
    };
    let copy_limit = roomy.copy_limit_bytes();
    assert_eq!(
        copy_limit,
        (16 << 20) + 1024 + (64 << 10),
        "the kv's value and key lead"
    );
    let bad = hostile_with(&h, "huge", &[], roomy.clone());
    for (op, answer) in [
        ("create", bad.create(CreateOptions::new("{}")).map(drop)),
        ("load", bad.load("x").map(drop)),
    ] {
        let e = answer.expect_err(op);
        assert!(
            matches!(&e, CallError::CopyLimit { op: seen, limit_bytes, .. }
                if *seen == op && *limit_bytes == copy_limit),
            "{op}: expected the copy limit, got {e:?}"
        );
        let said = format!("more than {copy_limit} bytes to the host at once");
        assert!(e.to_string().contains(&said), "{e}");
    }
    assert_eq!(bad.stats().idle, 0, "bloated instances are not pooled");
    // Within it, the output limits say what was too large, and by how much.
    let six_mib = (6 << 20).to_string();
    let bad = hostile_with(&h, "huge", &[("hostile.bytes", &six_mib)], roomy.clone());
    match bad.create(CreateOptions::new("{}")) {
        Err(e @ CallError::OutputTooLarge { what: "id", .. }) => {
            assert!(e.to_string().contains("6291456 bytes"), "{e}");
        }
        other => panic!("expected output-too-large, got {other:?}"),
    }
    // Three 6 MiB strings in one record are 18 MiB together: the limit
    // counts everything one call returns.
    assert!(matches!(
        bad.load("x"),
        Err(CallError::CopyLimit { op: "load", .. })
    ));
    // A host that lets its plugins return more lets them hand over more:
    // the same record passes the copy limit and is judged on its content.
    let generous = Limits {
        max_output_bytes: 32 << 20,
        max_id_bytes: 32 << 20,
        ..roomy
    };
    let bad = hostile_with(&h, "huge", &[("hostile.bytes", &six_mib)], generous);
    match bad.load("x") {
        Err(e @ CallError::Contract { .. }) => {
            assert!(e.to_string().contains("not a JSON object"), "{e}")
        }
        other => panic!("expected the record's content to be judged, got {other:?}"),
    }
    still_serving(&good);
}

#[test]
fn contract_breaking_answers_are_refused() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let bad = hostile(&h, "liar", &[]);
    let contract = |r: Result<String, CallError>, needle: &str| match r {
        Err(e @ CallError::Contract { .. }) => {
            assert!(e.to_string().contains(needle), "{e}")
        }
        other => panic!("expected a contract error ({needle}), got {other:?}"),
    };
    contract(bad.create(CreateOptions::new("{}")), "empty session id");
    contract(bad.update("x", "{}", None), "not allowed in a cookie");
    contract(
        bad.load("anything").map(|_| String::new()),
        "not allowed in a cookie",
    );
    contract(
        bad.load("array").map(|_| String::new()),
        "not a JSON object",
    );
    contract(bad.load("expired").map(|_| String::new()), "expired");
    assert!(matches!(
        bad.touch("x", None),
        Err(CallError::OutputTooLarge { what: "id", .. })
    ));
    still_serving(&good);
}

#[test]
fn files_are_out_of_reach() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    // `/etc/passwd` and `/proc/self/environ` exist on the host; the guest
    // gets no preopened directory, so every path is refused.
    assert!(std::path::Path::new("/etc/passwd").exists());
    let seen = report(hostile(&h, "fs", &[]).create(CreateOptions::new("{}")));
    assert!(!seen.contains("READ") && !seen.contains("WROTE"), "{seen}");
    assert_eq!(seen.matches("denied").count(), 6, "{seen}");
    still_serving(&good);
}

/// The host's standard input is not the guest's: a plugin reading it gets
/// an empty stream, not what the host process was given.
#[test]
fn standard_input_is_not_inherited() {
    use std::io::Write;
    let mut child = session_tests::fixtures::harness_cli()
        .args(["call", guest_path("hostile").to_str().unwrap()])
        .args(["--config", "hostile.mode=stdin", "create"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("session-harness runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"HOST-SECRET-ON-STDIN\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stdin: 0 bytes (end of input)"), "{err}");
    assert!(!err.contains("HOST-SECRET"), "{err}");
}

#[test]
fn environment_and_arguments_are_empty() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let seen = report(hostile(&h, "env", &[]).create(CreateOptions::new("{}")));
    assert!(std::env::var("HOME").is_ok() || std::env::var("PATH").is_ok());
    assert!(
        seen.starts_with("env vars: 0; args: 0; HOME visible: false"),
        "{seen}"
    );
    still_serving(&good);
}

/// A guest asking `wasi:random` for 1 MiB in one call would make the host
/// allocate and fill it (wasmtime's default allows 64 MiB a call): past
/// 4 KiB the call traps, saying why, and the host keeps serving.
#[test]
fn random_bytes_are_granted_in_small_amounts() {
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let bad = hostile(&h, "random", &[]);
    creates_trap_saying(&bad, &good, 2, "requested len 1048576 exceeds limit 4096");
    assert_eq!(bad.stats().discarded, 2);
    // Up to the limit, the bytes come.
    let modest = hostile(&h, "random", &[("hostile.random-bytes", "4096")]);
    assert_eq!(
        report(modest.create(CreateOptions::new("{}"))),
        "got 4096 random bytes"
    );
}

/// Without the pooling allocator (which caps memories and core instances
/// per component), the store's own limits still hold: the shipped stores
/// run, and endless allocation still ends at the memory limit.
#[test]
fn without_pooling_the_limits_still_hold() {
    let clock = ManualClock::new(fixtures::T0);
    let kv = Arc::new(MemoryBackend::new(Arc::new(clock.clone())));
    let h = Harness::builder()
        .clock(Arc::new(clock))
        .kv_backend(kv)
        .engine_settings(EngineSettings {
            pooling: false,
            ..EngineSettings::default()
        })
        .build()
        .unwrap();
    let good = load_into(&h, "kv_session", &[]);
    still_serving(&good);
    let cookie = load_into(&h, "cookie_session", &[("cookie.keys", fixtures::KEY_A)]);
    still_serving(&cookie);
    allocating_past_16_mib(&h);
    still_serving(&good);
}

#[test]
fn sockets_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (h, _, _) = harness();
    let seen =
        report(hostile(&h, "net", &[("hostile.port", &port)]).create(CreateOptions::new("{}")));
    // Both were tried and refused (not merely unseen).
    assert!(
        seen.starts_with("connect: denied") && seen.contains("lookup: denied"),
        "{seen}"
    );
    assert!(
        listener.accept().is_err(),
        "nothing reached the listener on port {port}"
    );
    still_serving(&load_into(&h, "kv_session", &[]));
}

#[test]
fn another_plugins_kv_namespace_is_invisible() {
    let (h, _, kv) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let id = good.create(CreateOptions::new(r#"{"secret":1}"#)).unwrap();
    assert!(
        !host_harness::KvBackend::list_keys(&*kv, "kv-session", "", None, 10)
            .unwrap()
            .keys
            .is_empty()
    );
    let before = kv.get("kv-session", &format!("s:{id}")).unwrap();
    assert!(before.is_some(), "kv-session keeps session {id} at s:<id>");
    let seen =
        report(hostile(&h, "snoop", &[("hostile.target", &id)]).create(CreateOptions::new("{}")));
    assert_eq!(
        seen,
        "keys visible: Ok(0); target visible: Ok(false); deleted: Ok(false); planted: Ok(true)"
    );
    // The owner's session is untouched: the delete found nothing, and the
    // write landed in the snooper's own namespace.
    assert_eq!(kv.get("kv-session", &format!("s:{id}")).unwrap(), before);
    assert_eq!(good.load(&id).unwrap().unwrap().data, r#"{"secret":1}"#);
    assert_eq!(
        kv.get("hostile-snoop", &format!("s:{id}")).unwrap(),
        Some(b"planted".to_vec())
    );
    still_serving(&good);
}

/// A component loaded from bytes without a name gets the namespace of its
/// whole SHA-256, so another component cannot be made to share it by
/// matching the few bytes of the hash its default name shows.
#[test]
fn bytes_loaded_without_a_name_get_a_namespace_of_their_whole_hash() {
    let (h, _, backend) = harness();
    let wasm = guest_bytes("kv_session");
    let plugin = h.load_bytes(&wasm, LoadOptions::default()).unwrap();
    let hash = Sha256::digest(&wasm);
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    assert_eq!(plugin.name(), format!("plugin-{}", hex(&hash[..4])));
    plugin.create(CreateOptions::new("{}")).unwrap();
    assert_eq!(backend.stored_entries(&format!("plugin-{}", hex(&hash))), 1);
    assert_eq!(backend.stored_entries(plugin.name()), 0);
}

#[test]
fn a_plugin_cannot_choose_its_own_namespace() {
    // The hostile plugin calls itself "hostile-snoop" in info, but its
    // namespace is what the host said: here, deliberately, kv-session's.
    let (h, _, _) = harness();
    let good = load_into(&h, "kv_session", &[]);
    let id = good.create(CreateOptions::new("{}")).unwrap();
    let shared = h
        .load_file(
            guest_path("hostile"),
            LoadOptions::default()
                .namespace("kv-session")
                .config("hostile.mode", "snoop")
                .config("hostile.target", &id),
        )
        .unwrap();
    let seen = report(shared.create(CreateOptions::new("{}")));
    assert_eq!(
        seen, "keys visible: Ok(1); target visible: Ok(true); deleted: Ok(true); planted: Ok(true)",
        "the host decides"
    );
    // Given kv-session's namespace, it could (and did) replace the record,
    // which kv-session then reads as the corrupt record it is.
    let after = good.load(&id);
    assert!(
        matches!(&after, Err(CallError::Session(SessionError::Backend(m))) if m.contains("stored session is corrupt")),
        "{after:?}"
    );
}

/// A plugin cannot fill the host's memory through its kv: past its
/// namespace's quota, writes are refused (kv `too-large`, which kv-session
/// reports as a `backend` error: the data is fine, the store is full), and
/// other plugins' namespaces are untouched.
#[test]
fn a_plugin_cannot_pass_its_kv_quota() {
    let h = session_tests::fixtures::harness_with_kv_quota(64 * 1024);
    let greedy = h
        .load_file(
            guest_path("kv_session"),
            LoadOptions::default().namespace("greedy"),
        )
        .unwrap();
    let data = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4000));
    let mut created = 0;
    let e = loop {
        match greedy.create(CreateOptions::new(data.clone())) {
            Ok(_) => created += 1,
            Err(e) => break e,
        }
        assert!(created < 100, "the quota never applied");
    };
    assert!((10..=16).contains(&created), "{created}");
    assert!(
        matches!(&e, CallError::Session(SessionError::Backend(m)) if m.contains("quota")),
        "{e}"
    );
    let other = h
        .load_file(
            guest_path("kv_session"),
            LoadOptions::default().namespace("other"),
        )
        .unwrap();
    still_serving(&other);
}

/// The CPU deadline is for the guest's own work: the time a call waits on a
/// slow kv server uses no CPU (its wall time is capped at 5 deadlines), so a
/// slow server makes calls slow rather than timeouts blamed on the plugin
/// (which would also discard the instance mid-regenerate).
#[test]
fn waiting_on_a_slow_kv_server_does_not_use_up_the_deadline() {
    let (h, backend) = session_tests::faulty::harness_with_faulty_kv();
    let limits = Limits {
        call_deadline: std::time::Duration::from_secs(1),
        ..Limits::default()
    };
    let p = h
        .load_file(
            guest_path("kv_session"),
            LoadOptions::default().limits(limits),
        )
        .unwrap();
    let id = p.create(CreateOptions::new(r#"{"a":1}"#)).unwrap();
    // regenerate reads, writes and deletes: 3 x 700 ms against 1 s, while
    // the guest's own work is microseconds (so a loaded machine's delays
    // stay far from the deadline).
    backend.delay_each_call(Some(std::time::Duration::from_millis(700)));
    let new = p.regenerate(&id).expect("slow, not a timeout");
    backend.delay_each_call(None);
    assert_eq!(p.load(&new).unwrap().unwrap().data, r#"{"a":1}"#);
    assert_eq!(p.load(&id).unwrap(), None);
    assert_eq!(p.stats().discarded, 0);
}

/// A caller's input larger than anything a plugin may hand back on this host
/// (tens of megabytes in a hostile request's cookie or body) is refused by
/// the host with the store's own answer, before it is copied in: it once
/// reached the guest, hit the instance's memory limit and was reported as
/// the plugin's fault, its instance discarded. An input at the limit still
/// reaches the store.
#[test]
fn inputs_no_plugin_could_hand_back_are_refused_before_the_copy() {
    let (h, _, _) = harness();
    let kv = load_into(&h, "kv_session", &[]);
    let cookie = load_into(&h, "cookie_session", &[("cookie.keys", fixtures::KEY_A)]);
    let huge = "A".repeat(70 << 20);
    let huge_data = format!("{{\"k\":\"{}\"}}", &huge[..(70 << 20) - 8]);
    let max_id = Limits::default().max_id_bytes;
    for p in [&kv, &cookie] {
        let invalid_id = |r: Result<(), CallError>, op: &str| match r {
            Err(CallError::Session(SessionError::InvalidId(why))) => {
                assert!(why.contains("not passed to the plugin"), "{op}: {why}")
            }
            other => panic!("{}: {op}: {other:?}", p.name()),
        };
        invalid_id(p.load(&huge).map(drop), "load");
        invalid_id(p.update(&huge, "{}", None).map(drop), "update");
        invalid_id(p.touch(&huge, None).map(drop), "touch");
        invalid_id(p.regenerate(&huge).map(drop), "regenerate");
        invalid_id(p.destroy(&huge), "destroy");
        let import = CreateOptions::new("{}").with_id(huge.clone());
        invalid_id(p.create(import).map(drop), "create with an id to import");
        for options in [
            CreateOptions::new(huge_data.clone()),
            CreateOptions::new("{}").user(huge.clone()),
        ] {
            match p.create(options) {
                Err(CallError::Session(SessionError::TooLarge(why))) => {
                    assert!(why.contains("could never be loaded"), "{why}")
                }
                other => panic!("{}: create: {other:?}", p.name()),
            }
        }
        // At the limit the store answers for itself.
        match p.load(&"A".repeat(max_id)) {
            Err(CallError::Session(SessionError::InvalidId(why))) => {
                assert!(!why.contains("not passed to the plugin"), "{why}")
            }
            other => panic!("{}: load at the limit: {other:?}", p.name()),
        }
        let id = p.create(CreateOptions::new("{}")).unwrap();
        assert!(p.load(&id).unwrap().is_some());
        assert_eq!(p.stats().discarded, 0, "{}: {:?}", p.name(), p.stats());
    }
}
