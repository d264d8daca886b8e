//! Typed errors at the library edge.
//!
//! * [`SessionError`]: what the plugin answered (the WIT `session-error`).
//! * [`CallError`]: a call failed, either with a [`SessionError`] or because the
//!   plugin misbehaved on the host's side (trap, deadline, limits, contract).
//! * [`LoadError`]: a file could not be turned into a usable plugin.

use crate::bindings::wit_types as wit;
use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

/// The store's own answer to a bad request (mirrors `session-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No live session has this id.
    #[error("no live session with this id")]
    NotFound,
    /// The id asked for is already taken.
    #[error("the session id is already taken")]
    Conflict,
    /// Malformed, tampered or foreign id.
    #[error("invalid session id: {0}")]
    InvalidId(String),
    /// Data that is not the text of a JSON object, or another argument out
    /// of range (a ttl of zero or beyond the store's limit).
    #[error("invalid data or argument: {0}")]
    InvalidData(String),
    /// An input or the produced id exceeds a configured limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The store cannot do this.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Missing or invalid configuration.
    #[error("configuration error: {0}")]
    Config(String),
    /// The storage backend failed.
    #[error("backend error: {0}")]
    Backend(String),
}

impl From<wit::SessionError> for SessionError {
    fn from(e: wit::SessionError) -> Self {
        use wit::SessionError as W;
        match e {
            W::NotFound => Self::NotFound,
            W::Conflict => Self::Conflict,
            W::InvalidId(m) => Self::InvalidId(m),
            W::InvalidData(m) => Self::InvalidData(m),
            W::TooLarge(m) => Self::TooLarge(m),
            W::Unsupported(m) => Self::Unsupported(m),
            W::Config(m) => Self::Config(m),
            W::Backend(m) => Self::Backend(m),
        }
    }
}

/// Longest message a plugin's `session-error` keeps (its control characters
/// escaped); the rest is cut, so an error cannot carry megabytes into the
/// host's logs.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4096;

impl SessionError {
    /// The same error with `prefix` before its message (variants without a
    /// message are returned as they are).
    pub(crate) fn prefixed(self, prefix: &str) -> Self {
        self.map_message(|m| format!("{prefix}{m}"))
    }

    /// The same error with `f` applied to its message, if it has one.
    fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::InvalidId(m) => Self::InvalidId(f(m)),
            Self::InvalidData(m) => Self::InvalidData(f(m)),
            Self::TooLarge(m) => Self::TooLarge(f(m)),
            Self::Unsupported(m) => Self::Unsupported(f(m)),
            Self::Config(m) => Self::Config(f(m)),
            Self::Backend(m) => Self::Backend(f(m)),
            other => other,
        }
    }

    /// The message as the host passes it on from a plugin: its control
    /// characters escaped ([`crate::text::escape_controls`]), so a plugin
    /// cannot forge a line in the host's log or send a terminal an escape
    /// sequence, and cut to [`MAX_ERROR_MESSAGE_BYTES`] (escapes included,
    /// never inside one), saying how much was cut.
    pub(crate) fn sanitized(self) -> Self {
        self.map_message(shown_from_plugin)
    }
}

/// `m`, text a plugin chose, as the host passes it on: control characters
/// escaped ([`crate::text::escape_controls`]) and cut to
/// [`MAX_ERROR_MESSAGE_BYTES`] (escapes included, never inside one), saying
/// how much was cut.
fn shown_from_plugin(m: String) -> String {
    let shown = match crate::text::escape_controls_within(&m, MAX_ERROR_MESSAGE_BYTES) {
        (Cow::Borrowed(_), _) => None,
        (shown, 0) => Some(shown.into_owned()),
        (shown, cut) => Some(format!("{shown}… ({cut} more bytes cut by the host)")),
    };
    // The message itself when it needed nothing: no copy.
    shown.unwrap_or(m)
}

/// What ran out, for [`CallError::Timeout`]'s message.
fn timeout_cause(deadline: Duration, wall_time: bool) -> String {
    if wall_time {
        let cap = deadline.saturating_mul(crate::state::WALL_FACTOR);
        format!(
            "ran for {cap:?} of wall time ({}x its {deadline:?} CPU deadline, mostly off the CPU: a slow kv backend or a busy machine)",
            crate::state::WALL_FACTOR
        )
    } else {
        format!("used its {deadline:?} CPU deadline")
    }
}

