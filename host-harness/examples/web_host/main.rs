//! A small web server whose sessions live in a swappable session plugin: the
//! way a plugin-capable server uses the harness, end to end. Each visit to
//! `/` counts in the session; a visitor can sign in (the session id is
//! regenerated, against fixation), keep a note in the session, and sign out
//! (the session is destroyed and the browser told to forget the cookie).
//!
//! The operator swaps the session store while it serves, by writing to the
//! server's standard input; visitors stay signed in across the swap (lazy
//! migration):
//!
//! ```text
//! swap <path.wasm> [key=value]...
//!                      load a store (with these settings changed, e.g.
//!                      cookie.keys=NEW,OLD to rotate keys), check it and
//!                      make it the active one
//! advance <seconds>    move the server's clock forward (to show expiry)
//! ```
//!
//! From the repository root, after `make guests`:
//!
//! ```sh
//! cargo run --release --example web_host -- \
//!     --config cookie.keys=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') \
//!     target/wasm32-wasip2/release/kv_session.wasm
//! ```
//!
//! then open <http://localhost:8080/> and type
//! `swap target/wasm32-wasip2/release/cookie_session.wasm` into the server.
//! `tests/browser/` drives this server with Chromium. (With the cookie store
//! a sign-out only tells the browser to drop its cookie: a copy of the seal,
//! or a request in flight in another tab that sets it again, stays signed
//! in until it expires; see the README's "A web server, in a real browser".)
//!
//! Every form carries the session's CSRF token (OWASP's synchronizer token,
//! drawn anew at sign-in), on top of `SameSite=Lax`, which keeps the cookie
//! off cross-site POSTs in current browsers. Slow clients meet deadlines for
//! a request's headers, for the whole request and for sending the reply,
//! and a cap on connections (`serve.rs`). Left out to stay short, and
//! needed by a real site: TLS (the cookie is `Secure`; browsers accept that
//! over plain HTTP only from localhost).

mod console;
mod page;
mod send_deadline;
mod serve;
mod site;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, FromRequest, Request, State};
use axum::http::header::COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use clap::Parser;
use host_harness::session_cookie::CookiePolicy;
use host_harness::{Harness, LoadOptions, RedisBackend, SwapOptions, SwappableStore};
use serde::Deserialize;

use crate::console::ShiftedClock;
use crate::serve::StoreWorkBegun;
use crate::site::{App, Failure, Reply};

/// The command line.
#[derive(Parser)]
#[command(about = "A web server whose sessions live in a swappable session plugin")]
struct Args {
    /// Address to listen on (port 0: any free port; the line
    /// `listening on http://...` on standard output says which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The session cookie's name. `__Host-` names are accepted by browsers
    /// only with `Secure` and `Path=/` from this host: a sibling subdomain
    /// cannot plant one.
    #[arg(long, default_value = "__Host-sid")]
    cookie_name: String,
    /// How long a store swapped out is still asked for sessions the new one
    /// does not know (lazy migration), in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    grace_seconds: u64,
    /// Where server-side stores keep sessions: `memory` (this process only)
    /// or a Redis URL (`redis://host:port/db`, `redis+unix:///path`) that
    /// several web hosts share, so any of them serves any visitor.
    #[arg(long, default_value = "memory")]
    kv: String,
    /// Prefix of every key written to Redis: one per site.
    #[arg(long, default_value = "web-host:")]
    kv_prefix: String,
    /// Seconds a client may take to send a request's headers (counted from
    /// when the connection waits for one, so an idle kept-alive connection
    /// is closed after as long).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_seconds: u64,
    /// Seconds one request may take once its headers are in until its
    /// store calls begin: its body read and its turn at the store (then
    /// 408). Store calls once begun are answered, each within the store's
    /// own limits.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_seconds: u64,
    /// Seconds sending a reply may wait for the client to take any of it
    /// (then the connection is closed): a client that sends requests and
    /// never reads the answers does not hold its connection.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    send_timeout_seconds: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_connections: u64,
    /// A store setting, `key=value` (repeatable), e.g. `cookie.keys=<hex>`.
    #[arg(long = "config", value_parser = host_harness::setting::SettingParser)]
    settings: Vec<(String, String)>,
    /// The session store to start with.
    store: PathBuf,
}

