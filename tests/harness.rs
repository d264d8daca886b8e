//! The harness as a host author uses it: loading errors that say what is
//! wrong, the disk cache, a handle shared across threads.

use host_harness::ManualClock;
use host_harness::{CacheOutcome, CreateOptions, Harness, LoadError, LoadOptions, Plugin};
use session_tests::faulty::FaultyBackend;
use session_tests::fixtures::{T0, guest_bytes, guest_path, harness};
use std::sync::Arc;

#[test]
fn a_missing_file_is_an_io_error_naming_the_path() {
    let (h, _, _) = harness();
    let e = h
        .load_file("/definitely/not/here.wasm", LoadOptions::default())
        .unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("/definitely/not/here.wasm"), "{e}");
}

#[test]
fn non_wasm_core_modules_and_broken_components_are_told_apart() {
    let (h, _, _) = harness();
    let named = |n: &str| LoadOptions::default().name(n);
    let e = h.load_bytes(b"hello world", named("text")).unwrap_err();
    assert!(matches!(e, LoadError::NotWasm { .. }), "{e:?}");
    assert!(
        e.to_string().contains("text"),
        "the message names the plugin: {e}"
    );
    // The smallest core module: magic + version 1.
    let e = h.load_bytes(b"\0asm\x01\0\0\0", named("core")).unwrap_err();
    assert!(matches!(e, LoadError::NotAComponent { .. }), "{e:?}");
    assert!(e.to_string().contains("core"), "names the plugin: {e}");
    // A component header followed by garbage.
    let mut broken = guest_bytes("kv_session");
    broken.truncate(broken.len() / 2);
    let e = h.load_bytes(&broken, named("half")).unwrap_err();
    assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
    assert!(e.to_string().contains("half"), "names the plugin: {e}");
}

#[test]
fn a_component_of_another_world_is_refused() {
    let (h, _, _) = harness();
    // An empty component: valid, imports nothing, exports nothing.
    let empty = b"\0asm\x0d\0\x01\0";
    let e = h
        .load_bytes(empty, LoadOptions::default().name("empty"))
        .unwrap_err();
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e:?}");
    assert!(e.to_string().contains("session-plugin"), "{e}");
    assert!(e.to_string().contains("empty"), "names the plugin: {e}");
}

/// A hand-assembled component that imports an instance `foo:bar/baz`
/// exporting one function `f: func()`, which this host does not provide.
fn component_importing_foo_bar_baz() -> Vec<u8> {
    component_importing(b"foo:bar/baz")
}

/// [`component_importing_foo_bar_baz`] with the import called `name`.
fn component_importing(name: &[u8]) -> Vec<u8> {
    let mut c = b"\0asm\x0d\0\x01\0".to_vec();
    // Type section (7): one instance type declaring `type 0 = func()` and
    // exporting `f` of that type.
    let instance = [
        0x42, 0x02, // instance type, 2 declarations
        0x01, 0x40, 0x00, 0x01, 0x00, // type: func, no params, no result
        0x04, 0x00, 0x01, b'f', 0x01, 0x00, // export "f": func of type 0
    ];
    c.extend_from_slice(&[0x07, instance.len() as u8 + 1, 0x01]);
    c.extend_from_slice(&instance);
    // Import section (10): `name` of instance type 0.
    let mut body = vec![0x01, 0x00];
    leb128(&mut body, name.len());
    body.extend_from_slice(name);
    body.extend_from_slice(&[0x05, 0x00]);
    c.push(0x0a);
    leb128(&mut c, body.len());
    c.extend_from_slice(&body);
    c
}

/// Appends `n` as an unsigned LEB128 (how WebAssembly writes lengths).
fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Reads an unsigned LEB128 at `*pos`, moving past it.
fn read_leb128(bytes: &[u8], pos: &mut usize) -> usize {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let b = bytes[*pos];
        *pos += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// The sections of a WebAssembly binary (after its 8-byte header): id and
/// payload range.
fn sections(bytes: &[u8]) -> Vec<(u8, std::ops::Range<usize>)> {
    let mut pos = 8;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let id = bytes[pos];
        pos += 1;
        let len = read_leb128(bytes, &mut pos);
        out.push((id, pos..pos + len));
        pos += len;
    }
    out
}

