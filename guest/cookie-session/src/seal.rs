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

use crate::keys::KeyRing;
use crate::payload::Payload;
// base64-simd: the seal's base64url runs on wasm SIMD128 (about 4x the
// scalar `base64` crate on a 1 KiB session); its decoding is strict (no
// padding, canonical trailing bits), so each seal has one spelling.
use base64_simd::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The only seal version this store writes and opens.
pub const VERSION: &str = "v1";
const CONTEXT_LABEL: &[u8] = b"session:plugin/cookie-session";
const PRIVATE_NONCE: usize = 24;
const SIGNED_NONCE: usize = 16;
const AEAD_TAG: usize = 16;
const MAC_LEN: usize = 32;
/// Length of a [`MAC_LEN`]-byte tag in unpadded base64url.
const MAC_B64_LEN: usize = (MAC_LEN * 4).div_ceil(3);

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

/// The keyed primitives of a sealer, one per configured key, built once.
enum Keyed {
    /// One cipher per key; the context is passed as associated data.
    Private(Vec<XChaCha20Poly1305>),
    /// One HMAC-SHA256 state per key, with the context already absorbed:
    /// each use clones it and absorbs only the seal's body.
    Signed(Vec<Hmac<Sha256>>),
}

impl Keyed {
    fn len(&self) -> usize {
        match self {
            Keyed::Private(v) => v.len(),
            Keyed::Signed(v) => v.len(),
        }
    }
}

/// Seals and opens payloads for one cookie name and mode.
pub struct Sealer {
    keyed: Keyed,
    mode: Mode,
    /// The context bound into every seal (see the module docs).
    context: Vec<u8>,
    max_bytes: usize,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("mode", &self.mode)
            .field("keys", &self.keyed.len())
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Why a seal did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Malformed, tampered with, or not made by this store's keys, name and
    /// mode: the id presented is at fault (`invalid-id`).
    Invalid(String),
    /// Authentic (one of this store's keys made it) but its payload does not
    /// decode: a build sealing another layout under the same keys and
    /// version, or a bug. Still `invalid-id` to the caller, saying so.
    Corrupt(String),
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
    /// The ring's keys are turned into ready-keyed primitives here, once.
    pub fn new(ring: KeyRing, mode: Mode, name: &str, max_bytes: usize) -> Result<Self, String> {
        let name_len = u8::try_from(name.len())
            .map_err(|_| format!("cookie.name is {} bytes; at most 255", name.len()))?;
        let mut context = Vec::with_capacity(CONTEXT_LABEL.len() + 4 + name.len());
        context.extend_from_slice(CONTEXT_LABEL);
        context.extend_from_slice(VERSION.as_bytes());
        context.push(mode.tag());
        context.push(name_len);
        context.extend_from_slice(name.as_bytes());
        let keyed = match mode {
            Mode::Private => Keyed::Private(
                ring.keys()
                    .iter()
                    .map(|k| XChaCha20Poly1305::new((&k.enc).into()))
                    .collect(),
            ),
            Mode::Signed => Keyed::Signed(
                ring.keys()
                    .iter()
                    .map(|k| {
                        let mut mac =
                            <Hmac<Sha256> as Mac>::new_from_slice(&k.mac).map_err(|e| {
                                format!("cannot key HMAC-SHA256 with a cookie key: {e}")
                            })?;
                        mac.update(&context);
                        Ok(mac)
                    })
                    .collect::<Result<_, String>>()?,
            ),
        };
        if keyed.len() == 0 {
            return Err("cookie.keys holds no key".to_string());
        }
        Ok(Self {
            keyed,
            mode,
            context,
            max_bytes,
        })
    }

