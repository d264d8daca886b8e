//! The session cookie a host sends and reads back: `Set-Cookie` text for an id
//! a store handed out, with OWASP's attributes by default, a removal cookie
//! for logout, and the id found in a request's `Cookie` header. The text is
//! written and parsed by the [`cookie`] crate.
//!
//! ```
//! use host_harness::session_cookie::CookiePolicy;
//!
//! let policy = CookiePolicy::builder("__Host-id").build()?;
//! // after `create`, `load` (whose record.id may be re-issued) or `regenerate`:
//! let set_cookie = policy.issue("zVFHrbMjxFLYzVFHrbMjxFLYzVFHrbMj", 1_800_003_600, 1_800_000_000)?;
//! assert_eq!(
//!     set_cookie.to_string(),
//!     "__Host-id=zVFHrbMjxFLYzVFHrbMjxFLYzVFHrbMj; HttpOnly; SameSite=Lax; Secure; Path=/"
//! );
//! // a cookie the browser keeps across restarts, until the session expires:
//! let kept = CookiePolicy::builder("__Host-id").persistent(true).build()?;
//! assert!(kept.issue("zVFHrbMj", 1_800_003_600, 1_800_000_000)?.to_string()
//!     .ends_with("Max-Age=3600; Expires=Fri, 15 Jan 2027 09:00:00 GMT"));
//! // on the next request (with a `__Host-` name the browser holds one cookie
//! // of it; under a plain name try every value, see `find_ids`):
//! let id = policy.find_id("theme=dark; __Host-id=zVFHrbMjxFLYzVFHrbMjxFLYzVFHrbMj");
//! assert_eq!(id, Some("zVFHrbMjxFLYzVFHrbMjxFLYzVFHrbMj"));
//! // after `destroy`:
//! assert!(policy.removal().to_string().contains("Max-Age=0"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A `cookie-session` store binds the cookie name into every seal: load it with
//! `cookie.name` set to [`CookiePolicy::name`], or its seals are rejected.

use crate::types::SessionRecord;
pub use cookie::{Cookie, SameSite};
use cookie::{Expiration, time};

/// Most bytes a browser keeps for one cookie's `name=value` (RFC 6265 section
/// 6.1's minimum, Chromium's and Firefox's limit). `cookie.max-bytes`
/// defaults to this minus the name and `=`, so a seal always fits.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Most values of the session cookie [`CookiePolicy::find_ids`] offers from
/// one request: a browser sends one per path and domain the cookie was set
/// for (one under a `__Host-` name), a handful at most.
pub const MAX_IDS_OFFERED: usize = 8;

/// The latest `Expires` date written: the end of year 9999, the last an HTTP
/// date can hold.
const MAX_EXPIRES: i64 = 253_402_300_799;

/// How the session cookie is written: its name and attributes. Build one with
/// [`CookiePolicy::builder`]; the defaults follow OWASP's session-management
/// advice: `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`, no `Domain` (host-only),
/// and a non-persistent cookie (no `Max-Age`/`Expires`: the browser forgets it
/// when it closes, while the store still enforces the session's expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePolicy {
    name: String,
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    persistent: bool,
}

/// Builds a [`CookiePolicy`], checking the combination once in
/// [`build`](CookiePolicyBuilder::build).
#[derive(Debug, Clone)]
pub struct CookiePolicyBuilder {
    policy: CookiePolicy,
}

/// A cookie policy that would make browsers drop or misplace the cookie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookiePolicyError {
    /// The name is empty or not an RFC 6265 token.
    #[error("cookie name {name:?} is not allowed: {reason}")]
    Name {
        /// The name asked for.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `__Host-` or `__Secure-` name without the attributes its prefix demands.
    #[error("cookie name {name:?} needs {needs}: browsers reject it otherwise")]
    Prefix {
        /// The name asked for.
        name: String,
        /// The attributes the prefix requires.
        needs: &'static str,
    },
    /// `SameSite=None` without `Secure`.
    #[error("SameSite=None needs Secure: browsers reject it otherwise")]
    SameSiteNoneInsecure,
    /// A path that does not start with `/`, holds `;` or a byte outside
    /// printable ASCII (browsers read a raw non-ASCII path inconsistently:
    /// percent-encode it), or is longer than the 1024 bytes browsers take
    /// of an attribute (past it they ignore the `Path`, and the cookie gets
    /// the path of the request that set it).
    #[error(
        "cookie path {0:?} must start with '/', be at most 1024 bytes and hold only printable ASCII without ';' (percent-encode other characters)"
    )]
    Path(String),
    /// A domain that is empty or holds characters a domain cannot.
    #[error("cookie domain {0:?} is not a host name")]
    Domain(String),
}

