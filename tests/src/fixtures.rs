//! Locating the built guests and standing plugins up for tests.

use host_harness::kv::redis::RedisBackendBuilder;
use host_harness::{
    CompileCache, EngineSettings, Harness, KvBackend, LoadOptions, ManualClock, MemoryBackend,
    Plugin, RedisBackend,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
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

/// The compile cache every test harness and CLI run shares (so each
/// component is compiled once across all test processes):
/// `target/session-harness-test-cache` when [`CompileCache::new`] accepts it,
/// else see [`safe_cache_dir`].
///
/// # Panics
/// When neither directory is safe to use, with both reasons.
pub fn test_cache_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        safe_cache_dir(&target_dir().join("session-harness-test-cache"))
            .unwrap_or_else(|e| panic!("no compile cache directory for the tests: {e}"))
    })
    .clone()
}

/// A fresh path (not created) for a compile cache of a test's own, e.g. one
/// that checks hits and misses: inside [`test_cache_dir`], which the harness
/// has accepted, so it is accepted too whatever the umask made of `target/`.
pub fn scratch_cache_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    test_cache_dir().join(format!(
        "{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// `preferred` when the harness accepts it as a compile cache, else a
/// directory private to this user under the system temp directory
/// (`session-harness-test-cache-<uid>`, created mode 0700).
///
/// The harness refuses a cache under a directory that group or others can
/// write (see `host_harness::cache`): under umask 002, common on desktops,
/// `target/` itself is such a directory. `/tmp` is sticky, so a directory of
/// ours in it cannot be renamed or replaced by anyone else, and passes.
///
/// # Errors
/// When neither is accepted: both reasons.
pub fn safe_cache_dir(preferred: &Path) -> Result<PathBuf, String> {
    let refused = match CompileCache::new(preferred) {
        Ok(_) => return Ok(preferred.to_path_buf()),
        Err(e) => e,
    };
    let fallback = std::env::temp_dir().join(format!("session-harness-test-cache-{}", uid()?));
    match CompileCache::new(&fallback) {
        Ok(_) => Ok(fallback),
        Err(e) => Err(format!("{refused}; and the fallback: {e}")),
    }
}

/// The user running the tests, as the owner of a file they create (no
/// `libc` needed).
#[cfg(unix)]
fn uid() -> Result<u32, String> {
    use std::os::unix::fs::MetadataExt;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let probe = std::env::temp_dir().join(format!(
        ".session-tests-uid-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let owner = std::fs::File::create_new(&probe).and_then(|f| f.metadata());
    let _ = std::fs::remove_file(&probe);
    owner
        .map(|m| m.uid())
        .map_err(|e| format!("cannot create {}: {e}", probe.display()))
}

/// Anything unique per user will do where there are no uids.
#[cfg(not(unix))]
fn uid() -> Result<String, String> {
    Ok(std::env::var("USERNAME").unwrap_or_default())
}

/// A fixed starting time for test clocks (2026-01-01T00:00:00Z).
pub const T0: Duration = Duration::from_secs(1_767_225_600);

/// A harness on a [`ManualClock`] at [`T0`], an in-memory kv, a small instance
/// pool and the shared test compile cache ([`test_cache_dir`]).
pub fn harness() -> (Harness, ManualClock, Arc<MemoryBackend>) {
    let clock = ManualClock::new(T0);
    let kv = Arc::new(MemoryBackend::new(Arc::new(clock.clone())));
    let harness = harness_on(kv.clone(), &clock);
    (harness, clock, kv)
}

/// Which kv backend a test stands a plugin up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kv {
    /// The embedded in-memory backend, ttls on the test clock.
    Memory,
    /// A fresh key prefix on the Redis server of [`redis_url`].
    Redis,
}

impl Kv {
    /// A new, empty backend of this kind on `clock`.
    pub fn backend(self, clock: &ManualClock) -> Arc<dyn KvBackend> {
        match self {
            Kv::Memory => Arc::new(MemoryBackend::new(Arc::new(clock.clone()))),
            Kv::Redis => Arc::new(redis_backend()),
        }
    }
}

/// Environment variable naming the Redis server the tests use.
pub const REDIS_URL_VAR: &str = "SESSION_TEST_REDIS_URL";

/// The Redis server for tests, from [`REDIS_URL_VAR`].
///
/// # Panics
/// When it is not set, with a message that says how to get one: a suite must
/// never pass by skipping its subject.
pub fn redis_url() -> String {
    std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{REDIS_URL_VAR} is not set: run the tests with `make test`, which installs and \
             starts a redis-server, or start one yourself and set {REDIS_URL_VAR}=redis://127.0.0.1:6379/"
        )
    })
}

/// A key prefix no other test uses, so tests running in parallel on one
/// Redis server never see each other's keys.
pub fn unique_redis_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "test:{}:{}:{}:",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A backend on the test Redis server under a fresh [`unique_redis_prefix`].
pub fn redis_backend() -> RedisBackend {
    redis_backend_at(&redis_url(), &unique_redis_prefix())
}

/// A backend on the Redis server at `url` under key prefix `prefix`, with
/// timeouts that suit many test threads on a loaded machine.
pub fn redis_backend_at(url: &str, prefix: &str) -> RedisBackend {
    redis_backend_with(url, prefix, |b| b)
}

