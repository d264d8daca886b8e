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
        let user = self.user_id.as_deref().map(str::as_bytes);
        let mut out = Vec::with_capacity(HEADER + user.map_or(0, <[u8]>::len) + self.data.len());
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(&self.ttl_seconds.to_le_bytes());
        match user {
            Some(u) => {
                // Validation caps user ids far below u16::MAX.
                out.extend_from_slice(&(u.len().min(NO_USER as usize - 1) as u16).to_le_bytes());
                out.extend_from_slice(u);
            }
            None => out.extend_from_slice(&NO_USER.to_le_bytes()),
        }
        out.extend_from_slice(self.data.as_bytes());
        out
    }

    /// Parses an authenticated payload.
    pub fn decode(bytes: &[u8]) -> Result<Payload, String> {
        if bytes.len() < HEADER {
            return Err("sealed payload is shorter than its header".to_string());
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let user_len = u16::from_le_bytes([bytes[24], bytes[25]]);
        let (user_id, rest) = if user_len == NO_USER {
            (None, &bytes[HEADER..])
        } else {
            let end = HEADER + user_len as usize;
            let user = bytes
                .get(HEADER..end)
                .ok_or_else(|| "sealed user-id runs past the payload".to_string())?;
            let user =
                std::str::from_utf8(user).map_err(|_| "sealed user-id is not UTF-8".to_string())?;
            (Some(user.to_owned()), &bytes[end..])
        };
        let data = std::str::from_utf8(rest)
            .map_err(|_| "sealed data is not UTF-8".to_string())?
            .to_owned();
        Ok(Payload {
            created_at: u64_at(0),
            expires_at: u64_at(8),
            ttl_seconds: u64_at(16),
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
