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
//! `tests/browser/` drives this server with Chromium.
//!
//! Every form carries the session's CSRF token (OWASP's synchronizer token,
//! drawn anew at sign-in), on top of `SameSite=Lax`, which keeps the cookie
//! off cross-site POSTs in current browsers. Left out to stay short, and
//! needed by a real site: TLS (the cookie is `Secure`; browsers accept that
//! over plain HTTP only from localhost).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use host_harness::session_cookie::CookiePolicy;
use host_harness::{
    CallError, Clock, CreateOptions, Harness, LoadOptions, Plugin, RedisBackend, SessionError,
    SessionRecord, SwapOptions, SwappableStore, SystemClock,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

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
    /// A store setting, `key=value` (repeatable), e.g. `cookie.keys=<hex>`.
    #[arg(long = "config", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// The session store to start with.
    store: PathBuf,
}

/// One `--config key=value`.
fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected key=value, got {text:?}"))
}

/// Most the operator can move the clock in one `advance`: a hundred years.
const MAX_ADVANCE_SECS: u64 = 100 * 365 * 24 * 3600;

/// The system clock moved forward by what the operator asked for: a
/// demonstration of expiry without waiting for it.
#[derive(Default)]
struct ShiftedClock {
    /// Seconds ahead of the system clock.
    ahead_secs: AtomicU64,
}

impl ShiftedClock {
    /// Moves the clock `secs` further ahead (saturating, never wrapping).
    fn advance(&self, secs: u64) {
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

/// What every request handler shares.
struct App {
    /// The active session store, swapped by the console.
    store: SwappableStore,
    /// How the session cookie is written and found.
    policy: CookiePolicy,
    /// The clock the harness (guests and kv ttls) reads.
    clock: Arc<ShiftedClock>,
    /// The settings the active store was loaded with; a swap starts from
    /// them (and keeps what it changed).
    settings: Mutex<BTreeMap<String, String>>,
}

/// The session data this site keeps: a visit count, a note and the token
/// every form carries back (against cross-site request forgery).
///
/// Each request reads the whole session and writes it back, so of two
/// requests of one visitor at once the later write wins (the contract has
/// no compare-and-set; a cookie store could not offer one anyway).
#[derive(Default)]
struct Visit {
    /// Visits to `/` in this session.
    visits: u64,
    /// What the visitor asked the site to keep.
    note: String,
    /// The CSRF token of this session's forms; empty until one is drawn.
    csrf: String,
}

impl Visit {
    /// Reads what this site wrote; fields it does not know are dropped, ones
    /// missing start empty (a session migrated from another site's store).
    fn from_data(data: &str) -> Self {
        let map: Map<String, Value> = serde_json::from_str(data).unwrap_or_default();
        Visit {
            visits: map.get("visits").and_then(Value::as_u64).unwrap_or(0),
            note: map
                .get("note")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            csrf: map
                .get("csrf")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// The session data: a JSON object.
    fn to_data(&self) -> String {
        serde_json::json!({ "visits": self.visits, "note": self.note, "csrf": self.csrf })
            .to_string()
    }

    /// Whether `sent` is this session's CSRF token (compared in constant
    /// time; a session without one matches nothing).
    fn csrf_matches(&self, sent: &str) -> bool {
        !self.csrf.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes()))
    }
}

/// A fresh CSRF token: 128 bits from the operating system's CSPRNG.
fn new_csrf_token() -> Result<String, Failure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Failure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("no randomness for a CSRF token: {e}"),
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The refusal of a form that does not carry its session's CSRF token.
fn forged_form() -> Failure {
    Failure {
        status: StatusCode::FORBIDDEN,
        message: "This form does not carry the token of your session (it came from \
                  another site, or your session ended): reload the page and try again"
            .to_string(),
    }
}

/// Why a request could not be served, as the visitor is told.
struct Failure {
    /// The response's status.
    status: StatusCode,
    /// What went wrong, shown on the error page.
    message: String,
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        let status = match &e {
            // What the visitor asked to keep is more than the store takes.
            CallError::Session(SessionError::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            // This site's own data or settings refused: a fault here.
            CallError::Session(
                SessionError::InvalidData(_)
                | SessionError::Unsupported(_)
                | SessionError::Config(_),
            ) => StatusCode::INTERNAL_SERVER_ERROR,
            // The store or its backend failed: try again later.
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        Failure {
            status,
            message: e.to_string(),
        }
    }
}

/// A reply: a page or a redirect to `/`, with the session cookie to set.
struct Reply {
    /// The page's status (a redirect is always 303).
    status: StatusCode,
    /// A `Set-Cookie` to send.
    set_cookie: Option<String>,
    /// The page; none for a redirect to `/`.
    body: Option<String>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        // A page that shows a session must not be cached for another visitor.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(cookie) = self.set_cookie.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(SET_COOKIE, cookie);
        }
        match self.body {
            Some(body) => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                (self.status, headers, body).into_response()
            }
            None => {
                headers.insert(LOCATION, HeaderValue::from_static("/"));
                (StatusCode::SEE_OTHER, headers).into_response()
            }
        }
    }
}

