//! The site's session handling: which session a request's cookies name,
//! what each route writes into it, the CSRF token its forms carry, and the
//! reply (a page or a redirect, with the `Set-Cookie` to send).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use host_harness::session_cookie::{CookieError, CookiePolicy};
use host_harness::{CallError, Clock, CreateOptions, SessionError, SessionRecord, SwappableStore};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::console::ShiftedClock;

/// What every request handler shares.
pub(crate) struct App {
    /// The active session store, swapped by the console.
    pub(crate) store: SwappableStore,
    /// How the session cookie is written and found.
    pub(crate) policy: CookiePolicy,
    /// The clock the harness (guests and kv ttls) reads.
    pub(crate) clock: Arc<ShiftedClock>,
    /// The settings the active store was loaded with; a swap starts from
    /// them (and keeps what it changed).
    pub(crate) settings: Mutex<BTreeMap<String, String>>,
    /// Requests whose store calls may run at once (as many as connections
    /// are served). A permit is held until the calls end, not until the
    /// connection does: a request whose client went away still runs
    /// its calls to the end, and without this a
    /// client that sends a request and hangs up, again and again, would
    /// queue store work without bound.
    pub(crate) store_work: Arc<tokio::sync::Semaphore>,
}

/// The session data this site keeps: a visit count, a note and the token
/// every form carries back (against cross-site request forgery).
///
/// Each request reads the whole session and writes it back, so of two
/// requests of one visitor at once the later write wins (the contract has
/// no compare-and-set; a cookie store could not offer one anyway).
#[derive(Default)]
pub(crate) struct SessionData {
    /// Visits to `/` in this session.
    pub(crate) visits: u64,
    /// What the visitor asked the site to keep.
    pub(crate) note: String,
    /// The CSRF token of this session's forms; empty until one is drawn.
    pub(crate) csrf: String,
}

impl SessionData {
    /// Reads what this site wrote; fields it does not know are dropped, ones
    /// missing start empty (a session migrated from another site's store).
    pub(crate) fn from_data(data: &str) -> Self {
        let map: Map<String, Value> = serde_json::from_str(data).unwrap_or_default();
        SessionData {
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
    pub(crate) fn to_data(&self) -> String {
        serde_json::json!({ "visits": self.visits, "note": self.note, "csrf": self.csrf })
            .to_string()
    }

    /// Whether `sent` is this session's CSRF token (compared in constant
    /// time; a session without one matches nothing).
    pub(crate) fn csrf_matches(&self, sent: &str) -> bool {
        !self.csrf.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes()))
    }
}

/// A fresh CSRF token: 128 bits from the operating system's CSPRNG.
pub(crate) fn new_csrf_token() -> Result<String, Failure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        Failure::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            format_args!("no randomness for a CSRF token: {e}"),
        )
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The refusal of a form that does not carry its session's CSRF token.
pub(crate) fn forged_form() -> Failure {
    Failure {
        status: StatusCode::FORBIDDEN,
        message: "This form does not carry the token of your session (it came from \
                  another site, or your session ended): reload the page and try again"
            .to_string(),
    }
}

/// Why a request could not be served, as the visitor is told.
pub(crate) struct Failure {
    /// The response's status.
    pub(crate) status: StatusCode,
    /// What went wrong, shown on the error page.
    pub(crate) message: String,
}

impl Failure {
    /// A failure on the site's side: `detail` goes to the server's log
    /// (standard error), the visitor gets what `status` means (store errors,
    /// backend addresses and traps are not for them to read).
    pub(crate) fn internal(status: StatusCode, detail: std::fmt::Arguments) -> Self {
        let mut log = std::io::stderr().lock();
        let _ = writeln!(log, "error {}: {detail}", status.as_u16());
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "That is too large for a session here to hold",
            StatusCode::BAD_REQUEST
            | StatusCode::UNPROCESSABLE_ENTITY
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "This form could not be read: reload the page and try again"
            }
            StatusCode::REQUEST_TIMEOUT => "This request took too long: try again",
            StatusCode::SERVICE_UNAVAILABLE => {
                "The session store is not answering just now: try again in a moment"
            }
            _ => "Something went wrong on our side; it has been logged",
        };
        Failure {
            status,
            message: message.to_string(),
        }
    }
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
        Failure::internal(status, format_args!("{e}"))
    }
}

