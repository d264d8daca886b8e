//! The seal: a versioned, authenticated (and in private mode encrypted) text
//! form of a [`Payload`], safe in a cookie and a URL.
//!
//! ```text
//! private: v1.p.<b64url( nonce[24] | XChaCha20-Poly1305(payload) | tag[16] )>
//! signed:  v1.s.<b64url( nonce[16] | payload )>.<b64url( HMAC-SHA256[32] )>
//! ```
//!
//! base64url is unpadded and strict (canonical trailing bits). The context
//! bound into every seal, as AEAD associated data or as the MAC's prefix, is
//! `"session:plugin/cookie-session" | version "v1" | mode byte | len(name) | name`,
//! so a seal cannot be replayed under another cookie name, mode or version.

use crate::keys::{Key, KeyRing};
use crate::payload::Payload;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload as AeadPayload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The only seal version this store writes and opens.
pub const VERSION: &str = "v1";
const CONTEXT_LABEL: &[u8] = b"session:plugin/cookie-session";
const PRIVATE_NONCE: usize = 24;
const SIGNED_NONCE: usize = 16;
const AEAD_TAG: usize = 16;
const MAC_LEN: usize = 32;

/// How a seal protects its payload (`cookie.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Encrypted and authenticated (XChaCha20-Poly1305).
    Private,
    /// Readable, authenticated (HMAC-SHA256).
    Signed,
}

impl Mode {
    fn tag(self) -> u8 {
        match self {
            Mode::Private => b'p',
            Mode::Signed => b's',
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Private => "private",
            Mode::Signed => "signed",
        }
    }
}

/// Seals and opens payloads for one cookie name and mode.
#[derive(Debug)]
pub struct Sealer {
    ring: KeyRing,
    mode: Mode,
    context: Vec<u8>,
    max_bytes: usize,
}

/// A seal that was opened: its payload and which key opened it.
#[derive(Debug)]
pub struct Opened {
    /// The authenticated payload.
    pub payload: Payload,
    /// Position of the opening key in `cookie.keys` (0: the sealing key).
    pub key_index: usize,
}

impl Sealer {
    /// A sealer for cookie `name` (at most 255 bytes, checked by config).
    pub fn new(ring: KeyRing, mode: Mode, name: &str, max_bytes: usize) -> Self {
        let mut context = Vec::with_capacity(CONTEXT_LABEL.len() + 4 + name.len());
        context.extend_from_slice(CONTEXT_LABEL);
        context.extend_from_slice(VERSION.as_bytes());
        context.push(mode.tag());
        context.push(name.len().min(255) as u8);
        context.extend_from_slice(name.as_bytes());
        Self {
            ring,
            mode,
            context,
            max_bytes,
        }
    }

    /// The largest seal this sealer writes or opens (`cookie.max-bytes`).
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    fn prefix(&self) -> String {
        format!("{VERSION}.{}.", self.mode.tag() as char)
    }

    /// Seals with fresh random nonce bytes.
    pub fn seal(&self, payload: &Payload) -> Result<String, String> {
        let mut nonce = [0u8; PRIVATE_NONCE];
        getrandom::fill(&mut nonce).map_err(|e| format!("random source failed: {e}"))?;
        Ok(self.seal_with_nonce(payload, &nonce))
    }

    /// Seals with the given nonce bytes (signed mode uses the first 16).
    /// Deterministic, for known-answer tests; production calls [`Sealer::seal`].
    pub fn seal_with_nonce(&self, payload: &Payload, nonce: &[u8; PRIVATE_NONCE]) -> String {
        let key = self.ring.current();
        let plain = payload.encode();
        let mut out = self.prefix();
        match self.mode {
            Mode::Private => {
                let cipher = XChaCha20Poly1305::new((&key.enc).into());
                let aad = AeadPayload {
                    msg: &plain,
                    aad: &self.context,
                };
                // Encryption only fails for messages beyond 256 GiB.
                let sealed = cipher
                    .encrypt(XNonce::from_slice(nonce), aad)
                    .unwrap_or_default();
                let mut body = Vec::with_capacity(PRIVATE_NONCE + sealed.len());
                body.extend_from_slice(nonce);
                body.extend_from_slice(&sealed);
                URL_SAFE_NO_PAD.encode_string(&body, &mut out);
            }
            Mode::Signed => {
                let mut body = Vec::with_capacity(SIGNED_NONCE + plain.len());
                body.extend_from_slice(&nonce[..SIGNED_NONCE]);
                body.extend_from_slice(&plain);
                let tag = self.mac(key, &body).finalize().into_bytes();
                URL_SAFE_NO_PAD.encode_string(&body, &mut out);
                out.push('.');
                URL_SAFE_NO_PAD.encode_string(tag, &mut out);
            }
        }
        out
    }

