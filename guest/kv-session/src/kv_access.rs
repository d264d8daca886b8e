//! Thin wrappers over the host `kv` import that turn its errors into
//! `session-error.backend` / `too-large` and read records.

use crate::bindings::session::plugin::kv::{self, KvError, WriteMode};
use crate::bindings::session::plugin::types::SessionError;
use crate::record::Record;

fn map_err(op: &str, e: KvError) -> SessionError {
    match e {
        KvError::Backend(m) => SessionError::Backend(format!("kv {op} failed: {m}")),
        KvError::TooLarge(m) => SessionError::TooLarge(format!("kv {op} refused: {m}")),
    }
}

/// Reads the record under `key`: backend failures are errors, and a value
/// that does not decode is reported separately (the inner `Err`).
pub fn get_decoded(key: &str) -> Result<Option<Result<Record, String>>, SessionError> {
    Ok(kv::get(key)
        .map_err(|e| map_err("get", e))?
        .map(Record::decode))
}

/// Reads and decodes the record under `key`; a corrupt value is a backend error.
pub fn get_record(key: &str) -> Result<Option<Record>, SessionError> {
    get_decoded(key)?
        .transpose()
        .map_err(|m| SessionError::Backend(format!("stored session is corrupt: {m}")))
}

/// Writes `record` under `key` with a kv ttl ending at its expiry.
pub fn put_record(
    key: &str,
    record: &Record,
    now: u64,
    mode: WriteMode,
) -> Result<bool, SessionError> {
    let ttl = record.expires_at.saturating_sub(now).max(1);
    kv::set(key, &record.encode(), Some(ttl), mode).map_err(|e| map_err("set", e))
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
            // A host that hands back a cursor that does not advance would loop us
            // forever; stop with an error instead.
            Some(c) if Some(&c) == cursor.as_ref() => {
                return Err(SessionError::Backend(
                    "kv list-keys returned the same cursor twice".to_string(),
                ));
            }
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}
