//! `cookie.keys`: parsing the configured master keys and deriving, with
//! HKDF-SHA256, a separate sub-key for each purpose. Keys never appear in
//! `Debug` output or error text.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Shortest accepted master key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// Most keys `cookie.keys` may hold: opening a seal made with an unknown key
/// tries every one, so the list must stay short.
pub const MAX_KEYS: usize = 16;
/// HKDF salt: names this scheme so the sub-keys are ours alone.
const HKDF_SALT: &[u8] = b"session:plugin/cookie-session";
/// HKDF info of the AEAD key (private mode).
const INFO_ENC: &[u8] = b"v1 xchacha20poly1305";
/// HKDF info of the MAC key (signed mode).
const INFO_MAC: &[u8] = b"v1 hmac-sha256";

/// The sub-keys derived from one master key.
pub struct Key {
    /// XChaCha20-Poly1305 key.
    pub(crate) enc: [u8; 32],
    /// HMAC-SHA256 key.
    pub(crate) mac: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key { .. }")
    }
}

impl Drop for Key {
    /// Zeroes this key's two sub-key arrays. That is all it covers; other
    /// copies of key material are not zeroed by this crate:
    /// * the configuration text the master key came from is dropped without
    ///   zeroing (the decoded master bytes are zeroed once the sub-keys are
    ///   derived);
    /// * HKDF's intermediate state, and the keyed HMAC-SHA256 states a
    ///   signed-mode [`crate::seal::Sealer`] keeps (hmac 0.12 has no zeroize
    ///   support), are dropped without zeroing;
    /// * moves can leave stack copies behind.
    ///
    /// The XChaCha20-Poly1305 ciphers a private-mode sealer keeps zero their
    /// key copy on drop (chacha20poly1305 0.10 does so unconditionally).
    /// In the guest the keys live as long as the instance, whose whole linear
    /// memory is discarded with it, so this drop mostly runs in tests.
    fn drop(&mut self) {
        self.enc.zeroize();
        self.mac.zeroize();
    }
}

impl PartialEq for Key {
    /// Constant-time: comparing keys never leaks where they differ.
    fn eq(&self, other: &Self) -> bool {
        (self.enc.ct_eq(&other.enc) & self.mac.ct_eq(&other.mac)).into()
    }
}

impl Key {
    /// Derives the sub-keys from `master`, which must be at least
    /// [`MIN_KEY_BYTES`] long: the length is checked before any HKDF work.
    /// Errors are phrased to follow "key ..." or "cookie.keys entry N ...".
    pub fn derive(master: &[u8]) -> Result<Key, String> {
        let len = master.len();
        if len < MIN_KEY_BYTES {
            return Err(format!(
                "is {len} bytes; keys must be at least {MIN_KEY_BYTES} bytes"
            ));
        }
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), master);
        let mut key = Key {
            enc: [0u8; 32],
            mac: [0u8; 32],
        };
        // Cannot fail: 32 bytes is far below HKDF-SHA256's 8160-byte output
        // limit. Reported rather than ignored all the same, so a sub-key is
        // never silently left as zeroes.
        for (info, out) in [(INFO_ENC, &mut key.enc), (INFO_MAC, &mut key.mac)] {
            hk.expand(info, out).map_err(|e| {
                format!("could not be expanded into sub-keys with HKDF-SHA256 ({e})")
            })?;
        }
        Ok(key)
    }
}