    fn mac(&self, key: &Key, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.mac)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(&self.context);
        mac.update(body);
        mac
    }

    /// Opens a seal: checks size and version before any crypto, then tries
    /// every configured key. The error says what was wrong without echoing
    /// the input.
    pub fn open(&self, seal: &str) -> Result<Opened, String> {
        if seal.len() > self.max_bytes {
            return Err(format!(
                "seal is {} bytes, over cookie.max-bytes ({})",
                seal.len(),
                self.max_bytes
            ));
        }
        let rest = match seal.split_once('.') {
            Some((VERSION, rest)) => rest,
            Some((v, _)) if is_version_label(v) => {
                return Err("seal has an unknown format version".to_string());
            }
            _ => return Err("not a cookie-session seal".to_string()),
        };
        let (mode, body) = rest
            .split_once('.')
            .ok_or_else(|| "seal is truncated".to_string())?;
        if mode.as_bytes() != [self.mode.tag()] {
            return Err(format!(
                "seal was not made in {} mode, which this store uses",
                self.mode.name()
            ));
        }
        let (plain, key_index) = match self.mode {
            Mode::Private => self.open_private(body)?,
            Mode::Signed => self.open_signed(body)?,
        };
        let payload = Payload::decode(&plain)?;
        Ok(Opened { payload, key_index })
    }

    fn open_private(&self, body: &str) -> Result<(Vec<u8>, usize), String> {
        let raw = decode(body)?;
        if raw.len() < PRIVATE_NONCE + AEAD_TAG {
            return Err("seal is truncated".to_string());
        }
        let (nonce, sealed) = raw.split_at(PRIVATE_NONCE);
        for (i, key) in self.ring.keys().iter().enumerate() {
            let cipher = XChaCha20Poly1305::new((&key.enc).into());
            let aad = AeadPayload {
                msg: sealed,
                aad: &self.context,
            };
            if let Ok(plain) = cipher.decrypt(XNonce::from_slice(nonce), aad) {
                return Ok((plain, i));
            }
        }
        Err(not_authentic())
    }

    fn open_signed(&self, body: &str) -> Result<(Vec<u8>, usize), String> {
        let (payload_b64, tag_b64) = body
            .split_once('.')
            .ok_or_else(|| "seal is truncated".to_string())?;
        let raw = decode(payload_b64)?;
        let tag = decode(tag_b64)?;
        if raw.len() < SIGNED_NONCE || tag.len() != MAC_LEN {
            return Err("seal is truncated".to_string());
        }
        for (i, key) in self.ring.keys().iter().enumerate() {
            // verify_slice compares in constant time.
            if self.mac(key, &raw).verify_slice(&tag).is_ok() {
                return Ok((raw[SIGNED_NONCE..].to_vec(), i));
            }
        }
        Err(not_authentic())
    }
}

fn not_authentic() -> String {
    "seal failed authentication: tampered, made for another cookie name, or sealed with a key that is no longer configured".to_string()
}

fn is_version_label(v: &str) -> bool {
    v.len() > 1 && v.len() <= 8 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

fn decode(b64: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| "seal is not valid unpadded base64url".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

    fn sealer(keys: &str, mode: Mode, name: &str) -> Sealer {
        Sealer::new(KeyRing::parse(Some(keys)).unwrap(), mode, name, 4096)
    }

    fn payload() -> Payload {
        Payload {
            created_at: 1_767_225_600,
            expires_at: 1_767_229_200,
            ttl_seconds: 3600,
            user_id: Some("alice".into()),
            data: r#"{"cart":"3 items"}"#.into(),
        }
    }

    /// Pinned outputs: if these change, the seal format changed and every
    /// cookie in the wild stops opening. Bump VERSION instead.
    #[test]
    fn known_answer_vectors() {
        let nonce: [u8; 24] = std::array::from_fn(|i| i as u8);
        let private = sealer(KEY_A, Mode::Private, "id").seal_with_nonce(&payload(), &nonce);
        let signed = sealer(KEY_A, Mode::Signed, "id").seal_with_nonce(&payload(), &nonce);
        assert_eq!(private, KAT_PRIVATE);
        assert_eq!(signed, KAT_SIGNED);
    }

    /// See [`known_answer_vectors`].
    pub const KAT_PRIVATE: &str = "v1.p.AAECAwQFBgcICQoLDA0ODxAREhMUFRYX2m6xaxpf4z_HuOaiT5zQol3wSOVivUTj1nmlqwwLKTD8tpmNs2X9Fg3mTH7DvMYfMzlIMycBnVJT-DrJgiiSCm4";
    /// See [`known_answer_vectors`].
    pub const KAT_SIGNED: &str = "v1.s.AAECAwQFBgcICQoLDA0ODwC5VWkAAAAAEMdVaQAAAAAQDgAAAAAAAAUAYWxpY2V7ImNhcnQiOiIzIGl0ZW1zIn0.QOUMfZxOiXe56pkYHi-RLD5QEQIts8x4mNBRNcsazNE";

    #[test]
    fn round_trip_in_both_modes() {
        for mode in [Mode::Private, Mode::Signed] {
            let s = sealer(KEY_A, mode, "id");
            let seal = s.seal(&payload()).unwrap();
            assert!(seal.starts_with(&s.prefix()));
            let opened = s.open(&seal).unwrap();
            assert_eq!((opened.payload, opened.key_index), (payload(), 0));
            assert_ne!(seal, s.seal(&payload()).unwrap(), "fresh nonce every time");
        }
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        for mode in [Mode::Private, Mode::Signed] {
            let s = sealer(KEY_A, mode, "id");
            let seal = s.seal(&payload()).unwrap();
            let alphabet: Vec<char> =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
                    .chars()
                    .collect();
            for pos in 0..seal.len() {
                for &c in &alphabet {
                    if seal.as_bytes()[pos] as char == c {
                        continue;
                    }
                    let mut bad = seal.clone().into_bytes();
                    bad[pos] = c as u8;
                    let bad = String::from_utf8(bad).unwrap();
                    assert!(s.open(&bad).is_err(), "{mode:?} pos {pos} -> {c}");
                }
            }
        }
    }

    #[test]
    fn rotation_and_foreign_keys() {
        for mode in [Mode::Private, Mode::Signed] {
            let old = sealer(KEY_A, mode, "id").seal(&payload()).unwrap();
            let rotated = sealer(&format!("{KEY_B},{KEY_A}"), mode, "id");
            assert_eq!(rotated.open(&old).unwrap().key_index, 1);
            assert!(sealer(KEY_B, mode, "id").open(&old).is_err());
            assert!(sealer(KEY_A, mode, "session").open(&old).is_err());
        }
    }
}