/// A session id that cannot be sent as this cookie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// The id is empty or holds a byte RFC 6265 does not allow in a cookie value.
    #[error("session id cannot be a cookie value: {0}")]
    Value(String),
    /// `name=value` is longer than browsers keep.
    #[error(
        "cookie {name} would be {len} bytes (name=value), over the {MAX_COOKIE_BYTES} browsers keep; \
         lower session.max-data-bytes or cookie.max-bytes"
    )]
    TooLong {
        /// The cookie's name.
        name: String,
        /// Length of `name=value`.
        len: usize,
    },
    /// The session had already expired at `now`: send [`CookiePolicy::removal`].
    #[error("session expired at {expires_at}, not after now ({now}); send the removal cookie")]
    Expired {
        /// The session's expiry, Unix seconds.
        expires_at: u64,
        /// The time asked about, Unix seconds.
        now: u64,
    },
}

impl Default for CookiePolicy {
    /// Cookie `id` (the `cookie.name` default) with the OWASP defaults; see
    /// [`CookiePolicy::builder`] for why a `__Host-` name is safer.
    fn default() -> Self {
        Self {
            name: "id".to_string(),
            path: "/".to_string(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            persistent: false,
        }
    }
}

impl CookiePolicy {
    /// Starts a policy for cookie `name` with the defaults. Prefer a
    /// `__Host-` name (e.g. `__Host-id`): browsers then accept the cookie
    /// only from this host, over HTTPS, for `Path=/`, so a sibling subdomain
    /// or a plain-HTTP response cannot plant a session id of its choosing
    /// (session fixation), which a plain name like `id` does not prevent.
    pub fn builder(name: impl Into<String>) -> CookiePolicyBuilder {
        CookiePolicyBuilder {
            policy: CookiePolicy {
                name: name.into(),
                ..CookiePolicy::default()
            },
        }
    }

    /// The cookie's name: give it to a `cookie-session` store as `cookie.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The longest session id this cookie can carry: what `cookie.max-bytes`
    /// defaults to for this name.
    pub fn max_value_bytes(&self) -> usize {
        max_value_bytes(&self.name)
    }

    /// The cookie that hands `record.id` to the browser until the session
    /// expires. Send it after every call that returns an id to hold.
    pub fn issue_record(
        &self,
        record: &SessionRecord,
        now: u64,
    ) -> Result<Cookie<'static>, CookieError> {
        self.issue(&record.id, record.expires_at, now)
    }

    /// The cookie that hands `id` to the browser until `expires_at` (Unix
    /// seconds), as seen at `now`: `Max-Age` is the time left, and `Expires`
    /// the same instant for clients that ignore `Max-Age`, when the policy
    /// is [`persistent`](CookiePolicyBuilder::persistent); by default it
    /// writes neither, and `expires_at` only refuses an expired session.
    ///
    /// `update` and `touch` return only the id: the expiry they set is
    /// `now` plus the session's ttl (the one just given to `touch`, else the
    /// one it was created with), never past its absolute cap; `regenerate`
    /// keeps the expiry it had. A host that does not track these calls
    /// `load` on the new id and sends [`CookiePolicy::issue_record`] of what
    /// it returns.
    pub fn issue(
        &self,
        id: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<Cookie<'static>, CookieError> {
        check_value(id)?;
        let len = self.name.len() + 1 + id.len();
        if len > MAX_COOKIE_BYTES {
            return Err(CookieError::TooLong {
                name: self.name.clone(),
                len,
            });
        }
        if expires_at <= now {
            return Err(CookieError::Expired { expires_at, now });
        }
        let mut cookie = self.base(id.to_string());
        if self.persistent {
            let left = i64::try_from(expires_at - now).unwrap_or(i64::MAX);
            let at = i64::try_from(expires_at)
                .unwrap_or(i64::MAX)
                .min(MAX_EXPIRES);
            cookie.set_max_age(time::Duration::seconds(left));
            if let Ok(at) = time::OffsetDateTime::from_unix_timestamp(at) {
                cookie.set_expires(at);
            }
        }
        Ok(cookie)
    }

