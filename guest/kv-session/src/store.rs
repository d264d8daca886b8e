//! The session operations of `kv-session`, over the host `kv` import.

use crate::bindings::session::plugin::kv::WriteMode;
use crate::bindings::session::plugin::types::{
    CreateOptions, SessionError, SessionId, SessionRecord,
};
use crate::record::Stored;
use crate::{config, id, kv_access};
use session_guest_support::clock::now_unix;
use session_guest_support::data::{validate_data, validate_user_id};
use session_guest_support::lifetime::{
    CLOCK_SKEW_TOLERANCE_SECONDS, clamp_created_at, effective_expiry, expiry, is_live, validate_ttl,
};
use session_guest_support::settings::SessionSettings;

/// Fresh ids tried before `create` gives up (a collision of 192-bit random ids
/// means a broken random source, not bad luck).
const CREATE_ATTEMPTS: usize = 4;

/// `create`: validate, then write with `if-absent` under a fresh or imported id.
pub fn create(options: CreateOptions) -> Result<SessionId, SessionError> {
    let settings = config::settings()?;
    validate_data(&options.data, settings.max_data_bytes)?;
    validate_user_id(options.user_id.as_deref())?;
    let ttl = options.ttl_seconds.unwrap_or(settings.ttl_seconds);
    validate_ttl(ttl)?;
    if let Some(imported) = &options.id {
        id::validate(imported)?;
    }
    let now = now_unix();
    let record = Stored::new(
        now,
        expiry(now, ttl, now, settings.max_lifetime_seconds),
        ttl,
        options.user_id.as_deref(),
        &options.data,
    );
    match options.id {
        Some(imported) => import(imported, &record, now),
        None => insert_fresh(&record, now),
    }
}

/// Writes `record` under an imported id in one `if-absent` write: `conflict`
/// while the backend holds any record under it. That includes a record
/// expired by this store's clock that the backend still keeps (its ttls run
/// on another clock, or the absolute cap was lowered): `purge-expired`
/// removes those, and the id is free again. Deleting it here instead could
/// delete a session that a concurrent import or purge put in its place, as
/// the kv has no compare-and-delete, so no import deletes another's record.
/// (Nor can the kv tell two records under one id apart: a `purge-expired`
/// or `update` that read the old record before it was destroyed can still
/// remove or overwrite an import of the same id landing just after. Ids are
/// 192-bit random, so only an importer reusing an id it just destroyed
/// meets that.)
fn import(id: SessionId, record: &Stored, now: u64) -> Result<SessionId, SessionError> {
    if kv_access::put(&id::key(&id), record, now, WriteMode::IfAbsent)? {
        Ok(id)
    } else {
        Err(SessionError::Conflict)
    }
}

/// Writes `record` under a new random id, retrying on collision.
fn insert_fresh(record: &Stored, now: u64) -> Result<SessionId, SessionError> {
    for _ in 0..CREATE_ATTEMPTS {
        let new_id = id::generate()?;
        if kv_access::put(&id::key(&new_id), record, now, WriteMode::IfAbsent)? {
            return Ok(new_id);
        }
    }
    Err(SessionError::Backend(format!(
        "{CREATE_ATTEMPTS} fresh session ids in a row were already taken; is the random source broken?"
    )))
}

/// Applies the current absolute cap to a stored record and keeps it only if
/// it is still live. A creation time ahead of `now` (another replica's clock)
/// is read as `now`, and an expiry more than the record's ttl away as a ttl
/// from now; the next update or touch writes them so (until then the stored
/// expiry stays in force: each read reports a ttl from its own now).
fn still_live(mut r: Stored, now: u64, max_lifetime: u64) -> Option<Stored> {
    r.set_created_at(clamp_created_at(r.created_at(), now));
    let expires_at = effective_expiry(
        r.expires_at(),
        r.created_at(),
        r.ttl_seconds(),
        max_lifetime,
        now,
    );
    r.set_expires_at(expires_at);
    is_live(now, expires_at).then_some(r)
}

