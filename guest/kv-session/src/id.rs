//! Session ids: 24 bytes (192 bits) from the CSPRNG, base64url without padding,
//! always exactly 32 characters of `A-Z a-z 0-9 - _` (URL- and cookie-safe).
//! A fresh id never starts with `-`, which command-line tools (the harness's
//! `call` among them) read as an option; any id of the format is valid.

use crate::bindings::session::plugin::types::SessionError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Random bytes in an id.
const ID_BYTES: usize = 24;
/// Characters in an id.
pub const ID_LEN: usize = 32;

/// Most draws [`generate`] makes: a working CSPRNG needs more than a few
/// one time in 64^32; a source that keeps giving ids starting with `-` is
/// broken, and an error then, not a call spinning until its deadline.
const MAX_DRAWS: usize = 32;

/// A fresh random id: drawn again (one time in 64) when it would start
/// with `-` (so the ids handed out are uniform over those that do not,
/// 191.98 bits).
pub fn generate() -> Result<String, SessionError> {
    generate_from(|bytes| getrandom::fill(bytes).map_err(|e| e.to_string()))
}

/// [`generate`] with the random bytes from `fill`.
fn generate_from(
    mut fill: impl FnMut(&mut [u8]) -> Result<(), String>,
) -> Result<String, SessionError> {
    let mut bytes = [0u8; ID_BYTES];
    for _ in 0..MAX_DRAWS {
        fill(&mut bytes)
            .map_err(|e| SessionError::Backend(format!("random source failed: {e}")))?;
        // The first character encodes the first byte's top 6 bits; 62 is `-`.
        if bytes[0] >> 2 != 62 {
            return Ok(URL_SAFE_NO_PAD.encode(bytes));
        }
    }
    Err(SessionError::Backend(format!(
        "random source failed: {MAX_DRAWS} draws in a row gave an id starting with '-'"
    )))
}

/// Checks the fixed format without touching storage. The message never echoes
/// the id (it may be huge or hostile).
pub fn validate(id: &str) -> Result<(), SessionError> {
    if id.len() != ID_LEN {
        return Err(SessionError::InvalidId(format!(
            "a kv-session id is {ID_LEN} characters, got {} bytes",
            id.len()
        )));
    }
    if let Some(pos) = id
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(SessionError::InvalidId(format!(
            "a kv-session id uses only A-Z a-z 0-9 - _, found another character at byte {pos}"
        )));
    }
    Ok(())
}

/// The kv key holding session `id`.
pub fn key(id: &str) -> String {
    let mut k = String::with_capacity(KEY_PREFIX.len() + id.len());
    k.push_str(KEY_PREFIX);
    k.push_str(id);
    k
}

/// Prefix of every session key in the plugin's kv namespace.
pub const KEY_PREFIX: &str = "s:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_id_has_the_format_and_never_starts_with_a_dash() {
        for _ in 0..1000 {
            let id = generate().unwrap();
            validate(&id).unwrap();
            assert!(!id.starts_with('-'), "{id}");
        }
    }

    #[test]
    fn a_dash_is_drawn_again() {
        let mut draws = 0;
        let id = generate_from(|bytes| {
            draws += 1;
            bytes.fill(if draws < 3 { 0xF8 } else { 0 });
            Ok(())
        })
        .unwrap();
        assert_eq!((draws, &id[..1]), (3, "A"));
    }

    /// A source stuck on bytes that start every id with `-` is a backend
    /// error after a bounded number of draws (it spun until the call's
    /// deadline before).
    #[test]
    fn a_random_source_stuck_on_dashes_is_an_error_not_a_spin() {
        let mut draws = 0;
        let answer = generate_from(|bytes| {
            draws += 1;
            bytes.fill(0xFB);
            Ok(())
        });
        match answer {
            Err(SessionError::Backend(m)) => assert!(m.contains("starting with '-'"), "{m}"),
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert_eq!(draws, MAX_DRAWS);
    }

    #[test]
    fn a_failing_random_source_is_a_backend_error() {
        let answer = generate_from(|_| Err("no entropy".to_string()));
        assert!(
            matches!(&answer, Err(SessionError::Backend(m)) if m.contains("no entropy")),
            "{answer:?}"
        );
    }
}