    /// The cookie that makes the browser forget the session (after `destroy`):
    /// same name, path and domain, empty value, `Max-Age=0`, `Expires` in 1970.
    pub fn removal(&self) -> Cookie<'static> {
        let mut cookie = self.base(String::new());
        cookie.set_max_age(time::Duration::ZERO);
        cookie.set_expires(Expiration::DateTime(time::OffsetDateTime::UNIX_EPOCH));
        cookie
    }

    /// The session id in a request's `Cookie` header: the first of
    /// [`find_ids`](Self::find_ids).
    pub fn find_id<'h>(&self, cookie_header: &'h str) -> Option<&'h str> {
        self.find_ids(cookie_header).next()
    }

    /// Every non-empty value under this name in a request's `Cookie` header,
    /// in the order sent (browsers send the most specific path first).
    /// Malformed pairs elsewhere in the header are skipped, not fatal. Each
    /// value is as sent, without the double quotes RFC 6265 allows around it
    /// (`id="…"`, as some proxies and clients send it); the store decides
    /// whether it is valid.
    ///
    /// Without a `__Host-` name a sibling subdomain or a plain-HTTP response
    /// can plant a second cookie of this name for a more specific path,
    /// which the browser then sends first: a host that loads only the first
    /// value logs the user out on that path with a junk one. Try each value
    /// until one loads (skipping `invalid-id`), and prefer a `__Host-` name,
    /// which stops the planting itself.
    ///
    /// At most [`MAX_IDS_OFFERED`] values are offered: a request cannot make
    /// the host look up thousands of ids (a store call each, and with stores
    /// swapped out one in each of them too). So under a plain name, as many
    /// planted cookies for paths more specific than the real one's push it
    /// out of reach on those paths: another reason for a `__Host-` name.
    pub fn find_ids<'p, 'h>(&'p self, cookie_header: &'h str) -> impl Iterator<Item = &'h str> + 'p
    where
        'h: 'p,
    {
        Cookie::split_parse(cookie_header)
            .filter_map(Result::ok)
            .filter(|c| c.name_raw() == Some(self.name.as_str()))
            .filter_map(|c| c.value_raw())
            .map(unquoted)
            .filter(|v| !v.is_empty())
            .take(MAX_IDS_OFFERED)
    }

    fn base(&self, value: String) -> Cookie<'static> {
        let mut b = Cookie::build((self.name.clone(), value))
            .path(self.path.clone())
            .secure(self.secure)
            .http_only(self.http_only)
            .same_site(self.same_site);
        if let Some(d) = &self.domain {
            b = b.domain(d.clone());
        }
        b.build()
    }
}

/// The longest value a cookie named `name` can carry in a browser: 4096
/// bytes of `name=value` ([`MAX_COOKIE_BYTES`]) less the name and `=`,
/// which is also the contract's default `cookie.max-bytes`.
pub(crate) fn max_value_bytes(name: &str) -> usize {
    MAX_COOKIE_BYTES.saturating_sub(name.len() + 1)
}

