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

/// A fresh random id: drawn again (one time in 64) when it would start
/// with `-` (so the ids handed out are uniform over those that do not,
/// 191.98 bits).
pub fn generate() -> Result<String, SessionError> {
    let mut bytes = [0u8; ID_BYTES];
    loop {
        getrandom::fill(&mut bytes)
            .map_err(|e| SessionError::Backend(format!("random source failed: {e}")))?;
        // The first character encodes the first byte's top 6 bits; 62 is `-`.
        if bytes[0] >> 2 != 62 {
            return Ok(URL_SAFE_NO_PAD.encode(bytes));
        }
    }
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
