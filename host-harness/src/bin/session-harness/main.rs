//! `session-harness`: load session plugins, exercise them, call them once,
//! soak them under swaps, benchmark them.

/// `println!` that ends the command cleanly when standard output is gone
/// (see [`stdout_line`]) instead of panicking with a backtrace.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stdout_line(format_args!($($arg)*))
    };
}

/// `eprintln!` that cannot panic (see [`stderr_line`]): a diagnostic that
/// cannot be shown must not turn the command's exit code into a panic's.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::stderr_line(format_args!($($arg)*))
    };
}

mod bench;
mod call;
mod exercise;
mod shown;
mod soak;
mod table;

use anyhow::Result;
use clap::{Parser, Subcommand};
use host_harness::bench::{BenchError, Missed};
use host_harness::kv::redis::RedisSetupError;
use host_harness::setting::{QUOTED_BYTES, SettingParser};
use host_harness::{
    CallError, CompileCache, CreateOptions, Harness, HarnessBuilder, LoadError, LoadOptions,
    Plugin, RedisBackend, SessionError, SwapError,
};
use shown::terminal_safe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// What each exit code means (shown by `--help`).
const EXIT_CODES: &str = "Exit codes:
  0    success
  1    the store answered with an error (not-found, unsupported, backend, ...),
       the host had no instance slot free for the call, the Redis server
       did not answer, or a check failed (exercise, soak)
  2    the command line is wrong: arguments, a plugin file that is not a
       session plugin (or not the kind bench's flag names), a kv backend,
       Redis URL (or its password), key prefix or configuration refused
  3    the plugin failed on the host's side: it trapped, passed its deadline
       or memory limit, or broke the session-plugin contract (also in the
       `info` call made while loading it)
  141  standard output was closed before everything was written";

/// Load, exercise, call and benchmark session-plugin WebAssembly components.
#[derive(Parser)]
#[command(name = "session-harness", version, after_help = EXIT_CODES)]
struct Cli {
    /// Directory for compiled components, private to this user (default:
    /// $SESSION_HARNESS_CACHE_DIR, $XDG_CACHE_HOME/session-harness or
    /// ~/.cache/session-harness). One others could write to, or replace
    /// through a parent directory, is not used: the command compiles instead
    /// and, once it has succeeded, says so on stderr. Not used by `bench`.
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    /// Compile every time instead of using the disk cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Where server-side stores keep sessions: `memory` (embedded, gone when
    /// the command ends) or a Redis URL such as `redis://127.0.0.1:6379/0`
    /// (shared by every host that points at it). Not used by `bench`.
    /// (`--help` does not show the variable's value: it may hold a password.)
    #[arg(
        long,
        global = true,
        env = "SESSION_HARNESS_KV",
        hide_env_values = true,
        default_value = "memory"
    )]
    kv: String,
    /// Prefix of every key written to a Redis backend. `exercise` and `soak`
    /// add a fresh suffix per run, so they start from an empty store.
    #[arg(long, global = true, default_value = "session-harness:")]
    kv_prefix: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what a plugin says about itself.
    Info {
        /// The plugin's `.wasm` file.
        wasm: PathBuf,
        /// A `wasi:config` setting for the plugin, `key=value` (repeatable).
        #[arg(long = "config", value_parser = SettingParser)]
        config: Vec<(String, String)>,
    },
    /// Walk plugins through every operation and print what happened.
    Exercise {
        /// The plugins' `.wasm` files.
        #[arg(required = true)]
        wasm: Vec<PathBuf>,
        /// A `wasi:config` setting, `key=value` (repeatable; every plugin gets all).
        #[arg(long = "config", value_parser = SettingParser)]
        config: Vec<(String, String)>,
    },
    /// Call one operation once and print the result.
    Call(call::CallArgs),
    /// Run worker threads against a store while swapping plugins under them.
    Soak(soak::SoakArgs),
    /// Compare the stores with native session stores, operation by operation.
    Bench(bench::BenchArgs),
}

/// The value of `key` among the `--config` pairs (a key given twice is
/// refused when a plugin loads).
pub(crate) fn setting<'c>(config: &'c [(String, String)], key: &str) -> Option<&'c str> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Reports a command line clap refused, as clap does (help and version go
/// to stdout, exit 0), except that an unexpected argument longer than
/// [`QUOTED_BYTES`] is not quoted: clap would print it whole, and the usual
/// one is a cookie key after `--config cookie.keys` written with a space.
fn refused_command_line(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let long_arg = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(ContextValue::String(arg)))
            if arg.len() > QUOTED_BYTES =>
        {
            Some(arg.len())
        }
        _ => None,
    };
    match long_arg {
        Some(len) => {
            note!(
                "session-harness: an unexpected argument of {len} bytes (not shown: it may be \
                 a secret); --config takes one key=value, e.g. --config cookie.keys=<key>"
            );
            ExitCode::from(2)
        }
        None => e.exit(),
    }
}