    /// The largest seal this sealer writes or opens (`cookie.max-bytes`).
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Length of the seal of a payload that encodes to `payload_len` bytes
    /// (the format is fixed, so this is exact), known before any work.
    pub fn sealed_len(&self, payload_len: usize) -> usize {
        let prefix = VERSION.len() + 3;
        let b64 = |n: usize| URL_SAFE_NO_PAD.encoded_length(n);
        match self.mode {
            Mode::Private => prefix + b64(PRIVATE_NONCE + payload_len + AEAD_TAG),
            Mode::Signed => prefix + b64(SIGNED_NONCE + payload_len) + 1 + MAC_B64_LEN,
        }
    }

    fn prefix(&self) -> String {
        format!("{VERSION}.{}.", self.mode.tag() as char)
    }

    /// Seals with fresh random nonce bytes: 24 in private mode, 16 in signed
    /// mode (only what the format uses is drawn). The error (a failing random
    /// source or cipher) is for `session-error.backend`.
    pub fn seal(&self, payload: &Payload) -> Result<String, String> {
        let plain = Plain::Payload(payload);
        match &self.keyed {
            Keyed::Private(ciphers) => {
                let nonce: [u8; PRIVATE_NONCE] = random()?;
                seal_private(&ciphers[0], &self.context, &self.prefix(), plain, &nonce)
            }
            Keyed::Signed(macs) => {
                let nonce: [u8; SIGNED_NONCE] = random()?;
                Ok(seal_signed(&macs[0], &self.prefix(), plain, &nonce))
            }
        }
    }

    /// Seals with the given nonce bytes (signed mode uses the first 16).
    /// Deterministic, for the known-answer tests only: a caller must never
    /// pick a nonce, so this does not exist outside tests.
    #[cfg(test)]
    pub(crate) fn seal_with_nonce(
        &self,
        payload: &Payload,
        nonce: &[u8; PRIVATE_NONCE],
    ) -> Result<String, String> {
        self.seal_plain_with_nonce(Plain::Payload(payload), nonce)
    }

    /// Seals bytes that need not be a payload, as a build with another
    /// layout under the same keys would (tests only).
    #[cfg(test)]
    pub(crate) fn seal_raw_with_nonce(
        &self,
        raw: &[u8],
        nonce: &[u8; PRIVATE_NONCE],
    ) -> Result<String, String> {
        self.seal_plain_with_nonce(Plain::Raw(raw), nonce)
    }

    #[cfg(test)]
    fn seal_plain_with_nonce(
        &self,
        plain: Plain<'_>,
        nonce: &[u8; PRIVATE_NONCE],
    ) -> Result<String, String> {
        match &self.keyed {
            Keyed::Private(ciphers) => {
                seal_private(&ciphers[0], &self.context, &self.prefix(), plain, nonce)
            }
            Keyed::Signed(macs) => {
                let mut short = [0u8; SIGNED_NONCE];
                short.copy_from_slice(&nonce[..SIGNED_NONCE]);
                Ok(seal_signed(&macs[0], &self.prefix(), plain, &short))
            }
        }
    }

    /// Opens a seal: checks size and version before any crypto, then tries
    /// every configured key. The error says what was wrong without echoing
    /// the input.
    pub fn open(&self, seal: &str) -> Result<Opened, OpenError> {
        let (raw, start, key_index) = self.authenticate(seal).map_err(OpenError::Invalid)?;
        let payload = Payload::decode_from(raw, start).map_err(OpenError::Corrupt)?;
        Ok(Opened { payload, key_index })
    }

    /// The authenticated payload bytes of `seal` (at `start` in the buffer)
    /// and the index of the key that made it.
    fn authenticate(&self, seal: &str) -> Result<(Vec<u8>, usize, usize), String> {
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
        match &self.keyed {
            Keyed::Private(ciphers) => open_private(ciphers, &self.context, body),
            Keyed::Signed(macs) => open_signed(macs, body),
        }
    }
}

/// `N` bytes from the CSPRNG.
fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| format!("random source failed: {e}"))?;
    Ok(bytes)
}