/// The live record under `key`, or none.
fn live(key: &str, now: u64, max_lifetime: u64) -> Result<Option<Stored>, SessionError> {
    Ok(kv_access::get_stored(key)?.and_then(|r| still_live(r, now, max_lifetime)))
}

/// `load`: `ok(none)` for unknown, destroyed or expired ids.
pub fn load(id: SessionId) -> Result<Option<SessionRecord>, SessionError> {
    id::validate(&id)?;
    let settings = config::settings()?;
    // A creation time ahead of the clock is reported as now, and kept from
    // the next update or touch on. A load does not write it back: without
    // compare-and-set, that write could undo an update landing meanwhile.
    let Some(stored) = live(&id::key(&id), now_unix(), settings.max_lifetime_seconds)? else {
        return Ok(None);
    };
    let r = stored.into_record().map_err(kv_access::corrupt)?;
    Ok(Some(SessionRecord {
        id,
        user_id: r.user_id,
        data: r.data,
        created_at: r.created_at,
        expires_at: r.expires_at,
    }))
}

/// Rewrites the live session under `id` with `change` applied and its expiry
/// slid; `if-present` guarantees a destroyed session is never resurrected.
/// The value read is changed in place: its data is neither decoded nor copied
/// unless `change` replaces it (or refuses the record as it is).
fn rewrite(
    id: &str,
    settings: SessionSettings,
    change: impl FnOnce(&mut Stored) -> Result<(), SessionError>,
) -> Result<(), SessionError> {
    let now = now_unix();
    let key = id::key(id);
    let mut record =
        live(&key, now, settings.max_lifetime_seconds)?.ok_or(SessionError::NotFound)?;
    change(&mut record)?;
    let expires_at = expiry(
        now,
        record.ttl_seconds(),
        record.created_at(),
        settings.max_lifetime_seconds,
    );
    record.set_expires_at(expires_at);
    if !is_live(now, expires_at) {
        // The absolute lifetime is used up: the session is over.
        kv_access::delete(&key)?;
        return Err(SessionError::NotFound);
    }
    if kv_access::put(&key, &record, now, WriteMode::IfPresent)? {
        Ok(())
    } else {
        Err(SessionError::NotFound)
    }
}

/// `update`: replace data and user, slide the expiry.
pub fn update(
    id: SessionId,
    data: String,
    user_id: Option<String>,
) -> Result<SessionId, SessionError> {
    id::validate(&id)?;
    let settings = config::settings()?;
    validate_data(&data, settings.max_data_bytes)?;
    validate_user_id(user_id.as_deref())?;
    // New data replaces corrupt data, which is how such a record is repaired
    // (one whose header or user id does not decode is refused by `live`).
    rewrite(&id, settings, |r| {
        r.replace_body(user_id.as_deref(), &data);
        Ok(())
    })?;
    Ok(id)
}

/// `touch`: slide the expiry, optionally with a new ttl.
pub fn touch(id: SessionId, ttl_seconds: Option<u64>) -> Result<SessionId, SessionError> {
    id::validate(&id)?;
    if let Some(ttl) = ttl_seconds {
        validate_ttl(ttl)?;
    }
    let settings = config::settings()?;
    rewrite(&id, settings, |r| {
        // A session `load` calls corrupt is not kept alive as if it were
        // fine: the host hears of it now, as from `load` and `regenerate`.
        r.check_data().map_err(kv_access::corrupt)?;
        if let Some(ttl) = ttl_seconds {
            r.set_ttl_seconds(ttl);
        }
        Ok(())
    })?;
    Ok(id)
}

