//! `call`: one operation, once, with its result printed.
//!
//! Each invocation starts a fresh harness. On the in-memory kv (the default) a
//! server-side store forgets its sessions between invocations; with
//! `--kv redis://...` they persist on the server, so a session created by one
//! invocation can be loaded by the next. Stateless stores need neither.

use crate::{ConfigPair, Failure, load};
use clap::{Args, Subcommand};
use host_harness::{CreateOptions, HarnessBuilder};
use std::path::PathBuf;

/// Arguments of `call`.
#[derive(Args)]
pub(crate) struct CallArgs {
    /// The plugin's `.wasm` file.
    wasm: PathBuf,
    /// A `wasi:config` setting, `key=value` (repeatable).
    #[arg(long = "config", value_parser = ConfigPair, global = true)]
    config: Vec<(String, String)>,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand)]
enum Op {
    /// `info`
    Info,
    /// `create`
    Create {
        /// Session data (a JSON object).
        #[arg(long, default_value = "{}")]
        data: String,
        /// Logged-in user.
        #[arg(long)]
        user: Option<String>,
        /// Lifetime in seconds.
        #[arg(long)]
        ttl: Option<u64>,
        /// Import this id.
        #[arg(long)]
        id: Option<String>,
    },
    /// `load`
    Load {
        /// Session id.
        id: String,
    },
    /// `update`
    Update {
        /// Session id.
        id: String,
        /// New data (a JSON object).
        data: String,
        /// Logged-in user.
        #[arg(long)]
        user: Option<String>,
    },
    /// `touch`
    Touch {
        /// Session id.
        id: String,
        /// New lifetime in seconds.
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// `regenerate`
    Regenerate {
        /// Session id.
        id: String,
    },
    /// `destroy`
    Destroy {
        /// Session id.
        id: String,
    },
    /// `purge-expired`
    PurgeExpired,
    /// `count`
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
                r.user_id.as_deref().unwrap_or(""),
                r.created_at,
                r.expires_at,
                r.data
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
    println!("{out}");
    Ok(())
}