/// A cookie value without the pair of double quotes RFC 6265 section 4.1.1
/// allows around it (`cookie-value = *cookie-octet / ( DQUOTE *cookie-octet
/// DQUOTE )`), as [`Cookie::value_trimmed`] takes them off, but borrowed
/// from the header.
fn unquoted(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

impl CookiePolicyBuilder {
    /// `Path` (default `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.policy.path = path.into();
        self
    }

    /// `Domain`, to share the cookie with subdomains (default: none, so only
    /// the host that set it gets it back, which OWASP prefers). It must be
    /// a host name; whether it is a public suffix (`co.uk`, `github.io`),
    /// which browsers refuse as a `Domain`, is not checked: name the site's
    /// own registrable domain.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.policy.domain = Some(domain.into());
        self
    }

    /// `Secure` (default on): off only for plain-HTTP development.
    pub fn secure(mut self, on: bool) -> Self {
        self.policy.secure = on;
        self
    }

    /// `HttpOnly` (default on): off lets page scripts read the session id.
    pub fn http_only(mut self, on: bool) -> Self {
        self.policy.http_only = on;
        self
    }

    /// `SameSite` (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.policy.same_site = same_site;
        self
    }

    /// A persistent cookie (default off): `Max-Age`/`Expires` at the
    /// session's expiry, so the browser keeps it across restarts. OWASP
    /// advises against it for session ids (they stay on the client's disk);
    /// off, the browser drops the cookie when it closes, while the store
    /// still enforces the session's expiry.
    pub fn persistent(mut self, on: bool) -> Self {
        self.policy.persistent = on;
        self
    }

    /// Checks the name and the attributes together: an RFC 6265 token as
    /// name; `__Secure-` needs `Secure`; `__Host-` needs `Secure`, `Path=/`
    /// and no `Domain`; `SameSite=None` needs `Secure`.
    pub fn build(self) -> Result<CookiePolicy, CookiePolicyError> {
        let p = self.policy;
        check_name(&p.name)?;
        let lower = p.name.to_ascii_lowercase();
        if lower.starts_with("__host-") && (!p.secure || p.path != "/" || p.domain.is_some()) {
            return Err(CookiePolicyError::Prefix {
                name: p.name,
                needs: "Secure, Path=/ and no Domain",
            });
        }
        if lower.starts_with("__secure-") && !p.secure {
            return Err(CookiePolicyError::Prefix {
                name: p.name,
                needs: "Secure",
            });
        }
        if p.same_site == SameSite::None && !p.secure {
            return Err(CookiePolicyError::SameSiteNoneInsecure);
        }
        if !p.path.starts_with('/')
            || p.path.len() > MAX_ATTRIBUTE_BYTES
            || p.path
                .bytes()
                .any(|b| b == b';' || !(0x20..0x7f).contains(&b))
        {
            return Err(CookiePolicyError::Path(p.path));
        }
        if let Some(d) = &p.domain
            && !is_host_name(d)
        {
            return Err(CookiePolicyError::Domain(d.clone()));
        }
        Ok(p)
    }
}

/// Longest attribute value browsers keep (RFC 6265bis, section 5.6: a
/// longer one is ignored).
const MAX_ATTRIBUTE_BYTES: usize = 1024;

/// A DNS host name as a cookie's `Domain` (one leading `.` allowed, which
/// browsers ignore): at most 253 bytes of dot-separated labels, each 1 to 63
/// letters, digits and inner hyphens.
fn is_host_name(domain: &str) -> bool {
    let d = domain.strip_prefix('.').unwrap_or(domain);
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    !d.is_empty() && d.len() <= 253 && d.split('.').all(label)
}

