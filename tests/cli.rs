//! The `session-harness` binary as a user runs it (built by `make build`,
//! which `make test` runs first).

use session_tests::fixtures::{guest_path, harness_cli, target_dir};
use std::path::Path;
use std::process::{Output, Stdio};

fn cli(args: &[&str]) -> Output {
    harness_cli()
        .args(args)
        .output()
        .expect("session-harness runs")
}

/// `soak --plugins <plugins, joined by ','> <rest>`.
fn soak(plugins: &[&Path], rest: &[&str]) -> Output {
    let joined = plugins
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    cli(&[&["soak", "--plugins", &joined], rest].concat())
}

/// A `--config` value giving the cookie store its key ([`KEY_A`]).
///
/// [`KEY_A`]: session_tests::fixtures::KEY_A
fn cookie_keys_arg() -> String {
    format!("cookie.keys={}", session_tests::fixtures::KEY_A)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What README's CLI section says of arguments clap refuses (it once said
/// every failure was one line): clap's own message, a few lines ending in
/// its pointer to `--help`, exit code 2; no command at all prints the help.
#[test]
fn arguments_clap_refuses_get_its_message_and_exit_code_2() {
    for args in [&["exercise"][..], &["--bogus"], &["soak", "--threads", "0"]] {
        let out = cli(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.lines().count() > 1, "{args:?}: {err}");
        assert!(
            err.trim_end()
                .ends_with("For more information, try '--help'."),
            "{args:?}: {err}"
        );
    }
    let out = cli(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Exit codes:"));
}

#[test]
fn a_bad_path_is_one_line_and_exit_code_2() {
    let out = cli(&["info", "/no/such/plugin.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/plugin.wasm"), "{err}");
}

/// Only regular files are read, and `exercise` reads them all before the
/// first table: `/dev/zero` filled memory until killed, and a missing
/// second file was found after the first store's whole table.
#[test]
fn only_regular_files_are_read_and_all_before_any_work() {
    let out = cli(&["info", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a regular file"),
        "{}",
        text(&out.stderr)
    );
    let kv = guest_path("kv_session");
    let out = cli(&["exercise", kv.to_str().unwrap(), "/no/such/second.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("/no/such/second.wasm"));
}

#[test]
fn a_non_plugin_file_is_one_line_and_exit_code_2() {
    let file = target_dir().join(format!("not-a-plugin-{}.wasm", std::process::id()));
    std::fs::write(&file, "just text").unwrap();
    let out = cli(&["exercise", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not a WebAssembly file"), "{err}");
}

/// A key pasted with the wrong separator is refused without being echoed
/// (clap's own error quotes the whole value); a short mistake is quoted.
#[test]
fn a_malformed_config_pair_is_refused_without_echoing_it() {
    let kv = guest_path("kv_session");
    let pasted = format!("cookie.keys:{}", session_tests::fixtures::KEY_A);
    for (arg, said) in [
        (&pasted[..], "an argument of 76 bytes without '='"),
        ("ttl", "\"ttl\" without '='"),
        ("=5", "with an empty key"),
    ] {
        let out = cli(&["exercise", kv.to_str().unwrap(), "--config", arg]);
        assert_eq!(out.status.code(), Some(2), "{arg}");
        let err = text(&out.stderr);
        assert!(err.contains(said), "{arg}: {err}");
        assert!(err.contains("--config"), "{arg}: {err}");
        assert!(!err.contains(session_tests::fixtures::KEY_A), "{err}");
    }
}

/// A key given after `--config cookie.keys` with a space for the `=` is an
/// argument clap does not expect, which it would quote whole: a long one is
/// not shown. A short unexpected argument still is.
#[test]
fn a_key_after_a_space_is_refused_without_echoing_it() {
    let cookie = guest_path("cookie_session");
    let key = session_tests::fixtures::KEY_A;
    let args = [
        "info",
        cookie.to_str().unwrap(),
        "--config",
        "cookie.keys",
        key,
    ];
    let out = cli(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(!err.contains(key), "{err}");
    assert!(err.contains("unexpected argument of 64 bytes"), "{err}");
    assert!(err.contains("--config cookie.keys=<key>"), "{err}");
    let out = cli(&["info", cookie.to_str().unwrap(), "--colour"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("'--colour'"));
}

/// `exercise` takes any number of plugins, so the second key of
/// `--config cookie.keys=K1 K2` is one more plugin path to clap: a path
/// that names no file and has no `/` or `.` is not quoted when it fails to
/// load. Before, the key was printed whole (`cannot read plugin <key>`). A
/// missing file that looks like a path still is.
#[test]
fn a_second_key_after_a_space_is_not_echoed_as_a_plugin_path() {
    let cookie = guest_path("cookie_session");
    let (first, second) = (
        session_tests::fixtures::KEY_A,
        session_tests::fixtures::KEY_B,
    );
    let keys = format!("cookie.keys={first}");
    let out = cli(&[
        "exercise",
        cookie.to_str().unwrap(),
        "--config",
        &keys,
        second,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(!err.contains(second), "{err}");
    assert!(err.contains("no file at a path of 64 bytes"), "{err}");
    assert!(err.contains("--config cookie.keys=<key>,<key>"), "{err}");
    // A standard base64 key often holds a '/': not shown either.
    let base64_key = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASN/Z4k=";
    let out = cli(&[
        "exercise",
        cookie.to_str().unwrap(),
        "--config",
        &keys,
        base64_key,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(!err.contains(base64_key), "{err}");
    assert!(err.contains("no file at a path of 44 bytes"), "{err}");
    let out = cli(&[
        "exercise",
        cookie.to_str().unwrap(),
        "--config",
        &keys,
        "no/such/plugin.wasm",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no/such/plugin.wasm"),
        "{}",
        text(&out.stderr)
    );
}

/// `info` with settings checks them (a store reads its configuration on
/// first use, which `info` alone never reaches); a configuration the store
/// refuses, like an unknown backend, is a usage error: exit code 2.
#[test]
fn info_checks_the_configuration_it_is_given() {
    let kv = guest_path("kv_session");
    let kv = kv.to_str().unwrap();
    let out = cli(&["info", kv, "--config", "session.ttl-seconds=10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("configuration: ok"));
    let out = cli(&["info", kv, "--config", "session.ttl-second=10"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown configuration key \"session.ttl-second\""),
        "{err}"
    );
    let out = cli(&["call", kv, "--config", "session.ttl-seconds=0", "create"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = cli(&["--kv", "bogus", "info", kv]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// `exercise` checks the configuration before its first table, as `info`
/// does: a setting a store refuses exits 2 with the store's reason, once,
/// instead of a table of failed steps that exited 1. A second plugin's
/// refusal is found before the first is walked.
#[test]
fn exercise_refuses_a_configuration_the_store_refuses() {
    let kv = guest_path("kv_session");
    let cookie = guest_path("cookie_session");
    for (args, reason) in [
        (
            vec![kv.to_str().unwrap(), "--config", "session.ttl-second=10"],
            "unknown configuration key \"session.ttl-second\"",
        ),
        (
            vec![kv.to_str().unwrap(), cookie.to_str().unwrap()],
            "cookie.keys is not set",
        ),
    ] {
        let out = cli(&[&["exercise"], &args[..]].concat());
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains(reason), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(text(&out.stdout), "", "no table: {args:?}");
    }
}

/// Limits set below the largest session `exercise` or `soak` writes (a
/// data limit of 16 bytes; a cookie of 128 bytes, too small for a seal of
/// their data) are refused up front as the command line's mistake: a correct
/// store's `too-large` answers were reported as its failures (exit 1, a
/// table of UNEXPECTED steps, every soak operation failed).
#[test]
fn limits_below_what_a_command_writes_are_refused_up_front() {
    let kv = guest_path("kv_session");
    let cookie = guest_path("cookie_session");
    let key = cookie_keys_arg();
    let small_data = ["--config", "session.max-data-bytes=16"];
    let small_cookie = ["--config", &key, "--config", "cookie.max-bytes=128"];
    for (store, limit, name) in [
        (&kv, &small_data[..], "kv-session"),
        (&cookie, &small_cookie[..], "cookie-session"),
    ] {
        let path = store.to_str().unwrap();
        let exercised = cli(&[&["exercise", path][..], limit].concat());
        let soaked = soak(
            &[store],
            &[
                &["--threads", "1", "--seconds", "1", "--swaps", "0"][..],
                limit,
            ]
            .concat(),
        );
        for (command, out) in [("exercise", exercised), ("soak", soaked)] {
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {name}: {err}");
            assert!(
                err.contains(&format!("{name} refuses a session of the"))
                    && err.contains(&format!("data {command} writes")),
                "{command} {name}: {err}"
            );
            assert!(
                !text(&out.stdout).contains("UNEXPECTED"),
                "{command} {name}"
            );
            assert!(!text(&out.stdout).contains("ops="), "{command} {name}: ran");
        }
    }
}

/// The check `info` runs passes at the smallest limits each store accepts
/// (it once created a 27-byte session, refusing `session.max-data-bytes`
/// below 27 and `cookie.max-bytes=128`, valid settings both).
#[test]
fn info_accepts_the_smallest_limits_a_store_accepts() {
    let kv = guest_path("kv_session");
    let cookie = guest_path("cookie_session");
    let key = cookie_keys_arg();
    for args in [
        vec![kv.to_str().unwrap(), "--config", "session.max-data-bytes=2"],
        vec![
            cookie.to_str().unwrap(),
            "--config",
            &key,
            "--config",
            "cookie.max-bytes=128",
        ],
    ] {
        let out = cli(&[&["info"], &args[..]].concat());
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("configuration: ok"), "{args:?}");
    }
}

#[test]
fn info_prints_what_the_plugin_says() {
    let out = cli(&["info", guest_path("kv_session").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("kv-session 0.1.0 (server-side: true)"));
}

#[test]
fn exercise_walks_every_operation() {
    let out = cli(&["exercise", guest_path("kv_session").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for op in [
        "info",
        "create",
        "load",
        "update",
        "touch",
        "regenerate",
        "destroy",
        "purge-expired",
        "count",
    ] {
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with(op)).collect();
        assert!(!rows.is_empty(), "no {op} row in\n{table}");
        // Each row ends with the call's latency and the check's verdict.
        for row in rows {
            let cells: Vec<&str> = row.split_whitespace().collect();
            let [.., latency, unit, check] = cells[..] else {
                panic!("short row: {row}");
            };
            assert!(latency.parse::<f64>().is_ok(), "no latency: {row}");
            assert!(["ns", "µs", "ms", "s"].contains(&unit), "no unit: {row}");
            assert_eq!(check, "ok", "{row}");
        }
    }
    assert!(!table.contains("UNEXPECTED"), "{table}");
    // The one row of several calls says its latency is each call's (it
    // was the three creates' together, beside rows of one call).
    let three = table.lines().find(|l| l.contains("3 with ttl 1 s"));
    assert!(
        three.is_some_and(|row| row.contains("3 with ttl 1 s; latency each")),
        "{table}"
    );
}

/// A short absolute cap ends the walk's long session too, and `exercise`
/// expects that: it once reported `count` 0 as UNEXPECTED (exit 1) for a
/// correct store under `session.max-lifetime-seconds=1`.
#[test]
fn exercise_expects_what_a_short_absolute_cap_does() {
    // The walk moves the clock 61 s past its ttl-1 sessions (a minute past
    // their expiry, when purge-expired may remove them).
    for (cap, live) in [("1", "0"), ("61", "0"), ("62", "1")] {
        let setting = format!("session.max-lifetime-seconds={cap}");
        let kv = guest_path("kv_session");
        let out = cli(&["exercise", kv.to_str().unwrap(), "--config", &setting]);
        let table = text(&out.stdout);
        assert!(
            out.status.success(),
            "{cap}: {}\n{table}",
            text(&out.stderr)
        );
        let count = table.lines().find(|l| l.starts_with("count")).unwrap();
        let cells: Vec<&str> = count.split_whitespace().collect();
        assert_eq!(cells[3], live, "{cap}: {count}");
        assert!(count.ends_with("ok"), "{cap}: {count}");
    }
}

/// The same on Redis, which expires records on the real clock (each ttl-1
/// record a second after it was written): 61 s later on the walk's clock it
/// still holds them, and under a cap that ended the long session too
/// `purge-expired` removes all 4, which `exercise` once reported as
/// UNEXPECTED (exit 1) for a correct store. (Fewer only when Redis itself
/// expired some first, on a machine too slow to walk in a second.)
#[test]
fn exercise_on_redis_expects_the_purge_a_short_absolute_cap_makes() {
    let url = session_tests::fixtures::redis_url();
    for (cap, most, live) in [("1", 4, "0"), ("62", 3, "1")] {
        let setting = format!("session.max-lifetime-seconds={cap}");
        let kv = guest_path("kv_session");
        let args = ["--kv", &url, "exercise", kv.to_str().unwrap()];
        let out = cli(&[&args[..], &["--config", &setting]].concat());
        let table = text(&out.stdout);
        assert!(
            out.status.success(),
            "{cap}: {}\n{table}",
            text(&out.stderr)
        );
        let row = |op: &str| {
            let row = table.lines().find(|l| l.starts_with(op)).unwrap();
            assert!(row.ends_with("ok"), "{cap}: {row}");
            row.split_whitespace().collect::<Vec<_>>()
        };
        let purge = row("purge-expired");
        let removed: u64 = purge[5].parse().unwrap_or_else(|_| panic!("{purge:?}"));
        assert!(removed <= most, "{cap}: {purge:?}");
        assert_eq!(row("count")[3], live, "{cap}");
    }
}

/// Output the reader stopped taking ends the command quietly, not with a
/// panic and a backtrace: a closed pipe (`| head`) with 141, as for a tool
/// SIGPIPE stopped, and a full disk with one line and exit code 1.
#[test]
fn a_closed_or_full_output_ends_the_command_without_a_panic() {
    let wasm = guest_path("kv_session");
    let args = ["exercise", wasm.to_str().unwrap()];
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = harness_cli()
        .args(args)
        .stdout(writer)
        .output()
        .expect("session-harness runs");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "{err}");

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = harness_cli()
        .args(args)
        .stdout(full)
        .output()
        .expect("session-harness runs");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "session-harness: cannot write the output: No space left on device (os error 28)"
    );
}

/// Runs the CLI with `args` twice, its stderr first on a pipe nobody reads
/// and then on a full device. (Not `2>&-`: Rust's runtime reopens a closed
/// stderr onto `/dev/null` before `main`, so nothing would fail to write.)
fn with_unwritable_stderr(args: &[&str]) -> [Output; 2] {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    [Stdio::from(writer), Stdio::from(full)].map(|stderr| {
        harness_cli()
            .args(args)
            .stderr(stderr)
            .output()
            .expect("session-harness runs")
    })
}

/// A diagnostic nobody can read leaves the exit code the command's own:
/// `eprintln!` panicked (exit code 101) when stderr was a pipe whose reader
/// had gone or a full disk, on every error and in every soak (which says on
/// stderr when its workers are running).
#[test]
fn an_unwritable_stderr_leaves_the_exit_code_alone() {
    for out in with_unwritable_stderr(&["info", "/no/such/plugin.wasm"]) {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    }
    let kv = guest_path("kv_session");
    let args = [
        "soak",
        "--plugins",
        kv.to_str().unwrap(),
        "--seconds",
        "0.2",
        "--swaps",
        "1",
    ];
    for out in with_unwritable_stderr(&args) {
        let line = text(&out.stdout);
        assert!(out.status.success(), "{}: {line}", out.status);
        assert!(line.starts_with("ops="), "{line}");
    }
}

/// The cache note, printed after a command has succeeded, cannot turn the
/// success into a failure when stderr takes nothing.
#[cfg(unix)]
#[test]
fn an_unreadable_cache_note_leaves_the_success_alone() {
    let cache = UnsafeCache::new(0o775);
    let kv = guest_path("kv_session");
    let args = ["--cache-dir", &cache.dir(), "info", kv.to_str().unwrap()];
    for out in with_unwritable_stderr(&args) {
        let line = text(&out.stdout);
        assert!(out.status.success(), "{}: {line}", out.status);
        assert!(line.starts_with("kv-session 0.1.0"), "{line}");
    }
}

/// A plugin that fails does not keep the others from being exercised: its
/// table stops at the failed step, the next plugin's runs whole, and the
/// command exits 1. Its name, chosen by the plugin, reaches the header
/// escaped (it was printed raw there, escape sequences and all).
#[test]
fn exercise_goes_on_past_a_failing_plugin() {
    let (bad, good) = (guest_path("hostile"), guest_path("kv_session"));
    let out = cli(&[
        "exercise",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
        "--config",
        "hostile.mode=trap",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(stdout.contains("stopped after the failed step"), "{stdout}");
    let kv_table = stdout
        .split("== kv-session")
        .nth(1)
        .expect("the kv-session table follows");
    assert!(!kv_table.contains("UNEXPECTED"), "{kv_table}");
    assert!(kv_table.contains("the ttl-3600 session"), "{kv_table}");

    let out = cli(&[
        "exercise",
        bad.to_str().unwrap(),
        "--config",
        "hostile.mode=\u{1b}[31mred\nforged",
    ]);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("forged")), "{stdout}");
}

/// A `regenerate` that answers the id it was given breaks the contract
/// ("same data, new id") and `exercise` says so, on a stateless store too,
/// where the old id still loading proves nothing. Before, any `ok` passed.
#[test]
fn exercise_expects_regenerate_to_give_a_new_id() {
    let bad = guest_path("hostile");
    let out = cli(&[
        "exercise",
        bad.to_str().unwrap(),
        "--config",
        "hostile.mode=same-id",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let row = |op: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(op))
            .unwrap_or_else(|| panic!("no {op} row: {stdout}"))
            .trim_end()
    };
    assert!(row("regenerate").ends_with("UNEXPECTED"), "{stdout}");
    // The store works otherwise: its update is checked and passes.
    assert!(row("update").ends_with("ok"), "{stdout}");
}

/// A plugin failing on the host's side (a trap here) exits 3, apart from a
/// session answer (1) and a wrong command line (2), as `--help` says.
#[test]
fn a_plugin_fault_has_its_own_exit_code() {
    let bad = guest_path("hostile");
    let out = cli(&[
        "call",
        bad.to_str().unwrap(),
        "--config",
        "hostile.mode=trap",
        "count",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("trapped"), "{err}");
    // Also when the fault is in the `info` call made while loading it: a
    // plugin that traps is not a wrong command line.
    let out = cli(&[
        "call",
        bad.to_str().unwrap(),
        "--config",
        "hostile.info=trap",
        "count",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("failed its first call"), "{err}");
    let help = text(&cli(&["--help"]).stdout);
    for code in ["0 ", "1 ", "2 ", "3 ", "141"] {
        assert!(help.contains(&format!("\n  {code}")), "{help}");
    }
}

#[test]
fn call_runs_one_operation() {
    let wasm = guest_path("kv_session");
    let out = cli(&[
        "call",
        wasm.to_str().unwrap(),
        "create",
        "--data",
        r#"{"a":1}"#,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim().len(), 32);
    let out = cli(&["call", wasm.to_str().unwrap(), "create", "--data", "[1]"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid data or argument"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["call", wasm.to_str().unwrap(), "count"]);
    assert_eq!(text(&out.stdout).trim(), "0");
}

/// What a store hands back is printed so it cannot pass for something
/// else: a user id with a newline once printed a forged `data=` line (and
/// an escape sequence reached the terminal raw), and the user ids `(none)`
/// and `""` printed like no user and an empty one.
#[test]
fn call_load_shows_user_ids_quoted_and_escaped() {
    let cookie = guest_path("cookie_session");
    let key = cookie_keys_arg();
    let call = |args: &[&str]| {
        let out = cli(&[&["call", cookie.to_str().unwrap(), "--config", &key], args].concat());
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let load = |user: Option<&str>| {
        let id = match user {
            Some(u) => call(&["create", "--user", u]),
            None => call(&["create"]),
        };
        call(&["load", &id])
    };
    let shown = load(Some("alice\ndata={\"admin\":true}\u{1b}[31m"));
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 5, "{shown}");
    assert_eq!(
        lines[1],
        r#"user-id="alice\ndata={\"admin\":true}\u{1b}[31m""#
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("data=")).count(), 1);
    assert!(!shown.contains('\u{1b}'), "{shown}");
    for (user, line) in [
        (None, "user-id=(none)"),
        (Some("(none)"), r#"user-id="(none)""#),
        (Some(""), r#"user-id="""#),
    ] {
        assert!(load(user).lines().any(|l| l == line), "{user:?}");
    }
}

#[test]
fn soak_swaps_under_load_and_prints_one_summary_line() {
    let kv = guest_path("kv_session");
    let cookie = guest_path("cookie_session");
    let out = soak(
        &[&kv, &cookie],
        &[
            "--threads",
            "2",
            "--seconds",
            "1",
            "--swaps",
            "6",
            "--config",
            &cookie_keys_arg(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let [ops, failed, swaps, migrated] = soak_fields(&out);
    assert!(ops > 0, "{line}");
    assert_eq!(failed, 0, "{line}");
    assert_eq!(swaps, 6, "{line}");
    // Workers are mid-round at almost every swap between the two kinds of
    // store, so sessions do move.
    assert!(migrated > 0, "{line}");
}

/// Every swap asked for is made: when they cannot all fit in `--seconds`
/// (five swaps, each a load and a check, in a millisecond), the run goes on
/// until the last is made and says so. Before, the rest were dropped and the
/// count depended on how loaded the machine was.
#[test]
fn soak_makes_every_swap_asked_for() {
    let kv = guest_path("kv_session");
    let cookie = guest_path("cookie_session");
    let out = soak(
        &[&kv, &cookie],
        &["--threads", "2", "--seconds", "0.001", "--swaps", "5"],
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let [ops, failed, swaps, _] = soak_fields(&out);
    assert_eq!((failed, swaps), (0, 5), "{err}");
    assert!(ops > 0, "{err}");
    assert!(err.contains("past --seconds"), "{err}");
}

/// Runs `soak` for half a second between kv-session and the hostile plugin
/// in `mode`, with one swap to it.
fn soak_into_hostile(mode: &str) -> Output {
    let mode = format!("hostile.mode={mode}");
    soak(
        &[&guest_path("kv_session"), &guest_path("hostile")],
        &[
            "--threads",
            "1",
            "--seconds",
            "0.5",
            "--swaps",
            "1",
            "--config",
            &mode,
        ],
    )
}

/// The numbers of a soak run's one summary line, which must be exactly
/// `ops=<n> failed=<n> swaps=<n> migrated=<n>`.
fn soak_fields(out: &Output) -> [u64; 4] {
    let stdout = text(&out.stdout);
    let line = stdout.strip_suffix('\n').unwrap_or(&stdout);
    assert!(!line.contains('\n'), "one line: {stdout}");
    let fields: Vec<(&str, u64)> = line
        .split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').expect("key=value");
            (k, v.parse().expect("a number"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["ops", "failed", "swaps", "migrated"], "{line}");
    [fields[0].1, fields[1].1, fields[2].1, fields[3].1]
}

/// Runs `soak` into the hostile plugin in `mode` and checks that it fails:
/// exit 1, failures counted, `swaps` swaps made, and the first failures on
/// stderr starting with `first`, a trap.
fn assert_soak_fails(mode: &str, swaps_made: u64, first: &str) {
    let out = soak_into_hostile(mode);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let [_, failed, swaps, _] = soak_fields(&out);
    assert_eq!(swaps, swaps_made, "{err}");
    assert!(failed > 0, "{err}");
    assert!(err.contains(first) && err.contains("trapped"), "{err}");
}

/// A store that passes the swap's check, then traps on the workers' updates:
/// the run counts the failures, reports the first ones and exits 1.
#[test]
fn soak_fails_when_operations_fail() {
    assert_soak_fails("trap-on-update", 1, "soak: update:");
}

/// A store that traps in the swap's check is never swapped in; the run goes
/// on against the old store, and fails.
#[test]
fn soak_fails_when_a_swap_is_refused() {
    assert_soak_fails("trap", 0, "soak: swap to");
}

/// Each bad number says what is wrong with it (a negative one was once
/// "unexpected argument '-1'", and 1e300 "not a positive, finite number").
#[test]
fn soak_refuses_numbers_it_cannot_run_with_and_says_why() {
    let kv = guest_path("kv_session");
    for (flag, value, why) in [
        (
            "--seconds",
            "nan",
            "not a positive, finite number of seconds",
        ),
        (
            "--seconds",
            "inf",
            "not a positive, finite number of seconds",
        ),
        ("--seconds", "0", "not a positive, finite number of seconds"),
        (
            "--seconds",
            "-1",
            "not a positive, finite number of seconds",
        ),
        ("--seconds", "1e300", "longer than a run can be"),
        ("--seconds", "soon", "not a number of seconds"),
        ("--threads", "-1", "-1 is not in 1..=256"),
        ("--threads", "0", "0 is not in 1..=256"),
        ("--swaps", "-1", "invalid value '-1' for '--swaps"),
        // Every swap is made, however long they take: a number no run could
        // finish is refused rather than run for ever.
        ("--swaps", "18446744073709551615", "is not in 0..=10000"),
    ] {
        let out = soak(&[&kv], &[flag, value]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(why), "{flag} {value}: {err}");
        assert!(text(&out.stdout).is_empty());
    }
}

/// A short default ttl is no reason to refuse a soak: every round creates
/// its session with a ttl of its own (it was refused, exit 2, like a short
/// `session.max-lifetime-seconds`, which still is).
#[test]
fn soak_runs_with_a_short_default_ttl_but_not_a_short_cap() {
    let kv = guest_path("kv_session");
    let run = ["--seconds", "1", "--swaps", "1", "--config"];
    let out = soak(&[&kv], &[&run[..], &["session.ttl-seconds=1"]].concat());
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let [ops, failed, swaps, _] = soak_fields(&out);
    assert!(ops > 0 && failed == 0 && swaps == 1, "{err}");
    let out = soak(
        &[&kv],
        &[&run[..], &["session.max-lifetime-seconds=1"]].concat(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("session.max-lifetime-seconds of at least 60"),
        "{err}"
    );
}

/// Every plugin is checked before the run: one whose configuration is
/// refused ends the soak at once with that error (exit code 2), instead of
/// running the whole time with every operation, or every swap to it,
/// failing. Either place in the list (second, it once ran and failed each
/// swap: exit code 1 after the run).
#[test]
fn soak_checks_every_plugins_configuration_before_it_starts() {
    let (kv, cookie) = (guest_path("kv_session"), guest_path("cookie_session"));
    for (a, b) in [(&cookie, &kv), (&kv, &cookie)] {
        // What the messages name the run by: its --plugins.
        let plugins = format!("{},{}", a.display(), b.display());
        let out = soak(
            &[a, b],
            &[
                "--seconds",
                "30",
                "--swaps",
                "2",
                "--config",
                "cookie.keys=short",
            ],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{plugins}: {err}");
        assert!(
            text(&out.stdout).is_empty(),
            "{plugins}: it ran: {}",
            text(&out.stdout)
        );
        assert_eq!(err.trim().lines().count(), 1, "{plugins}: {err}");
        assert!(
            err.contains("cookie.keys") && err.contains("throwaway session"),
            "{plugins}: {err}"
        );
    }
}

/// A bad second plugin is found before the run, even with no swap to it.
#[test]
fn soak_loads_every_plugin_before_it_starts() {
    let out = soak(
        &[&guest_path("kv_session"), Path::new("/no/such/store.wasm")],
        &["--seconds", "0.2", "--swaps", "0"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/no/such/store.wasm"), "{err}");
    assert!(text(&out.stdout).is_empty(), "no run, no summary");
}

/// `session-harness bench` as `make run` users run it: from the repository
/// root, with the default component paths.
fn bench_from_the_repo_root(args: &[&str]) -> Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    harness_cli()
        .current_dir(&root)
        .args(args)
        .output()
        .expect("session-harness runs")
}

/// A store given under the other store's flag is refused before anything
/// is timed: a kv-session as --cookie-wasm was timed and labelled as a
/// cookie store.
#[test]
fn bench_refuses_a_store_of_the_wrong_kind() {
    let (kv, cookie) = (guest_path("kv_session"), guest_path("cookie_session"));
    for (flag, wasm, said) in [
        ("--cookie-wasm", &kv, "expected a stateless store"),
        ("--kv-wasm", &cookie, "expected a server-side store"),
    ] {
        let out = bench_from_the_repo_root(&["bench", "--quick", flag, wasm.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{flag}: a usage error");
        let err = text(&out.stderr);
        assert!(err.contains(flag) && err.contains(said), "{flag}: {err}");
        assert!(
            text(&out.stdout).is_empty(),
            "{flag}: timed before refusing"
        );
    }
}

/// `--kv` (the other commands' kv backend) naming a component, meant as
/// `--kv-wasm`, is refused: `bench` ignored it and measured the default
/// kv-session under that name, while `--cookie` (an alias then) was taken.
/// The two component flags are spelt alike now: `--cookie` is no flag.
#[test]
fn bench_refuses_a_component_given_as_the_kv_backend() {
    let (kv, cookie) = (guest_path("kv_session"), guest_path("cookie_session"));
    let out = bench_from_the_repo_root(&["bench", "--quick", "--kv", kv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = text(&out.stderr);
    assert!(err.contains("--kv-wasm"), "{err}");
    assert!(text(&out.stdout).is_empty(), "timed before refusing");
    let out = bench_from_the_repo_root(&["bench", "--quick", "--cookie", cookie.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "no --cookie flag");
    assert!(text(&out.stdout).is_empty(), "timed before refusing");
}

#[test]
fn bench_quick_json_prints_every_comparison_and_figure() {
    let (kv, cookie) = (guest_path("kv_session"), guest_path("cookie_session"));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let same = |default: &str, built: &std::path::Path| {
        root.join(default).canonicalize().ok() == built.canonicalize().ok()
    };
    // The defaults are relative to the repository root; with a
    // CARGO_TARGET_DIR elsewhere they do not name the built guests.
    let defaults_apply = same("target/wasm32-wasip2/release/kv_session.wasm", &kv)
        && same("target/wasm32-wasip2/release/cookie_session.wasm", &cookie);
    let mut args = vec!["bench", "--quick", "--json"];
    if !defaults_apply {
        args.extend([
            "--kv-wasm",
            kv.to_str().unwrap(),
            "--cookie-wasm",
            cookie.to_str().unwrap(),
        ]);
    }
    let out = bench_from_the_repo_root(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let case = |name: &str| {
        let found: Vec<&serde_json::Value> = lines.iter().filter(|l| l["case"] == name).collect();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0]
    };

    // Every operation x size x store, once, with ratio = ours_ns / peer_ns;
    // seal and open also against the jars sealing the same bytes.
    let every = &["create", "load", "update", "touch", "destroy"][..];
    let mut expected = Vec::new();
    for (store, peer, ops) in [
        ("kv", "tower-sessions MemoryStore", every),
        ("cookie-private", "cookie PrivateJar", every),
        ("cookie-signed", "cookie SignedJar", every),
        (
            "cookie-private-same-bytes",
            "cookie PrivateJar, same bytes",
            &["create", "load"][..],
        ),
        (
            "cookie-signed-same-bytes",
            "cookie SignedJar, same bytes",
            &["create", "load"][..],
        ),
    ] {
        for op in ops {
            for size in ["64", "1k", "3k"] {
                let name = format!("{store}.{op}.{size}");
                let l = case(&name);
                let field = |f: &str| {
                    l[f].as_f64()
                        .filter(|v| v.is_finite() && *v > 0.0)
                        .unwrap_or_else(|| panic!("{name}.{f}: {l}"))
                };
                let (ours, theirs, ratio) = (field("ours_ns"), field("peer_ns"), field("ratio"));
                // The ratio is the quotient of the printed figures, unrounded
                // (up to the last bit serde_json's default parser may miss).
                assert!(
                    (ratio - ours / theirs).abs() <= 1e-12 * ratio,
                    "{name}: ratio {ratio} but {ours} / {theirs} = {}",
                    ours / theirs
                );
                assert_eq!(l["peer"], peer, "{l}");
                expected.push(name);
            }
        }
    }
    let comparisons: Vec<&str> = lines
        .iter()
        .filter(|l| l.get("ratio").is_some())
        .map(|l| l["case"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(comparisons.len(), expected.len(), "{comparisons:?}");

    let figures = [
        ("instantiate", "us"),
        ("pooled_call", "ns"),
        ("cold_compile", "ms"),
        ("cold_cached", "ms"),
        ("harness_build", "ms"),
        ("threads1_ops", "ops/s"),
        ("threads2_ops", "ops/s"),
        ("threads2_speedup", "x"),
        ("threads2_update_speedup", "x"),
        ("wasm_bytes.kv", "bytes"),
        ("wasm_bytes.cookie", "bytes"),
    ];
    let value = |name: &str| case(name)["value"].as_f64().unwrap_or(f64::NAN);
    for (name, unit) in figures {
        assert!(value(name) > 0.0, "{name}: {}", case(name));
        assert_eq!(case(name)["unit"], unit, "{name}");
    }
    let speedup = value("threads2_ops") / value("threads1_ops");
    assert!(
        (value("threads2_speedup") - speedup).abs() <= 0.0051,
        "threads2_speedup {} but threads2_ops / threads1_ops = {speedup}",
        value("threads2_speedup")
    );
    for (name, file) in [("wasm_bytes.kv", &kv), ("wasm_bytes.cookie", &cookie)] {
        let bytes = std::fs::metadata(file).unwrap().len() as f64;
        assert_eq!(value(name), bytes, "{name}");
    }
    assert_eq!(
        lines.len(),
        expected.len() + figures.len(),
        "no other lines"
    );
}

#[test]
fn bench_reads_the_components_named_by_its_flags() {
    for flag in ["--kv-wasm", "--cookie-wasm"] {
        let missing = format!("/no/such/{}.wasm", &flag[2..]);
        let out = bench_from_the_repo_root(&["bench", "--quick", "--json", flag, &missing]);
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains(&missing),
            "{}",
            text(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "{flag}: measured before reading both"
        );
    }
}

/// A cache directory under `parent`, which is made writable by `mode`
/// (0o777: anyone; 0o775: the group, as under umask 002); removed on drop.
#[cfg(unix)]
struct UnsafeCache {
    parent: std::path::PathBuf,
}

#[cfg(unix)]
impl UnsafeCache {
    fn new(mode: u32) -> Self {
        use std::os::unix::fs::PermissionsExt;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let parent = target_dir().join("tmp").join(format!(
            "open-cache-parent-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&parent).unwrap();
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(mode)).unwrap();
        Self { parent }
    }

    fn dir(&self) -> String {
        self.parent.join("cache").to_str().unwrap().to_string()
    }
}

#[cfg(unix)]
impl Drop for UnsafeCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.parent);
    }
}

/// A cache directory others could tamper with, directly or by replacing it
/// through a group-writable parent (umask 002), is not used: the CLI
/// compiles instead of failing, and says so in one line after the command.
#[cfg(unix)]
#[test]
fn an_unsafe_cache_directory_means_compiling_not_failing() {
    for mode in [0o777, 0o775] {
        let cache = UnsafeCache::new(mode);
        let out = cli(&[
            "--cache-dir",
            &cache.dir(),
            "info",
            guest_path("kv_session").to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{mode:o}: {err}");
        assert!(
            text(&out.stdout).starts_with("kv-session 0.1.0"),
            "{mode:o}: the command ran: {}",
            text(&out.stdout)
        );
        assert_eq!(err.trim().lines().count(), 1, "{mode:o}: {err}");
        assert!(
            err.contains("others can write to") && err.contains("compiled without a cache"),
            "{mode:o}: {err}"
        );
    }
}

/// A refused cache adds nothing to an error: it is still one line.
#[cfg(unix)]
#[test]
fn a_refused_cache_leaves_an_error_one_line() {
    let cache = UnsafeCache::new(0o775);
    let out = cli(&["--cache-dir", &cache.dir(), "info", "/no/such/plugin.wasm"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/plugin.wasm"), "{err}");
}

/// A Redis URL whose user name or password the server refuses is a usage
/// error (exit code 2, like a URL that does not parse) that says the server
/// refused it, without the password; not "cannot reach redis".
#[test]
fn a_redis_password_the_server_refuses_is_a_usage_error() {
    let url = session_tests::fixtures::redis_url();
    // Credentials in the authority of a TCP URL, in the query of a socket's.
    let refused = match url.split_once("://") {
        Some((scheme, rest)) if !scheme.contains("unix") => {
            format!("{scheme}://nobody:wrong-pw@{rest}")
        }
        _ if url.contains('?') => format!("{url}&user=nobody&pass=wrong-pw"),
        _ => format!("{url}?user=nobody&pass=wrong-pw"),
    };
    let kv = guest_path("kv_session");
    let out = cli(&["--kv", &refused, "exercise", kv.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("refused the connection"), "{err}");
    assert!(!err.contains("wrong-pw"), "the password shown: {err}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// `bench` runs on its own in-memory kv without the disk cache: neither
/// `--kv` (nor SESSION_HARNESS_KV) nor the cache flags are looked at, so
/// an unreachable Redis or an unsafe cache directory changes nothing. (A
/// missing component stops it before it measures anything: the error it
/// gets to is that one, exit code 2.)
#[cfg(unix)]
#[test]
fn bench_ignores_the_kv_and_cache_flags() {
    let cache = UnsafeCache::new(0o775);
    let missing = "/no/such/kv.wasm";
    let unreachable = "redis://127.0.0.1:1/";
    let runs: [(&[&str], Option<&str>); 3] = [
        (&[], Some(unreachable)),
        (&["--kv", unreachable], None),
        (&["--kv", "nonsense"], None),
    ];
    for (global, env) in runs {
        let mut cmd = harness_cli();
        cmd.args(global).args(["--cache-dir", &cache.dir()]).args([
            "bench",
            "--quick",
            "--json",
            "--kv-wasm",
            missing,
        ]);
        if let Some(url) = env {
            cmd.env("SESSION_HARNESS_KV", url);
        }
        let out = cmd.output().expect("session-harness runs");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{global:?} {env:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{global:?} {env:?}: {err}");
        assert!(err.contains(missing), "{global:?} {env:?}: {err}");
    }
}

/// Both stores through `exercise`, as `make run` does, with a cookie key:
/// the cookie table shows the stateless answers and every check holds.
#[test]
fn exercise_walks_both_stores_with_the_stateless_answers() {
    let (kv, cookie) = (guest_path("kv_session"), guest_path("cookie_session"));
    let key = cookie_keys_arg();
    let out = cli(&[
        "exercise",
        kv.to_str().unwrap(),
        cookie.to_str().unwrap(),
        "--config",
        &key,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
    let (kv_table, cookie_table) = stdout
        .split_once("\n== cookie-session ")
        .unwrap_or_else(|| panic!("no cookie-session table in\n{stdout}"));
    assert!(kv_table.contains("(server-side: true"), "{kv_table}");
    assert!(
        cookie_table.contains("(server-side: false"),
        "{cookie_table}"
    );
    // The row of `op` whose `what` starts with `what`, checked "ok".
    let row = |table: &str, op: &str, what: &str| -> String {
        let found: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with(op) && l[op.len()..].trim_start().starts_with(what))
            .collect();
        assert_eq!(found.len(), 1, "one {op} {what} row in\n{table}");
        assert!(found[0].trim_end().ends_with("ok"), "{}", found[0]);
        found[0].to_string()
    };
    for table in [kv_table, cookie_table] {
        let touched = row(table, "load", "after touch");
        assert!(touched.contains("expires in 600s"), "{touched}");
    }
    assert!(row(kv_table, "count", "live").contains(" 1 "), "{kv_table}");
    assert!(
        row(kv_table, "load", "after destroy").contains(" none "),
        "{kv_table}"
    );
    // Stateless: nothing kept to count or purge, and a seal cannot be
    // revoked, so a destroyed or replaced one still opens.
    let count = row(cookie_table, "count", "live");
    assert!(count.contains("error: unsupported:"), "{count}");
    let purge = row(cookie_table, "purge-expired", "remove");
    assert!(purge.contains("removed 0"), "{purge}");
    for what in ["after destroy", "the old id after regenerate"] {
        let still = row(cookie_table, "load", what);
        assert!(still.contains(r#"data={"cart":"4 items"}"#), "{still}");
    }
}

/// The most workers this machine takes (16 per CPU, at most 256) run
/// without an instantiate error or a call past its deadline: the engine gets
/// instance slots for them besides the idle ones every plugin keeps. More
/// than 16 per CPU is refused: on 2 CPUs, 256 workers made calls wait for a
/// CPU past even their scaled deadlines, and a correct store failed.
#[test]
fn soak_runs_its_most_threads_and_refuses_more() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let most = (16 * cpus).min(256);
    if most < 256 {
        let over = (most + 1).to_string();
        let out = soak(&[&guest_path("kv_session")], &["--threads", &over]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("more than 16 per CPU"), "{err}");
    }
    let most = most.to_string();
    let out = soak(
        &[&guest_path("kv_session"), &guest_path("cookie_session")],
        &[
            "--threads",
            &most,
            "--seconds",
            "1",
            "--swaps",
            "2",
            "--config",
            &cookie_keys_arg(),
        ],
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let [ops, failed, swaps, _] = soak_fields(&out);
    assert!(ops > 0 && failed == 0 && swaps == 2, "{err}");
}

/// A plugin file that no longer loads at its swap ends the run: the workers
/// stop, the summary line is printed, then the load error, exit code 2.
#[test]
fn soak_stops_and_reports_when_a_swap_cannot_load() {
    use std::io::BufRead;
    let copy = target_dir()
        .join("tmp")
        .join(format!("soak-swap-target-{}.wasm", std::process::id()));
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(guest_path("kv_session"), &copy).unwrap();
    let plugins = format!("{},{}", guest_path("kv_session").display(), copy.display());
    // The first of 100 swaps over 600 s, ~6 s in, is to the copy, spoiled
    // as soon as the run says it is serving (both plugins loaded).
    let mut child = harness_cli()
        .args(["soak", "--plugins", &plugins, "--threads", "8"])
        .args(["--seconds", "600", "--swaps", "100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("session-harness runs");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut err = String::new();
    while !err.contains("workers running") {
        if stderr.read_line(&mut err).unwrap() == 0 {
            panic!("soak ended before it ran: {err}");
        }
    }
    std::fs::write(&copy, "no longer a component").unwrap();
    let started = std::time::Instant::now();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    let out = child.wait_with_output().unwrap();
    std::fs::remove_file(&copy).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    let [ops, _, swaps, _] = soak_fields(&out);
    assert!(ops > 0, "{err}");
    assert_eq!(swaps, 0, "{err}");
    assert!(err.contains("not a WebAssembly file"), "{err}");
    // Not a timed figure: a run that went on past the failed swap would
    // take the whole 600 s.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(300),
        "the run went on past the failed swap"
    );
}