/// The configured keys: the first seals, all open.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// The keys in configured order.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The sealing key.
    pub fn current(&self) -> &Key {
        &self.keys[0]
    }

    /// Parses `cookie.keys`: comma-separated, each hex or base64 (standard or
    /// URL-safe, padding optional), optionally prefixed `hex:` or `base64:`.
    /// Errors name the entry by position and never include key material.
    pub fn parse(raw: Option<&str>) -> Result<KeyRing, String> {
        let raw = raw.ok_or_else(|| {
            format!(
                "cookie.keys is not set: give at least one key of {MIN_KEY_BYTES}+ bytes, hex or base64"
            )
        })?;
        let count = raw.split(',').count();
        if count > MAX_KEYS {
            return Err(format!(
                "cookie.keys has {count} entries; at most {MAX_KEYS} keys may be configured \
                 (every key is tried when opening a seal, so drop retired keys)"
            ));
        }
        let mut keys: Vec<Key> = Vec::with_capacity(count);
        for (i, entry) in raw.split(',').enumerate() {
            let n = i + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(format!("cookie.keys entry {n} is empty"));
            }
            if let Some(rest) = entry
                .strip_prefix("0x")
                .or_else(|| entry.strip_prefix("0X"))
                && rest.bytes().all(|b| b.is_ascii_hexdigit())
            {
                // `0x` + hex is a hex key to its writer, but also valid
                // base64 when the digits end right: refused rather than
                // quietly read as a different key.
                return Err(format!(
                    "cookie.keys entry {n} starts with 0x: write hex keys without it \
                     (or with the hex: prefix)"
                ));
            }
            if !entry.len().is_multiple_of(2) && entry.bytes().all(|b| b.is_ascii_hexdigit()) {
                // Most likely a hex key with a digit lost in copying; as
                // base64 it would quietly become a different key.
                return Err(format!(
                    "cookie.keys entry {n} looks like hex but has an odd number of digits ({}); \
                     a base64 key that happens to use only hex digits needs the base64: prefix",
                    entry.len()
                ));
            }
            if let Some((odd, first)) = hex_lookalike(entry) {
                // Most likely a hex key with a character mistyped (an `O`
                // for a `0`); as base64 it would quietly become a different
                // key, which the other replicas' seals do not open under.
                return Err(format!(
                    "cookie.keys entry {n} looks like hex but has {odd} non-hex character(s) \
                     among its {} (the first at position {first}); a base64 key that happens \
                     to look so needs the base64: prefix",
                    entry.len()
                ));
            }
            let mut bytes = decode(entry)
                .ok_or_else(|| format!("cookie.keys entry {n} is neither hex nor base64"))?;
            let key = Key::derive(&bytes);
            bytes.zeroize();
            let key = key.map_err(|e| format!("cookie.keys entry {n} {e}"))?;
            if let Some(j) = keys.iter().position(|k| *k == key) {
                return Err(format!("cookie.keys entry {n} repeats entry {}", j + 1));
            }
            keys.push(key);
        }
        Ok(KeyRing { keys })
    }
}

/// Shortest unprefixed entry [`hex_lookalike`] judges: a hex key of
/// [`MIN_KEY_BYTES`] is 64 digits, and a random base64 key this long has
/// 53 or more hex digits with odds under 1 in 10^20.
const HEX_LOOKALIKE_MIN_LEN: usize = 56;

/// Most characters of a hex lookalike that are not hex digits.
const HEX_LOOKALIKE_MAX_ODD: usize = 3;

/// For an unprefixed entry of at least [`HEX_LOOKALIKE_MIN_LEN`] characters
/// all but one to [`HEX_LOOKALIKE_MAX_ODD`] of which are hex digits: how
/// many are not, and the (1-based) position of the first.
fn hex_lookalike(entry: &str) -> Option<(usize, usize)> {
    if entry.len() < HEX_LOOKALIKE_MIN_LEN
        || entry.starts_with("hex:")
        || entry.starts_with("base64:")
    {
        return None;
    }
    let mut odd = entry
        .bytes()
        .enumerate()
        .filter(|(_, b)| !b.is_ascii_hexdigit());
    let first = odd.next()?.0 + 1;
    let count = 1 + odd.count();
    (count <= HEX_LOOKALIKE_MAX_ODD).then_some((count, first))
}

