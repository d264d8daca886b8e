//! `call`: one operation, once, with its result printed.
//!
//! Each invocation starts a fresh harness. On the in-memory kv (the default) a
//! server-side store forgets its sessions between invocations; with
//! `--kv redis://...` they persist on the server, so a session created by one
//! invocation can be loaded by the next. Stateless stores need neither.

use crate::shown;
use crate::{Failure, load};
use clap::{Args, Subcommand};
use host_harness::setting::SettingParser;
use host_harness::{CreateOptions, HarnessBuilder};
use std::path::PathBuf;

/// Arguments of `call`.
#[derive(Args)]
pub(crate) struct CallArgs {
    /// The plugin's `.wasm` file.
    wasm: PathBuf,
    /// A `wasi:config` setting, `key=value` (repeatable).
    #[arg(long = "config", value_parser = SettingParser, global = true)]
    config: Vec<(String, String)>,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand)]
enum Op {
    /// What the plugin says about itself (name, version, server-side).
    Info,
    /// Start a session; prints its id.
    Create {
        /// Session data (a JSON object).
        #[arg(long, default_value = "{}")]
        data: String,
        /// Logged-in user (none when omitted).
        #[arg(long)]
        user: Option<String>,
        /// Lifetime in seconds (the store's session.ttl-seconds when omitted).
        #[arg(long, allow_negative_numbers = true)]
        ttl: Option<u64>,
        /// Import this id (server-side stores only).
        #[arg(long)]
        id: Option<String>,
    },
    /// Load a session; prints its record, or `none`.
    Load {
        /// Session id.
        id: String,
    },
    /// Replace a session's data and user and slide its expiry; prints the id
    /// to hold.
    Update {
        /// Session id.
        id: String,
        /// New data (a JSON object).
        data: String,
        /// Logged-in user after the update: update replaces the user too, so
        /// omitting it logs the session out of its user.
        #[arg(long)]
        user: Option<String>,
    },
    /// Slide a session's expiry; prints the id to hold.
    Touch {
        /// Session id.
        id: String,
        /// New lifetime in seconds (the session's own when omitted).
        #[arg(long, allow_negative_numbers = true)]
        ttl: Option<u64>,
    },
    /// Give a session a new id (the old one dies on server-side stores);
    /// prints it.
    Regenerate {
        /// Session id.
        id: String,
    },
    /// End a session (ok for an unknown id).
    Destroy {
        /// Session id.
        id: String,
    },
    /// Remove expired sessions; prints how many.
    PurgeExpired,
    /// Count live sessions (`unsupported` on stateless stores).
    Count,
}

pub(crate) fn run(builder: HarnessBuilder, args: CallArgs) -> Result<(), Failure> {
    let harness = builder.build()?;
    let p = load(&harness, &args.wasm, &args.config)?;
    let out = match args.op {
        Op::Info => {
            let i = p.fetch_info()?;
            format!(
                "name={} version={} server-side={}",
                i.name, i.version, i.server_side
            )
        }
        Op::Create {
            data,
            user,
            ttl,
            id,
        } => p.create(CreateOptions {
            data,
            user_id: user,
            ttl_seconds: ttl,
            id,
        })?,
        Op::Load { id } => match p.load(&id)? {
            None => "none".to_string(),
            Some(r) => format!(
                "id={}\nuser-id={}\ncreated-at={}\nexpires-at={}\ndata={}",
                r.id,
                shown::user_id(r.user_id.as_deref()),
                r.created_at,
                r.expires_at,
                shown::terminal_safe_data(&r.data)
            ),
        },
        Op::Update { id, data, user } => p.update(&id, &data, user.as_deref())?,
        Op::Touch { id, ttl } => p.touch(&id, ttl)?,
        Op::Regenerate { id } => p.regenerate(&id)?,
        Op::Destroy { id } => {
            p.destroy(&id)?;
            "ok".to_string()
        }
        Op::PurgeExpired => p.purge_expired()?.to_string(),
        Op::Count => p.count()?.to_string(),
    };
    say!("{out}");
    Ok(())
}
