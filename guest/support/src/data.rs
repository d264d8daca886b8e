//! Validation of session data and user ids.

use crate::Invalid;
use serde::de::{Deserializer as _, IgnoredAny};

/// Largest accepted user id, in bytes.
pub const MAX_USER_ID_BYTES: usize = 1024;

/// Checks that `data` is at most `max_bytes` long and is the text of one JSON
/// object (surrounding whitespace allowed). The text itself is kept as given.
pub fn validate_data(data: &str, max_bytes: u64) -> Result<(), Invalid> {
    if data.len() as u64 > max_bytes {
        return Err(Invalid::TooLarge(format!(
            "session data is {} bytes; the limit (session.max-data-bytes) is {max_bytes}",
            data.len()
        )));
    }
    let mut de = serde_json::Deserializer::from_str(data);
    de.deserialize_map(IgnoredAny)
        .and_then(|_| de.end())
        .map_err(|e| Invalid::Data(describe_json_error(data, &e)))
}

fn describe_json_error(data: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => "session data must be a JSON object".to_string(),
        Category::Eof if data.trim().is_empty() => {
            "session data is empty; use {} for an empty session".to_string()
        }
        _ => format!("session data is not valid JSON: {e}"),
    }
}

/// Checks the length of a user id.
pub fn validate_user_id(user_id: Option<&str>) -> Result<(), Invalid> {
    match user_id {
        Some(u) if u.len() > MAX_USER_ID_BYTES => Err(Invalid::TooLarge(format!(
            "user-id is {} bytes; the limit is {MAX_USER_ID_BYTES}",
            u.len()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_pass_everything_else_fails() {
        for ok in ["{}", " {\"a\":1} ", "{\"a\":{\"b\":[1,2,null]}}"] {
            assert_eq!(validate_data(ok, 1000), Ok(()), "{ok}");
        }
        for bad in ["[]", "1", "\"s\"", "null", "{", "{}{}", "{\"a\":}", "", "{'a':1}"] {
            assert!(
                matches!(validate_data(bad, 1000), Err(Invalid::Data(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn size_is_checked_before_parsing() {
        assert!(matches!(
            validate_data("{\"a\":1}", 3),
            Err(Invalid::TooLarge(_))
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            validate_data(&deep, 1 << 20),
            Err(Invalid::Data(_))
        ));
    }
}
