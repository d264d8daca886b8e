//! The operator's console on standard input (`swap`, `advance`) and the
//! clock `advance` moves.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use host_harness::setting::parse_setting;
use host_harness::{Clock, LoadOptions, Plugin, SystemClock};

use crate::refuse_server_settings;
use crate::site::App;

/// Most the operator can move the clock in one `advance`: a hundred years.
pub(crate) const MAX_ADVANCE_SECS: u64 = 100 * 365 * 24 * 3600;

/// The system clock moved forward by what the operator asked for: a
/// demonstration of expiry without waiting for it.
#[derive(Default)]
pub(crate) struct ShiftedClock {
    /// Seconds ahead of the system clock.
    ahead_secs: AtomicU64,
}

impl ShiftedClock {
    /// Moves the clock `secs` further ahead (saturating, never wrapping).
    pub(crate) fn advance(&self, secs: u64) {
        // The closure always returns `Some`, so this cannot fail.
        let _ = self
            .ahead_secs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                Some(a.saturating_add(secs))
            });
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Duration {
        let ahead = Duration::from_secs(self.ahead_secs.load(Ordering::Relaxed));
        SystemClock.now().saturating_add(ahead)
    }
}

impl App {
    /// The console's `swap <path.wasm> [key=value]...`: loads the store with
    /// the active settings, changed by those given (`cookie.keys=NEW,OLD`
    /// rotates keys), checks it and makes it active. The settings stay
    /// changed for later swaps. On any failure nothing changes.
    pub(crate) fn swap(&self, argument: &str) -> Result<Plugin, Box<dyn std::error::Error>> {
        let mut words = argument.split_whitespace();
        let path = words.next().ok_or("swap takes the path of a .wasm")?;
        let mut settings = self.settings.lock().map_err(|_| "settings poisoned")?;
        let given = words.map(parse_setting).collect::<Result<Vec<_>, _>>()?;
        refuse_server_settings(&given, &self.policy)?;
        // The active settings the command does not change, then its own as
        // given: the harness refuses one it names twice.
        let kept = settings
            .iter()
            .filter(|(key, _)| !given.iter().any(|(k, _)| k == *key))
            .map(|(k, v)| (k.clone(), v.clone()));
        let options = LoadOptions::default()
            .configs(kept)
            .configs(given.iter().cloned());
        let plugin = self.store.swap_file(path, options)?;
        settings.extend(given);
        Ok(plugin)
    }
}

/// Prints a line on standard output, which may be closed (never a panic).
pub(crate) fn say(line: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The operator's console: commands on standard input, one per line.
pub(crate) fn run(app: Arc<App>) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (command, argument) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        match command {
            "" => {}
            "swap" => match app.swap(argument) {
                Ok(plugin) => say(format_args!(
                    "swapped to {} {}",
                    plugin.info().name,
                    plugin.info().version
                )),
                Err(e) => say(format_args!("swap failed, store unchanged: {e}")),
            },
            "advance" => match argument.trim().parse::<u64>() {
                Ok(secs) if secs <= MAX_ADVANCE_SECS => {
                    app.clock.advance(secs);
                    say(format_args!("clock advanced {secs} s"));
                }
                _ => say(format_args!(
                    "advance takes whole seconds up to {MAX_ADVANCE_SECS}, got {argument:?}"
                )),
            },
            other => say(format_args!(
                "unknown command {other:?}: swap <path.wasm> [key=value]... or advance <seconds>"
            )),
        }
    }
}
