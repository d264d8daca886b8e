//! Native session stores the plugins are compared with.
//!
//! * [`MemoryStorePeer`]: tower-sessions' `MemoryStore` (the in-memory peer of
//!   `kv-session`), driven synchronously: its futures never wait.
//! * [`CookieJarPeer`]: the `cookie` crate's private (AES-256-GCM) and signed
//!   (HMAC-SHA256) jars sealing the same record serialised as JSON. This is the
//!   sealing tower-sessions-cookie-store does (through tower-cookies); that
//!   crate itself only seals inside an HTTP middleware response, which would
//!   measure the middleware rather than the store.

use cookie::{Cookie, CookieJar, Key};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_memory_store::MemoryStore;

/// tower-sessions' `MemoryStore` with blocking methods.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorePeer {
    store: MemoryStore,
}

/// Lifetime of peer sessions.
const TTL: time::Duration = time::Duration::hours(1);

impl MemoryStorePeer {
    /// A record holding `data`, expiring in an hour.
    pub fn record(data: &HashMap<String, serde_json::Value>) -> Record {
        Record {
            id: Id::default(),
            data: data.clone(),
            expiry_date: OffsetDateTime::now_utc() + TTL,
        }
    }

    /// `create`: inserts a new record, returns its id.
    pub fn create(&self, data: &HashMap<String, serde_json::Value>) -> Id {
        let mut r = Self::record(data);
        let _ = pollster::block_on(self.store.create(&mut r));
        r.id
    }

    /// `load`: a clone of the live record.
    pub fn load(&self, id: &Id) -> Option<Record> {
        pollster::block_on(self.store.load(id)).ok().flatten()
    }

    /// `save`: replaces the record (update and touch).
    pub fn save(&self, record: &Record) {
        let _ = pollster::block_on(self.store.save(record));
    }

    /// `delete`.
    pub fn delete(&self, id: &Id) {
        let _ = pollster::block_on(self.store.delete(id));
    }
}

/// What the cookie peer seals: the same fields as a cookie-session payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    /// JSON object text.
    pub data: String,
    /// Logged-in user.
    pub user_id: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// Sliding lifetime.
    pub ttl_seconds: u64,
}

/// The `cookie` crate's private or signed jar as a stateless store.
pub struct CookieJarPeer {
    key: Key,
    private: bool,
}

/// Cookie name used by the peer.
const NAME: &str = "id";

impl CookieJarPeer {
    /// A peer sealing with a key derived from `master` (32+ bytes).
    pub fn new(master: &[u8], private: bool) -> Self {
        Self {
            key: Key::derive_from(master),
            private,
        }
    }

    /// Serialises and seals.
    pub fn seal(&self, record: &SealedRecord) -> String {
        let value = serde_json::to_string(record).unwrap_or_default();
        let mut jar = CookieJar::new();
        if self.private {
            jar.private_mut(&self.key).add((NAME, value));
        } else {
            jar.signed_mut(&self.key).add((NAME, value));
        }
        jar.get(NAME)
            .map(|c| c.value().to_string())
            .unwrap_or_default()
    }

    /// Opens, deserialises and checks expiry against `now`.
    pub fn open(&self, sealed: &str, now: u64) -> Option<SealedRecord> {
        let cookie = Cookie::new(NAME, sealed.to_string());
        let opened = if self.private {
            self.key_jar_private(cookie)
        } else {
            self.key_jar_signed(cookie)
        }?;
        let record: SealedRecord = serde_json::from_str(opened.value()).ok()?;
        (record.expires_at > now).then_some(record)
    }

    fn key_jar_private(&self, cookie: Cookie<'static>) -> Option<Cookie<'static>> {
        CookieJar::new().private(&self.key).decrypt(cookie)
    }

    fn key_jar_signed(&self, cookie: Cookie<'static>) -> Option<Cookie<'static>> {
        CookieJar::new().signed(&self.key).verify(cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_peer_round_trips_and_rejects_tampering() {
        for private in [true, false] {
            let peer = CookieJarPeer::new(&[7; 32], private);
            let r = SealedRecord {
                data: "{}".into(),
                user_id: None,
                created_at: 1,
                expires_at: 100,
                ttl_seconds: 99,
            };
            let sealed = peer.seal(&r);
            assert_eq!(peer.open(&sealed, 50), Some(r));
            assert_eq!(peer.open(&sealed, 100), None, "expired");
            let mut bad = sealed.into_bytes();
            bad[10] ^= 1;
            assert_eq!(peer.open(&String::from_utf8_lossy(&bad), 50), None);
        }
    }

    #[test]
    fn memory_peer_round_trips() {
        let peer = MemoryStorePeer::default();
        let data = crate::bench::workload::data_map(r#"{"a":"b"}"#);
        let id = peer.create(&data);
        assert_eq!(peer.load(&id).unwrap().data, data);
        peer.delete(&id);
        assert!(peer.load(&id).is_none());
    }
}
