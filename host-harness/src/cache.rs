//! On-disk cache of compiled components, so loading an unchanged plugin is a
//! file read instead of a compile.
//!
//! An entry is named by the SHA-256 of the wasm and a hash of the engine's
//! compatibility settings and wasmtime version; it holds the SHA-256 of the
//! compiled artifact followed by the artifact, which is verified before
//! wasmtime is asked to deserialize it.

use crate::error::SetupError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What happened when a component was looked up in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache configured: compiled.
    Disabled,
    /// Loaded from the cache.
    Hit,
    /// Compiled and stored.
    Stored,
    /// Compiled, but the entry could not be stored (the reason).
    NotStored(String),
    /// An entry existed but was unusable (the reason); compiled and replaced.
    Replaced(String),
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Uses (and creates) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SetupError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| SetupError::Cache {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// `$SESSION_HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/session-harness`,
    /// else `$HOME/.cache/session-harness`, else the system temp directory.
    pub fn default_dir() -> PathBuf {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("SESSION_HARNESS_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("session-harness")))
            .or_else(|| env("HOME").map(|d| d.join(".cache").join("session-harness")))
            .unwrap_or_else(|| std::env::temp_dir().join("session-harness"))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        let wasm_hash = hex(&Sha256::digest(wasm));
        self.dir
            .join(format!("{wasm_hash}-{:016x}.cwasm", h.finish()))
    }

    /// The compiled component for `wasm`, from the cache or freshly compiled.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(engine, wasm);
        let mut replaced = None;
        match std::fs::read(&path) {
            Ok(bytes) => match verified_payload(&bytes) {
                Some(payload) => {
                    // SAFETY: the payload is byte for byte what `serialize`
                    // produced for this engine configuration (checked by the
                    // digest above), and wasmtime checks the version header.
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(c) => return Ok((c, CacheOutcome::Hit)),
                        Err(e) => replaced = Some(format!("cannot deserialize: {e}")),
                    }
                }
                None => replaced = Some("checksum mismatch".to_string()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => replaced = Some(format!("cannot read: {e}")),
        }
        let component = Component::new(engine, wasm)?;
        let outcome = match component.serialize() {
            Ok(bytes) => match write_entry(&path, &bytes) {
                Ok(()) => match replaced {
                    Some(why) => CacheOutcome::Replaced(why),
                    None => CacheOutcome::Stored,
                },
                Err(e) => CacheOutcome::NotStored(format!("{}: {e}", path.display())),
            },
            Err(e) => CacheOutcome::NotStored(format!("cannot serialize: {e}")),
        };
        Ok((component, outcome))
    }
}

fn verified_payload(bytes: &[u8]) -> Option<&[u8]> {
    let (digest, payload) = bytes.split_at_checked(32)?;
    (Sha256::digest(payload).as_slice() == digest).then_some(payload)
}

/// Writes atomically: a temporary file renamed into place.
fn write_entry(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&Sha256::digest(payload))?;
    f.write_all(payload)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_entries_are_detected() {
        let mut entry = Sha256::digest(b"payload").to_vec();
        entry.extend_from_slice(b"payload");
        assert_eq!(verified_payload(&entry), Some(&b"payload"[..]));
        let last = entry.len() - 1;
        entry[last] ^= 1;
        assert_eq!(verified_payload(&entry), None);
        assert_eq!(verified_payload(b"short"), None);
    }
}