/// Refuses store settings this server decides or cannot serve: one that
/// names `cookie.name` (the server sets it, from `--cookie-name`), and a
/// `cookie.max-bytes` past what one cookie of that name carries. This server
/// sends each session in one cookie, so a seal that grew past it had no
/// cookie: every page of that session failed (a visit only adds a digit),
/// and the visitor had no page left to shorten the note or sign out from.
/// A value that is not a number is left for the store to refuse.
pub(crate) fn refuse_server_settings(
    settings: &[(String, String)],
    policy: &CookiePolicy,
) -> Result<(), String> {
    if settings.iter().any(|(key, _)| key == "cookie.name") {
        return Err("cookie.name is the server's --cookie-name".to_string());
    }
    let max = policy.max_value_bytes();
    for (_, value) in settings.iter().filter(|(key, _)| key == "cookie.max-bytes") {
        if value.trim().parse::<u64>().is_ok_and(|v| v > max as u64) {
            return Err(format!(
                "cookie.max-bytes={} is more than one {} cookie carries ({max} bytes), and \
                 this server sends each session in one cookie",
                value.trim(),
                policy.name()
            ));
        }
    }
    Ok(())
}

/// Largest form body taken (axum answers 413 past it): a note as large as
/// the default `session.max-data-bytes` (64 KiB), percent-encoded (up to 3
/// bytes each), still reaches the store, whose own limit then answers.
const MAX_FORM_BYTES: usize = 3 * 64 * 1024 + 1024;

/// The request's cookies as one header (HTTP/2 may send several).
fn cookie_header(headers: &HeaderMap) -> String {
    headers
        .get_all(COOKIE)
        .iter()
        // Lossy, not refused: one cookie of another site on localhost with
        // a byte outside ASCII must not hide the session cookie.
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs `serve` off the async workers (a store call may wait on a kv server)
/// once the request has its turn at the store, marking `begun` then (the
/// request deadline no longer answers 408), and turns a failure into an
/// error page.
async fn blocking(
    app: Arc<App>,
    begun: StoreWorkBegun,
    serve: impl FnOnce(&App) -> Result<Reply, Failure> + Send + 'static,
) -> Reply {
    // Not closed while the server runs.
    let Ok(permit) = app.store_work.clone().acquire_owned().await else {
        return page::error(&Failure::internal(
            StatusCode::SERVICE_UNAVAILABLE,
            format_args!("the server is stopping"),
        ));
    };
    begun.mark();
    let outcome = tokio::task::spawn_blocking(move || {
        let reply = serve(&app);
        drop(permit);
        reply
    })
    .await;
    let failure = match outcome {
        Ok(Ok(reply)) => return reply,
        Ok(Err(failure)) => failure,
        Err(e) => Failure::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            format_args!("the request handler failed: {e}"),
        ),
    };
    page::error(&failure)
}

/// A posted form, as axum's `Form` reads it; one it refuses (larger than
/// [`MAX_FORM_BYTES`], not a form, a field missing) is the site's error page
/// with axum's status, not axum's plain-text answer.
struct SiteForm<T>(T);

impl<T, S> FromRequest<S> for SiteForm<T>
where
    Form<T>: FromRequest<S, Rejection = FormRejection>,
    S: Send + Sync,
{
    type Rejection = Reply;

    async fn from_request(req: Request, state: &S) -> Result<Self, Reply> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(form)) => Ok(SiteForm(form)),
            Err(refused) => Err(page::error(&Failure::internal(
                refused.status(),
                format_args!("form refused: {}", refused.body_text()),
            ))),
        }
    }
}

/// `GET /`.
async fn get_index(
    State(app): State<Arc<App>>,
    Extension(begun): Extension<StoreWorkBegun>,
    headers: HeaderMap,
) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, begun, move |app| app.visit(&cookies)).await
}

/// The sign-in form.
#[derive(Deserialize)]
struct LoginForm {
    /// The user name typed.
    user: String,
    /// The session's CSRF token (missing: refused like a wrong one).
    #[serde(default)]
    csrf: String,
}

/// `POST /login`.
async fn post_login(
    State(app): State<Arc<App>>,
    Extension(begun): Extension<StoreWorkBegun>,
    headers: HeaderMap,
    SiteForm(form): SiteForm<LoginForm>,
) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, begun, move |app| {
        app.login(&cookies, form.user.trim(), &form.csrf)
    })
    .await
}

