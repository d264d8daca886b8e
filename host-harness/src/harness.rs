//! The harness: one engine, one linker, one clock and one kv backend shared by
//! every plugin it loads.

use crate::bindings::SessionHostPre;
use crate::cache::{CacheOutcome, CompileCache};
use crate::capabilities;
use crate::clock::{Clock, SystemClock};
use crate::engine::{EngineSettings, EpochTicker, build_engine};
use crate::error::{LoadError, SetupError, chain};
use crate::kv::KvBackend;
use crate::kv::memory::MemoryBackend;
use crate::limits::Limits;
use crate::plugin::Plugin;
use crate::pool::InstancePool;
use crate::state::HostState;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_config::WasiConfigVariables;

/// What every plugin of a harness shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) kv: Arc<dyn KvBackend>,
    pub(crate) limits: Limits,
    pub(crate) cache: Option<CompileCache>,
    /// The instance pools of every plugin loaded (and not yet dropped), so
    /// a plugin that finds no instance slot free can take one another
    /// plugin holds idle.
    pools: Mutex<Vec<Weak<InstancePool>>>,
    _ticker: EpochTicker,
}

impl Shared {
    /// Keeps `pool` among those [`Shared::evict_idle_instance`] draws on.
    pub(crate) fn register_pool(&self, pool: &Arc<InstancePool>) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.retain(|p| p.strong_count() > 0);
            pools.push(Arc::downgrade(pool));
        }
    }

    /// Drops one idle instance of another plugin than `asking`'s (the one
    /// holding the most first; if its callers took them all meanwhile, the
    /// next), so its instance slot can be used by `asking`, which found
    /// none free; false when no other plugin holds one idle.
    pub(crate) fn evict_idle_instance(&self, asking: &Arc<InstancePool>) -> bool {
        let mut others: Vec<(usize, Arc<InstancePool>)> = match self.pools.lock() {
            Ok(pools) => pools
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|p| !Arc::ptr_eq(p, asking))
                .map(|p| (p.idle(), p))
                .filter(|(idle, _)| *idle > 0)
                .collect(),
            Err(_) => return false,
        };
        others.sort_by_key(|(idle, _)| std::cmp::Reverse(*idle));
        others.iter().any(|(_, p)| p.evict_one())
    }
}