fn engine(alphabet: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

fn decode(entry: &str) -> Option<Vec<u8>> {
    if let Some(h) = entry.strip_prefix("hex:") {
        return decode_hex(h);
    }
    if let Some(b) = entry.strip_prefix("base64:") {
        return decode_base64(b);
    }
    if entry.len().is_multiple_of(2) && entry.bytes().all(|b| b.is_ascii_hexdigit()) {
        return decode_hex(entry);
    }
    decode_base64(entry)
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let url_safe = s.contains(['-', '_']);
    let alphabet = if url_safe {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    engine(alphabet).decode(s).ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn hex_and_base64_forms_give_the_same_key() {
        let bytes: Vec<u8> = (0u8..32).collect();
        let std_b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let url_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        let reference = Key::derive(&bytes).unwrap();
        for form in [
            HEX.to_string(),
            HEX.to_uppercase(),
            format!("hex:{HEX}"),
            std_b64.clone(),
            std_b64.trim_end_matches('=').to_string(),
            url_b64.clone(),
            format!("base64:{std_b64}"),
        ] {
            let ring = KeyRing::parse(Some(&form)).unwrap_or_else(|e| panic!("{form}: {e}"));
            assert_eq!(ring.keys().len(), 1);
            assert_eq!(ring.current(), &reference, "{form}");
        }
    }

    #[test]
    fn sub_keys_differ_per_purpose_and_per_master() {
        let a = Key::derive(&[1; 32]).unwrap();
        let b = Key::derive(&[2; 32]).unwrap();
        assert_ne!(a.enc, a.mac);
        assert_ne!(a, b);
    }

    #[test]
    fn errors_name_the_problem_without_the_key() {
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ"; // 20 bytes, base64
        for (raw, needle) in [
            (None, "not set"),
            (Some(""), "entry 1 is empty"),
            (Some(&format!("{HEX},,{HEX}")[..]), "entry 2 is empty"),
            (Some(secret), "entry 1 is 20 bytes"),
            (Some("hex:zz"), "neither hex nor base64"),
            (
                Some(&HEX[1..]),
                "entry 1 looks like hex but has an odd number of digits (63)",
            ),
            (Some("!!!not base64!!!"), "neither hex nor base64"),
            (Some(&format!("0x{HEX}")[..]), "entry 1 starts with 0x"),
            // Also valid base64 (49 bytes): it used to open as that key.
            (
                Some(&format!("{HEX},0X{}A", &HEX.to_uppercase()[1..])[..]),
                "entry 2 starts with 0x",
            ),
            (
                Some(&format!("{HEX},hex:{HEX}")[..]),
                "entry 2 repeats entry 1",
            ),
            // A hex key with an `O` for its last `0`, and one with two
            // typos: valid base64 (48 bytes) both, once read as such.
            (
                Some(&format!("{}O", &HEX[..63])[..]),
                "entry 1 looks like hex but has 1 non-hex character(s) among its 64 \
                 (the first at position 64)",
            ),
            (
                Some(&format!("{HEX},{}g{}G", &HEX[..10], &HEX[11..63])[..]),
                "entry 2 looks like hex but has 2 non-hex character(s) among its 64",
            ),
            // `0x` and a typo: the `x` is the first.
            (
                Some(&format!("0x{}O", &HEX[..63])[..]),
                "(the first at position 2)",
            ),
        ] {
            let err = KeyRing::parse(raw).unwrap_err();
            assert!(err.contains(needle), "{raw:?}: {err}");
            assert!(!err.contains(secret) && !err.contains(HEX), "{err}");
        }
    }

    #[test]
    fn long_base64_keys_are_not_taken_for_mistyped_hex() {
        let standard = base64::engine::general_purpose::STANDARD;
        for len in [42, 48, 64] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let key = standard.encode(&bytes);
            assert!(KeyRing::parse(Some(&key)).is_ok(), "{key}");
        }
        // A base64 key that does look like hex with a typo opens with the
        // prefix, as the key it is.
        let lookalike = format!("{}O", &HEX[..63]);
        let bytes = standard.decode(&lookalike).unwrap();
        let ring = KeyRing::parse(Some(&format!("base64:{lookalike}"))).unwrap();
        assert_eq!(ring.current(), &Key::derive(&bytes).unwrap());
    }

    #[test]
    fn short_keys_are_refused_before_derivation() {
        let e = Key::derive(&[7; MIN_KEY_BYTES - 1]).unwrap_err();
        assert!(e.contains("is 31 bytes"), "{e}");
        assert!(Key::derive(&[7; MIN_KEY_BYTES]).is_ok());
    }

    /// `n` distinct 32-byte hex keys, comma-separated.
    fn many(n: usize) -> String {
        (0..n)
            .map(|i| format!("{i:064x}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn at_most_max_keys() {
        assert_eq!(
            KeyRing::parse(Some(&many(MAX_KEYS))).unwrap().keys().len(),
            16
        );
        let e = KeyRing::parse(Some(&many(MAX_KEYS + 1))).unwrap_err();
        assert!(e.contains("17 entries") && e.contains("at most 16"), "{e}");
    }

    #[test]
    fn whitespace_around_entries_is_trimmed() {
        let other = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";
        let ring = KeyRing::parse(Some(&format!(" \t{HEX} ,\n {other}\t"))).unwrap();
        let plain = KeyRing::parse(Some(&format!("{HEX},{other}"))).unwrap();
        assert_eq!(ring.keys(), plain.keys());
    }

    #[test]
    fn debug_output_is_redacted() {
        let ring = KeyRing::parse(Some(HEX)).unwrap();
        let shown = format!("{ring:?}");
        assert!(!shown.contains("enc:") && shown.contains(".."), "{shown}");
    }
}
