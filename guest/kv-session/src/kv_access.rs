//! Thin wrappers over the host `kv` import that turn its errors into
//! `session-error.backend` / `too-large` and read records.

use crate::bindings::session::plugin::kv::{self, KvError, WriteMode};
use crate::bindings::session::plugin::types::SessionError;
use crate::record::Stored;

/// Both kv errors are backend errors here. The kv's `too-large` is a host
/// limit (a key, a value, or a namespace out of room), reached only after
/// this store validated the data against its own limits; `too-large` from
/// this store means those limits alone, so a caller (or a swap migrating a
/// session) can tell "this session can never fit" from "the backend is full".
fn map_err(op: &str, e: KvError) -> SessionError {
    match e {
        KvError::Backend(m) => SessionError::Backend(format!("kv {op} failed: {m}")),
        KvError::TooLarge(m) => SessionError::Backend(format!("kv {op} refused: {m}")),
    }
}

/// Reads the value under `key`: backend failures are errors, and a value
/// that is not a record is reported separately (the inner `Err`).
pub fn get_parsed(key: &str) -> Result<Option<Result<Stored, String>>, SessionError> {
    Ok(kv::get(key)
        .map_err(|e| map_err("get", e))?
        .map(Stored::parse))
}

/// The error for a value under a session key that is not a record this
/// store can read.
pub fn corrupt(m: String) -> SessionError {
    SessionError::Backend(format!("stored session is corrupt: {m}"))
}

/// Reads the record under `key` without decoding its data, to rewrite or
/// copy it; a corrupt header is a backend error.
pub fn get_stored(key: &str) -> Result<Option<Stored>, SessionError> {
    get_parsed(key)?.transpose().map_err(corrupt)
}

/// Writes `record` under `key` with a kv ttl ending at its expiry.
pub fn put(key: &str, record: &Stored, now: u64, mode: WriteMode) -> Result<bool, SessionError> {
    let ttl = record.expires_at().saturating_sub(now).max(1);
    kv::set(key, record.as_bytes(), Some(ttl), mode).map_err(|e| map_err("set", e))
}

/// Deletes `key`; true when a live key existed.
pub fn delete(key: &str) -> Result<bool, SessionError> {
    kv::delete(key).map_err(|e| map_err("delete", e))
}

/// Page size used when walking all sessions.
const PAGE: u32 = 256;

/// Calls `visit` for every live key starting with `prefix`, page by page.
pub fn for_each_key(
    prefix: &str,
    mut visit: impl FnMut(String) -> Result<(), SessionError>,
) -> Result<(), SessionError> {
    let mut cursor: Option<String> = None;
    loop {
        let page =
            kv::list_keys(prefix, cursor.as_deref(), PAGE).map_err(|e| map_err("list-keys", e))?;
        for key in page.keys {
            visit(key)?;
        }
        match page.cursor {
            Some(c) if !advances(cursor.as_deref(), &c) => {
                // Keys come in ascending order strictly after the cursor, so
                // a cursor that does not move forward (repeated, or cycling
                // A, B, A, ...) would loop us forever: stop with an error.
                return Err(SessionError::Backend(
                    "kv list-keys returned a cursor that does not move forward".to_string(),
                ));
            }
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// Whether `next` lies strictly after `previous` in byte order (any cursor
/// advances from the start).
fn advances(previous: Option<&str>, next: &str) -> bool {
    previous.is_none_or(|p| next.as_bytes() > p.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::advances;

    #[test]
    fn a_cursor_must_move_forward_in_byte_order() {
        assert!(advances(None, ""));
        assert!(advances(None, "s:b"));
        assert!(advances(Some("s:a"), "s:b"));
        assert!(advances(Some("s:a"), "s:a0"));
        assert!(!advances(Some("s:b"), "s:b"), "repeated");
        assert!(!advances(Some("s:b"), "s:a"), "backwards: a cycle");
        // Byte order, not char order: U+00E9 (0xC3 0xA9) sorts after 'z'.
        assert!(advances(Some("s:z"), "s:\u{e9}"));
    }
}
