//! Native session stores the plugins are compared with.
//!
//! * [`MemoryStorePeer`]: tower-sessions' `MemoryStore` (the in-memory peer of
//!   `kv-session`), driven synchronously: its futures never wait.
//! * [`CookieJarPeer`]: the cookie format of `tower-sessions-cookie-store`
//!   0.5 rebuilt on the pieces it uses: the record serialised with serde_json,
//!   base64url-encoded (unpadded), then sealed by the `cookie` 0.18 private
//!   (AES-256-GCM) or signed (HMAC-SHA256) jar that its tower-cookies 0.11
//!   wraps; opening reverses each step and checks expiry.
//!
//! Why not `tower-sessions-cookie-store` itself: its format helpers
//! (`encode_record`/`decode_record`) and its `PrivateCookie`/`SignedCookie`
//! controllers are public and run without HTTP (over a
//! `tower_cookies::Cookies::default()`), but 0.5.2 is built on
//! tower-sessions-core **0.14**, whose `Record` is a different type from the
//! 0.15 `Record` this workspace (and [`MemoryStorePeer`]) uses. Driving it
//! would put a second tower-sessions-core, plus tower-cookies, http and
//! axum-core, into the harness's dependencies, and its envelope carries the
//! data as a map, re-parsed into `serde_json::Value`s on every open, where
//! both stores here carry the data as text.
//!
//! base64url is the `base64` crate's `URL_SAFE_NO_PAD` engine, as in
//! tower-sessions-cookie-store.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, CookieJar, Key};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::{SessionStore, session_store};
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

    /// `create` of a record the caller has built (tower-sessions' `Session`
    /// builds it, random id included, before it calls the store): what
    /// `MemoryStore::create` does, a collision check and a clone of the
    /// record into the map. The record's id is the one to hold.
    pub fn insert(&self, record: &mut Record) -> session_store::Result<()> {
        pollster::block_on(self.store.create(record))
    }

    /// [`Self::record`] then [`Self::insert`] (set-up): the new id.
    pub fn create(&self, data: &HashMap<String, serde_json::Value>) -> session_store::Result<Id> {
        let mut r = Self::record(data);
        self.insert(&mut r)?;
        Ok(r.id)
    }

    /// `load`: a clone of the live record.
    pub fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        pollster::block_on(self.store.load(id))
    }

    /// `save`: replaces the record (update and touch).
    pub fn save(&self, record: &Record) -> session_store::Result<()> {
        pollster::block_on(self.store.save(record))
    }

    /// `delete`.
    pub fn delete(&self, id: &Id) -> session_store::Result<()> {
        pollster::block_on(self.store.delete(id))
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

    /// Serialises, base64url-encodes and seals.
    pub fn seal(&self, record: &SealedRecord) -> String {
        let json = serde_json::to_vec(record).unwrap_or_default();
        let value = URL_SAFE_NO_PAD.encode(&json);
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

    /// Opens, base64url-decodes, deserialises and checks expiry against `now`.
    pub fn open(&self, sealed: &str, now: u64) -> Option<SealedRecord> {
        let cookie = Cookie::new(NAME, sealed.to_string());
        let opened = if self.private {
            self.key_jar_private(cookie)
        } else {
            self.key_jar_signed(cookie)
        }?;
        let json = URL_SAFE_NO_PAD.decode(opened.value().as_bytes()).ok()?;
        let record: SealedRecord = serde_json::from_slice(&json).ok()?;
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
    fn the_sealed_value_is_base64url_of_the_json() {
        let peer = CookieJarPeer::new(&[7; 32], false);
        let r = SealedRecord {
            data: r#"{"a":"b"}"#.into(),
            user_id: Some("u".into()),
            created_at: 1,
            expires_at: 100,
            ttl_seconds: 99,
        };
        let sealed = peer.seal(&r);
        // The signed jar writes base64(MAC) (44 characters), then the value.
        let value = &sealed[44..];
        let json = URL_SAFE_NO_PAD.decode(value.as_bytes()).expect("base64url");
        assert_eq!(json, serde_json::to_vec(&r).unwrap());
        assert!(!value.contains(['=', '+', '/']), "{value}");
    }

    #[test]
    fn memory_peer_round_trips() {
        let peer = MemoryStorePeer::default();
        let data = crate::bench::workload::data_map(r#"{"a":"b"}"#);
        let id = peer.create(&data).unwrap();
        assert_eq!(peer.load(&id).unwrap().unwrap().data, data);
        peer.delete(&id).unwrap();
        assert!(peer.load(&id).unwrap().is_none());
    }
}
