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
//! refuses one that is group- or world-writable or owned by someone else, or
//! that sits under a directory someone else could rename it out of (every
//! ancestor must be owned by this user or root and, unless sticky like
//! `/tmp`, writable by neither group nor others: the check ssh makes of
//! `~/.ssh`). An entry that is not a regular file owned by this user and
//! writable by no one else is never loaded: it is recompiled and replaced.

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
    /// The uid that owns the directory and every entry (unix).
    owner: u32,
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
        let (owner, resolved) = check_private_dir(&dir).map_err(err)?;
        // Entries are opened under the path checked: through a symlink met
        // on the way, `dir` could lead elsewhere later.
        Ok(Self {
            dir: resolved,
            owner,
        })
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

    /// Reads an entry that is a regular file of this user's that no one else
    /// can write (checked on the open file, not the path; and whether it is
    /// a regular file also before opening it, as opening a FIFO waits for a
    /// writer that may never come).
    fn read_entry(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let refuse = |why: &str| {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("the entry {why}"),
            ))
        };
        if !std::fs::metadata(path)?.is_file() {
            return refuse("is not a regular file");
        }
        let mut f = std::fs::File::open(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = f.metadata()?;
            if !meta.is_file() {
                return refuse("is not a regular file");
            }
            if meta.uid() != self.owner {
                return refuse("is owned by another user");
            }
            if meta.mode() & 0o022 != 0 {
                return refuse("is writable by others");
            }
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The entry for `wasm` under `engine`: its key (the wasm's SHA-256 and
    /// a hash of the engine's settings) and the file named by it.
    fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> (String, PathBuf) {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        let wasm_hash = hex(&Sha256::digest(wasm));
        let key = format!("{wasm_hash}-{:016x}", h.finish());
        let path = self.dir.join(format!("{key}.cwasm"));
        (key, path)
    }

    /// The compiled component for `wasm`, from the cache or freshly compiled.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let (key, path) = self.entry_path(engine, wasm);
        let mut replaced = None;
        match self.read_entry(&path) {
            Ok(bytes) => match verified_payload(&key, &bytes) {
                Some(payload) => {
                    // SAFETY: the payload is byte for byte what `serialize`
                    // wrote for this key (the digest above catches
                    // corruption and an entry copied under another name), the file
                    // is this user's and lives in a directory only this user
                    // can write (checked in `read_entry` and `new`), and
                    // wasmtime checks its version header and engine
                    // compatibility before using it.
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(c) => return Ok((c, CacheOutcome::Hit)),
                        Err(e) => replaced = Some(format!("cannot deserialize: {e}")),
                    }
                }
                None => {
                    replaced = Some("checksum mismatch (corrupt, or another entry's)".to_string())
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => replaced = Some(format!("cannot use: {e}")),
        }
        let component = Component::new(engine, wasm)?;
        let outcome = match component.serialize() {
            Ok(bytes) => match write_entry(&path, &key, &bytes) {
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

/// The digest an entry starts with: SHA-256 of its key and its payload, so
/// an entry copied under another entry's name (a restore or sync mistake)
/// is not loaded as that wasm.
fn entry_digest(key: &str, payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((key.len() as u64).to_le_bytes());
    h.update(key.as_bytes());
    h.update(payload);
    h.finalize().into()
}

fn verified_payload<'a>(key: &str, bytes: &'a [u8]) -> Option<&'a [u8]> {
    let (digest, payload) = bytes.split_at_checked(32)?;
    (entry_digest(key, payload).as_slice() == digest).then_some(payload)
}

/// Creates `dir` and the parents it lacks, each with mode 0700 whatever
/// the umask (a parent made group-writable under umask 002 would have the
/// cache refused by [`check_private_dir`], on every run).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Refuses a cache directory that someone else owns or could write to, or
/// could swap out through a parent; returns the owning uid and the path
/// with every symlink resolved, the one whose parents were checked.
fn check_private_dir(dir: &Path) -> std::io::Result<(u32, PathBuf)> {
    // Off Unix there is no owner and mode to check here: refused, so the
    // harness compiles without a cache rather than run code from a
    // directory others may write to.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the compile cache checks a directory's owner and mode, which only Unix has here: \
             no cache (compiled code from it runs in the host)",
        ))
    }
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
        let mine = mine?.uid();
        if meta.uid() != mine {
            return Err(insecure("owned by another user"));
        }
        let resolved = std::fs::canonicalize(dir)?;
        for parent in resolved.ancestors().skip(1) {
            let p = std::fs::metadata(parent)?;
            let sticky = p.mode() & 0o1000 != 0;
            if p.uid() != mine && p.uid() != 0 {
                return Err(insecure(&format!(
                    "under {}, which another user owns",
                    parent.display()
                )));
            }
            if p.mode() & 0o022 != 0 && !sticky {
                return Err(insecure(&format!(
                    "under {}, which others can write to (they could replace the cache)",
                    parent.display()
                )));
            }
        }
        Ok((mine, resolved))
    }
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
fn write_entry(path: &Path, key: &str, payload: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", random_suffix()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // Private whatever the umask, as `read_entry` demands.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    let written = f
        .write_all(&entry_digest(key, payload))
        .and_then(|()| f.write_all(payload))
        .and_then(|()| f.sync_all());
    drop(f);
    // Nothing half written is left behind (a full disk would otherwise
    // gain a partial entry on every load that missed).
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
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

    /// A directory under the temp dir not used before, named after `what`.
    fn scratch(what: &str) -> PathBuf {
        std::env::temp_dir().join(format!("{what}-{}", random_suffix()))
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("cache-perm-test");
        let cache = CompileCache::new(&dir).unwrap();
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::new(&dir).unwrap_err().to_string();
        assert!(err.contains("others can write"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_under_one_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let open = scratch("cache-open-parent");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::new(open.join("cache"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("others can write to (they could replace"),
            "{err}"
        );
        // Sticky, like /tmp: others cannot rename what is ours.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        CompileCache::new(open.join("cache")).unwrap();
        std::fs::remove_dir_all(&open).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn entries_others_could_have_written_are_not_loaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("cache-entry-test");
        let cache = CompileCache::new(&dir).unwrap();
        let entry = dir.join("e.cwasm");
        let mut bytes = Sha256::digest(b"payload").to_vec();
        bytes.extend_from_slice(b"payload");
        std::fs::write(&entry, &bytes).unwrap();
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cache.read_entry(&entry).unwrap(), bytes);
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = cache.read_entry(&entry).unwrap_err().to_string();
        assert!(err.contains("writable by others"), "{err}");
        let other = CompileCache {
            owner: cache.owner.wrapping_add(1),
            ..cache.clone()
        };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = other.read_entry(&entry).unwrap_err().to_string();
        assert!(err.contains("owned by another user"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An entry that is a FIFO is refused at once: opening it to read would
    /// wait for a writer, and the load with it, for good.
    #[cfg(unix)]
    #[test]
    fn an_entry_that_is_a_fifo_is_refused_without_waiting() {
        let dir = scratch("cache-fifo-test");
        let cache = CompileCache::new(&dir).unwrap();
        let entry = cache.dir().join("e.cwasm");
        let made = std::process::Command::new("mkfifo")
            .arg(&entry)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let (done, answer) = std::sync::mpsc::channel();
        let reader = cache.clone();
        std::thread::spawn(move || {
            let _ = done.send(reader.read_entry(&entry).map_err(|e| e.to_string()));
        });
        let read = answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO entry answers instead of waiting for a writer");
        let err = read.unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A cache directory named through a symlink is used under the path
    /// whose parents were checked, not the symlink that could be repointed.
    #[cfg(unix)]
    #[test]
    fn a_directory_named_through_a_symlink_is_used_where_it_resolved() {
        let root = scratch("cache-link-test");
        let real = root.join("real");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(&real, root.join("link")).unwrap();
        let cache = CompileCache::new(root.join("link").join("cache")).unwrap();
        let resolved = std::fs::canonicalize(real.join("cache")).unwrap();
        assert_eq!(cache.dir(), resolved);
        let (_, entry) = cache.entry_path(&Engine::default(), b"wasm");
        assert!(entry.starts_with(&resolved), "{}", entry.display());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Missing parents are made private too, whatever the umask: made
    /// group-writable (umask 002), they had the new cache refused.
    #[cfg(unix)]
    #[test]
    fn missing_parents_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = scratch("cache-parents-test");
        let dir = root.join("a").join("b").join("cache");
        CompileCache::new(&dir).unwrap();
        for made in [root.join("a"), root.join("a").join("b"), dir] {
            let mode = std::fs::metadata(&made).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", made.display());
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// An entry is keyed by the wasm and the engine's settings: a change of
    /// either (here the optimisation level) is another entry, never this one.
    #[test]
    fn entries_are_keyed_by_the_wasm_and_the_engine_settings() {
        let dir = scratch("cache-key-test");
        let cache = CompileCache::new(&dir).unwrap();
        let engine = |level| {
            let mut config = wasmtime::Config::new();
            config.cranelift_opt_level(level);
            Engine::new(&config).unwrap()
        };
        let (speed, none) = (
            engine(wasmtime::OptLevel::Speed),
            engine(wasmtime::OptLevel::None),
        );
        let (key, path) = cache.entry_path(&speed, b"wasm one");
        assert_eq!(cache.entry_path(&speed, b"wasm one"), (key.clone(), path));
        assert_ne!(cache.entry_path(&none, b"wasm one").0, key);
        assert_ne!(cache.entry_path(&speed, b"wasm two").0, key);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_entries_are_detected() {
        let mut entry = entry_digest("k1", b"payload").to_vec();
        entry.extend_from_slice(b"payload");
        assert_eq!(verified_payload("k1", &entry), Some(&b"payload"[..]));
        // Copied under another entry's name: not that entry.
        assert_eq!(verified_payload("k2", &entry), None);
        let last = entry.len() - 1;
        entry[last] ^= 1;
        assert_eq!(verified_payload("k1", &entry), None);
        assert_eq!(verified_payload("k1", b"short"), None);
    }
}
