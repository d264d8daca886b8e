//! The compact kv record of one session. Reading one slices the value; it
//! never parses the session data, and an update or touch rewrites the value
//! it read without decoding the data at all.
//!
//! ```text
//! byte 0      format version (1)
//! bytes 1..9  created-at, u64 little-endian (Unix seconds)
//! bytes 9..17 expires-at, u64 LE
//! bytes 17..25 ttl-seconds the expiry slides by, u64 LE
//! bytes 25..29 user-id length, u32 LE (0xFFFF_FFFF: no user)
//! ...         user-id bytes, then the data bytes to the end
//! ```

use std::ops::Range;

/// Format version written into byte 0.
const VERSION: u8 = 1;
const CREATED_AT: Range<usize> = 1..9;
const EXPIRES_AT: Range<usize> = 9..17;
const TTL_SECONDS: Range<usize> = 17..25;
const USER_LEN: Range<usize> = 25..29;
const HEADER: usize = 29;
const NO_USER: u32 = u32::MAX;

/// One stored session, decoded: what `load` hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unix seconds at creation.
    pub created_at: u64,
    /// Unix seconds at which the session stops being live.
    pub expires_at: u64,
    /// Lifetime the expiry slides by on update and touch.
    pub ttl_seconds: u64,
    /// Logged-in user.
    pub user_id: Option<String>,
    /// JSON object text, exactly as given.
    pub data: String,
}

/// A record as the kv holds it: the value's bytes with a header known to be
/// well formed and a user id known to be UTF-8. The data is only checked
/// when it is handed out ([`Stored::into_record`]); an update replaces it and
/// a touch carries it over byte for byte, so neither needs to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    bytes: Vec<u8>,
}

fn u64_at(bytes: &[u8], at: Range<usize>) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at]);
    u64::from_le_bytes(b)
}

fn user_len(bytes: &[u8]) -> Option<usize> {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[USER_LEN]);
    match u32::from_le_bytes(b) {
        NO_USER => None,
        n => Some(n as usize),
    }
}

impl Stored {
    /// A new record.
    pub fn new(
        created_at: u64,
        expires_at: u64,
        ttl_seconds: u64,
        user_id: Option<&str>,
        data: &str,
    ) -> Stored {
        let mut bytes = Vec::new();
        encode_into(
            &mut bytes,
            [created_at, expires_at, ttl_seconds],
            user_id,
            data,
        );
        Stored { bytes }
    }

    /// Checks a value read from the kv; the error says what is wrong with it.
    pub fn parse(bytes: Vec<u8>) -> Result<Stored, String> {
        if bytes.len() < HEADER {
            return Err(format!(
                "record is {} bytes, shorter than its header",
                bytes.len()
            ));
        }
        if bytes[0] != VERSION {
            return Err(format!("record has unknown format version {}", bytes[0]));
        }
        if let Some(len) = user_len(&bytes) {
            let user = HEADER
                .checked_add(len)
                .and_then(|end| bytes.get(HEADER..end))
                .ok_or_else(|| "record user-id runs past its end".to_string())?;
            std::str::from_utf8(user).map_err(|_| "record user-id is not UTF-8".to_string())?;
        }
        Ok(Stored { bytes })
    }

    /// Unix seconds at creation.
    pub fn created_at(&self) -> u64 {
        u64_at(&self.bytes, CREATED_AT)
    }

    /// Unix seconds at which the session stops being live.
    pub fn expires_at(&self) -> u64 {
        u64_at(&self.bytes, EXPIRES_AT)
    }

    /// Lifetime the expiry slides by on update and touch.
    pub fn ttl_seconds(&self) -> u64 {
        u64_at(&self.bytes, TTL_SECONDS)
    }

    /// Sets the creation time in place.
    pub fn set_created_at(&mut self, at: u64) {
        self.bytes[CREATED_AT].copy_from_slice(&at.to_le_bytes());
    }

    /// Sets the expiry in place.
    pub fn set_expires_at(&mut self, at: u64) {
        self.bytes[EXPIRES_AT].copy_from_slice(&at.to_le_bytes());
    }

    /// Sets the sliding lifetime in place.
    pub fn set_ttl_seconds(&mut self, ttl: u64) {
        self.bytes[TTL_SECONDS].copy_from_slice(&ttl.to_le_bytes());
    }

    /// Replaces user and data, keeping the times, in the same buffer.
    pub fn replace_body(&mut self, user_id: Option<&str>, data: &str) {
        let times = [self.created_at(), self.expires_at(), self.ttl_seconds()];
        self.bytes.clear();
        encode_into(&mut self.bytes, times, user_id, data);
    }

    /// Checks the data as [`Stored::into_record`] will, without taking the
    /// record apart: UTF-8, and shaped like a JSON object (`{` ... `}`; the
    /// store validated it fully when it was written, so this only catches a
    /// value damaged or planted in the kv, cheaply, without a parse).
    pub fn check_data(&self) -> Result<(), String> {
        check_data_bytes(&self.bytes[self.data_start()..])
    }

    /// Where the data begins: after the header and the user id.
    fn data_start(&self) -> usize {
        HEADER + user_len(&self.bytes).unwrap_or(0)
    }

