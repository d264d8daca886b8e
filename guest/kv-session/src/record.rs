//! The compact kv record of one session. Decoding slices the value; it never
//! parses the session data.
//!
//! ```text
//! byte 0      format version (1)
//! bytes 1..9  created-at, u64 little-endian (Unix seconds)
//! bytes 9..17 expires-at, u64 LE
//! bytes 17..25 ttl-seconds the expiry slides by, u64 LE
//! bytes 25..29 user-id length, u32 LE (0xFFFF_FFFF: no user)
//! ...         user-id bytes, then the data bytes to the end
//! ```

/// Format version written into byte 0.
const VERSION: u8 = 1;
const HEADER: usize = 29;
const NO_USER: u32 = u32::MAX;

/// One stored session, borrowed or owned.
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

impl Record {
    /// Serialises the record.
    pub fn encode(&self) -> Vec<u8> {
        let user = self.user_id.as_deref().map(str::as_bytes);
        let mut out = Vec::with_capacity(HEADER + user.map_or(0, <[u8]>::len) + self.data.len());
        out.push(VERSION);
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(&self.ttl_seconds.to_le_bytes());
        match user {
            // User ids are capped far below u32::MAX by validation.
            Some(u) => {
                out.extend_from_slice(&(u.len() as u32).to_le_bytes());
                out.extend_from_slice(u);
            }
            None => out.extend_from_slice(&NO_USER.to_le_bytes()),
        }
        out.extend_from_slice(self.data.as_bytes());
        out
    }

    /// Parses a stored value; the error says what is wrong with it.
    pub fn decode(mut bytes: Vec<u8>) -> Result<Record, String> {
        if bytes.len() < HEADER {
            return Err(format!(
                "record is {} bytes, shorter than its header",
                bytes.len()
            ));
        }
        if bytes[0] != VERSION {
            return Err(format!("record has unknown format version {}", bytes[0]));
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
        let (created_at, expires_at, ttl_seconds) = (u64_at(1), u64_at(9), u64_at(17));
        let user_len = u32::from_le_bytes(bytes[25..29].try_into().unwrap_or([0; 4]));
        let data_start = if user_len == NO_USER {
            HEADER
        } else {
            HEADER
                .checked_add(user_len as usize)
                .filter(|end| *end <= bytes.len())
                .ok_or_else(|| "record user-id runs past its end".to_string())?
        };
        let user_id = if user_len == NO_USER {
            None
        } else {
            Some(
                std::str::from_utf8(&bytes[HEADER..data_start])
                    .map_err(|_| "record user-id is not UTF-8".to_string())?
                    .to_owned(),
            )
        };
        // Reuse the value's allocation for the data: drop the header in place.
        bytes.drain(..data_start);
        let data = String::from_utf8(bytes).map_err(|_| "record data is not UTF-8".to_string())?;
        Ok(Record {
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
        for user_id in [None, Some(String::new()), Some("alice".to_string())] {
            let r = Record {
                created_at: 1,
                expires_at: u64::MAX,
                ttl_seconds: 3,
                user_id,
                data: "{\"k\":\"é\"}".to_string(),
            };
            assert_eq!(Record::decode(r.encode()), Ok(r));
        }
    }

    #[test]
    fn corrupt_values_are_errors() {
        assert!(Record::decode(vec![]).is_err());
        assert!(Record::decode(vec![9; 40]).is_err());
        let mut v = Record {
            created_at: 1,
            expires_at: 2,
            ttl_seconds: 3,
            user_id: Some("u".into()),
            data: "{}".into(),
        }
        .encode();
        v[25] = 200;
        assert!(Record::decode(v).is_err());
    }
}
