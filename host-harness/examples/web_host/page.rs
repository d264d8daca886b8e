//! The HTML: the session's page and the error page. Every piece of text
//! from a visitor or a plugin goes through [`html`].

use axum::http::StatusCode;
use host_harness::{Clock, SessionRecord};

use crate::site::{App, Failure, Reply, SessionData};

impl App {
    /// The page for the session `record`.
    pub(crate) fn page(
        &self,
        status: StatusCode,
        record: &SessionRecord,
        set_cookie: Option<String>,
        error: Option<&str>,
    ) -> Reply {
        let visit = SessionData::from_data(&record.data);
        let csrf = format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            html(&visit.csrf)
        );
        let current = self.store.current();
        let info = current.info();
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

/// The page that says why a request failed.
pub(crate) fn error(failure: &Failure) -> Reply {
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

/// Text for an HTML element or attribute.
pub(crate) fn html(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}