    /// The value to write to the kv.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The decoded record; fails when the data is not UTF-8 or not shaped
    /// like a JSON object ([`Stored::check_data`]).
    pub fn into_record(mut self) -> Result<Record, String> {
        let (created_at, expires_at, ttl_seconds) =
            (self.created_at(), self.expires_at(), self.ttl_seconds());
        let data_start = self.data_start();
        // UTF-8 since `parse` checked it: lossy never replaces here.
        let user_id = user_len(&self.bytes)
            .map(|_| String::from_utf8_lossy(&self.bytes[HEADER..data_start]).into_owned());
        // Reuse the value's allocation for the data: drop the header in place
        // (the UTF-8 check is `from_utf8`'s, done once).
        self.bytes.drain(..data_start);
        let data = String::from_utf8(self.bytes).map_err(|_| not_utf8_data())?;
        check_object_shape(data.as_bytes())?;
        Ok(Record {
            created_at,
            expires_at,
            ttl_seconds,
            user_id,
            data,
        })
    }
}

fn not_utf8_data() -> String {
    "record data is not UTF-8".to_string()
}

/// See [`Stored::check_data`].
fn check_data_bytes(data: &[u8]) -> Result<(), String> {
    std::str::from_utf8(data).map_err(|_| not_utf8_data())?;
    check_object_shape(data)
}

/// `{` ... `}` around the data, JSON whitespace aside.
fn check_object_shape(data: &[u8]) -> Result<(), String> {
    let json_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let first = data.iter().position(|b| !json_space(b));
    let last = data.iter().rposition(|b| !json_space(b));
    match (first.map(|i| data[i]), last.map(|i| data[i])) {
        (Some(b'{'), Some(b'}')) if first < last => Ok(()),
        _ => Err("record data is not a JSON object".to_string()),
    }
}

/// Appends the encoding of a record to `out`.
fn encode_into(out: &mut Vec<u8>, times: [u64; 3], user_id: Option<&str>, data: &str) {
    let user = user_id.map(str::as_bytes);
    out.reserve(HEADER + user.map_or(0, <[u8]>::len) + data.len());
    out.push(VERSION);
    for t in times {
        out.extend_from_slice(&t.to_le_bytes());
    }
    match user {
        // User ids are capped far below u32::MAX by validation.
        Some(u) => {
            out.extend_from_slice(&(u.len() as u32).to_le_bytes());
            out.extend_from_slice(u);
        }
        None => out.extend_from_slice(&NO_USER.to_le_bytes()),
    }
    out.extend_from_slice(data.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: Vec<u8>) -> Result<Record, String> {
        Stored::parse(bytes)?.into_record()
    }

    #[test]
    fn round_trip() {
        for user_id in [None, Some(""), Some("alice")] {
            let s = Stored::new(1, u64::MAX, 3, user_id, "{\"k\":\"é\"}");
            assert_eq!(
                decode(s.as_bytes().to_vec()),
                Ok(Record {
                    created_at: 1,
                    expires_at: u64::MAX,
                    ttl_seconds: 3,
                    user_id: user_id.map(str::to_string),
                    data: "{\"k\":\"é\"}".to_string(),
                })
            );
        }
    }

    #[test]
    fn the_format_is_pinned() {
        let s = Stored::new(1, 2, 3, Some("u"), "{}");
        let mut expected = vec![1];
        for t in [1u64, 2, 3] {
            expected.extend_from_slice(&t.to_le_bytes());
        }
        expected.extend_from_slice(&[1, 0, 0, 0, b'u', b'{', b'}']);
        assert_eq!(s.as_bytes(), expected);
    }

    #[test]
    fn times_and_body_change_in_place() {
        let mut s = Stored::new(1, 2, 3, Some("alice"), "{\"a\":1}");
        s.set_expires_at(20);
        s.set_ttl_seconds(30);
        assert_eq!(Stored::parse(s.as_bytes().to_vec()), Ok(s.clone()));
        s.replace_body(None, "{\"b\":22}");
        assert_eq!(
            decode(s.as_bytes().to_vec()),
            Ok(Record {
                created_at: 1,
                expires_at: 20,
                ttl_seconds: 30,
                user_id: None,
                data: "{\"b\":22}".to_string(),
            })
        );
    }

    #[test]
    fn corrupt_values_are_errors() {
        assert!(Stored::parse(vec![]).is_err());
        assert!(Stored::parse(vec![9; 40]).is_err(), "unknown version");
        let good = Stored::new(1, 2, 3, Some("u"), "{}").into_record();
        assert!(good.is_ok());
        let mut v = Stored::new(1, 2, 3, Some("u"), "{}").as_bytes().to_vec();
        v[25] = 200;
        assert!(Stored::parse(v).is_err(), "user-id past the end");
        let mut v = Stored::new(1, 2, 3, Some("u"), "{}").as_bytes().to_vec();
        v[29] = 0xFF;
        assert!(Stored::parse(v).is_err(), "user-id not UTF-8");
        let mut v = Stored::new(1, 2, 3, None, "{}").as_bytes().to_vec();
        v[30] = 0xFF;
        let s = Stored::parse(v).expect("the header is fine");
        assert!(s.check_data().is_err());
        assert!(s.into_record().is_err(), "data not UTF-8");
        for user in [None, Some("bob")] {
            assert_eq!(Stored::new(1, 2, 3, user, "{}").check_data(), Ok(()));
        }
        // Damaged or planted data that is UTF-8 but cannot be an object.
        for data in ["", " ", "{", "}", "{\"a\":1", "[1]", "null"] {
            let s = Stored::new(1, 2, 3, None, data);
            assert!(s.check_data().is_err(), "{data:?}");
            assert!(s.into_record().is_err(), "{data:?}");
        }
        assert_eq!(Stored::new(1, 2, 3, None, " \n{ }\t").check_data(), Ok(()));
    }
}