/// Why the CLI stopped, and with which exit code.
pub(crate) enum Failure {
    /// The plugin could not be loaded (exit code 2, or as a call's failure
    /// when its first call failed: [`load_exit_code`]).
    Load(LoadError),
    /// The command line asks for something that cannot work: an unknown
    /// backend, a Redis URL or key prefix refused, a configuration the
    /// store refuses (exit code 2).
    Usage(anyhow::Error),
    /// Anything else (exit code 1).
    Other(anyhow::Error),
}

/// Ends the run when `plugin` refuses its configuration (a misspelt key,
/// no cookie.keys): a store reads it on first use, so one throwaway session
/// shows it. That is the command line's mistake (exit 2); any other failed
/// check (a trap, say) is left for the run to show.
pub(crate) fn refuse_refused_config(plugin: &Plugin) -> Result<(), Failure> {
    match host_harness::swap::check_serves(plugin) {
        Err(
            e @ SwapError::Check {
                error: CallError::Session(SessionError::Config(_)),
                ..
            },
        ) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Ends the run when `plugin` refuses, as `too-large`, one throwaway
/// session of the largest data and user id `command` writes: its limits
/// (`session.max-data-bytes`, a cookie store's `cookie.max-bytes`) are set
/// below what the command needs, and a correct store's refusals would
/// count as the run's failures. That is the command line's mistake (exit
/// 2); any other failure is left for the run to show.
pub(crate) fn refuse_limits_below(
    plugin: &Plugin,
    command: &str,
    data: &str,
    user_id: &str,
) -> Result<(), Failure> {
    let probe = CreateOptions {
        data: data.to_string(),
        user_id: Some(user_id.to_string()),
        ttl_seconds: Some(60),
        id: None,
    };
    match plugin.create(probe) {
        Ok(id) => {
            let _ = plugin.destroy(&id);
            Ok(())
        }
        Err(CallError::Session(SessionError::TooLarge(why))) => {
            Err(Failure::Usage(anyhow::anyhow!(
                "{} refuses a session of the {} bytes of data {command} writes ({why}): raise \
             session.max-data-bytes (or a cookie store's cookie.max-bytes)",
                plugin.name(),
                data.len()
            )))
        }
        Err(_) => Ok(()),
    }
}

/// Whether `e` is a store refusing the configuration it was given (which on
/// this CLI comes from `--config`): a usage error, like a bad path.
fn is_config_error(e: &anyhow::Error) -> bool {
    call_errors(e).any(|c| matches!(c, CallError::Session(SessionError::Config(_))))
}

/// Whether `e` is a plugin failing on the host's side (a trap, a deadline,
/// a limit, a contract breach) rather than a session answer.
fn is_plugin_fault(e: &anyhow::Error) -> bool {
    call_errors(e).any(blames_plugin)
}

/// Whether the call failed by the plugin's fault on the host's side: an
/// instance that could not be made (no free slot) is the host's capacity.
fn blames_plugin(c: &CallError) -> bool {
    c.is_plugin_fault() && !matches!(c, CallError::Instantiate { .. })
}

/// The exit code of a plugin that did not load: 2 (not a session plugin, a
/// file that cannot be read), unless it got as far as its first call (the
/// `info` made while loading) and failed there as any later call would: 3
/// for a fault on the host's side, 1 for no instance slot.
fn load_exit_code(e: &LoadError) -> u8 {
    match e {
        LoadError::Probe { source, .. } if blames_plugin(source) => 3,
        LoadError::Probe { .. } => 1,
        _ => 2,
    }
}

/// The call failures in `e`'s chain: a plugin's own, the one a swap's
/// check of a plugin met, or the first of a timed bench run's.
fn call_errors(e: &anyhow::Error) -> impl Iterator<Item = &CallError> {
    e.chain().filter_map(|c| {
        c.downcast_ref::<CallError>()
            .or(match c.downcast_ref::<SwapError>() {
                Some(SwapError::Check { error, .. }) => Some(error),
                _ => None,
            })
            .or(match c.downcast_ref::<BenchError>() {
                Some(BenchError {
                    first: Missed::Call(error),
                    ..
                }) => Some(&**error),
                _ => None,
            })
    })
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Other(e.into())
    }
}

/// Applies the global cache flags to a harness builder. A directory that
/// cannot be used means compiling, not failing; the note saying so is
/// returned, for [`main`] to print once the command has succeeded (so an
/// error stays the one line it is).
pub(crate) fn with_cache(
    builder: HarnessBuilder,
    cli_dir: &Option<PathBuf>,
    off: bool,
) -> (HarnessBuilder, Option<String>) {
    if off {
        return (builder, None);
    }
    match cli_dir.clone().or_else(CompileCache::default_dir) {
        // Checked here, so an unsafe directory means compiling, not failing.
        Some(dir) => match CompileCache::new(&dir) {
            Ok(_) => (builder.cache_dir(dir), None),
            Err(e) => (builder, Some(format!("{e}: compiled without a cache"))),
        },
        None => (
            builder,
            Some(
                "no HOME, XDG_CACHE_HOME or SESSION_HARNESS_CACHE_DIR: compiled without a cache"
                    .to_string(),
            ),
        ),
    }
}

/// Points `builder` at the backend named by `--kv`: the memory default is
/// left to the harness (on its clock); Redis keys go under `prefix`.
pub(crate) fn with_kv(
    builder: HarnessBuilder,
    spec: &str,
    prefix: &str,
) -> Result<HarnessBuilder, Failure> {
    if spec == "memory" {
        return Ok(builder);
    }
    if spec.starts_with("redis://") || spec.starts_with("redis+unix://") {
        let backend = RedisBackend::builder(spec)
            .key_prefix(prefix)
            .connect()
            .map_err(|e| match e {
                // What the command line says is wrong (the password is in
                // the URL): a usage error.
                RedisSetupError::Url { .. }
                | RedisSetupError::Prefix { .. }
                | RedisSetupError::Refused { .. } => Failure::Usage(e.into()),
                // The server is down or elsewhere: the command failed.
                RedisSetupError::Unreachable { .. } => Failure::Other(e.into()),
            })?;
        return Ok(builder.kv_backend(Arc::new(backend)));
    }
    Err(Failure::Usage(anyhow::anyhow!(
        "unknown kv backend {:?}: expected `memory` or a `redis://` URL",
        host_harness::kv::redis::redact_url(spec)
    )))
}

/// A key prefix for one run of `exercise` or `soak`: `base` plus the command,
/// the process and the time, so the run starts from an empty store.
fn run_prefix(base: &str, command: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{base}{command}-{}-{nanos}:", std::process::id())
}

/// Loads `path` with `config`; a load error keeps its own exit code
/// ([`load_exit_code`]).
pub(crate) fn load(
    harness: &Harness,
    path: &Path,
    config: &[(String, String)],
) -> Result<Plugin, Failure> {
    let options = LoadOptions {
        config: config.to_vec(),
        ..LoadOptions::default()
    };
    harness.load_file(path, options).map_err(Failure::Load)
}

/// Runs the command; on success, with the cache note to print after it.
fn run(cli: Cli) -> Result<Option<String>, Failure> {
    // `bench` builds harnesses of its own, on the in-memory kv and without
    // the disk cache (which it measures separately): the global kv and cache
    // flags do not apply to it, so they are not even looked at.
    let hosted = !matches!(cli.command, Command::Bench(_));
    // Except for a `--kv` that names a component: meant as `--kv-wasm`, it
    // would be ignored and the default kv-session measured under its name.
    if !hosted && cli.kv.ends_with(".wasm") {
        return Err(Failure::Usage(anyhow::anyhow!(
            "--kv names the kv backend of the other commands (bench always runs on the \
             in-memory kv); name the kv-session component to benchmark with --kv-wasm"
        )));
    }
    let (mut builder, mut cache_note) = (Harness::builder(), None);
    if hosted {
        (builder, cache_note) = with_cache(builder, &cli.cache_dir, cli.no_cache);
        let prefix = match &cli.command {
            Command::Exercise { .. } => run_prefix(&cli.kv_prefix, "exercise"),
            Command::Soak(_) => run_prefix(&cli.kv_prefix, "soak"),
            _ => cli.kv_prefix.clone(),
        };
        builder = with_kv(builder, &cli.kv, &prefix)?;
    }
    match cli.command {
        Command::Info { wasm, config } => {
            let harness = builder.build()?;
            let plugin = load(&harness, &wasm, &config)?;
            let info = plugin.info();
            // A store reads its configuration on first use: with settings
            // given, one throwaway session (in the configured kv) shows
            // whether they work, before anything is printed.
            if !config.is_empty() {
                host_harness::swap::check_serves(&plugin)?;
            }
            say!(
                "{} {} (server-side: {})",
                info.name,
                info.version,
                info.server_side
            );
            if !config.is_empty() {
                say!("configuration: ok (a throwaway session was created, loaded and destroyed)");
            }
        }
        Command::Exercise { wasm, config } => exercise::run(builder, &wasm, &config)?,
        Command::Call(args) => call::run(builder, args)?,
        Command::Soak(args) => soak::run(builder, args)?,
        Command::Bench(args) => bench::run(args)?,
    }
    Ok(cache_note)
}

/// Exit code after standard output was closed by its reader (`| head`):
/// 128 + SIGPIPE, as for a tool the signal stopped.
const EXIT_PIPE_CLOSED: i32 = 141;

/// Writes one line to standard output. When the reader has gone (a closed
/// pipe) the command stops silently with [`EXIT_PIPE_CLOSED`]; any other
/// failure (a full disk) stops it with one line on stderr and exit code 1.
pub(crate) fn stdout_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_PIPE_CLOSED);
        }
        note!("session-harness: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Writes one line to standard error, ignoring any failure: `eprintln!`
/// panics (exit code 101) when stderr is a pipe nobody reads or a full disk,
/// and a diagnostic nobody can see must not change the exit code.
pub(crate) fn stderr_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line).and_then(|()| err.write_all(b"\n"));
}