/// What a seal carries: a payload, encoded straight into the seal's buffer,
/// or (in tests) bytes that need not be one.
#[derive(Clone, Copy)]
enum Plain<'a> {
    Payload(&'a Payload),
    #[cfg(test)]
    Raw(&'a [u8]),
}

impl Plain<'_> {
    fn len(self) -> usize {
        match self {
            Plain::Payload(p) => p.encoded_len(),
            #[cfg(test)]
            Plain::Raw(r) => r.len(),
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Plain::Payload(p) => p.encode_into(out),
            #[cfg(test)]
            Plain::Raw(r) => out.extend_from_slice(r),
        }
    }
}

/// `prefix | b64url( nonce | ciphertext | tag )`, encrypted in place.
fn seal_private(
    cipher: &XChaCha20Poly1305,
    context: &[u8],
    prefix: &str,
    plain: Plain<'_>,
    nonce: &[u8; PRIVATE_NONCE],
) -> Result<String, String> {
    let mut body = Vec::with_capacity(PRIVATE_NONCE + plain.len() + AEAD_TAG);
    body.extend_from_slice(nonce);
    plain.write(&mut body);
    // Only fails for messages over 256 GiB; reported rather than assumed.
    let tag = cipher
        .encrypt_in_place_detached(
            XNonce::from_slice(nonce),
            context,
            &mut body[PRIVATE_NONCE..],
        )
        .map_err(|_| "XChaCha20-Poly1305 refused to encrypt the session".to_string())?;
    body.extend_from_slice(&tag);
    let mut out = String::with_capacity(prefix.len() + URL_SAFE_NO_PAD.encoded_length(body.len()));
    out.push_str(prefix);
    URL_SAFE_NO_PAD.encode_append(&body, &mut out);
    Ok(out)
}