/// `regenerate`: copy the session to a new id, then delete the old one.
pub fn regenerate(id: SessionId) -> Result<SessionId, SessionError> {
    id::validate(&id)?;
    let settings = config::settings()?;
    let now = now_unix();
    let old_key = id::key(&id);
    let record =
        live(&old_key, now, settings.max_lifetime_seconds)?.ok_or(SessionError::NotFound)?;
    // A new id is handed out only for a session that can be loaded.
    record.check_data().map_err(kv_access::corrupt)?;
    // Write the copy first so a failure can never lose the session.
    let new_id = insert_fresh(&record, now)?;
    let new_key = id::key(&new_id);
    match kv_access::delete(&old_key) {
        Ok(true) => Ok(new_id),
        // Someone destroyed or regenerated the old id meanwhile: the copy must
        // not outlive that decision. The answer is that the session is gone
        // either way; a copy the delete could not remove is never handed
        // out and expires with its ttl.
        Ok(false) => {
            let _ = kv_access::delete(&new_key);
            Err(SessionError::NotFound)
        }
        // A failed delete may still have happened (a connection lost after
        // the server ran it). Deleting again is safe: once it answers, the
        // old id is gone (by this try or the first), and the copy, which may
        // by now be the only one, is the session. (A `false` here cannot
        // tell our first delete from a concurrent destroy or regenerate of
        // the old id; without a conditional delete in the kv contract the
        // copy is kept: losing the session is the worse mistake.)
        Err(e) => match kv_access::delete(&old_key) {
            Ok(_) => Ok(new_id),
            Err(_) => match kv_access::get_parsed(&old_key) {
                Ok(None) => Ok(new_id),
                Ok(Some(_)) => {
                    // The old id is still there and could not be revoked:
                    // do not hand out a second one.
                    let _ = kv_access::delete(&new_key);
                    Err(e)
                }
                // Unknown whether the old id went: keep the copy (never
                // handed out, it expires with its ttl) rather than risk
                // losing both.
                Err(_) => Err(e),
            },
        },
    }
}

/// `destroy`: idempotent delete.
pub fn destroy(id: SessionId) -> Result<(), SessionError> {
    id::validate(&id)?;
    config::settings()?;
    kv_access::delete(&id::key(&id))?;
    Ok(())
}

/// `purge-expired`: delete records whose expiry has passed but that the
/// backend still holds (backends with coarse or no native expiry), once
/// they have been expired for [`CLOCK_SKEW_TOLERANCE_SECONDS`]: a host
/// whose clock is behind this one by less still sees such a record live and
/// may just have updated it (an `update` answered `ok` must not be undone
/// by a purge on a host whose clock is ahead).
pub fn purge_expired() -> Result<u64, SessionError> {
    let settings = config::settings()?;
    // Expired as a host this far behind sees it: expired for every host.
    let now = now_unix().saturating_sub(CLOCK_SKEW_TOLERANCE_SECONDS);
    let mut removed = 0;
    kv_access::for_each_key(id::KEY_PREFIX, |key| {
        // Backend failures stop the purge; values that are not records are
        // left alone (they are not ours to judge). A record whose header says
        // it expired goes, whatever its data.
        let expired = match kv_access::get_parsed(&key)? {
            Some(Ok(r)) => still_live(r, now, settings.max_lifetime_seconds).is_none(),
            Some(Err(_)) | None => false,
        };
        if expired && kv_access::delete(&key)? {
            removed += 1;
        }
        Ok(())
    })?;
    Ok(removed)
}

/// `count`: live sessions, counted by walking the keys page by page.
pub fn count() -> Result<u64, SessionError> {
    let settings = config::settings()?;
    let now = now_unix();
    let mut n = 0;
    kv_access::for_each_key(id::KEY_PREFIX, |key| {
        // Records that do not decode are not sessions this store can serve;
        // like purge, count skips them rather than failing for good.
        if let Some(Ok(r)) = kv_access::get_parsed(&key)?
            && let Some(r) = still_live(r, now, settings.max_lifetime_seconds)
            && r.check_data().is_ok()
        {
            n += 1;
        }
        Ok(())
    })?;
    Ok(n)
}