/// A reply: a page or a redirect to `/`, with the session cookie to set.
pub(crate) struct Reply {
    /// The page's status (a redirect is always 303).
    pub(crate) status: StatusCode,
    /// A `Set-Cookie` to send.
    pub(crate) set_cookie: Option<String>,
    /// The page; none for a redirect to `/`.
    pub(crate) body: Option<String>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        // Caching and framing headers: `serve::secured`, on every answer.
        let mut headers = HeaderMap::new();
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

/// The answer when the session ended while the request was served.
fn ended_meanwhile() -> Failure {
    Failure {
        status: StatusCode::CONFLICT,
        message: "the session ended while this request was served: reload".to_string(),
    }
}

/// Whether a call failed because the session is gone (destroyed or expired
/// since it was loaded).
pub(crate) fn ended(result: &Result<String, CallError>) -> bool {
    matches!(result, Err(CallError::Session(SessionError::NotFound)))
}

impl App {
    /// The live session a request's cookies name: each value of the cookie
    /// in turn (one planted beside the real one must not hide it); an
    /// unknown, expired, forged or tampered one is no session. The record's
    /// id may differ from the value sent (re-issued, or migrated from a
    /// store swapped out).
    pub(crate) fn session(&self, cookie_header: &str) -> Result<Option<SessionRecord>, CallError> {
        for sent in self.policy.find_ids(cookie_header) {
            match self.store.load(sent) {
                Ok(Some(record)) => return Ok(Some(record)),
                Ok(None) | Err(CallError::Session(SessionError::InvalidId(_))) => {}
                Err(e) => return Err(e), // a store that fails is not a logout
            }
        }
        Ok(None)
    }

    /// Applies `change` to the session `record` and writes it back; with no
    /// session, `change` starts a new anonymous one instead. Returns the
    /// session as stored now and its cookie. One that ended since it was
    /// loaded is a 409 with no cookie, and nothing is written: an ended
    /// session is never written again under a new id, and the browser keeps
    /// the cookie another tab's answer set meanwhile. (A new anonymous
    /// session here, once, replaced the one a sign-in in another tab had
    /// just issued under a new id: the visitor was signed out without a
    /// word.)
    pub(crate) fn change(
        &self,
        record: Option<&SessionRecord>,
        change: impl Fn(&mut SessionData),
    ) -> Result<(SessionRecord, String), Failure> {
        if let Some(r) = record {
            let mut visit = SessionData::from_data(&r.data);
            change(&mut visit);
            if visit.csrf.is_empty() {
                // A session this site did not start (migrated from another).
                visit.csrf = new_csrf_token()?;
            }
            let updated = self
                .store
                .update(&r.id, &visit.to_data(), r.user_id.as_deref());
            if ended(&updated) {
                return Err(ended_meanwhile());
            }
            return self.issue(&updated?);
        }
        let mut visit = SessionData {
            csrf: new_csrf_token()?,
            ..SessionData::default()
        };
        change(&mut visit);
        let id = self.store.create(CreateOptions::new(visit.to_data()))?;
        self.issue(&id)
    }

    /// The session `id` names, and the `Set-Cookie` that hands it out.
    pub(crate) fn issue(&self, id: &str) -> Result<(SessionRecord, String), Failure> {
        let record = self.store.load(id)?.ok_or_else(ended_meanwhile)?;
        let cookie = self.cookie_for(&record)?;
        Ok((record, cookie))
    }

    /// The `Set-Cookie` that hands out `record.id`.
    pub(crate) fn cookie_for(&self, record: &SessionRecord) -> Result<String, Failure> {
        self.cookie_until(&record.id, record.expires_at)
    }

