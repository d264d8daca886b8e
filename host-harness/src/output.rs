//! Checks on what a plugin hands back, before it reaches the caller: sizes
//! against the output limits and the shape the contract promises.

use crate::error::CallError;
use crate::limits::Limits;
use crate::types::{PluginInfo, SessionRecord};

/// Longest plugin name or version accepted from `info`.
const MAX_INFO_FIELD: usize = 256;

/// Context for the checks of one call.
pub(crate) struct OutputCheck<'a> {
    pub(crate) plugin: &'a str,
    pub(crate) op: &'static str,
    pub(crate) limits: &'a Limits,
}

impl OutputCheck<'_> {
    fn too_large(&self, what: &'static str, len: usize, limit: usize) -> CallError {
        CallError::OutputTooLarge {
            plugin: self.plugin.to_string(),
            op: self.op,
            what,
            len,
            limit,
        }
    }

    fn contract(&self, reason: String) -> CallError {
        CallError::Contract {
            plugin: self.plugin.to_string(),
            op: self.op,
            reason,
        }
    }

    /// An id must fit a cookie: non-empty, within the limit, cookie-octets only
    /// (RFC 6265: no controls, space, `"`, `,`, `;` or `\`).
    pub(crate) fn id(&self, id: &str) -> Result<(), CallError> {
        if id.len() > self.limits.max_id_bytes {
            return Err(self.too_large("id", id.len(), self.limits.max_id_bytes));
        }
        if id.is_empty() {
            return Err(self.contract("returned an empty session id".to_string()));
        }
        if !all_cookie_octets(id.as_bytes())
            && let Some(pos) = id.bytes().position(|b| !is_cookie_octet(b))
        {
            return Err(self.contract(format!(
                "returned a session id with a character not allowed in a cookie at byte {pos}"
            )));
        }
        Ok(())
    }

    /// A record: a valid id, data and user id within limits, data shaped like
    /// a JSON object, and live at `now`.
    pub(crate) fn record(&self, r: &SessionRecord, now: u64) -> Result<(), CallError> {
        self.id(&r.id)?;
        let max = self.limits.max_output_bytes;
        if r.data.len() > max {
            return Err(self.too_large("data", r.data.len(), max));
        }
        if let Some(u) = &r.user_id
            && u.len() > max
        {
            return Err(self.too_large("user-id", u.len(), max));
        }
        if !looks_like_object(&r.data, self.limits.strict_output) {
            return Err(self.contract("returned session data that is not a JSON object".into()));
        }
        if r.expires_at <= now {
            return Err(self.contract(format!(
                "returned a session that expired at {} (now {now}) instead of none",
                r.expires_at
            )));
        }
        if r.created_at > r.expires_at {
            return Err(self.contract(format!(
                "returned created-at {} after expires-at {}",
                r.created_at, r.expires_at
            )));
        }
        Ok(())
    }

    /// `info`: short name and version.
    pub(crate) fn info(&self, i: &PluginInfo) -> Result<(), CallError> {
        for (what, v) in [("name", &i.name), ("version", &i.version)] {
            if v.len() > MAX_INFO_FIELD {
                return Err(self.too_large(what, v.len(), MAX_INFO_FIELD));
            }
        }
        if i.name.is_empty() {
            return Err(self.contract("info returned an empty name".to_string()));
        }
        Ok(())
    }
}

/// RFC 6265 cookie-octet: `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_cookie_octet(b: u8) -> bool {
    (b.wrapping_sub(0x21) < 0x5E) & (b != b'"') & (b != b',') & (b != b';') & (b != b'\\')
}

/// Whether every byte is a cookie-octet. Ids are checked on every call and a
/// sealed cookie is kilobytes long, so this is written branch-free per chunk,
/// which the compiler turns into vector compares.
fn all_cookie_octets(bytes: &[u8]) -> bool {
    bytes
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & is_cookie_octet(b)))
}

fn looks_like_object(data: &str, strict: bool) -> bool {
    let t = data.trim_matches([' ', '\t', '\n', '\r']);
    let shaped = t.len() >= 2 && t.starts_with('{') && t.ends_with('}');
    // IgnoredAny checks the grammar without converting numbers, so an RFC
    // 8259 number beyond f64 (`1e999`), which the stores accept, passes too.
    shaped && (!strict || serde_json::from_str::<serde::de::IgnoredAny>(data).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(limits: &Limits) -> OutputCheck<'_> {
        OutputCheck {
            plugin: "p",
            op: "load",
            limits,
        }
    }

    fn record(id: &str, data: &str) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            user_id: None,
            data: data.into(),
            created_at: 1,
            expires_at: 100,
        }
    }

    #[test]
    fn ids_must_be_cookie_safe_and_bounded() {
        let l = Limits::default();
        let c = check(&l);
        assert!(c.id("abc-_.~XYZ019").is_ok());
        for bad in ["", "a b", "a;b", "a,b", "a\"b", "a\\b", "é", "a\nb"] {
            assert!(
                matches!(c.id(bad), Err(CallError::Contract { .. })),
                "{bad:?}"
            );
        }
        let long = "a".repeat(l.max_id_bytes + 1);
        assert!(matches!(c.id(&long), Err(CallError::OutputTooLarge { .. })));
    }

    #[test]
    fn the_check_is_rfc_6265() {
        let allowed: Vec<u8> = (0u8..=255).filter(|b| is_cookie_octet(*b)).collect();
        for b in 0u8..=255 {
            let mut long = vec![b'a'; 200];
            long[130] = b;
            assert_eq!(all_cookie_octets(&long), is_cookie_octet(b), "{b:#x}");
        }
        let expected: Vec<u8> = (0x21u8..=0x7E)
            .filter(|b| ![b'"', b',', b';', b'\\'].contains(b))
            .collect();
        assert_eq!(allowed, expected);
    }

    #[test]
    fn records_are_checked() {
        let l = Limits::default();
        let c = check(&l);
        assert!(c.record(&record("a", " {} "), 50).is_ok());
        assert!(c.record(&record("a", "[]"), 50).is_err());
        assert!(c.record(&record("a", "{}"), 100).is_err(), "expired at now");
        let mut r = record("a", "{}");
        r.created_at = 200;
        assert!(c.record(&r, 50).is_err());
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(l.max_output_bytes));
        assert!(matches!(
            c.record(&record("a", &big), 50),
            Err(CallError::OutputTooLarge { what: "data", .. })
        ));
    }

    #[test]
    fn strict_mode_parses() {
        let l = Limits {
            strict_output: true,
            ..Limits::default()
        };
        assert!(check(&l).record(&record("a", "{\"a\":}"), 50).is_err());
        assert!(check(&l).record(&record("a", "{\"a\":1e999}"), 50).is_ok());
        assert!(check(&l).record(&record("a", "{}{}"), 50).is_err());
        assert!(
            check(&Limits::default())
                .record(&record("a", "{\"a\":}"), 50)
                .is_ok()
        );
    }
}