/// Why a call into a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin answered with a session error.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The call used its CPU deadline, or ran for five times that in wall
    /// time, and was interrupted.
    #[error("plugin {plugin}: {op} {} and was stopped", timeout_cause(*deadline, *wall_time))]
    Timeout {
        /// Plugin name.
        plugin: String,
        /// Operation name.
        op: &'static str,
        /// The CPU deadline in force.
        deadline: Duration,
        /// Stopped by the cap on wall time (the call spent it mostly off the
        /// CPU: waiting on a slow kv backend, or for a core), not by using
        /// its CPU deadline.
        wall_time: bool,
    },
    /// The guest tried to grow its memory past the instance limit.
    #[error("plugin {plugin}: {op} hit the {limit_bytes}-byte memory limit")]
    MemoryLimit {
        /// Plugin name.
        plugin: String,
        /// Operation name.
        op: &'static str,
        /// The configured limit.
        limit_bytes: usize,
    },
    /// The guest trapped (panic, `unreachable`, out-of-bounds access...).
    #[error("plugin {plugin}: {op} trapped: {message}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// Operation name.
        op: &'static str,
        /// What wasmtime reported.
        message: String,
    },
    /// The guest returned a value larger than the output limits allow.
    #[error("plugin {plugin}: {op} returned a {what} of {len} bytes; the limit is {limit}")]
    OutputTooLarge {
        /// Plugin name.
        plugin: String,
        /// Operation name.
        op: &'static str,
        /// Which output (`id`, `data`, `user-id`...).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The guest tried to carry more than [`crate::Limits::copy_limit_bytes`]
    /// into the host in one crossing: in what one call returned, or in the
    /// arguments of one host call it made. Stopped before more was copied.
    #[error(
        "plugin {plugin}: {op} tried to pass more than {limit_bytes} bytes to the host at once (in what it returned, or in one host call's arguments) and was stopped"
    )]
    CopyLimit {
        /// Plugin name.
        plugin: String,
        /// Operation name.
        op: &'static str,
        /// The limit in force.
        limit_bytes: usize,
    },
    /// The guest returned something the contract forbids.
    #[error("plugin {plugin}: {op} broke the session-plugin contract: {reason}")]
    Contract {
        /// Plugin name.
        plugin: String,
        /// Operation name.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A fresh instance could not be created: the host had no instance slot
    /// free (its pooling allocator's limits) or no memory from the system.
    /// A plugin that fails as it is
    /// instantiated is a [`CallError::Trap`] of operation `instantiate`.
    #[error("plugin {plugin}: could not instantiate: {message}")]
    Instantiate {
        /// Plugin name.
        plugin: String,
        /// What wasmtime reported.
        message: String,
    },
}

impl CallError {
    /// The session error the plugin answered with, if that is what this is.
    pub fn session(&self) -> Option<&SessionError> {
        match self {
            CallError::Session(e) => Some(e),
            _ => None,
        }
    }

    /// True when the failure is the plugin's fault on the host side (trap,
    /// deadline, limit, contract) rather than a session answer.
    pub fn is_plugin_fault(&self) -> bool {
        !matches!(self, CallError::Session(_))
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("plugin {plugin}: not a WebAssembly file (no \\0asm header)")]
    NotWasm {
        /// Plugin name.
        plugin: String,
    },
    /// A core module, not a component.
    #[error(
        "plugin {plugin}: a core WebAssembly module, not a component; build it for wasm32-wasip2"
    )]
    NotAComponent {
        /// Plugin name.
        plugin: String,
    },
    /// The component failed validation or compilation.
    #[error("plugin {plugin}: invalid component: {message}")]
    Invalid {
        /// Plugin name.
        plugin: String,
        /// What wasmtime reported.
        message: String,
    },
    /// The component imports something the host does not grant.
    #[error("plugin {plugin}: needs an import this host does not provide: {message}")]
    MissingImport {
        /// Plugin name.
        plugin: String,
        /// What wasmtime reported.
        message: String,
    },
    /// The component does not export `session:plugin/session-plugin@0.1.0`.
    #[error("plugin {plugin}: not a session plugin (wrong world): {message}")]
    WrongWorld {
        /// Plugin name.
        plugin: String,
        /// What wasmtime reported.
        message: String,
    },
    /// The plugin's settings ask for more than the host's limits allow it to
    /// return, so calls would fail later.
    #[error("plugin {plugin}: {message}")]
    Config {
        /// Plugin name.
        plugin: String,
        /// Which setting and which limit.
        message: String,
    },
    /// The plugin failed while being probed after loading.
    #[error("plugin {plugin}: failed its first call: {source}")]
    Probe {
        /// Plugin name.
        plugin: String,
        /// The call error.
        source: Box<CallError>,
    },
}

/// Why a [`crate::Harness`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The wasmtime engine rejected the configuration.
    #[error("cannot create the wasmtime engine: {0}")]
    Engine(String),
    /// The linker could not be assembled.
    #[error("cannot link host functions: {0}")]
    Linker(String),
    /// The compile cache directory is unusable.
    #[error("cannot use compile cache directory {path}: {source}")]
    Cache {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Renders a wasmtime error with its whole cause chain on one line, escaped
/// and cut as a plugin's messages are: what wasmtime says of a file it
/// refuses quotes names the file chose (an import, an export), which could
/// otherwise start a forged line in a host's log.
pub(crate) fn chain(e: &wasmtime::Error) -> String {
    shown_from_plugin(format!("{e:#}"))
}
