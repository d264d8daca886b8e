//! Every capability a guest gets is granted here and nowhere else.
//!
//! * WASI p2 is linked because Rust's std imports it, but the context grants
//!   nothing: no preopened directories, no environment, no arguments, empty
//!   stdin, discarded stdout, stderr kept as a short tail for error reports, no TCP, no UDP, no name lookup, every
//!   socket address refused. Wall-clock time comes from the harness clock
//!   (the monotonic clock is the host's own); random bytes, secure and
//!   insecure, from the OS CSPRNG, at most [`MAX_RANDOM_BYTES`] per call
//!   (more traps). Blocking is not granted either:
//!   `wasi:io/poll`'s `poll` and `pollable.block` (what a sleep or a wait
//!   calls) trap, because a host call that waits is beyond the reach of the
//!   per-call deadline, which only interrupts running wasm.
//! * `session:plugin/kv`, bound to the plugin's own namespace.
//! * `wasi:config/store`, holding only the settings given for this plugin.
//! * At most [`MAX_RESOURCE_HANDLES`] resource handles at a time.

use crate::clock::{Clock, GuestWallClock};
use crate::error::{SetupError, chain};
use crate::guest_log::GuestLog;
use crate::state::HostState;
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_config::WasiConfig;

/// Most bytes one `wasi:random` `get-random-bytes` (or insecure) call may ask
/// for; a larger request traps. Session ids, nonces and keys need tens of
/// bytes; wasmtime's default (64 MiB) would let each call make the host
/// allocate and fill 64 MiB.
pub(crate) const MAX_RANDOM_BYTES: u64 = 4096;

/// The WASI context of one instance: a clock, randomness, and a stderr that
/// goes to `log`.
pub(crate) fn wasi_ctx(clock: Arc<dyn Clock>, log: GuestLog) -> WasiCtx {
    WasiCtxBuilder::new()
        .max_random_size(MAX_RANDOM_BYTES)
        .wall_clock(GuestWallClock(clock))
        .stderr(log)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

/// Most resource handles (streams, pollables) one instance may hold at once.
/// The shipped stores hold a few during a call; the cap keeps a guest that
/// leaks handles, in a pooled instance that lives on, from pinning host
/// memory without bound (wasmtime's own default is a million).
pub(crate) const MAX_RESOURCE_HANDLES: usize = 1024;

/// The resource table of one instance, capped at [`MAX_RESOURCE_HANDLES`].
pub(crate) fn resource_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCE_HANDLES);
    table
}

/// The one linker every plugin of a harness is instantiated with.
pub(crate) fn linker(engine: &Engine) -> Result<Linker<HostState>, SetupError> {
    let mut linker = Linker::new(engine);
    let err = |e: wasmtime::Error| SetupError::Linker(chain(&e));
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
    crate::kv::host::add_to_linker(&mut linker).map_err(err)?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |s| WasiConfig::from(&*s.config))
        .map_err(err)?;
    deny_blocking(&mut linker).map_err(err)?;
    Ok(linker)
}

/// The `wasi:io/poll` instance wasmtime-wasi 48 links (guests importing any
/// 0.2.x version are matched to it).
const WASI_IO_POLL: &str = "wasi:io/poll@0.2.12";

/// Replaces the two `wasi:io/poll` functions that wait with ones that trap.
fn deny_blocking(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(WASI_IO_POLL)?;
    for name in ["poll", "[method]pollable.block"] {
        poll.func_new(name, move |_, _, _, _| {
            Err(wasmtime::Error::msg(format!(
                "blocking is not granted: the plugin called wasi:io/poll `{name}` (a sleep or \
                 a wait), which no deadline could interrupt; a session plugin must answer \
                 without waiting"
            )))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_holds_a_bounded_number_of_handles() {
        let mut table = resource_table();
        let mut handles: Vec<_> = (0..MAX_RESOURCE_HANDLES)
            .map(|i| table.push(i).expect("within the cap"))
            .collect();
        assert!(table.push(0usize).is_err(), "one past the cap is refused");
        table.delete(handles.remove(0)).unwrap();
        assert!(table.push(0usize).is_ok(), "a freed slot can be used again");
    }
}
