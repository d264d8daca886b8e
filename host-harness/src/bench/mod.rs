//! Side-by-side benchmarks of the plugin stores and their native peers,
//! shared by the criterion suite (`benches/sessions.rs`) and
//! `session-harness bench`.
//!
//! Every subject implements [`Subject::run`] in criterion's `iter_custom`
//! shape: do an operation `iters` times and return only the time the
//! operations took (set-up and clean-up, such as creating the sessions a
//! `destroy` run needs or building the records a peer `update` saves, are not
//! timed). [`subjects::Workers`] runs an operation from persistent threads
//! for the 1- and 2-thread figures.

pub mod peers;
pub mod subjects;
pub mod workload;

use std::time::Duration;

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

    /// Performs `op` `iters` times; returns the time the operations took.
    fn run(&mut self, op: Op, iters: u64) -> Duration;
}

/// Session data sizes compared: label and bytes.
pub const SIZES: [(&str, usize); 3] = [("64", 64), ("1k", 1024), ("3k", 3072)];
