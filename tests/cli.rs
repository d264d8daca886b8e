//! The `session-harness` binary as a user runs it (built by `make build`,
//! which `make test` runs first).

use session_tests::fixtures::{guest_path, target_dir};
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    let bin = target_dir().join("release/session-harness");
    assert!(
        bin.is_file(),
        "{} is missing: run `make build` (or `make test`) first",
        bin.display()
    );
    Command::new(bin)
        .args(args)
        .env(
            "SESSION_HARNESS_CACHE_DIR",
            target_dir().join("session-harness-test-cache"),
        )
        .output()
        .expect("session-harness runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_bad_path_is_one_line_and_exit_code_2() {
    let out = cli(&["info", "/no/such/plugin.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/plugin.wasm"), "{err}");
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
        assert!(
            table.lines().any(|l| l.starts_with(op)),
            "no {op} row in\n{table}"
        );
    }
    assert!(!table.contains("UNEXPECTED"), "{table}");
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
        text(&out.stderr).contains("invalid session data"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["call", wasm.to_str().unwrap(), "count"]);
    assert_eq!(text(&out.stdout).trim(), "0");
}

#[test]
fn soak_swaps_under_load_and_prints_one_summary_line() {
    let kv = guest_path("kv_session");
    let cookie = guest_path("cookie_session");
    let plugins = format!("{},{}", kv.display(), cookie.display());
    let out = cli(&[
        "soak",
        "--plugins",
        &plugins,
        "--threads",
        "2",
        "--seconds",
        "1",
        "--swaps",
        "6",
        "--config",
        &format!("cookie.keys={}", session_tests::fixtures::KEY_A),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.trim();
    let fields: Vec<(&str, u64)> = line
        .split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').expect("key=value");
            (k, v.parse().expect("a number"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["ops", "failed", "swaps", "migrated"], "{line}");
    assert!(fields[0].1 > 0, "{line}");
    assert_eq!(fields[1].1, 0, "{line}");
    assert_eq!(fields[2].1, 6, "{line}");
}

#[test]
fn soak_fails_when_operations_fail() {
    let plugins = format!(
        "{},{}",
        guest_path("kv_session").display(),
        guest_path("hostile").display()
    );
    let out = cli(&[
        "soak",
        "--plugins",
        &plugins,
        "--threads",
        "1",
        "--seconds",
        "0.5",
        "--swaps",
        "1",
        "--config",
        "hostile.mode=trap",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let line = text(&out.stdout);
    assert!(
        line.starts_with("ops=") && !line.contains("failed=0 "),
        "{line}"
    );
    assert!(
        text(&out.stderr).contains("trapped"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bench_quick_json_prints_one_object_per_line() {
    let kv = guest_path("kv_session");
    let cookie = guest_path("cookie_session");
    let out = cli(&[
        "bench",
        "--quick",
        "--json",
        "--kv",
        kv.to_str().unwrap(),
        "--cookie",
        cookie.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let case = |name: &str| {
        lines
            .iter()
            .find(|l| l["case"] == name)
            .unwrap_or_else(|| panic!("no {name} line"))
    };
    for name in [
        "kv.load.1k",
        "kv.create.64",
        "cookie-private.update.3k",
        "cookie-signed.load.1k",
    ] {
        let l = case(name);
        for field in ["ours_ns", "peer_ns", "ratio"] {
            assert!(
                l[field].as_f64().is_some_and(|v| v > 0.0),
                "{name}.{field}: {l}"
            );
        }
        assert!(l["peer"].as_str().is_some_and(|p| !p.is_empty()), "{l}");
    }
    for name in [
        "instantiate",
        "cold_compile",
        "cold_cached",
        "threads2_speedup",
        "wasm_bytes.kv",
        "wasm_bytes.cookie",
    ] {
        assert!(
            case(name)["value"].as_f64().is_some_and(|v| v > 0.0),
            "{name}"
        );
    }
    let kv_bytes = std::fs::metadata(guest_path("kv_session")).unwrap().len() as f64;
    assert_eq!(case("wasm_bytes.kv")["value"].as_f64(), Some(kv_bytes));
    // 3 sizes x 5 operations x 3 stores, plus the figures.
    assert_eq!(
        lines.iter().filter(|l| l.get("ratio").is_some()).count(),
        45
    );
}