    /// The `Set-Cookie` that hands out `id`, a session live until at least
    /// `expires_at`.
    fn cookie_until(&self, id: &str, expires_at: u64) -> Result<String, Failure> {
        self.policy
            .issue(id, expires_at, self.clock.now_secs())
            .map(|c| c.to_string())
            .map_err(|e| match e {
                // It expired since it was loaded (its last second ran out).
                CookieError::Expired { .. } => ended_meanwhile(),
                // More than a cookie carries (the settings refused at start
                // and swap keep a seal within it; this is the fallback): as
                // a store's `too-large`, so the pages that fall back to the
                // session as it was still answer.
                e @ CookieError::TooLong { .. } => {
                    Failure::internal(StatusCode::PAYLOAD_TOO_LARGE, format_args!("{e}"))
                }
                e => Failure::internal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format_args!("no cookie for the session: {e}"),
                ),
            })
    }

    /// The session `current` as it is, its expiry slid (`touch`): a request
    /// that could write nothing (the session is full) is still activity,
    /// and without this a visitor active all along was signed out one ttl
    /// after the last write that fitted. A touch the store refuses as too
    /// large (a seal re-made a little longer) leaves it as it was.
    fn touched(&self, current: &SessionRecord) -> Result<SessionRecord, Failure> {
        match self.store.touch(&current.id, None) {
            Ok(id) => self.store.load(&id)?.ok_or_else(ended_meanwhile),
            Err(CallError::Session(SessionError::NotFound)) => Err(ended_meanwhile()),
            Err(CallError::Session(SessionError::TooLarge(_))) => Ok(current.clone()),
            Err(e) => Err(e.into()),
        }
    }

    /// The page of the session `current` as it is, nothing written, with
    /// `message`; a cookie only when the store re-issued the id the browser
    /// sent (a seal re-made with the current key, a migration).
    fn unchanged_page(
        &self,
        cookie_header: &str,
        status: StatusCode,
        current: &SessionRecord,
        message: &str,
    ) -> Result<Reply, Failure> {
        let sent = self.policy.find_ids(cookie_header).any(|v| v == current.id);
        let cookie = if sent {
            None
        } else {
            Some(self.cookie_for(current)?)
        };
        Ok(self.page(status, current, cookie, Some(message)))
    }

    /// `GET /`: one more visit.
    pub(crate) fn visit(&self, cookie_header: &str) -> Result<Reply, Failure> {
        let record = self.session(cookie_header)?;
        match (self.change(record.as_ref(), |v| v.visits += 1), &record) {
            (Ok((saved, cookie)), _) => Ok(self.page(StatusCode::OK, &saved, Some(cookie), None)),
            // A session at its size limit (a note that filled it) one more
            // digit of visits does not fit: its page, uncounted, so the
            // visitor can still shorten the note or sign out (an error page
            // whose way back is this page again would lock them out).
            (Err(f), Some(current)) if f.status == StatusCode::PAYLOAD_TOO_LARGE => {
                let message = format!("This visit was not counted: {}", f.message);
                let current = self.touched(current)?;
                self.unchanged_page(cookie_header, StatusCode::OK, &current, &message)
            }
            (Err(f), _) => Err(f),
        }
    }

