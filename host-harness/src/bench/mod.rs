//! Side-by-side benchmarks of the plugin stores and their native peers,
//! shared by the criterion suite (`benches/sessions.rs`) and
//! `session-harness bench`.
//!
//! Every subject implements [`Subject::run`] in criterion's `iter_custom`
//! shape: do an operation `iters` times and return only the time the
//! operations took (set-up and clean-up, such as creating the sessions a
//! `destroy` run needs, building the records a peer `create` or `update`
//! hands its store (and our `create` options on the kv side), or destroying
//! what a `create` run made, are not timed). [`subjects::Workers`] runs an operation from persistent threads
//! for the 1- and 2-thread figures.

pub mod peers;
pub mod subjects;
pub mod workload;

use std::time::Duration;

use crate::CallError;

/// The operations compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Start a session.
    Create,
    /// Read a session.
    Load,
    /// Replace a session's data.
    Update,
    /// Slide a session's expiry.
    Touch,
    /// End a session.
    Destroy,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 5] = [Op::Create, Op::Load, Op::Update, Op::Touch, Op::Destroy];

    /// Lower-case name used in case names (`kv.load.1k`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Load => "load",
            Op::Update => "update",
            Op::Touch => "touch",
            Op::Destroy => "destroy",
        }
    }
}

/// Something that can be benchmarked operation by operation.
pub trait Subject {
    /// Short description for reports, e.g. `tower-sessions MemoryStore`.
    fn label(&self) -> String;

    /// Performs `op` `iters` times; returns the time the operations took, or
    /// an error when any of them did not do its work (an error answer, or a
    /// load that found nothing): its time would be the failure path's.
    fn run(&mut self, op: Op, iters: u64) -> Result<Duration, BenchError>;
}

/// Why one call of a timed run did not do its work: a plugin call's own
/// error (kept whole, so a caller can tell a trap from a session answer)
/// or a description of anything else (a peer's error, a load that found
/// nothing).
#[derive(Debug, thiserror::Error)]
pub enum Missed {
    /// A plugin call failed (boxed: a call error is large, and a
    /// [`Subject::run`] answer is returned on every timed run).
    #[error(transparent)]
    Call(Box<CallError>),
    /// Something else did not do its work.
    #[error("{0}")]
    Other(String),
}

impl From<CallError> for Missed {
    fn from(e: CallError) -> Self {
        Missed::Call(Box::new(e))
    }
}

impl From<String> for Missed {
    fn from(why: String) -> Self {
        Missed::Other(why)
    }
}

impl From<&str> for Missed {
    fn from(why: &str) -> Self {
        Missed::Other(why.to_string())
    }
}

impl From<tower_sessions_core::session_store::Error> for Missed {
    fn from(e: tower_sessions_core::session_store::Error) -> Self {
        Missed::Other(e.to_string())
    }
}

/// Calls of a timed run that did not do their work.
#[derive(Debug, thiserror::Error)]
#[error("benchmark of {subject}: {failed} of {calls} {op} calls failed; the first: {first}")]
pub struct BenchError {
    /// The subject's label.
    pub subject: String,
    /// The operation.
    pub op: &'static str,
    /// Calls that failed.
    pub failed: u64,
    /// Calls made.
    pub calls: u64,
    /// What the first failure was.
    pub first: Missed,
}

/// Counts the failed calls of one timed run (cheap enough to sit in the
/// timed loop: a branch and, on the first failure only, a message).
#[derive(Debug, Default)]
pub struct Tally {
    failed: u64,
    first: Option<Missed>,
}

impl Tally {
    /// Records one failed call.
    pub fn fail(&mut self, why: impl Into<Missed>) {
        self.failed += 1;
        if self.first.is_none() {
            self.first = Some(why.into());
        }
    }

    /// Adds the failures of another run.
    pub fn merge(&mut self, other: Tally) {
        self.failed += other.failed;
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    /// Calls failed so far.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Records a failure when `value` is none (`missing` says what was not
    /// there); passes the value on.
    pub fn present<T>(&mut self, value: Option<T>, missing: &str) -> Option<T> {
        if value.is_none() {
            self.fail(missing);
        }
        value
    }

    /// Records a failure when `result` is an error; passes the value on.
    pub fn check<T, E: Into<Missed>>(&mut self, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.fail(e)).ok()
    }

    /// `spent` when no call failed, else the error for `subject`.
    pub fn finish(
        self,
        subject: &dyn Subject,
        op: Op,
        calls: u64,
        spent: Duration,
    ) -> Result<Duration, BenchError> {
        self.finish_as(&subject.label(), op.name(), calls, spent)
    }

    /// [`Tally::finish`] for a timed loop that is not a [`Subject`]'s: `op`
    /// on `subject`, as the error names them.
    pub fn finish_as<T>(
        self,
        subject: &str,
        op: &'static str,
        calls: u64,
        value: T,
    ) -> Result<T, BenchError> {
        match self.first {
            None => Ok(value),
            Some(first) => Err(BenchError {
                subject: subject.to_string(),
                op,
                failed: self.failed,
                calls,
                first,
            }),
        }
    }
}

/// What a load that found nothing failed to do.
pub const NOT_LOADED: &str = "the session loads as none";

/// A plugin's load answer as one outcome: the record, or what went wrong
/// (an error, or no session).
pub fn loaded<T, E: Into<Missed>>(answer: Result<Option<T>, E>) -> Result<T, Missed> {
    match answer {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(NOT_LOADED.into()),
        Err(e) => Err(e.into()),
    }
}

/// Session data sizes compared: label and bytes.
pub const SIZES: [(&str, usize); 3] = [("64", 64), ("1k", 1024), ("3k", 3072)];

/// Where `make guests` puts guest `stem`'s component: under
/// `$CARGO_TARGET_DIR`, else the workspace's `target/`, as the suites in
/// `tests/` look (for this crate's own tests and examples).
pub fn guest_path(stem: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        std::path::PathBuf::from,
    );
    target.join(format!("wasm32-wasip2/release/{stem}.wasm"))
}

/// A compile-cache directory for one benchmark run that nobody can have
/// made first: `<temp>/<label>-<pid>-<128 random bits in hex>`. It is not
/// created here (the cache makes it, private to the user); remove it when
/// done. A name made of the process id alone could be taken beforehand by
/// another user of the machine, which failed the run or wrote cache
/// entries where a planted symlink pointed.
pub fn scratch_cache_dir(label: &str) -> Result<std::path::PathBuf, getrandom::Error> {
    let mut bits = [0u8; 16];
    getrandom::fill(&mut bits)?;
    let hex: String = bits.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{label}-{}-{hex}", std::process::id());
    Ok(std::env::temp_dir().join(name))
}
