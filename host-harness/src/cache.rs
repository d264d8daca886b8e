//! On-disk cache of compiled components, so loading an unchanged plugin is a
//! file read instead of a compile.
//!
//! An entry is named by the SHA-256 of the wasm and a hash of the engine's
//! compatibility settings and wasmtime version; it holds the SHA-256 of the
//! compiled artifact followed by the artifact, which is verified before
//! wasmtime is asked to deserialize it.
//!
//! A compiled artifact is native code: whoever can write the cache directory
//! can run code in the host. The digest catches corruption, not tampering, so
//! the directory must belong to the user running the host and be writable by
//! no one else; [`CompileCache::new`] creates it that way (mode 0700) and
//! refuses one that is group- or world-writable or owned by someone else.

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
    /// Uses `dir`, creating it (mode 0700) when missing; refuses a directory
    /// others could write to.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SetupError> {
        let dir = dir.into();
        let err = |source| SetupError::Cache {
            path: dir.clone(),
            source,
        };
        create_private_dir(&dir).map_err(err)?;
        check_private_dir(&dir).map_err(err)?;
        Ok(Self { dir })
    }

    /// `$SESSION_HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/session-harness`,
    /// else `$HOME/.cache/session-harness`; none when none of those is set
    /// (a shared temp directory is never used).
    pub fn default_dir() -> Option<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("SESSION_HARNESS_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("session-harness")))
            .or_else(|| env("HOME").map(|d| d.join(".cache").join("session-harness")))
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
                    // wrote (the digest above catches corruption), the file
                    // lives in a directory only this user can write (checked
                    // in `new`), and wasmtime checks its version header and
                    // engine compatibility before using it.
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

/// Creates `dir` and its parents; the last component with mode 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Refuses a cache directory that someone else owns or could write to.
fn check_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(dir)?;
        let insecure = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("refusing a compile cache {why}: compiled code from it runs in the host"),
            )
        };
        if !meta.is_dir() {
            return Err(insecure("that is not a plain directory"));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(insecure("that others can write to"));
        }
        // Our own uid, as the owner of a file we create.
        let probe = dir.join(format!(".owner-{}", random_suffix()));
        let mine = std::fs::File::create_new(&probe).and_then(|f| f.metadata());
        let _ = std::fs::remove_file(&probe);
        if meta.uid() != mine?.uid() {
            return Err(insecure("owned by another user"));
        }
    }
    Ok(())
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    // Uniqueness, not secrecy: fall back to the pid if randomness fails.
    if getrandom::fill(&mut bytes).is_err() {
        return std::process::id().to_string();
    }
    hex(&bytes)
}

/// Writes atomically: a new, uniquely named file renamed into place.
fn write_entry(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", random_suffix()));
    let mut f = std::fs::File::create_new(&tmp)?;
    f.write_all(&Sha256::digest(payload))?;
    f.write_all(payload)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cache-perm-test-{}", random_suffix()));
        let cache = CompileCache::new(&dir).unwrap();
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::new(&dir).unwrap_err().to_string();
        assert!(err.contains("others can write"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