    /// The live session a form was posted from, with the cookie value that
    /// named it: of the sessions the request's cookies name, the one whose
    /// CSRF token the form carries (under a plain cookie name a planted
    /// cookie may come first). Refused when none carries it.
    pub(crate) fn form_session<'h>(
        &self,
        cookie_header: &'h str,
        csrf: &str,
    ) -> Result<(&'h str, SessionRecord), Failure> {
        for sent in self.policy.find_ids(cookie_header) {
            match self.store.load(sent) {
                Ok(Some(record)) if SessionData::from_data(&record.data).csrf_matches(csrf) => {
                    return Ok((sent, record));
                }
                Ok(_) | Err(CallError::Session(SessionError::InvalidId(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(forged_form())
    }

    /// `POST /login`: the visitor signs in under a new session id and CSRF
    /// token.
    pub(crate) fn login(
        &self,
        cookie_header: &str,
        user: &str,
        csrf: &str,
    ) -> Result<Reply, Failure> {
        // The token first: a form from another site learns nothing, not
        // even whether the name is well formed.
        let (_, record) = self.form_session(cookie_header, csrf)?;
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
        // On every change of privilege (OWASP) a new token, then a new id,
        // then the user: an id or token planted or seen before the sign-in
        // is worth nothing after it, and a failure part way leaves a whole
        // session (anonymous, with the new token) and hands out nothing from
        // before.
        // Another user signing in on this browser starts from nothing, and
        // signed out: the last one's note and visits are not the new user's
        // to see, and a failure part way must not leave the last one signed
        // in with the new one's data.
        let switching = record
            .user_id
            .as_deref()
            .is_some_and(|before| before != user);
        let (mut visit, keeps_user) = match switching {
            true => (SessionData::default(), None),
            false => (
                SessionData::from_data(&record.data),
                record.user_id.as_deref(),
            ),
        };
        visit.csrf = new_csrf_token()?;
        let data = visit.to_data();
        let regenerated = self
            .store
            .update(&record.id, &data, keeps_user)
            .and_then(|id| self.store.regenerate(&id));
        let signed_in = match regenerated {
            Ok(id) => match self.store.update(&id, &data, Some(user)) {
                Err(e) if !matches!(e, CallError::Session(SessionError::NotFound)) => {
                    // Still anonymous, under its new id: hand that one out.
                    let failure = Failure::from(e);
                    let message = format!("Not signed in: {}", failure.message);
                    return match self.issue(&id) {
                        Ok((record, cookie)) => {
                            Ok(self.page(failure.status, &record, Some(cookie), Some(&message)))
                        }
                        // Reading it back failed too (the backend went
                        // down): the error page, but with the cookie, as
                        // after a sign-in below, or the visitor, whose old
                        // id is gone, would lose the session.
                        Err(f) if f.status != StatusCode::CONFLICT => {
                            let mut reply = crate::page::error(&failure);
                            reply.set_cookie = Some(self.cookie_until(&id, record.expires_at)?);
                            Ok(reply)
                        }
                        Err(f) => Err(f),
                    };
                }
                signed_in => signed_in,
            },
            Err(e) => Err(e),
        };
        let id = match signed_in {
            Ok(id) => id,
            // The session ended meanwhile: a new one, signed in.
            Err(CallError::Session(SessionError::NotFound)) => {
                let fresh = SessionData {
                    csrf: visit.csrf,
                    ..SessionData::default()
                };
                self.store
                    .create(CreateOptions::new(fresh.to_data()).user(user))?
            }
            Err(e) => return Err(e.into()),
        };
        let cookie = match self.issue(&id) {
            Ok((_, cookie)) => cookie,
            // Reading it back failed (a kv blip): the cookie still goes out,
            // or the visitor, whose old id is gone, would lose the session
            // just signed in to. It was live before the sign-in until
            // `record.expires_at`, and the sign-in did not shorten that.
            Err(f) if f.status != StatusCode::CONFLICT => {
                self.cookie_until(&id, record.expires_at)?
            }
            // It ended meanwhile (a sign-out in another tab).
            Err(f) => return Err(f),
        };
        Ok(redirect(Some(cookie)))
    }

    /// `POST /note`: keeps the note in the session.
    pub(crate) fn note(
        &self,
        cookie_header: &str,
        note: String,
        csrf: &str,
    ) -> Result<Reply, Failure> {
        let (_, record) = self.form_session(cookie_header, csrf)?;
        match self.change(Some(&record), |v| v.note.clone_from(&note)) {
            Ok((_, cookie)) => Ok(redirect(Some(cookie))),
            // Nothing was written: the session stays as it was, and so
            // does the browser's cookie, unless the store re-issued the id
            // it sent (a seal re-made with the current key, a migration).
            Err(f) if f.status == StatusCode::PAYLOAD_TOO_LARGE => {
                // The session as it is now; one that ended meanwhile gets
                // the error page, not a page that shows it live. (Its
                // expiry is not slid: nothing is written, and the page
                // view that follows does it.)
                let Some(current) = self.store.load(&record.id)? else {
                    return Err(f);
                };
                let message = format!("The note was not kept: {}", f.message);
                self.unchanged_page(cookie_header, f.status, &current, &message)
            }
            Err(f) => Err(f),
        }
    }

    /// `POST /logout`: the store forgets the session and the browser the
    /// cookie. (A stateless store cannot forget: its seal stays valid until
    /// it expires, so the removal cookie is all there is.) With no live
    /// session there is nothing to end; with one, the form must carry its
    /// token (another site must not sign the visitor out), and that session
    /// alone ends: another sent beside it (planted under a plain cookie
    /// name) is not this form's to end. (The removal cookie still makes the
    /// browser drop its cookie of the name for `/`: a planted cookie can so
    /// make it forget a session the store keeps, which a `__Host-` name
    /// prevents.) A request that sends no session cookie gets no removal
    /// cookie either: that is what a form posted from another site looks
    /// like (the browser keeps a `SameSite=Lax` cookie out of a cross-site
    /// POST), and the browser would still apply a removal in the answer to
    /// that top-level navigation, signing the visitor out.
    pub(crate) fn logout(&self, cookie_header: &str, csrf: &str) -> Result<Reply, Failure> {
        if self.session(cookie_header)?.is_some() {
            let (sent, record) = self.form_session(cookie_header, csrf)?;
            // The value sent may name it in a store swapped out.
            self.store.destroy(sent)?;
            if record.id != sent {
                self.store.destroy(&record.id)?;
            }
        }
        let sent_any = self.policy.find_ids(cookie_header).next().is_some();
        Ok(redirect(
            sent_any.then(|| self.policy.removal().to_string()),
        ))
    }
}

/// A redirect to `/` (after a POST: a reload does not send it again).
pub(crate) fn redirect(set_cookie: Option<String>) -> Reply {
    Reply {
        status: StatusCode::SEE_OTHER,
        set_cookie,
        body: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_harness::{Harness, LoadOptions, SwapOptions};

    /// The site on kv-session, in memory, with its default cookie.
    fn app() -> App {
        let clock = Arc::new(ShiftedClock::default());
        let kv = Arc::new(host_harness::MemoryBackend::new(clock.clone()));
        app_on(clock, kv, &[])
    }

    /// The site on kv-session over `kv` with `settings`, and its default
    /// cookie.
    fn app_on(
        clock: Arc<ShiftedClock>,
        kv: Arc<dyn host_harness::KvBackend>,
        settings: &[(&str, &str)],
    ) -> App {
        let wasm = host_harness::bench::guest_path("kv_session");
        assert!(
            wasm.is_file(),
            "{} is missing: run `make guests`",
            wasm.display()
        );
        let harness = Harness::builder()
            .clock(clock.clone())
            .kv_backend(kv)
            .build()
            .expect("a harness");
        let plugin = harness
            .load_file(
                &wasm,
                LoadOptions::default().configs(settings.iter().copied()),
            )
            .expect("kv-session loads");
        App {
            store: SwappableStore::new(&harness, plugin, SwapOptions::default()),
            policy: CookiePolicy::builder("__Host-sid")
                .build()
                .expect("a policy"),
            clock,
            settings: Mutex::new(BTreeMap::new()),
            store_work: Arc::new(tokio::sync::Semaphore::new(4)),
        }
    }

    /// A request that loaded a session which a sign-in in another tab then
    /// regenerated (its id is gone, the session lives on under a new one)
    /// answers 409 with no cookie and writes nothing. Before, it started a
    /// new anonymous session and sent its cookie, which replaced the one
    /// the sign-in had just set: the visitor was signed out without a word.
    #[test]
    fn a_session_regenerated_meanwhile_is_a_conflict_not_a_new_session() {
        let app = app();
        let Ok((loaded, _)) = app.change(None, |v| v.visits += 1) else {
            panic!("no session")
        };
        let signed_in = app.store.regenerate(&loaded.id).expect("regenerated");
        let before = app.store.count().expect("counted");
        let answer = app.change(Some(&loaded), |v| v.visits += 1);
        assert!(
            matches!(&answer, Err(f) if f.status == StatusCode::CONFLICT),
            "{:?}",
            answer
                .as_ref()
                .map(|(r, c)| (&r.id, c))
                .map_err(|f| f.status)
        );
        assert_eq!(
            app.store.count().expect("counted"),
            before,
            "a session was made"
        );
        let kept = app
            .store
            .load(&signed_in)
            .expect("loads")
            .expect("still live");
        assert_eq!(SessionData::from_data(&kept.data).visits, 1);
    }

    /// A kv backend that goes down (every read and write of the site's
    /// sessions fails) right after the first delete once armed: for a
    /// sign-in, just after `regenerate` moved the session to its new id.
    struct DownAfterDelete {
        memory: host_harness::MemoryBackend,
        armed: std::sync::atomic::AtomicBool,
        down: std::sync::atomic::AtomicBool,
    }

    impl DownAfterDelete {
        fn check(&self, namespace: &str) -> Result<(), host_harness::KvError> {
            let sessions = !namespace.starts_with("session-harness/");
            match sessions && self.down.load(std::sync::atomic::Ordering::SeqCst) {
                true => Err(host_harness::KvError::Backend("down".to_string())),
                false => Ok(()),
            }
        }
    }

    impl host_harness::KvBackend for DownAfterDelete {
        fn name(&self) -> &str {
            "down-after-delete"
        }

        fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, host_harness::KvError> {
            self.check(ns)?;
            self.memory.get(ns, key)
        }

        fn set(
            &self,
            ns: &str,
            key: &str,
            value: Vec<u8>,
            ttl: Option<u64>,
            mode: host_harness::WriteMode,
        ) -> Result<bool, host_harness::KvError> {
            self.check(ns)?;
            self.memory.set(ns, key, value, ttl, mode)
        }

        fn delete(&self, ns: &str, key: &str) -> Result<bool, host_harness::KvError> {
            self.check(ns)?;
            let deleted = self.memory.delete(ns, key);
            if self.armed.load(std::sync::atomic::Ordering::SeqCst) {
                self.down.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            deleted
        }

        fn delete_if_equals(
            &self,
            ns: &str,
            key: &str,
            expected: &[u8],
        ) -> Result<bool, host_harness::KvError> {
            self.check(ns)?;
            self.memory.delete_if_equals(ns, key, expected)
        }

        fn replace_if_equals(
            &self,
            ns: &str,
            key: &str,
            expected: &[u8],
            value: Vec<u8>,
            ttl: Option<u64>,
        ) -> Result<bool, host_harness::KvError> {
            self.check(ns)?;
            self.memory.replace_if_equals(ns, key, expected, value, ttl)
        }

        fn list_keys(
            &self,
            ns: &str,
            prefix: &str,
            cursor: Option<&str>,
            limit: u32,
        ) -> Result<host_harness::KeyPage, host_harness::KvError> {
            self.check(ns)?;
            self.memory.list_keys(ns, prefix, cursor, limit)
        }
    }

    /// A sign-in whose last step fails, and whose read-back fails too (the
    /// backend went down after `regenerate` moved the session): the error
    /// page still carries the new id's cookie. It had none, so the browser
    /// kept the old id, which regenerate had ended: the visitor lost the
    /// session.
    #[test]
    fn a_sign_in_cut_short_by_the_backend_still_hands_out_the_new_id() {
        let clock = Arc::new(ShiftedClock::default());
        let kv = Arc::new(DownAfterDelete {
            memory: host_harness::MemoryBackend::new(clock.clone()),
            armed: false.into(),
            down: false.into(),
        });
        let app = app_on(clock, kv.clone(), &[]);
        let Ok((anonymous, _)) = app.change(None, |v| v.visits += 1) else {
            panic!("no session")
        };
        let csrf = SessionData::from_data(&anonymous.data).csrf;
        kv.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let sent = format!("__Host-sid={}", anonymous.id);
        let reply = match app.login(&sent, "alice", &csrf) {
            Ok(reply) => reply,
            Err(f) => panic!("an error page without a cookie: {} {}", f.status, f.message),
        };
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        let cookie = reply.set_cookie.expect("the new id's cookie");
        kv.down.store(false, std::sync::atomic::Ordering::SeqCst);
        let handed_out = app
            .policy
            .find_ids(&cookie)
            .next()
            .expect("an id")
            .to_string();
        assert_ne!(handed_out, anonymous.id);
        let kept = app.store.load(&handed_out).expect("loads").expect("live");
        assert_eq!(
            (kept.user_id, SessionData::from_data(&kept.data).visits),
            (None, 1)
        );
        assert_eq!(app.store.load(&anonymous.id).expect("loads"), None);
    }

    /// A session too full to count one more visit still has its expiry slid
    /// by each page view: a visitor active all along was signed out one ttl
    /// after the last write that fitted.
    #[test]
    fn a_full_session_stays_alive_while_it_is_used() {
        let clock = Arc::new(ShiftedClock::default());
        let kv = Arc::new(host_harness::MemoryBackend::new(clock.clone()));
        let settings = [
            ("session.max-data-bytes", "200"),
            ("session.ttl-seconds", "100"),
        ];
        let app = app_on(clock.clone(), kv, &settings);
        let mut full = SessionData {
            visits: 9,
            csrf: new_csrf_token().ok().expect("a token"),
            ..SessionData::default()
        };
        full.note = "x".repeat(200 - full.to_data().len());
        assert_eq!(full.to_data().len(), 200, "one more visit does not fit");
        let id = app
            .store
            .create(CreateOptions::new(full.to_data()))
            .expect("created");
        let sent = format!("__Host-sid={id}");
        for _ in 0..3 {
            clock.advance(60);
            let reply = app.visit(&sent).ok().expect("a page");
            assert_eq!(reply.status, StatusCode::OK);
            assert!(
                reply.body.expect("a page").contains("not counted"),
                "the visit did not fit"
            );
        }
        // 180 s after the last write, of a 100 s ttl: alive, as it was used.
        let kept = app.store.load(&id).expect("loads").expect("still live");
        assert_eq!(SessionData::from_data(&kept.data).visits, 9);
    }

    /// An id longer than a cookie carries is answered as a store's
    /// `too-large` (413), which the pages fall back from, not a 500.
    #[test]
    fn an_id_no_cookie_carries_is_too_large() {
        let app = app();
        let long = "a".repeat(app.policy.max_value_bytes() + 1);
        let answer = app.cookie_until(&long, app.clock.now_secs() + 60);
        assert!(
            matches!(&answer, Err(f) if f.status == StatusCode::PAYLOAD_TOO_LARGE),
            "{:?}",
            answer.map_err(|f| f.status)
        );
    }

    /// `cookie.max-bytes` past one cookie of the server's name is refused
    /// at start and swap (a seal that grew past it had no cookie: a 500 on
    /// every page of that session); up to it, or not a number (the store's
    /// to refuse), it is not.
    #[test]
    fn a_cookie_limit_past_one_cookie_is_refused() {
        let policy = CookiePolicy::builder("__Host-sid")
            .build()
            .expect("a policy");
        let max = policy.max_value_bytes();
        let with = |v: String| vec![("cookie.max-bytes".to_string(), v)];
        let refused = crate::refuse_server_settings(&with((max + 1).to_string()), &policy);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains(&format!("({max} bytes)"))),
            "{refused:?}"
        );
        assert!(crate::refuse_server_settings(&with(max.to_string()), &policy).is_ok());
        assert!(crate::refuse_server_settings(&with("many".to_string()), &policy).is_ok());
        let named = vec![("cookie.name".to_string(), "sid".to_string())];
        assert!(crate::refuse_server_settings(&named, &policy).is_err());
    }
}
