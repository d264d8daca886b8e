//! Native session stores the plugins are compared with.
//!
//! * [`MemoryStorePeer`]: tower-sessions' `MemoryStore` (the in-memory peer of
//!   `kv-session`), driven synchronously: its futures never wait.
//! * [`CookieJarPeer`]: the cookie format of `tower-sessions-cookie-store`
//!   0.5 rebuilt on the pieces it uses: the record serialised with serde_json,
//!   base64url-encoded (unpadded), then sealed by the `cookie` 0.18 private
//!   (AES-256-GCM) or signed (HMAC-SHA256) jar that its tower-cookies 0.11
//!   wraps; opening reverses each step and checks expiry. Or
//!   ([`PeerFormat::SameBytes`]) the jars sealing as many bytes as
//!   cookie-session seals, with as little around them: the floor a native
//!   store sealing our payload would reach.
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
    /// builds it before it calls the store): a fresh random id and expiry,
    /// as kv-session draws its id and reads the clock inside its create,
    /// then what `MemoryStore::create` does, a collision check and a clone
    /// of the record into the map. The record's id is the one to hold.
    pub fn insert(&self, record: &mut Record) -> session_store::Result<()> {
        record.id = Id::default();
        record.expiry_date = OffsetDateTime::now_utc() + TTL;
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

/// What a [`CookieJarPeer`] seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFormat {
    /// tower-sessions-cookie-store's format: the record as JSON, then
    /// base64url, then the jar.
    Envelope,
    /// cookie-session's payload size with nothing around it: a 26-byte
    /// header of the times (ASCII digits, as the jars take text; binary in
    /// cookie-session), the user id and the data, then the jar (the signed
    /// one over its base64url, as a cookie value must be, as in
    /// cookie-session's signed mode).
    SameBytes,
}

/// The `cookie` crate's private or signed jar as a stateless store.
pub struct CookieJarPeer {
    key: Key,
    private: bool,
    format: PeerFormat,
}

/// Bytes of the [`PeerFormat::SameBytes`] header: created-at, expires-at
/// (10 digits each) and the ttl (6 digits), as long as cookie-session's.
const SAME_BYTES_HEADER: usize = 26;

/// Cookie name used by the peer.
const NAME: &str = "id";

impl CookieJarPeer {
    /// A peer sealing tower-sessions-cookie-store's format with a key
    /// derived from `master` (32+ bytes).
    pub fn new(master: &[u8], private: bool) -> Self {
        Self::with_format(master, private, PeerFormat::Envelope)
    }

    /// A peer sealing `format` with a key derived from `master`.
    pub fn with_format(master: &[u8], private: bool, format: PeerFormat) -> Self {
        Self {
            key: Key::derive_from(master),
            private,
            format,
        }
    }

    /// Serialises, encodes and seals.
    pub fn seal(&self, record: &SealedRecord) -> String {
        let value = match self.format {
            PeerFormat::Envelope => {
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(record).unwrap_or_default())
            }
            PeerFormat::SameBytes => {
                let user = record.user_id.as_deref().unwrap_or("");
                let mut payload =
                    String::with_capacity(SAME_BYTES_HEADER + user.len() + record.data.len());
                use std::fmt::Write as _;
                let _ = write!(
                    payload,
                    "{:010}{:010}{:06}",
                    record.created_at, record.expires_at, record.ttl_seconds
                );
                payload.push_str(user);
                payload.push_str(&record.data);
                if self.private {
                    payload
                } else {
                    URL_SAFE_NO_PAD.encode(payload)
                }
            }
        };
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

    /// Whether `sealed` is authentic (decrypts, or its MAC verifies), and no
    /// more: what cookie-session's `destroy` checks (it neither decodes the
    /// payload nor checks expiry).
    pub fn verify(&self, sealed: &str) -> bool {
        self.unseal(sealed).is_some()
    }

    /// Opens, base64url-decodes, deserialises and checks expiry against `now`.
    pub fn open(&self, sealed: &str, now: u64) -> Option<SealedRecord> {
        let opened = self.unseal(sealed)?;
        let record = match self.format {
            PeerFormat::Envelope => {
                let json = URL_SAFE_NO_PAD.decode(opened.value().as_bytes()).ok()?;
                serde_json::from_slice::<SealedRecord>(&json).ok()?
            }
            PeerFormat::SameBytes => {
                let payload = if self.private {
                    opened.value().to_string()
                } else {
                    let bytes = URL_SAFE_NO_PAD.decode(opened.value().as_bytes()).ok()?;
                    String::from_utf8(bytes).ok()?
                };
                same_bytes_record(payload)?
            }
        };
        (record.expires_at > now).then_some(record)
    }

    /// The cookie under `sealed`, decrypted or with its MAC checked by the
    /// mode's jar; none when it is not authentic.
    fn unseal(&self, sealed: &str) -> Option<Cookie<'static>> {
        let cookie = Cookie::new(NAME, sealed.to_string());
        if self.private {
            self.key_jar_private(cookie)
        } else {
            self.key_jar_signed(cookie)
        }
    }

    fn key_jar_private(&self, cookie: Cookie<'static>) -> Option<Cookie<'static>> {
        CookieJar::new().private(&self.key).decrypt(cookie)
    }

    fn key_jar_signed(&self, cookie: Cookie<'static>) -> Option<Cookie<'static>> {
        CookieJar::new().signed(&self.key).verify(cookie)
    }
}

/// The record in a [`PeerFormat::SameBytes`] payload (the user id, which
/// the header does not delimit, is read as none: the benchmark sets none).
fn same_bytes_record(mut payload: String) -> Option<SealedRecord> {
    let number = |range: std::ops::Range<usize>| payload.get(range)?.parse::<u64>().ok();
    let (created_at, expires_at, ttl_seconds) = (number(0..10)?, number(10..20)?, number(20..26)?);
    payload.drain(..SAME_BYTES_HEADER);
    Some(SealedRecord {
        data: payload,
        user_id: None,
        created_at,
        expires_at,
        ttl_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_peer_round_trips_and_rejects_tampering() {
        for (private, format) in [true, false]
            .into_iter()
            .flat_map(|p| [(p, PeerFormat::Envelope), (p, PeerFormat::SameBytes)])
        {
            let peer = CookieJarPeer::with_format(&[7; 32], private, format);
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
            assert!(peer.verify(&sealed), "authentic, expired or not");
            let mut bad = sealed.into_bytes();
            bad[10] ^= 1;
            let bad = String::from_utf8_lossy(&bad);
            assert_eq!(peer.open(&bad, 50), None);
            assert!(!peer.verify(&bad));
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

    /// The same-bytes peer seals as many bytes as cookie-session: its
    /// payload is the data plus the 26-byte header.
    #[test]
    fn the_same_bytes_peer_seals_the_data_and_a_header() {
        let peer = CookieJarPeer::with_format(&[7; 32], false, PeerFormat::SameBytes);
        let r = SealedRecord {
            data: r#"{"a":"b"}"#.into(),
            user_id: None,
            created_at: 1_800_000_000,
            expires_at: 1_800_003_600,
            ttl_seconds: 3600,
        };
        let sealed = peer.seal(&r);
        let payload = URL_SAFE_NO_PAD.decode(&sealed.as_bytes()[44..]).unwrap();
        assert_eq!(payload.len(), SAME_BYTES_HEADER + r.data.len());
        assert!(payload.ends_with(r.data.as_bytes()));
        assert_eq!(peer.open(&sealed, 1_800_000_001), Some(r));
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
