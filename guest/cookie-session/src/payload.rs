//! The sealed payload: everything a session is, in a compact binary form.
//!
//! ```text
//! bytes 0..8   created-at, u64 little-endian (Unix seconds)
//! bytes 8..16  expires-at, u64 LE
//! bytes 16..24 ttl-seconds the expiry slides by, u64 LE
//! bytes 24..26 user-id length, u16 LE (0xFFFF: no user)
//! ...          user-id bytes (UTF-8), then the data bytes (UTF-8) to the end
//! ```

/// Marks "no user" in the length field.
const NO_USER: u16 = u16::MAX;
const HEADER: usize = 26;

/// One session as sealed into a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Unix seconds at creation.
    pub created_at: u64,
    /// Unix seconds at which the session stops being live.
    pub expires_at: u64,
    /// Lifetime the expiry slides by on update and touch.
    pub ttl_seconds: u64,
    /// Logged-in user (at most 1024 bytes, checked before sealing).
    pub user_id: Option<String>,
    /// JSON object text, exactly as given.
    pub data: String,
}

impl Payload {
    /// Serialises the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Length of [`Payload::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        Self::encoded_len_of(self.user_id.as_deref(), &self.data)
    }

    /// Length of the encoding of a payload with this user id and data.
    pub fn encoded_len_of(user_id: Option<&str>, data: &str) -> usize {
        HEADER + user_id.map_or(0, str::len) + data.len()
    }

    /// Appends the serialised payload to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(&self.ttl_seconds.to_le_bytes());
        match self.user_id.as_deref().map(str::as_bytes) {
            Some(u) => {
                // Validation (validate_user_id, before every seal) caps user
                // ids at 1 KiB, far below the length field's NO_USER marker.
                debug_assert!(u.len() < NO_USER as usize, "user id of {} bytes", u.len());
                out.extend_from_slice(&(u.len().min(NO_USER as usize - 1) as u16).to_le_bytes());
                out.extend_from_slice(u);
            }
            None => out.extend_from_slice(&NO_USER.to_le_bytes()),
        }
        out.extend_from_slice(self.data.as_bytes());
    }

    /// Parses an authenticated payload.
    pub fn decode(bytes: &[u8]) -> Result<Payload, String> {
        Self::decode_from(bytes.to_vec(), 0)
    }

    /// Parses the authenticated payload that starts at `start` in `bytes`,
    /// reusing the buffer for the data: the data is moved to the front of
    /// `bytes` in place and validated as UTF-8 once, never copied to a new
    /// allocation.
    pub fn decode_from(mut bytes: Vec<u8>, start: usize) -> Result<Payload, String> {
        let p = bytes.get(start..).unwrap_or_default();
        if p.len() < HEADER {
            return Err("sealed payload is shorter than its header".to_string());
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let (created_at, expires_at, ttl_seconds) = (u64_at(0), u64_at(8), u64_at(16));
        let user_len = u16::from_le_bytes([p[24], p[25]]);
        let (user_id, data_start) = if user_len == NO_USER {
            (None, HEADER)
        } else {
            let end = HEADER + user_len as usize;
            let user = p
                .get(HEADER..end)
                .ok_or_else(|| "sealed user-id runs past the payload".to_string())?;
            let user =
                std::str::from_utf8(user).map_err(|_| "sealed user-id is not UTF-8".to_string())?;
            (Some(user.to_owned()), end)
        };
        bytes.drain(..start + data_start);
        let data = String::from_utf8(bytes).map_err(|_| "sealed data is not UTF-8".to_string())?;
        Ok(Payload {
            created_at,
            expires_at,
            ttl_seconds,
            user_id,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for user_id in [None, Some(String::new()), Some("ålice".into())] {
            let p = Payload {
                created_at: 10,
                expires_at: 20,
                ttl_seconds: 30,
                user_id,
                data: r#"{"a":"b"}"#.into(),
            };
            assert_eq!(Payload::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn decoding_at_an_offset_matches_decoding_a_slice() {
        let p = Payload {
            created_at: 1,
            expires_at: 2,
            ttl_seconds: 3,
            user_id: Some("bob".into()),
            data: "{}".into(),
        };
        let mut buf = vec![9u8; 16];
        p.encode_into(&mut buf);
        assert_eq!(buf.len(), 16 + p.encoded_len());
        assert_eq!(Payload::decode_from(buf, 16), Ok(p.clone()));
        assert!(Payload::decode_from(vec![0; 10], 16).is_err());
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert!(Payload::decode(&[0; 10]).is_err());
        let mut bytes = vec![0; HEADER];
        bytes[24] = 5;
        assert!(Payload::decode(&bytes).is_err());
        bytes[24] = 0xFF;
        bytes[25] = 0xFF;
        bytes.push(0xC0);
        assert!(Payload::decode(&bytes).is_err());
    }
}
