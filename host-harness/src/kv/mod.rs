//! The key-value capability server-side plugins import (`session:plugin/kv`).
//!
//! Backends sit behind one trait, [`KvBackend`]; [`memory::MemoryBackend`] is
//! the embedded default. [`host`] binds a backend to a plugin's namespace and
//! enforces the host's limits on what the guest passes in.

pub mod host;
pub mod memory;
pub mod redis;

use std::sync::Arc;

/// kv namespaces starting with this belong to the harness (migration markers
/// among them); no plugin is loaded into one.
pub const RESERVED_NAMESPACE_PREFIX: &str = "session-harness/";

/// Why a backend operation failed (mirrors `kv-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The backend failed; carries its message.
    #[error("kv backend: {0}")]
    Backend(String),
    /// A key or value exceeds the host's limits.
    #[error("kv limit: {0}")]
    TooLarge(String),
}

/// The error every backend (and the guest-facing kv host) gives for a
/// listing with a limit of 0: a page of no keys could never move on.
pub(crate) fn zero_limit() -> KvError {
    KvError::Backend(
        "list-keys limit must be at least 1 (a page of 0 keys could never move on)".to_string(),
    )
}

/// The error every backend (and the guest-facing kv host) gives for a ttl of
/// 0: such a write would store a key that is dead already.
pub(crate) fn zero_ttl() -> KvError {
    KvError::Backend(
        "ttl-seconds must be at least 1 (0 would write a key that is already expired)".to_string(),
    )
}

/// When `set` writes (mirrors `write-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Always write.
    Always,
    /// Only when no live key exists.
    IfAbsent,
    /// Only when a live key exists.
    IfPresent,
}

/// What a backend checks before it writes, in the same atomic step: the
/// guest's write modes, or (for the harness's own records) that the key
/// holds a given value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteIf<'a> {
    /// One of the guest's write modes.
    Mode(WriteMode),
    /// Only while the live key holds exactly these bytes.
    Holds(&'a [u8]),
}

/// One page of keys (mirrors `key-page`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    /// Live keys, ascending byte order.
    pub keys: Vec<String>,
    /// Where to continue; none when there is nothing more.
    pub cursor: Option<String>,
}

/// A key-value store with per-key ttls, partitioned into namespaces.
///
/// Every implementation guarantees the semantics in DESIGN.md: an expired key
/// is invisible to every operation; `set` with `IfAbsent`/`IfPresent` checks and
/// writes in one atomic step; `list_keys` returns live keys with `prefix`,
/// strictly after `cursor`, ascending, at most `limit` (a limit of 0 is
/// refused as `KvError::Backend`: a page of no keys could never move on).
pub trait KvBackend: Send + Sync + 'static {
    /// A short name for messages and reports, e.g. `memory`.
    fn name(&self) -> &str;

    /// Reads a live key.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Writes a key that expires after `ttl_seconds` (none: never). Returns
    /// whether it wrote. A ttl of 0 is refused (`KvError::Backend`), writing
    /// nothing.
    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError>;

    /// Deletes a key; true when a live key existed.
    fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError>;

    /// Deletes a key only while its live value is `expected`, the check and
    /// the delete in one atomic step (Redis: a script; SQL: `DELETE ... WHERE
    /// value = ?`); true when it deleted. Not part of the guest's `kv`
    /// import: the harness takes back a record it wrote itself with it
    /// (a migration marker) without removing one written over it meanwhile.
    fn delete_if_equals(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, KvError>;

    /// Writes `value` (expiring after `ttl_seconds`, none: never) over a key
    /// only while its live value is `expected`, the check and the write in
    /// one atomic step (Redis: a script; SQL: `UPDATE ... WHERE value = ?`);
    /// true when it wrote. A ttl of 0 is refused (`KvError::Backend`). Not
    /// part of the guest's `kv` import: the harness changes a record it wrote
    /// itself with it (a migration marker naming another store) without
    /// overwriting one written over it meanwhile, and without a moment in
    /// which the key holds nothing.
    fn replace_if_equals(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> Result<bool, KvError>;

    /// Lists live keys starting with `prefix`, strictly after `cursor`, at
    /// most `limit` (0 is refused, `KvError::Backend`).
    fn list_keys(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError>;

    /// A handle bound to one namespace, for backends that can serve it faster
    /// than by name (the harness binds each plugin once, at load). The default
    /// is none: calls go through the by-name methods above.
    fn bind(&self, _namespace: &str) -> Option<Arc<dyn KvNamespace>> {
        None
    }
}

/// One namespace of a backend, bound once (see [`KvBackend::bind`]). Same
/// semantics as the by-name methods of [`KvBackend`].
pub trait KvNamespace: Send + Sync + 'static {
    /// Reads a live key.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Writes a key; returns whether it wrote.
    fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError>;

    /// Deletes a key; true when a live key existed.
    fn delete(&self, key: &str) -> Result<bool, KvError>;

    /// Lists live keys starting with `prefix`, strictly after `cursor`.
    fn list_keys(&self, prefix: &str, cursor: Option<&str>, limit: u32)
    -> Result<KeyPage, KvError>;
}

/// Why [`open`] could not give a backend.
#[derive(Debug, thiserror::Error)]
pub enum KvSetupError {
    /// The spec names no backend this build knows.
    #[error("unknown kv backend {0:?}: expected `memory` or a `redis://` URL")]
    Unknown(String),
    /// The Redis backend could not be opened.
    #[error(transparent)]
    Redis(#[from] redis::RedisSetupError),
}

/// The one place a backend is chosen by name: `memory` (the embedded default,
/// ttls on `clock`) or a Redis URL (`redis://`, `redis+unix://`; ttls on the
/// server's clock).
pub fn open(spec: &str, clock: Arc<dyn crate::Clock>) -> Result<Arc<dyn KvBackend>, KvSetupError> {
    if spec == "memory" {
        return Ok(Arc::new(memory::MemoryBackend::new(clock)));
    }
    if spec.starts_with("redis://") || spec.starts_with("redis+unix://") {
        return Ok(Arc::new(redis::RedisBackend::connect(spec)?));
    }
    Err(KvSetupError::Unknown(redis::redact_url(spec)))
}
