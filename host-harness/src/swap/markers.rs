//! Records of sessions that migrated, in the harness kv backend (namespace
//! [`MARKER_NAMESPACE`]): an old id presented again (a seal a stateless
//! store cannot revoke, or a concurrent call) leads to the copy, or to
//! nothing once the copy is destroyed, never to a second copy.

use crate::error::{CallError, SessionError};
use crate::kv::{KvBackend, KvError, WriteMode};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// kv namespace of migration markers, under
/// [`crate::kv::RESERVED_NAMESPACE_PREFIX`], so no plugin can read or plant
/// markers.
pub const MARKER_NAMESPACE: &str = "session-harness/migrated";

/// Stored value of a [`Marker::Tombstone`].
const TOMBSTONE: &str = "";

/// First character of a stored [`Marker::Kept`] with its store: a session
/// id is cookie octets only (the output checks refuse a space), so no
/// [`Marker::Moved`] starts with it.
const KEPT: char = ' ';

/// What the marker of an id says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Marker {
    /// Destroyed while plugins were retired: it must not migrate again.
    Tombstone,
    /// Moved under this new id.
    Moved(String),
    /// Moved under the same id, into the server-side store with this kv
    /// namespace: that store holds its latest state (older ones may hold a
    /// stale copy that could not be deleted). None for a marker written by
    /// an earlier build of the harness, which did not name the store (its
    /// value was the id itself).
    Kept(Option<String>),
}

impl Marker {
    /// The marker read as `value` for `id`.
    fn parse(id: &str, value: String) -> Self {
        if value == TOMBSTONE {
            Marker::Tombstone
        } else if let Some(namespace) = value.strip_prefix(KEPT) {
            Marker::Kept(Some(namespace.to_string()))
        } else if value == id {
            Marker::Kept(None)
        } else {
            Marker::Moved(value)
        }
    }

    /// The value stored for this marker of `id`.
    fn value(&self, id: &str) -> String {
        match self {
            Marker::Tombstone => TOMBSTONE.to_string(),
            Marker::Moved(new_id) => new_id.clone(),
            Marker::Kept(Some(namespace)) => format!("{KEPT}{namespace}"),
            Marker::Kept(None) => id.to_string(),
        }
    }
}

/// The markers of one [`super::SwappableStore`]'s backend. Keys are the
/// SHA-256 of the old id; each marker expires when the old session would
/// have.
pub(super) struct Markers {
    kv: Arc<dyn KvBackend>,
}

impl Markers {
    /// Markers kept in `kv`.
    pub(super) fn new(kv: Arc<dyn KvBackend>) -> Self {
        Self { kv }
    }

    fn key(id: &str) -> String {
        crate::cache::hex(&Sha256::digest(id.as_bytes()))
    }

    /// The marker of `id`, if it has one.
    pub(super) fn get(&self, id: &str) -> Result<Option<Marker>, CallError> {
        let value = self
            .kv
            .get(MARKER_NAMESPACE, &Self::key(id))
            .map_err(marker_error)?;
        Ok(value.map(|v| Marker::parse(id, String::from_utf8_lossy(&v).into_owned())))
    }

    /// Removes `marker` of `id` (a migration that was undone), and only
    /// that: a tombstone a destroy wrote over it meanwhile stays (the
    /// session is over), as does another call's record. Whether it removed.
    pub(super) fn release(&self, id: &str, marker: &Marker) -> Result<bool, CallError> {
        self.kv
            .delete_if_equals(
                MARKER_NAMESPACE,
                &Self::key(id),
                marker.value(id).as_bytes(),
            )
            .map_err(marker_error)
    }

    /// Records that `id` must never migrate again, replacing any record of
    /// a move (the copy was destroyed, but a stateless store still opens its
    /// id).
    pub(super) fn bury(&self, id: &str, ttl: u64) -> Result<(), CallError> {
        self.put(id, &Marker::Tombstone, ttl, WriteMode::Always)
            .map(drop)
    }

    /// [`Self::bury`], only while the marker of `id` is still `was` (in one
    /// atomic step); false when another call changed it meanwhile.
    pub(super) fn bury_if(&self, id: &str, was: &Marker, ttl: u64) -> Result<bool, CallError> {
        self.replace(id, was, &Marker::Tombstone, ttl)
    }

    /// Records `marker` for `id`; false when another call recorded one first.
    pub(super) fn claim(&self, id: &str, marker: &Marker, ttl: u64) -> Result<bool, CallError> {
        self.put(id, marker, ttl, WriteMode::IfAbsent)
    }

    /// Replaces `id`'s marker with `marker` only while it is still `was`,
    /// in one atomic step (so `id` is never without a marker meanwhile);
    /// false when another call changed it (a destroy's tombstone stays).
    pub(super) fn replace(
        &self,
        id: &str,
        was: &Marker,
        marker: &Marker,
        ttl: u64,
    ) -> Result<bool, CallError> {
        self.kv
            .replace_if_equals(
                MARKER_NAMESPACE,
                &Self::key(id),
                was.value(id).as_bytes(),
                marker.value(id).into_bytes(),
                Some(ttl),
            )
            .map_err(marker_error)
    }

    /// Writes the marker of `id` with `mode`; whether it was written.
    fn put(&self, id: &str, marker: &Marker, ttl: u64, mode: WriteMode) -> Result<bool, CallError> {
        self.kv
            .set(
                MARKER_NAMESPACE,
                &Self::key(id),
                marker.value(id).into_bytes(),
                Some(ttl),
                mode,
            )
            .map_err(marker_error)
    }
}

fn marker_error(e: KvError) -> CallError {
    SessionError::Backend(format!("migration marker: {e}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marker_reads_back_as_written() {
        let id = "5nLwAFCCUu_r0123456789abcdefghij";
        for marker in [
            Marker::Tombstone,
            Marker::Moved("CZiFkaMnVAL0".to_string()),
            Marker::Kept(Some("kv_session".to_string())),
            Marker::Kept(Some("name with spaces".to_string())),
            Marker::Kept(Some(String::new())),
            Marker::Kept(None),
        ] {
            assert_eq!(Marker::parse(id, marker.value(id)), marker);
        }
    }

    #[test]
    fn a_marker_naming_the_id_itself_is_a_move_under_the_same_id() {
        assert_eq!(Marker::parse("abc", "abc".to_string()), Marker::Kept(None));
    }
}