/// `component` with the first memory its core modules define shrunk to one
/// page (its LEB128 rewritten in as many bytes, so no length changes): the
/// module's data segments, placed past its stack, no longer fit, and every
/// instantiation traps.
fn with_memory_of_one_page(component: &[u8]) -> Vec<u8> {
    let mut out = component.to_vec();
    for (id, module) in sections(component) {
        if id != 1 {
            continue; // not a core module
        }
        let m = &component[module.clone()];
        let Some((_, memory)) = sections(m).into_iter().find(|(id, _)| *id == 5) else {
            continue;
        };
        let mut pos = memory.start;
        assert!(
            read_leb128(m, &mut pos) >= 1,
            "a memory section with no memory"
        );
        pos += 1; // the limits' flags
        let start = pos;
        assert!(
            read_leb128(m, &mut pos) > 1,
            "the memory is one page already"
        );
        let at = module.start + start;
        let len = pos - start;
        for (i, byte) in out[at..at + len].iter_mut().enumerate() {
            *byte = match (i, len) {
                (0, 1) => 0x01,
                (0, _) => 0x81,
                (i, len) if i == len - 1 => 0x00,
                _ => 0x80,
            };
        }
        return out;
    }
    panic!("no core module defines a memory");
}

/// A plugin that traps as an instance of it is made (here a data segment
/// past its memory) is the plugin's fault, like a trap in a call: the load
/// fails with a probe error holding a `Trap` in `instantiate`, not the
/// host's "no instance slot free" (which a host would retry, and a swap
/// would not count against the plugin).
#[test]
fn a_plugin_that_traps_while_instantiated_is_at_fault() {
    let (h, _, _) = harness();
    let broken = with_memory_of_one_page(&guest_bytes("kv_session"));
    let e = h
        .load_bytes(&broken, LoadOptions::default().name("short-memory"))
        .map(|_| ())
        .unwrap_err();
    let LoadError::Probe { source, .. } = &e else {
        panic!("expected a probe error, got {e:?}");
    };
    assert!(
        matches!(
            **source,
            host_harness::CallError::Trap {
                op: "instantiate",
                ..
            }
        ),
        "{source:?}"
    );
    assert!(e.to_string().contains("short-memory"), "{e}");
    // The unpatched plugin loads and serves.
    let good = h
        .load_bytes(&guest_bytes("kv_session"), LoadOptions::default())
        .unwrap();
    assert!(good.count().is_ok());
}

