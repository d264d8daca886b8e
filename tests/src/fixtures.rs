//! Locating the built guests and standing plugins up for tests.

use host_harness::{EngineSettings, Harness, LoadOptions, ManualClock, MemoryBackend, Plugin};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The workspace's `target/` directory (or `$CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Path of a guest component built by `make guests`, e.g. `guest_path("kv_session")`.
///
/// # Panics
/// When the file is missing, with a message that says how to build it: a
/// suite must never pass by skipping its subject.
pub fn guest_path(stem: &str) -> PathBuf {
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{stem}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `make guests` (or `make test`, which builds them) first",
        path.display()
    );
    path
}

/// The bytes of a guest component (see [`guest_path`]).
pub fn guest_bytes(stem: &str) -> Vec<u8> {
    let path = guest_path(stem);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A fixed starting time for test clocks (2026-01-01T00:00:00Z).
pub const T0: Duration = Duration::from_secs(1_767_225_600);

/// A harness on a [`ManualClock`] at [`T0`], an in-memory kv, a small instance
/// pool and the shared test compile cache (so each component is compiled once
/// across all test processes).
pub fn harness() -> (Harness, ManualClock, Arc<MemoryBackend>) {
    let clock = ManualClock::new(T0);
    let kv = Arc::new(MemoryBackend::new(Arc::new(clock.clone())));
    let harness = Harness::builder()
        .clock(Arc::new(clock.clone()))
        .kv_backend(kv.clone())
        .engine_settings(EngineSettings {
            max_instances: 32,
            ..EngineSettings::default()
        })
        .cache_dir(target_dir().join("session-harness-test-cache"))
        .build()
        .expect("harness builds");
    (harness, clock, kv)
}

/// Loads guest `stem` with `config` into a fresh [`harness`].
pub fn load(stem: &str, config: &[(&str, &str)]) -> (Plugin, ManualClock, Harness) {
    let (harness, clock, _) = harness();
    let plugin = load_into(&harness, stem, config);
    (plugin, clock, harness)
}

/// Loads guest `stem` with `config` into `harness`.
pub fn load_into(harness: &Harness, stem: &str, config: &[(&str, &str)]) -> Plugin {
    let mut options = LoadOptions::default();
    options = options.configs(config.iter().copied());
    harness
        .load_file(guest_path(stem), options)
        .unwrap_or_else(|e| panic!("loading {stem}: {e}"))
}

/// Two fixed 32-byte keys, hex, for cookie-session tests.
pub const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// See [`KEY_A`].
pub const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";