/// What a plugin that could not be loaded prints. A path that names no file
/// and could be a key (longer than [`QUOTED_BYTES`], no `.`, nothing but
/// the characters of hex and base64 keys and their prefixes: letters,
/// digits, `+ / = - _ :`) is not quoted: the usual one is the second cookie
/// key of `--config cookie.keys=K1 K2`, written with a space, which
/// `exercise` takes for one more plugin (a standard base64 key holds a `/`
/// as often as not).
fn load_failure_line(e: &LoadError) -> String {
    match e {
        LoadError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            let text = path.to_string_lossy();
            let key_like = text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=-_:".contains(c));
            if text.len() > QUOTED_BYTES && key_like {
                return format!(
                    "cannot read plugin: no file at a path of {} bytes (not shown: with no \
                     '.' it may be a secret; --config takes one key=value, e.g. \
                     --config cookie.keys=<key>,<key>)",
                    text.len()
                );
            }
            e.to_string()
        }
        _ => e.to_string(),
    }
}

/// The line a failure prints (before it is made terminal-safe) and the exit
/// code it ends the command with (`EXIT_CODES`).
pub(crate) fn failure_report(failure: Failure) -> (String, u8) {
    match failure {
        Failure::Load(e) => {
            let code = load_exit_code(&e);
            (load_failure_line(&e), code)
        }
        Failure::Usage(e) => (format!("{e:#}"), 2),
        Failure::Other(e) if is_config_error(&e) => (format!("{e:#}"), 2),
        Failure::Other(e) if is_plugin_fault(&e) => (format!("{e:#}"), 3),
        Failure::Other(e) => (format!("{e:#}"), 1),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return refused_command_line(e),
    };
    match run(cli) {
        Ok(cache_note) => {
            if let Some(note) = cache_note {
                note!("session-harness: {}", terminal_safe(&note));
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let (message, code) = failure_report(failure);
            note!("session-harness: {}", terminal_safe(&message));
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exit code 3 is the plugin's fault on the host's side; an instance
    /// the host had no slot for is the host's capacity (it was counted as
    /// a plugin fault), and a session answer is neither.
    #[test]
    fn only_the_plugins_own_failures_count_as_its_fault() {
        let trap = CallError::Trap {
            plugin: "p".into(),
            op: "load",
            message: "unreachable".into(),
        };
        let no_slot = CallError::Instantiate {
            plugin: "p".into(),
            message: "maximum concurrent instance limit reached".into(),
        };
        let answer = CallError::Session(SessionError::NotFound);
        assert!(is_plugin_fault(&anyhow::Error::new(trap).context("call")));
        assert!(!is_plugin_fault(&anyhow::Error::new(no_slot)));
        assert!(!is_plugin_fault(&anyhow::Error::new(answer)));
    }
}