/// With every instance slot taken (one slot here), an instance another
/// plugin holds idle gives way: idle instances once kept a plugin with
/// calls to serve from being served, however long they sat unused. One in
/// a call does not: a new instance is then `Instantiate`, the host's
/// capacity, not a fault of the plugin.
#[test]
fn idle_instances_give_their_slot_way_and_busy_ones_do_not() {
    let clock = ManualClock::new(T0);
    let kv = Arc::new(FaultyBackend::new(&clock));
    let h = Harness::builder()
        .clock(Arc::new(clock))
        .kv_backend(kv.clone())
        .engine_settings(host_harness::EngineSettings {
            max_instances: 1,
            ..host_harness::EngineSettings::default()
        })
        .build()
        .unwrap();
    // A held call may be kept waiting well past the 1.25 s of wall time the
    // default deadline allows, on a loaded machine.
    let patient = host_harness::Limits {
        call_deadline: std::time::Duration::from_secs(10),
        ..host_harness::Limits::default()
    };
    let load = |name: &str| {
        let options = LoadOptions::default().name(name).limits(patient.clone());
        h.load_bytes(&guest_bytes("kv_session"), options)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let idle = |p: &Plugin| p.stats().idle;
    let first = load("first");
    assert_eq!(idle(&first), 1, "its probe's instance, kept");
    // The second's probe takes the slot of the first's idle instance.
    let second = load("second");
    assert_eq!((idle(&first), idle(&second)), (0, 1));
    let id = first.create(CreateOptions::new("{}")).unwrap();
    assert_eq!((idle(&first), idle(&second)), (1, 0));
    // The first's instance in a call (held in the kv): nothing to give way.
    let held = kv.hold_next_if_present();
    let call = {
        let (first, id) = (first.clone(), id.clone());
        std::thread::spawn(move || first.update(&id, "{\"a\":1}", None))
    };
    let call = held.wait_entered(call, "update");
    let e = second.count().unwrap_err();
    assert!(
        matches!(e, host_harness::CallError::Instantiate { .. }),
        "{e:?}"
    );
    assert!(!e.to_string().is_empty());
    drop(held.release);
    call.join().unwrap().expect("the held call ends well");
    // Once it is idle again, it gives way.
    assert_eq!(second.count().unwrap(), 0, "its own namespace holds none");
    assert_eq!(first.load(&id).unwrap().unwrap().data, "{\"a\":1}");
}

/// What wasmtime says of a component it refuses can quote names the file
/// chose: they reach the error with their control characters escaped, so
/// a file cannot forge a line in a host's log.
#[test]
fn a_refused_component_cannot_forge_a_line_in_the_error() {
    let (h, _, _) = harness();
    let forged = b"foo:bar/baz\n\x1b[31mERROR plugin loaded as root\x1b[0m\r\xe2\x80\xae";
    let e = h
        .load_bytes(
            &component_importing(forged),
            LoadOptions::default().name("forger"),
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
    assert!(msg.contains("forger"), "{msg}");
    assert!(
        !msg.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{msg:?}"
    );
    assert!(msg.contains("ERROR plugin loaded as root"), "{msg}");
    // A long name (wasmparser takes up to 100,000 bytes) is cut.
    let long = [b"foo:bar/".as_slice(), &[b'\n'; 90_000]].concat();
    let e = h
        .load_bytes(
            &component_importing(&long),
            LoadOptions::default().name("long"),
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.len() < 5000, "{} bytes", msg.len());
    assert!(msg.contains("more bytes cut by the host"), "{msg}");
}

#[test]
fn an_import_the_host_does_not_grant_is_named() {
    let (h, _, _) = harness();
    let e = h
        .load_bytes(
            &component_importing_foo_bar_baz(),
            LoadOptions::default().name("greedy"),
        )
        .unwrap_err();
    assert!(matches!(e, LoadError::MissingImport { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("greedy") && msg.contains("foo:bar/baz"),
        "{msg}"
    );
}

#[test]
fn plugin_names_come_from_the_file_or_the_options() {
    let (h, _, _) = harness();
    let p = h
        .load_file(guest_path("kv_session"), LoadOptions::default())
        .unwrap();
    assert_eq!(p.name(), "kv-session");
    assert_eq!(p.info().name, "kv-session");
    let p = h
        .load_bytes(
            &guest_bytes("kv_session"),
            LoadOptions::default().name("mine"),
        )
        .unwrap();
    assert_eq!(p.name(), "mine");
}

#[test]
fn the_disk_cache_serves_the_second_load() {
    let dir = session_tests::fixtures::scratch_cache_dir("cache-test");
    let _ = std::fs::remove_dir_all(&dir);
    let h = Harness::builder().cache_dir(&dir).build().unwrap();
    let wasm = guest_bytes("kv_session");
    let (_, first) = h
        .load_bytes_with_report(&wasm, LoadOptions::default())
        .unwrap();
    assert_eq!(first.cache, CacheOutcome::Stored);
    let (p, second) = h
        .load_bytes_with_report(&wasm, LoadOptions::default())
        .unwrap();
    assert_eq!(second.cache, CacheOutcome::Hit);
    p.create(CreateOptions::new("{}")).unwrap();
    // A corrupted entry is detected, replaced, and never executed.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    let (p, third) = h
        .load_bytes_with_report(&wasm, LoadOptions::default())
        .unwrap();
    assert!(
        matches!(third.cache, CacheOutcome::Replaced(_)),
        "{third:?}"
    );
    p.create(CreateOptions::new("{}")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An entry copied under another wasm's entry name (a restore or sync
/// mistake) is not loaded as that wasm: its digest covers its key.
#[test]
fn a_cache_entry_under_another_name_is_replaced_not_run() {
    let dir = session_tests::fixtures::scratch_cache_dir("cache-swap-test");
    let _ = std::fs::remove_dir_all(&dir);
    let h = Harness::builder().cache_dir(&dir).build().unwrap();
    let entries = || -> std::collections::BTreeSet<_> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    h.load_bytes_with_report(&guest_bytes("kv_session"), LoadOptions::default())
        .unwrap();
    let kv_entry = entries().into_iter().next().unwrap();
    let cookie = guest_bytes("cookie_session");
    h.load_bytes_with_report(&cookie, LoadOptions::default())
        .unwrap();
    let cookie_entry = entries().into_iter().find(|p| *p != kv_entry).unwrap();
    std::fs::copy(&kv_entry, &cookie_entry).unwrap();
    let (p, report) = h
        .load_bytes_with_report(&cookie, LoadOptions::default())
        .unwrap();
    assert!(
        matches!(report.cache, CacheOutcome::Replaced(_)),
        "{report:?}"
    );
    assert_eq!(p.info().name, "cookie-session");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_handle_serves_many_threads() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Plugin>();
    let (h, _, _) = harness();
    let p = Arc::new(session_tests::fixtures::load_into(&h, "kv_session", &[]));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let data = format!(r#"{{"t":{t},"i":{i}}}"#);
                    let id = p.create(CreateOptions::new(data.clone())).unwrap();
                    assert_eq!(p.load(&id).unwrap().unwrap().data, data);
                    p.destroy(&id).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(p.count().unwrap(), 0);
    let stats = p.stats();
    assert!(
        stats.instantiations >= 1 && stats.instantiations <= 5,
        "{stats:?}"
    );
    assert_eq!(stats.discarded, 0);
}

#[test]
fn data_helpers_build_json_objects() {
    assert_eq!(host_harness::empty_data_json(), "{}");
    let (h, _, _) = harness();
    let p = session_tests::fixtures::load_into(&h, "kv_session", &[]);
    let data = host_harness::encode_data_map([("quote", "\"hi\""), ("nl", "a\nb")]);
    let id = p.create(CreateOptions::new(data.clone())).unwrap();
    assert_eq!(p.load(&id).unwrap().unwrap().data, data);
}

#[test]
fn settings_beyond_the_output_limits_are_refused_at_load() {
    let (h, _, _) = harness();
    let e = h
        .load_file(
            guest_path("kv_session"),
            LoadOptions::default().config("session.max-data-bytes", "2000000"),
        )
        .unwrap_err();
    assert!(matches!(e, LoadError::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("max_output_bytes"), "{e}");
    let e = h
        .load_file(
            guest_path("cookie_session"),
            LoadOptions::default()
                .config("cookie.keys", session_tests::fixtures::KEY_A)
                .config("cookie.max-bytes", "60000"),
        )
        .unwrap_err();
    assert!(e.to_string().contains("cookie.max-bytes"), "{e}");
    // Raising the host limit makes room.
    let roomy = host_harness::Limits {
        max_output_bytes: 4 << 20,
        ..Default::default()
    };
    h.load_file(
        guest_path("kv_session"),
        LoadOptions::default()
            .config("session.max-data-bytes", "2000000")
            .limits(roomy),
    )
    .unwrap();
}

/// A server-side store keeps each session in one kv value (16 MiB at most):
/// a `session.max-data-bytes` beyond it is refused at load. Before, a host
/// that had raised `max_output_bytes` loaded it, and a large `create` that
/// the store accepted failed at the kv as a `backend` error, which reads as
/// a passing fault, not as a session that can never be stored.
#[test]
fn a_data_limit_beyond_one_kv_value_is_refused_at_load() {
    let (h, _, _) = harness();
    let roomy = host_harness::Limits {
        max_output_bytes: 64 << 20,
        ..Default::default()
    };
    let kv = |bytes: u64| {
        h.load_file(
            guest_path("kv_session"),
            LoadOptions::default()
                .config("session.max-data-bytes", bytes.to_string())
                .limits(roomy.clone()),
        )
    };
    let e = kv(32 << 20).unwrap_err();
    assert!(matches!(e, LoadError::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("can keep in one kv value"), "{e}");
    assert!(
        !e.to_string().contains("  "),
        "one line, no runs of spaces: {e}"
    );
    let room = (16 << 20) - 4096;
    assert!(kv(room + 1).is_err());
    let p = kv(room).unwrap();
    // What the limit lets through is kept, with a user id of the most bytes.
    let data = format!(r#"{{"x":"{}"}}"#, "y".repeat(room as usize - 8));
    let id = p
        .create(CreateOptions::new(data.clone()).user("u".repeat(1024)))
        .unwrap();
    assert_eq!(p.load(&id).unwrap().unwrap().data.len(), data.len());
    // A stateless store keeps nothing in the kv: its seal limits it.
    h.load_file(
        guest_path("cookie_session"),
        LoadOptions::default()
            .config("cookie.keys", session_tests::fixtures::KEY_A)
            .config("session.max-data-bytes", (32u64 << 20).to_string())
            .limits(roomy),
    )
    .unwrap();
}

/// A host whose `max_id_bytes` is below a cookie's 4 KiB must say how long
/// a stateless store's seals may grow: without `cookie.max-bytes` the load
/// is refused (it once loaded, and every seal past the limit then failed as
/// the plugin's `OutputTooLarge`). A server-side store's ids are its own.
#[test]
fn a_default_seal_longer_than_the_id_limit_is_refused_at_load() {
    let (h, _, _) = harness();
    let small = host_harness::Limits {
        max_id_bytes: 1000,
        ..Default::default()
    };
    let cookie = |extra: &[(&str, &str)]| {
        h.load_file(
            guest_path("cookie_session"),
            LoadOptions::default()
                .config("cookie.keys", session_tests::fixtures::KEY_A)
                .configs(extra.iter().copied())
                .limits(small.clone()),
        )
    };
    let e = cookie(&[]).unwrap_err();
    assert!(matches!(e, LoadError::Config { .. }), "{e:?}");
    let shown = e.to_string();
    assert!(
        shown.contains("4093 bytes") && shown.contains("max_id_bytes (1000 bytes)"),
        "{shown}"
    );
    let e = cookie(&[("cookie.name", "sid")]).unwrap_err();
    assert!(e.to_string().contains("4092 bytes"), "{e}");
    let p = cookie(&[("cookie.max-bytes", "1000")]).unwrap();
    let seal = p.create(CreateOptions::new("{}")).unwrap();
    assert!(p.load(&seal).unwrap().is_some());
    h.load_file(
        guest_path("kv_session"),
        LoadOptions::default().limits(small.clone()),
    )
    .unwrap();
}

/// A host that logs its load options (`{:?}`) does not log its cookie keys.
#[test]
fn load_options_debug_names_settings_without_their_values() {
    let o = LoadOptions::default()
        .name("cookie")
        .config("cookie.keys", session_tests::fixtures::KEY_A);
    let shown = format!("{o:?}");
    assert!(!shown.contains(session_tests::fixtures::KEY_A), "{shown}");
    assert!(
        shown.contains("cookie.keys") && shown.contains("<64 bytes>"),
        "{shown}"
    );
    assert!(shown.contains("\"cookie\""), "{shown}");
}

/// A setting given twice is refused at load, naming the key: the guest's
/// own check cannot see it (the host hands it one value per key), and
/// keeping only the last `cookie.keys` would drop the key being rotated out.
#[test]
fn a_setting_given_twice_is_a_config_error() {
    let (h, _, _) = harness();
    let e = h
        .load_file(
            guest_path("cookie_session"),
            LoadOptions::default()
                .config("cookie.keys", session_tests::fixtures::KEY_A)
                .config("cookie.keys", session_tests::fixtures::KEY_B),
        )
        .unwrap_err();
    assert!(matches!(e, LoadError::Config { .. }), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("\"cookie.keys\" is given more than once"), "{m}");
    assert!(
        !m.contains(session_tests::fixtures::KEY_A) && !m.contains(session_tests::fixtures::KEY_B)
    );
}