/// [`redis_backend_at`], with the builder changed by `configure` before it
/// connects (a namespace quota, say).
pub fn redis_backend_with(
    url: &str,
    prefix: &str,
    configure: impl FnOnce(RedisBackendBuilder) -> RedisBackendBuilder,
) -> RedisBackend {
    let builder = RedisBackend::builder(url)
        .key_prefix(prefix)
        .io_timeout(Duration::from_secs(2))
        .checkout_timeout(Duration::from_secs(2));
    configure(builder)
        .connect()
        .unwrap_or_else(|e| panic!("{e} (is the server from {REDIS_URL_VAR} running?)"))
}

/// A harness like [`harness`] on the kv backend `kv`.
pub fn harness_on(kv: Arc<dyn KvBackend>, clock: &ManualClock) -> Harness {
    Harness::builder()
        .clock(Arc::new(clock.clone()))
        .kv_backend(kv)
        .engine_settings(EngineSettings {
            max_instances: 32,
            ..EngineSettings::default()
        })
        .cache_dir(test_cache_dir())
        .build()
        .expect("harness builds")
}

/// A harness like [`harness`] whose memory kv holds at most `quota` bytes
/// per namespace.
pub fn harness_with_kv_quota(quota: usize) -> Harness {
    let clock = ManualClock::new(T0);
    let kv = MemoryBackend::new(Arc::new(clock.clone())).with_namespace_quota(quota);
    harness_on(Arc::new(kv), &clock)
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

/// Loads guest `stem` into `harness` under kv namespace `ns` (no config).
pub fn load_in_namespace(harness: &Harness, stem: &str, ns: &str) -> Plugin {
    harness
        .load_file(guest_path(stem), LoadOptions::default().namespace(ns))
        .unwrap_or_else(|e| panic!("loading {stem} in namespace {ns}: {e}"))
}

/// Two fixed 32-byte keys, hex, for cookie-session tests.
pub const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// See [`KEY_A`].
pub const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

/// The `session-harness` binary (built by `make build`) as a command, with
/// the shared test compile cache ([`test_cache_dir`]) and no
/// `SESSION_HARNESS_KV` from the environment.
///
/// # Panics
/// When the binary is missing, with a message that says how to build it
/// ([`missing_cli`]).
pub fn harness_cli() -> std::process::Command {
    let bin = target_dir().join("release/session-harness");
    assert!(bin.is_file(), "{}", missing_cli(&bin));
    let mut cmd = std::process::Command::new(bin);
    cmd.env("SESSION_HARNESS_CACHE_DIR", test_cache_dir())
        // The in-memory kv unless a test asks for another.
        .env_remove("SESSION_HARNESS_KV");
    cmd
}

/// What [`harness_cli`] says when the binary `bin` is not there: how to
/// build it, and that `cargo test` does not (a test run after a change to
/// the CLI tests the binary built before it, until it is rebuilt).
pub fn missing_cli(bin: &Path) -> String {
    format!(
        "{} is missing: build it with `cargo build --release -p host-harness --bins` \
         (or run `make test`, which builds it first). `cargo test` alone does not build \
         or rebuild it: rebuild after changing the CLI, or the tests run the old binary",
        bin.display()
    )
}

#[cfg(test)]
mod cli_tests {
    use super::*;

    /// The message once said only `make build`, and not that `cargo test`
    /// leaves the binary as it was.
    #[test]
    fn a_missing_cli_says_how_to_build_it() {
        let m = missing_cli(Path::new("target/release/session-harness"));
        assert!(
            m.starts_with("target/release/session-harness is missing"),
            "{m}"
        );
        assert!(
            m.contains("`cargo build --release -p host-harness --bins`"),
            "{m}"
        );
        assert!(m.contains("`make test`"), "{m}");
        assert!(
            m.contains("`cargo test` alone does not build or rebuild it"),
            "{m}"
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Under umask 002 `target/` is group-writable, so the harness refuses a
    /// cache in it: the tests then use a private directory in the sticky
    /// temp directory instead of failing to build a harness.
    #[test]
    fn a_group_writable_parent_means_the_private_temp_cache() {
        let base = std::env::temp_dir().join(format!("fixtures-umask-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let preferred = base.join("cache");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            safe_cache_dir(&preferred).unwrap(),
            preferred,
            "a safe one is used"
        );

        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o775)).unwrap();
        let refused = CompileCache::new(&preferred).unwrap_err().to_string();
        let chosen = safe_cache_dir(&preferred);
        std::fs::remove_dir_all(&base).unwrap();
        assert!(refused.contains("others can write to"), "{refused}");
        let chosen = chosen.unwrap();
        assert_ne!(chosen, preferred);
        assert!(
            chosen.starts_with(std::env::temp_dir()),
            "{}",
            chosen.display()
        );
        let mode = std::fs::metadata(&chosen).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", chosen.display());
        Harness::builder()
            .cache_dir(&chosen)
            .build()
            .expect("the harness takes the fallback");
    }

    #[test]
    fn a_scratch_cache_is_accepted_and_fresh() {
        let (a, b) = (scratch_cache_dir("t"), scratch_cache_dir("t"));
        assert_ne!(a, b);
        assert!(!a.exists());
        CompileCache::new(&a).expect("accepted");
        std::fs::remove_dir_all(&a).unwrap();
    }
}