/// Whether a call failed because the session is gone (destroyed or expired
/// since it was loaded).
fn ended(result: &Result<String, CallError>) -> bool {
    matches!(result, Err(CallError::Session(SessionError::NotFound)))
}

impl App {
    /// The live session a request's cookies name: each value of the cookie
    /// in turn (one planted beside the real one must not hide it); an
    /// unknown, expired, forged or tampered one is no session.
    fn session(&self, cookie_header: &str) -> Result<Option<SessionRecord>, CallError> {
        for id in self.policy.find_ids(cookie_header) {
            match self.store.load(id) {
                Ok(Some(record)) => return Ok(Some(record)),
                Ok(None) | Err(CallError::Session(SessionError::InvalidId(_))) => {}
                Err(e) => return Err(e), // a store that fails is not a logout
            }
        }
        Ok(None)
    }

    /// Applies `change` to the session `record` and writes it back. With no
    /// session, or one that ended since it was loaded (a sign-out in another
    /// tab), `change` starts a new anonymous session instead: an ended
    /// session is never written again under a new id. Returns the session
    /// as stored now and its cookie.
    fn change(
        &self,
        record: Option<&SessionRecord>,
        change: impl Fn(&mut Visit),
    ) -> Result<(SessionRecord, String), Failure> {
        if let Some(r) = record {
            let mut visit = Visit::from_data(&r.data);
            change(&mut visit);
            if visit.csrf.is_empty() {
                // A session this site did not start (migrated from another).
                visit.csrf = new_csrf_token()?;
            }
            let updated = self
                .store
                .update(&r.id, &visit.to_data(), r.user_id.as_deref());
            if !ended(&updated) {
                return self.issue(&updated?);
            }
        }
        let mut visit = Visit {
            csrf: new_csrf_token()?,
            ..Visit::default()
        };
        change(&mut visit);
        let id = self.store.create(CreateOptions::new(visit.to_data()))?;
        self.issue(&id)
    }

    /// The session `id` names, and the `Set-Cookie` that hands it out.
    fn issue(&self, id: &str) -> Result<(SessionRecord, String), Failure> {
        let record = self.store.load(id)?.ok_or_else(|| Failure {
            status: StatusCode::CONFLICT,
            message: "the session ended while this request was served: reload".to_string(),
        })?;
        let cookie = self.cookie_for(&record)?;
        Ok((record, cookie))
    }

    /// The `Set-Cookie` that hands out `record.id`.
    fn cookie_for(&self, record: &SessionRecord) -> Result<String, Failure> {
        self.policy
            .issue_record(record, self.clock.now_secs())
            .map(|c| c.to_string())
            .map_err(|e| Failure {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: e.to_string(),
            })
    }

    /// `GET /`: one more visit.
    fn visit(&self, cookie_header: &str) -> Result<Reply, Failure> {
        let record = self.session(cookie_header)?;
        let (saved, cookie) = self.change(record.as_ref(), |v| v.visits += 1)?;
        Ok(self.page(StatusCode::OK, &saved, Some(cookie), None))
    }

    /// The live session a form was posted from: refused unless the form
    /// carries the session's CSRF token.
    fn form_session(&self, cookie_header: &str, csrf: &str) -> Result<SessionRecord, Failure> {
        match self.session(cookie_header)? {
            Some(record) if Visit::from_data(&record.data).csrf_matches(csrf) => Ok(record),
            _ => Err(forged_form()),
        }
    }

