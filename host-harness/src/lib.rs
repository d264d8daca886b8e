//! # host-harness
//!
//! Load any `session-plugin` WebAssembly component, call it through a typed
//! Rust API that mirrors the WIT, and keep it in a sandbox: nothing granted but
//! a clock, randomness, its own kv namespace and its own settings; a CPU
//! deadline per call; a memory limit per instance; limits on what it returns.
//!
//! ```no_run
//! use host_harness::{CreateOptions, Harness, LoadOptions, encode_data_map};
//!
//! let harness = Harness::new()?;
//! let store = harness.load_file(
//!     "target/wasm32-wasip2/release/kv_session.wasm",
//!     LoadOptions::default().config("session.ttl-seconds", "3600"),
//! )?;
//! let id = store.create(CreateOptions::new(encode_data_map([("cart", "3 items")])).user("alice"))?;
//! let session = store.load(&id)?.expect("just created");
//! assert_eq!(session.user_id.as_deref(), Some("alice"));
//! store.destroy(&id)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod bench;
mod bindings;
pub mod cache;
mod capabilities;
pub mod clock;
pub mod data;
pub mod engine;
pub mod error;
mod guest_log;
mod harness;
mod input;
pub mod kv;
pub mod limits;
mod output;
mod plugin;
mod pool;
pub mod session_cookie;
pub mod setting;
mod state;
mod string_encoding;
pub mod swap;
pub mod text;
pub mod types;

pub use cache::{CacheOutcome, CompileCache};
pub use clock::{Clock, ManualClock, SystemClock};
pub use data::{empty_data_json, encode_data_map};
pub use engine::EngineSettings;
pub use error::{CallError, LoadError, SessionError, SetupError};
pub use harness::{
    Harness, HarnessBuilder, LoadOptions, LoadReport, MAX_PLUGIN_FILE_BYTES, read_plugin,
};
pub use kv::memory::MemoryBackend;
pub use kv::redis::RedisBackend;
pub use kv::{KeyPage, KvBackend, KvError, KvNamespace, KvSetupError, WriteMode};
pub use limits::Limits;
pub use plugin::{Plugin, PluginStats};
pub use swap::{SwapError, SwapOptions, SwapStats, SwappableStore};
pub use types::{CreateOptions, PluginInfo, SessionId, SessionRecord};