/// `prefix | b64url( nonce | payload ) . b64url( HMAC(context | nonce | payload) )`.
fn seal_signed(
    keyed: &Hmac<Sha256>,
    prefix: &str,
    plain: Plain<'_>,
    nonce: &[u8; SIGNED_NONCE],
) -> String {
    let mut body = Vec::with_capacity(SIGNED_NONCE + plain.len());
    body.extend_from_slice(nonce);
    plain.write(&mut body);
    let mut mac = keyed.clone();
    mac.update(&body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(
        prefix.len() + URL_SAFE_NO_PAD.encoded_length(body.len()) + 1 + MAC_B64_LEN,
    );
    out.push_str(prefix);
    URL_SAFE_NO_PAD.encode_append(&body, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_append(tag, &mut out);
    out
}

/// Decrypts in place with the first key that authenticates the seal; the
/// plaintext is left at `raw[PRIVATE_NONCE..]`.
fn open_private(
    ciphers: &[XChaCha20Poly1305],
    context: &[u8],
    body: &str,
) -> Result<(Vec<u8>, usize, usize), String> {
    let mut raw = decode(body)?;
    if raw.len() < PRIVATE_NONCE + AEAD_TAG {
        return Err("seal is truncated".to_string());
    }
    let tag_at = raw.len() - AEAD_TAG;
    let (head, tag) = raw.split_at_mut(tag_at);
    let tag = Tag::clone_from_slice(tag);
    let (nonce, sealed) = head.split_at_mut(PRIVATE_NONCE);
    let nonce = XNonce::clone_from_slice(nonce);
    for (i, cipher) in ciphers.iter().enumerate() {
        // The tag is checked before anything is decrypted, so a key that
        // fails leaves `sealed` untouched for the next one.
        if cipher
            .decrypt_in_place_detached(&nonce, context, sealed, &tag)
            .is_ok()
        {
            raw.truncate(tag_at);
            return Ok((raw, PRIVATE_NONCE, i));
        }
    }
    Err(not_authentic())
}

/// Verifies with the first key whose MAC matches; the payload is at
/// `raw[SIGNED_NONCE..]`.
fn open_signed(macs: &[Hmac<Sha256>], body: &str) -> Result<(Vec<u8>, usize, usize), String> {
    let (payload_b64, tag_b64) = body
        .split_once('.')
        .ok_or_else(|| "seal is truncated".to_string())?;
    if tag_b64.len() != MAC_B64_LEN {
        return Err(format!(
            "seal's MAC is {} characters; a signed seal ends with {MAC_B64_LEN} (truncated or extended)",
            tag_b64.len()
        ));
    }
    let raw = decode(payload_b64)?;
    if raw.len() < SIGNED_NONCE {
        return Err("seal is truncated".to_string());
    }
    // MAC_B64_LEN unpadded characters decode to exactly MAC_LEN bytes, the
    // room `decode` requires.
    let mut tag = [0u8; MAC_LEN];
    URL_SAFE_NO_PAD
        .decode(tag_b64.as_bytes(), base64_simd::Out::from_slice(&mut tag))
        .map_err(|_| not_base64())?;
    for (i, keyed) in macs.iter().enumerate() {
        let mut mac = keyed.clone();
        mac.update(&raw);
        // verify_slice compares in constant time.
        if mac.verify_slice(&tag).is_ok() {
            return Ok((raw, SIGNED_NONCE, i));
        }
    }
    Err(not_authentic())
}

fn not_authentic() -> String {
    "seal failed authentication: tampered, made for another cookie name, or sealed with a key that is no longer configured".to_string()
}

fn is_version_label(v: &str) -> bool {
    v.len() > 1 && v.len() <= 8 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

fn decode(b64: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode_to_vec(b64).map_err(|_| not_base64())
}

fn not_base64() -> String {
    "seal is not valid unpadded base64url".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

    fn sealer(keys: &str, mode: Mode, name: &str) -> Sealer {
        Sealer::new(KeyRing::parse(Some(keys)).unwrap(), mode, name, 4096).unwrap()
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
        let private = sealer(KEY_A, Mode::Private, "id")
            .seal_with_nonce(&payload(), &nonce)
            .unwrap();
        let signed = sealer(KEY_A, Mode::Signed, "id")
            .seal_with_nonce(&payload(), &nonce)
            .unwrap();
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
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
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
    fn sealed_len_is_exact() {
        for mode in [Mode::Private, Mode::Signed] {
            let s = sealer(KEY_A, mode, "id");
            for n in [0, 1, 2, 3, 4, 5, 100, 1023, 1024, 1025, 3000] {
                let mut p = payload();
                p.data = "x".repeat(n);
                assert_eq!(
                    s.sealed_len(p.encoded_len()),
                    s.seal(&p).unwrap().len(),
                    "{mode:?} {n}"
                );
            }
        }
    }

    #[test]
    fn an_authentic_seal_that_does_not_decode_is_corrupt_not_invalid() {
        let nonce = [7u8; PRIVATE_NONCE];
        let mut header = vec![0u8; 24];
        // A user id of 9 bytes where the payload holds 2; then data that is
        // not UTF-8.
        let user_past_end = [header.clone(), vec![9, 0, b'a', b'b']].concat();
        header.extend_from_slice(&u16::MAX.to_le_bytes()); // no user id
        let bad_data = [header, vec![0xFF, b'{']].concat();
        for mode in [Mode::Private, Mode::Signed] {
            let s = sealer(KEY_A, mode, "id");
            for (raw, says) in [
                (&[1u8, 2, 3][..], "shorter than its header"),
                (&user_past_end[..], "runs past"),
                (&bad_data[..], "not UTF-8"),
            ] {
                let seal = s.seal_raw_with_nonce(raw, &nonce).unwrap();
                match s.open(&seal) {
                    Err(OpenError::Corrupt(m)) => assert!(m.contains(says), "{m}"),
                    other => panic!("{mode:?} {says}: {other:?}"),
                }
                // The same bytes under another key are not this store's.
                let foreign = sealer(KEY_B, mode, "id").seal_raw_with_nonce(raw, &nonce);
                assert!(matches!(
                    s.open(&foreign.unwrap()),
                    Err(OpenError::Invalid(_))
                ));
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