/// The note form.
#[derive(Deserialize)]
struct NoteForm {
    /// The note typed.
    note: String,
    /// The session's CSRF token (missing: refused like a wrong one).
    #[serde(default)]
    csrf: String,
}

/// The sign-out form.
#[derive(Deserialize)]
struct LogoutForm {
    /// The session's CSRF token (missing: refused like a wrong one).
    #[serde(default)]
    csrf: String,
}

/// `POST /note`.
async fn post_note(
    State(app): State<Arc<App>>,
    Extension(begun): Extension<StoreWorkBegun>,
    headers: HeaderMap,
    SiteForm(form): SiteForm<NoteForm>,
) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, begun, move |app| {
        app.note(&cookies, form.note, &form.csrf)
    })
    .await
}

/// `POST /logout`.
async fn post_logout(
    State(app): State<Arc<App>>,
    Extension(begun): Extension<StoreWorkBegun>,
    headers: HeaderMap,
    SiteForm(form): SiteForm<LogoutForm>,
) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, begun, move |app| app.logout(&cookies, &form.csrf)).await
}

/// Serves (see [`serve_site`]); a server that cannot start says why on
/// stderr, in one line, and exits 1.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match serve_site(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let message = host_harness::text::escape_controls(&e.to_string()).into_owned();
            let _ = writeln!(std::io::stderr(), "web_host: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Loads the first store, starts the console and serves until SIGTERM or
/// Ctrl-C.
async fn serve_site(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let policy = CookiePolicy::builder(args.cookie_name).build()?;
    let clock = Arc::new(ShiftedClock::default());
    let mut builder = Harness::builder().clock(clock.clone());
    if args.kv != "memory" {
        // Redis expires keys by its own clock: `advance` moves only what
        // the stores see (they check each session's expiry themselves).
        let redis = RedisBackend::builder(&args.kv)
            .key_prefix(&args.kv_prefix)
            .connect()?;
        builder = builder.kv_backend(Arc::new(redis));
    }
    let harness = builder.build()?;
    let mut given = args.settings;
    refuse_server_settings(&given, &policy)?;
    // cookie-session binds the cookie name into every seal.
    given.push(("cookie.name".to_string(), policy.name().to_string()));
    // The harness refuses a setting given twice (a second cookie.keys
    // would otherwise replace the first without a word).
    let first = harness.load_file(&args.store, LoadOptions::default().configs(given.clone()))?;
    // A store reads its settings on first use: one it refuses (no
    // cookie.keys, a misspelt key) stops the server now, not with a 500
    // on every request.
    host_harness::swap::check_serves(&first)?;
    let settings: BTreeMap<String, String> = given.into_iter().collect();
    let swap_options = SwapOptions {
        grace: Duration::from_secs(args.grace_seconds),
        ..SwapOptions::default()
    };
    let store = SwappableStore::new(&harness, first, swap_options);
    let connections = usize::try_from(args.max_connections)?;
    let app = Arc::new(App {
        store,
        policy,
        clock,
        settings: Mutex::new(settings),
        store_work: Arc::new(tokio::sync::Semaphore::new(connections)),
    });

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    // Before it says it listens: a SIGTERM from then on is a clean stop.
    let stop = shutdown_requested()?;
    console::say(format_args!(
        "listening on http://{}",
        listener.local_addr()?
    ));
    let console_app = app.clone();
    std::thread::spawn(move || console::run(console_app));

    let routes = axum::Router::new()
        .route("/", get(get_index))
        .route("/login", post(post_login))
        .route("/note", post(post_note))
        .route("/logout", post(post_logout))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(app);
    let limits = serve::ClientLimits {
        headers: Duration::from_secs(args.header_timeout_seconds),
        request: Duration::from_secs(args.request_timeout_seconds),
        send: Duration::from_secs(args.send_timeout_seconds),
        connections,
    };
    serve::serve(listener, routes, limits, stop).await;
    console::say(format_args!("stopped"));
    Ok(())
}

/// Takes over SIGTERM and SIGINT (Ctrl-C) now, and resolves on either: the
/// server then stops taking connections, finishes the requests it has and
/// exits 0. (Taken over when first awaited, a signal sent before that, say
/// right after the server said it listens, would kill it instead.)
fn shutdown_requested() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