    /// `POST /login`: the visitor signs in under a new session id and CSRF
    /// token.
    fn login(&self, cookie_header: &str, user: &str, csrf: &str) -> Result<Reply, Failure> {
        if user.is_empty()
            || user.len() > 64
            || !user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Failure {
                status: StatusCode::BAD_REQUEST,
                message: "a user name is 1 to 64 letters, digits, '-' or '_'".to_string(),
            });
        }
        let record = self.form_session(cookie_header, csrf)?;
        // A new id (and token) on every change of privilege (OWASP), before
        // the user id is written: an id planted or seen before the sign-in
        // is worth nothing after it.
        let regenerated = self.store.regenerate(&record.id);
        let mut visit = Visit::from_data(&record.data);
        visit.csrf = new_csrf_token()?;
        if !ended(&regenerated) {
            let id = regenerated?;
            match self.store.update(&id, &visit.to_data(), Some(user)) {
                Ok(id) => return Ok(redirect(Some(self.issue(&id)?.1))),
                Err(CallError::Session(SessionError::NotFound)) => {}
                // The session lives on, still anonymous, under its new
                // id (the old one is dead): hand that one out.
                Err(e) => {
                    let failure = Failure::from(e);
                    let (record, cookie) = self.issue(&id)?;
                    let message = format!("Not signed in: {}", failure.message);
                    return Ok(self.page(failure.status, &record, Some(cookie), Some(&message)));
                }
            }
        }
        // The session ended meanwhile: a new one, signed in.
        let data = Visit {
            visits: 0,
            note: String::new(),
            csrf: visit.csrf,
        }
        .to_data();
        let id = self.store.create(CreateOptions::new(data).user(user))?;
        Ok(redirect(Some(self.issue(&id)?.1)))
    }

    /// `POST /note`: keeps the note in the session.
    fn note(&self, cookie_header: &str, note: String, csrf: &str) -> Result<Reply, Failure> {
        let record = self.form_session(cookie_header, csrf)?;
        match self.change(Some(&record), |v| v.note.clone_from(&note)) {
            Ok((_, cookie)) => Ok(redirect(Some(cookie))),
            // Nothing was written: the session stays as it was, and so
            // does the browser's cookie, unless the store re-issued the id
            // it sent (a seal re-made with the current key, a migration).
            Err(f) if f.status == StatusCode::PAYLOAD_TOO_LARGE => {
                let message = format!("The note was not kept: {}", f.message);
                let sent = self.policy.find_ids(cookie_header).any(|v| v == record.id);
                let cookie = if sent {
                    None
                } else {
                    Some(self.cookie_for(&record)?)
                };
                Ok(self.page(f.status, &record, cookie, Some(&message)))
            }
            Err(f) => Err(f),
        }
    }

    /// `POST /logout`: the store forgets the session and the browser the
    /// cookie. (A stateless store cannot forget: its seal stays valid until
    /// it expires, so the removal cookie is all there is.) With no live
    /// session there is nothing to end; with one, the form must carry its
    /// token (another site must not sign the visitor out).
    fn logout(&self, cookie_header: &str, csrf: &str) -> Result<Reply, Failure> {
        if self.session(cookie_header)?.is_some() {
            self.form_session(cookie_header, csrf)?;
        }
        for id in self.policy.find_ids(cookie_header) {
            match self.store.destroy(id) {
                Ok(()) | Err(CallError::Session(SessionError::InvalidId(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(redirect(Some(self.policy.removal().to_string())))
    }

    /// The page for the session `record`.
    fn page(
        &self,
        status: StatusCode,
        record: &SessionRecord,
        set_cookie: Option<String>,
        error: Option<&str>,
    ) -> Reply {
        let visit = Visit::from_data(&record.data);
        let csrf = format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            html(&visit.csrf)
        );
        let info = self.store.current().info().clone();
        let left = record.expires_at.saturating_sub(self.clock.now_secs());
        let signed_in = match &record.user_id {
            Some(user) => format!(
                r#"<p id="user">Signed in as <b>{}</b></p>
<form id="logout" method="post" action="/logout">{csrf}<button>Sign out</button></form>"#,
                html(user)
            ),
            None => format!(
                r#"<p id="user">Not signed in</p>
<form id="login" method="post" action="/login">{csrf}<input name="user" placeholder="name"> <button>Sign in</button></form>"#
            ),
        };
        let error = error
            .map(|e| format!(r#"<p id="error">{}</p>"#, html(e)))
            .unwrap_or_default();
        // The newline after <textarea> is the one HTML drops, so a note that
        // starts with a newline keeps it.
        let body = format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sessions in a plugin</title></head>
<body>
{error}<p id="visits">Visits: {visits}</p>
{signed_in}
<form id="note" method="post" action="/note">{csrf}<textarea name="note">
{note}</textarea> <button>Keep note</button></form>
<p id="store">Store: {name} {version} ({side})</p>
<p id="expires">Session ends in {left} s</p>
</body></html>
"#,
            visits = visit.visits,
            note = html(&visit.note),
            name = html(&info.name),
            version = html(&info.version),
            side = if info.server_side {
                "server-side"
            } else {
                "stateless"
            },
        );
        Reply {
            status,
            set_cookie,
            body: Some(body),
        }
    }
}

impl App {
    /// The console's `swap <path.wasm> [key=value]...`: loads the store with
    /// the active settings, changed by those given (`cookie.keys=NEW,OLD`
    /// rotates keys), checks it and makes it active. The settings stay
    /// changed for later swaps. On any failure nothing changes.
    fn swap(&self, argument: &str) -> Result<Plugin, Box<dyn std::error::Error>> {
        let mut words = argument.split_whitespace();
        let path = words.next().ok_or("swap takes the path of a .wasm")?;
        let mut settings = self.settings.lock().map_err(|_| "settings poisoned")?;
        let mut changed = settings.clone();
        for word in words {
            let (key, value) = parse_setting(word)?;
            if key == "cookie.name" {
                return Err("cookie.name is the server's --cookie-name".into());
            }
            changed.insert(key, value);
        }
        let plugin = self
            .store
            .swap_file(path, LoadOptions::default().configs(&changed))?;
        *settings = changed;
        Ok(plugin)
    }
}

/// A redirect to `/` (after a POST: a reload does not send it again).
fn redirect(set_cookie: Option<String>) -> Reply {
    Reply {
        status: StatusCode::SEE_OTHER,
        set_cookie,
        body: None,
    }
}

/// Text for an HTML element or attribute.
fn html(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

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
/// and turns a failure into an error page.
async fn blocking(
    app: Arc<App>,
    serve: impl FnOnce(&App) -> Result<Reply, Failure> + Send + 'static,
) -> Reply {
    let outcome = tokio::task::spawn_blocking(move || serve(&app)).await;
    let failure = match outcome {
        Ok(Ok(reply)) => return reply,
        Ok(Err(failure)) => failure,
        Err(e) => Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the request handler failed: {e}"),
        },
    };
    Reply {
        status: failure.status,
        set_cookie: None,
        body: Some(format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sessions in a plugin</title></head>
<body><p id="error">{}</p><p><a href="/">Back</a></p></body></html>
"#,
            html(&failure.message)
        )),
    }
}

/// `GET /`.
async fn get_index(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, move |app| app.visit(&cookies)).await
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
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, move |app| {
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
    headers: HeaderMap,
    Form(form): Form<NoteForm>,
) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, move |app| app.note(&cookies, form.note, &form.csrf)).await
}

/// `POST /logout`.
async fn post_logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Reply {
    let cookies = cookie_header(&headers);
    blocking(app, move |app| app.logout(&cookies, &form.csrf)).await
}

/// Prints a line on standard output, which may be closed (never a panic).
fn say(line: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The operator's console: commands on standard input, one per line.
fn console(app: Arc<App>) {
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

/// Loads the first store, starts the console and serves until killed.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
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
    let mut settings = BTreeMap::new();
    for (key, value) in args.settings {
        if key == "cookie.name" {
            return Err("cookie.name is the server's --cookie-name".into());
        }
        settings.insert(key, value);
    }
    // cookie-session binds the cookie name into every seal.
    settings.insert("cookie.name".to_string(), policy.name().to_string());
    let first = harness.load_file(&args.store, LoadOptions::default().configs(&settings))?;
    let swap_options = SwapOptions {
        grace: Duration::from_secs(args.grace_seconds),
        ..SwapOptions::default()
    };
    let store = SwappableStore::new(&harness, first, swap_options);
    let app = Arc::new(App {
        store,
        policy,
        clock,
        settings: Mutex::new(settings),
    });

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    say(format_args!(
        "listening on http://{}",
        listener.local_addr()?
    ));
    let console_app = app.clone();
    std::thread::spawn(move || console(console_app));

    let routes = axum::Router::new()
        .route("/", get(get_index))
        .route("/login", post(post_login))
        .route("/note", post(post_note))
        .route("/logout", post(post_logout))
        .with_state(app);
    axum::serve(listener, routes).await?;
    Ok(())
}