/// Loads session plugins and runs them in a sandbox. Cheap to clone.
#[derive(Clone)]
pub struct Harness {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("kv", &self.shared.kv.name())
            .field("limits", &self.shared.limits)
            .field("cache", &self.shared.cache)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Harness`].
pub struct HarnessBuilder {
    clock: Option<Arc<dyn Clock>>,
    kv: Option<Arc<dyn KvBackend>>,
    limits: Limits,
    engine: EngineSettings,
    cache_dir: Option<PathBuf>,
}

impl HarnessBuilder {
    /// The clock guests and kv ttls read (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The kv backend (default: a [`MemoryBackend`] on the harness clock).
    pub fn kv_backend(mut self, kv: Arc<dyn KvBackend>) -> Self {
        self.kv = Some(kv);
        self
    }

    /// Default limits for plugins loaded without their own.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Engine-wide settings.
    pub fn engine_settings(mut self, settings: EngineSettings) -> Self {
        self.engine = settings;
        self
    }

    /// Caches compiled components in `dir` (default: no disk cache).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Builds the engine, the linker and the epoch ticker.
    pub fn build(self) -> Result<Harness, SetupError> {
        let engine = build_engine(&self.engine)?;
        let linker = capabilities::linker(&engine)?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let kv = self
            .kv
            .unwrap_or_else(|| Arc::new(MemoryBackend::new(clock.clone())));
        let cache = self.cache_dir.map(CompileCache::new).transpose()?;
        let ticker = EpochTicker::start(engine.clone());
        if !ticker.running() {
            return Err(SetupError::Engine(
                "cannot start the epoch ticker thread that enforces deadlines".to_string(),
            ));
        }
        Ok(Harness {
            shared: Arc::new(Shared {
                engine,
                linker,
                clock,
                kv,
                limits: self.limits,
                cache,
                pools: Mutex::new(Vec::new()),
                _ticker: ticker,
            }),
        })
    }
}

/// How to load one plugin. Its `Debug` output names the configuration keys
/// but not their values (`cookie.keys` holds secrets).
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Name used in messages (default: the file stem, or `plugin-<hash>` for bytes).
    pub name: Option<String>,
    /// kv namespace (default: the name; for bytes loaded without a name,
    /// `plugin-<the whole SHA-256 of the bytes>`). Plugins with different namespaces
    /// cannot see each other's keys; give a new version of a store the old
    /// one's namespace to keep its sessions. Two files with the same stem
    /// share one by default: give a plugin you do not trust its own.
    pub namespace: Option<String>,
    /// Settings the plugin reads through `wasi:config/store`.
    pub config: Vec<(String, String)>,
    /// Limits (default: the harness defaults).
    pub limits: Option<Limits>,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// A setting with its value shown by length only.
        struct Redacted<'a>(&'a str, usize);
        impl std::fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "({:?}, <{} bytes>)", self.0, self.1)
            }
        }
        let config: Vec<Redacted<'_>> = self
            .config
            .iter()
            .map(|(k, v)| Redacted(k, v.len()))
            .collect();
        f.debug_struct("LoadOptions")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("config", &config)
            .field("limits", &self.limits)
            .finish()
    }
}

impl LoadOptions {
    /// Adds one `wasi:config` setting. Each key may be given once: loading
    /// refuses a key given twice (`LoadError::Config`) rather than keep one.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// Adds several `wasi:config` settings (each key once, as
    /// [`LoadOptions::config`]).
    pub fn configs<K, V>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.config
            .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the kv namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }
}

/// How a load went: compile or cache, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Cache lookup result.
    pub cache: CacheOutcome,
    /// Time to get a compiled component (compile or cache read).
    pub compile: Duration,
    /// Time to link and probe the plugin with `info`.
    pub link_and_probe: Duration,
}

impl Harness {
    /// A harness with the defaults: system clock, in-memory kv, default limits.
    pub fn new() -> Result<Self, SetupError> {
        Self::builder().build()
    }

    /// Starts configuring a harness.
    pub fn builder() -> HarnessBuilder {
        HarnessBuilder {
            clock: None,
            kv: None,
            limits: Limits::default(),
            engine: EngineSettings::default(),
            cache_dir: None,
        }
    }

    /// The clock shared by guests and the kv backend.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// The kv backend.
    pub fn kv_backend(&self) -> &Arc<dyn KvBackend> {
        &self.shared.kv
    }

    /// The compile cache, if any.
    pub fn cache(&self) -> Option<&CompileCache> {
        self.shared.cache.as_ref()
    }

    /// Loads a plugin from a `.wasm` file.
    pub fn load_file(
        &self,
        path: impl AsRef<Path>,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        self.load_file_with_report(path, options).map(|(p, _)| p)
    }

    /// [`Harness::load_file`], also reporting how the load went.
    pub fn load_file_with_report(
        &self,
        path: impl AsRef<Path>,
        mut options: LoadOptions,
    ) -> Result<(Plugin, LoadReport), LoadError> {
        let path = path.as_ref();
        let bytes = read_plugin(path)?;
        if options.name.is_none() {
            options.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().replace('_', "-"));
        }
        self.load_bytes_with_report(&bytes, options)
    }

    /// Loads a plugin from the bytes of a component.
    pub fn load_bytes(&self, wasm: &[u8], options: LoadOptions) -> Result<Plugin, LoadError> {
        self.load_bytes_with_report(wasm, options).map(|(p, _)| p)
    }

    /// [`Harness::load_bytes`], also reporting how the load went.
    pub fn load_bytes_with_report(
        &self,
        wasm: &[u8],
        mut options: LoadOptions,
    ) -> Result<(Plugin, LoadReport), LoadError> {
        let name = match options.name.clone() {
            Some(name) => name,
            None => {
                // Named for messages by a short prefix of its hash, but kept
                // in a namespace of the whole hash: another component cannot
                // be made to land in it by matching a few bytes.
                let h = Sha256::digest(wasm);
                if options.namespace.is_none() {
                    options.namespace = Some(format!("plugin-{}", crate::cache::hex(&h)));
                }
                format!("plugin-{}", crate::cache::hex(&h[..4]))
            }
        };
        let started = Instant::now();
        let (component, cache) = self.compile(&name, wasm)?;
        let compile = started.elapsed();
        let started = Instant::now();
        let plugin = self.link(name, &component, options)?;
        Ok((
            plugin,
            LoadReport {
                cache,
                compile,
                link_and_probe: started.elapsed(),
            },
        ))
    }

    fn compile(&self, name: &str, wasm: &[u8]) -> Result<(Component, CacheOutcome), LoadError> {
        check_header(name, wasm)?;
        if let Some(encoding) = crate::string_encoding::non_utf8_encoding(wasm) {
            return Err(LoadError::Invalid {
                plugin: name.to_string(),
                message: format!(
                    "it passes strings as {encoding} (a canonical lift or lower with \
                     string-encoding={encoding}); this host takes UTF-8 strings only, which it \
                     can check for size before copying them"
                ),
            });
        }
        let compiled = match &self.shared.cache {
            Some(cache) => cache.load_or_compile(&self.shared.engine, wasm),
            None => Component::new(&self.shared.engine, wasm).map(|c| (c, CacheOutcome::Disabled)),
        };
        compiled.map_err(|e| LoadError::Invalid {
            plugin: name.to_string(),
            message: chain(&e),
        })
    }

    fn link(
        &self,
        name: String,
        component: &Component,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        let instance_pre = self.shared.linker.instantiate_pre(component).map_err(|e| {
            LoadError::MissingImport {
                plugin: name.clone(),
                message: chain(&e),
            }
        })?;
        let pre = SessionHostPre::new(instance_pre).map_err(|e| LoadError::WrongWorld {
            plugin: name.clone(),
            message: chain(&e),
        })?;
        let namespace: Arc<str> = Arc::from(options.namespace.as_deref().unwrap_or(&name));
        if namespace.starts_with(crate::kv::RESERVED_NAMESPACE_PREFIX) {
            return Err(LoadError::Config {
                plugin: name,
                message: format!(
                    "kv namespace {namespace:?} is reserved for the harness (names starting \
                     with {:?} hold its own records, such as migration markers)",
                    crate::kv::RESERVED_NAMESPACE_PREFIX
                ),
            });
        }
        if let Some(message) = repeated_setting(&options.config) {
            return Err(LoadError::Config {
                plugin: name,
                message,
            });
        }
        let limits = options.limits.unwrap_or_else(|| self.shared.limits.clone());
        check_settings_fit_limits(&options.config, &limits).map_err(|message| {
            LoadError::Config {
                plugin: name.clone(),
                message,
            }
        })?;
        let default_seal = default_seal_bytes(&options.config);
        let max_data_bytes = setting_number(&options.config, "session.max-data-bytes");
        let config: WasiConfigVariables = options.config.into_iter().collect();
        let plugin = Plugin::start(
            self.shared.clone(),
            name.clone(),
            pre,
            config,
            namespace,
            limits,
        )
        .map_err(|e| LoadError::Probe {
            plugin: name.clone(),
            source: Box::new(e),
        })?;
        // A server-side store keeps each session as one kv value: data it
        // accepts must fit one, or a `create` the store let through fails
        // at the kv as a backend error instead of `too-large`.
        let data_room = (crate::kv::host::MAX_VALUE_BYTES - KV_RECORD_ROOM) as u64;
        if plugin.info().server_side
            && let Some(v) = max_data_bytes
            && v > data_room
        {
            return Err(LoadError::Config {
                plugin: name,
                message: format!(
                    "session.max-data-bytes = {v} is more than a server-side store can keep \
                     in one kv value ({data_room} bytes: the kv's largest value, {} bytes, less \
                     {KV_RECORD_ROOM} for the store's own record): lower session.max-data-bytes",
                    crate::kv::host::MAX_VALUE_BYTES
                ),
            });
        }
        // A stateless store's id is the session: without `cookie.max-bytes`
        // its seals grow to the contract's default, which must fit too.
        if let Some(bytes) = default_seal
            && !plugin.info().server_side
            && bytes > plugin.limits().max_id_bytes
        {
            return Err(LoadError::Config {
                plugin: name,
                message: format!(
                    "cookie.max-bytes is not set, so a stateless store's seals may grow to its \
                     default of {bytes} bytes (4096 minus the cookie name and \"=\"), more than \
                     the host's max_id_bytes ({} bytes): set cookie.max-bytes to at most that \
                     or raise Limits::max_id_bytes",
                    plugin.limits().max_id_bytes
                ),
            });
        }
        Ok(plugin)
    }
}

/// Largest plugin file [`read_plugin`] reads: far above any session store
/// (ours are under 200 KiB), far below what would strain the host.
pub const MAX_PLUGIN_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a plugin file: a regular file of at most [`MAX_PLUGIN_FILE_BYTES`].
/// A directory, a FIFO (reading one waits for a writer) or a device such
/// as `/dev/zero` (endless) is refused before it is opened.
pub fn read_plugin(path: &Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let io = |source: std::io::Error| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |why: String| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    let checked = |meta: std::fs::Metadata| {
        if !meta.is_file() {
            return Err(refuse("not a regular file".to_string()));
        }
        if meta.len() > MAX_PLUGIN_FILE_BYTES {
            return Err(refuse(format!(
                "it is {} bytes, over the {MAX_PLUGIN_FILE_BYTES} a plugin may be",
                meta.len()
            )));
        }
        Ok(meta.len())
    };
    checked(std::fs::metadata(path).map_err(io)?)?;
    let file = std::fs::File::open(path).map_err(io)?;
    // Checked again on the open file, which cannot be swapped any more (a
    // FIFO swapped in between the two checks would still block in `open`).
    let len = checked(file.metadata().map_err(io)?)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_PLUGIN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_PLUGIN_FILE_BYTES {
        return Err(refuse(format!(
            "it grew past the {MAX_PLUGIN_FILE_BYTES} bytes a plugin may be while being read"
        )));
    }
    Ok(bytes)
}

/// A setting given twice: refused rather than one silently dropped (two
/// `cookie.keys` given to rotate would otherwise lose the first key). A key
/// longer than any real setting's name is shown by its length only.
fn repeated_setting(config: &[(String, String)]) -> Option<String> {
    let mut seen = std::collections::HashSet::with_capacity(config.len());
    let key = config.iter().map(|(k, _)| k).find(|k| !seen.insert(*k))?;
    let shown = if key.len() <= 40 {
        format!("{key:?}")
    } else {
        format!("of {} bytes", key.len())
    };
    Some(format!(
        "configuration key {shown} is given more than once; give it once (several \
         cookie keys go comma-separated in one cookie.keys)"
    ))
}

/// Room a server-side store needs in a kv value beside the session data
/// (kv-session's record: a 29-byte header and a user id of up to 1 KiB).
const KV_RECORD_ROOM: usize = 4096;

/// The setting `key` read as a number, if it is one.
fn setting_number(config: &[(String, String)], key: &str) -> Option<u64> {
    setting(config, key).and_then(|v| v.trim().parse::<u64>().ok())
}

/// The contract's size settings must fit the host's output limits, or a
/// session could be stored and then never be returned.
fn check_settings_fit_limits(config: &[(String, String)], limits: &Limits) -> Result<(), String> {
    let number = |key: &str| setting_number(config, key);
    let fits = |key: &str, limit: usize, name: &str| match number(key) {
        Some(v) if v > limit as u64 => Err(format!(
            "{key} = {v} is more than the host's {name} ({limit} bytes): raise Limits::{name} or lower {key}"
        )),
        _ => Ok(()),
    };
    fits(
        "session.max-data-bytes",
        limits.max_output_bytes,
        "max_output_bytes",
    )?;
    fits("cookie.max-bytes", limits.max_id_bytes, "max_id_bytes")
}

/// The contract's default `cookie.max-bytes` (4096 minus the cookie name
/// and `=`) when the setting is not given, else none.
fn default_seal_bytes(config: &[(String, String)]) -> Option<usize> {
    if setting(config, "cookie.max-bytes").is_some() {
        return None;
    }
    let name = setting(config, "cookie.name").unwrap_or("id");
    Some(crate::session_cookie::max_value_bytes(name))
}

/// The value of `key` in `config` (each key is given once:
/// `repeated_setting` runs first).
fn setting<'c>(config: &'c [(String, String)], key: &str) -> Option<&'c str> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Tells "not wasm" and "core module" apart from a broken component, so the
/// error says what the file is.
fn check_header(name: &str, wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(LoadError::NotWasm {
            plugin: name.to_string(),
        });
    }
    // Bytes 4..8: version 1, layer 0 is a core module; components use layer 1.
    if wasm[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::NotAComponent {
            plugin: name.to_string(),
        });
    }
    Ok(())
}