/// RFC 6265 cookie-name: an RFC 2616 token, 1 to 255 bytes (the `cookie.name`
/// limit of the cookie store).
fn check_name(name: &str) -> Result<(), CookiePolicyError> {
    let reason = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > 255 {
        Some(format!("it is {} bytes; at most 255", name.len()))
    } else {
        name.bytes().position(|b| !is_token_byte(b)).map(|pos| {
            format!("byte {pos} is not allowed in a cookie name (controls, space and ()<>@,;:\\\"/[]?={{}} are not)")
        })
    };
    match reason {
        Some(reason) => Err(CookiePolicyError::Name {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

fn is_token_byte(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// RFC 6265 cookie-value: cookie-octets only, and not empty.
fn check_value(id: &str) -> Result<(), CookieError> {
    if id.is_empty() {
        return Err(CookieError::Value("it is empty".to_string()));
    }
    match id.bytes().position(|b| !is_cookie_octet(b)) {
        Some(pos) => Err(CookieError::Value(format!(
            "byte {pos} is not a cookie-octet (controls, space, '\"', ',', ';' and '\\' are not)"
        ))),
        None => Ok(()),
    }
}

/// RFC 6265 cookie-octet: `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_cookie_octet(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !b"\",;\\".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn defaults_follow_owasp() {
        let c = CookiePolicy::default().issue("abc", NOW + 60, NOW).unwrap();
        assert_eq!(
            c.to_string(),
            "id=abc; HttpOnly; SameSite=Lax; Secure; Path=/",
            "a non-persistent cookie: no Max-Age or Expires"
        );
        assert_eq!(
            (
                c.http_only(),
                c.secure(),
                c.same_site(),
                c.path(),
                c.domain()
            ),
            (Some(true), Some(true), Some(SameSite::Lax), Some("/"), None)
        );
        assert_eq!(c.name_value(), ("id", "abc"));
    }

    #[test]
    fn a_persistent_cookie_expires_with_the_session() {
        let p = CookiePolicy::builder("id")
            .persistent(true)
            .build()
            .unwrap();
        let c = p.issue("abc", NOW + 60, NOW).unwrap();
        assert_eq!(c.max_age(), Some(time::Duration::seconds(60)));
        assert_eq!(
            c.expires_datetime().map(|t| t.unix_timestamp()),
            Some((NOW + 60) as i64)
        );
        assert_eq!(c.name_value(), ("id", "abc"));
    }

    #[test]
    fn attributes_are_written_as_configured() {
        let p = CookiePolicy::builder("sid")
            .path("/app")
            .domain("example.com")
            .same_site(SameSite::Strict)
            .http_only(false)
            .build()
            .unwrap();
        let text = p.issue("v1.p.xyz", NOW + 10, NOW).unwrap().to_string();
        assert_eq!(
            text,
            "sid=v1.p.xyz; SameSite=Strict; Secure; Path=/app; Domain=example.com"
        );
    }

    #[test]
    fn ids_that_would_break_the_header_are_refused() {
        let p = CookiePolicy::default();
        for bad in [
            "",
            "a;b",
            "a b",
            "a,b",
            "a\"b",
            "a\\b",
            "a\r\nSet-Cookie: x=1",
            "é",
        ] {
            assert!(
                matches!(p.issue(bad, NOW + 1, NOW), Err(CookieError::Value(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_cookie_must_fit_a_browser() {
        let p = CookiePolicy::default();
        let fits = "a".repeat(p.max_value_bytes());
        assert!(p.issue(&fits, NOW + 1, NOW).is_ok());
        let over = "a".repeat(p.max_value_bytes() + 1);
        assert_eq!(
            p.issue(&over, NOW + 1, NOW),
            Err(CookieError::TooLong {
                name: "id".into(),
                len: 4097
            })
        );
    }

    #[test]
    fn expired_sessions_get_no_cookie_and_far_expiries_are_clamped() {
        let p = CookiePolicy::builder("id")
            .persistent(true)
            .build()
            .unwrap();
        assert_eq!(
            p.issue("a", NOW, NOW),
            Err(CookieError::Expired {
                expires_at: NOW,
                now: NOW
            })
        );
        let far = p.issue("a", u64::MAX, NOW).unwrap();
        assert_eq!(
            far.expires_datetime().map(|t| t.unix_timestamp()),
            Some(MAX_EXPIRES)
        );
        assert!(
            far.to_string()
                .contains("Expires=Fri, 31 Dec 9999 23:59:59 GMT")
        );
    }

    #[test]
    fn removal_matches_the_cookie_it_removes() {
        let p = CookiePolicy::builder("sid")
            .path("/app")
            .domain("example.com")
            .build()
            .unwrap();
        let r = p.removal();
        assert_eq!(
            (r.name_value(), r.path(), r.domain()),
            (("sid", ""), Some("/app"), Some("example.com"))
        );
        assert_eq!(r.max_age(), Some(time::Duration::ZERO));
        assert_eq!(r.expires_datetime().map(|t| t.unix_timestamp()), Some(0));
    }

    #[test]
    fn the_id_is_found_among_other_cookies() {
        let p = CookiePolicy::builder("sid").build().unwrap();
        assert_eq!(
            p.find_id("a=1; sid=v1.s.x_y-z.q; b=2"),
            Some("v1.s.x_y-z.q")
        );
        assert_eq!(p.find_id("sid=first; sid=second"), Some("first"));
        assert_eq!(p.find_id("sid=; sid=second"), Some("second"));
        assert_eq!(
            p.find_id("junk; sid=ok"),
            Some("ok"),
            "a malformed pair is skipped"
        );
        assert_eq!(p.find_id("SID=nope; sidx=nope; xsid=nope"), None);
        assert_eq!(p.find_id(""), None);
    }

    /// A cookie planted for a more specific path is sent first: every value
    /// under the name is offered, so the real one is still reached.
    #[test]
    fn a_shadowing_cookie_does_not_hide_the_real_one() {
        let p = CookiePolicy::builder("sid").build().unwrap();
        let ids: Vec<&str> = p
            .find_ids(r#"sid=junk; a=1; sid=; sid="v1.p.real"; SID=other"#)
            .collect();
        assert_eq!(ids, ["junk", "v1.p.real"]);
        assert_eq!(p.find_ids("a=1").count(), 0);
    }

    /// A request cannot make the host look up thousands of ids: the first
    /// [`MAX_IDS_OFFERED`] values are offered, the rest ignored.
    #[test]
    fn a_request_offers_a_bounded_number_of_ids() {
        let p = CookiePolicy::builder("sid").build().unwrap();
        let header: String = (0..30_000).map(|i| format!("sid=v{i}; ")).collect();
        let ids: Vec<&str> = p.find_ids(&header).collect();
        let first: Vec<String> = (0..MAX_IDS_OFFERED).map(|i| format!("v{i}")).collect();
        assert_eq!(ids, first);
    }

    /// RFC 6265 lets a cookie value be sent in double quotes: the id is
    /// what is inside them (a quoted seal was once handed to the store with
    /// its quotes, an `invalid-id`, and the user got a new session). A lone
    /// quote is part of the value.
    #[test]
    fn a_quoted_id_is_found_without_its_quotes() {
        let p = CookiePolicy::builder("sid").build().unwrap();
        assert_eq!(p.find_id(r#"a=1; sid="v1.s.xyz"; b=2"#), Some("v1.s.xyz"));
        assert_eq!(p.find_id(r#"sid=""; sid=second"#), Some("second"));
        assert_eq!(p.find_id(r#"sid="abc"#), Some(r#""abc"#));
        assert_eq!(p.find_id(r#"sid=""#), Some(r#"""#));
    }

    #[test]
    fn names_must_be_tokens() {
        for bad in ["", "a b", "a=b", "a;b", "a\"", "é", &"n".repeat(256)] {
            assert!(
                matches!(
                    CookiePolicy::builder(bad).build(),
                    Err(CookiePolicyError::Name { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(CookiePolicy::builder("session_id-1.x").build().is_ok());
    }

    #[test]
    fn prefixes_and_same_site_none_demand_their_attributes() {
        let host = || CookiePolicy::builder("__Host-id");
        assert!(host().build().is_ok());
        for bad in [
            host().secure(false),
            host().path("/app"),
            host().domain("example.com"),
        ] {
            assert!(matches!(bad.build(), Err(CookiePolicyError::Prefix { .. })));
        }
        assert!(matches!(
            CookiePolicy::builder("__secure-id").secure(false).build(),
            Err(CookiePolicyError::Prefix { .. })
        ));
        assert_eq!(
            CookiePolicy::builder("id")
                .same_site(SameSite::None)
                .secure(false)
                .build(),
            Err(CookiePolicyError::SameSiteNoneInsecure)
        );
        let too_long = format!("/{}", "a".repeat(MAX_ATTRIBUTE_BYTES));
        for bad in ["app", "/a;b", "/a\tb", "/\u{e9}", "/a\u{7f}", &too_long] {
            assert!(
                matches!(
                    CookiePolicy::builder("id").path(bad).build(),
                    Err(CookiePolicyError::Path(_))
                ),
                "{bad:?}"
            );
        }
        let longest = format!("/{}", "a".repeat(MAX_ATTRIBUTE_BYTES - 1));
        assert!(CookiePolicy::builder("id").path(longest).build().is_ok());
        assert!(
            CookiePolicy::builder("id")
                .path("/caf%C3%A9 x")
                .build()
                .is_ok()
        );
        for bad in [
            "a;b", "", ".", "..", "-", "a..b", "-a.com", "a-.com", "a.com.", "é.com",
        ] {
            assert!(
                matches!(
                    CookiePolicy::builder("id").domain(bad).build(),
                    Err(CookiePolicyError::Domain(_))
                ),
                "{bad:?}"
            );
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(
            CookiePolicy::builder("id")
                .domain(long_label)
                .build()
                .is_err()
        );
        for good in ["example.com", ".example.com", "localhost", "a-b.x1.io"] {
            assert!(
                CookiePolicy::builder("id").domain(good).build().is_ok(),
                "{good:?}"
            );
        }
    }
}
