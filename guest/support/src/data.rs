//! Validation of session data and user ids.

use crate::Invalid;
use serde::de::{DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Deepest accepted nesting of objects and arrays, the outer object included
/// (serde_json's recursion limit, which keeps the guest's stack bounded).
pub const MAX_DEPTH: usize = 127;

/// Largest accepted user id, in bytes.
pub const MAX_USER_ID_BYTES: usize = 1024;

/// Checks that `data` is at most `max_bytes` long and is the text of one JSON
/// object (surrounding whitespace allowed), nested at most [`MAX_DEPTH`]
/// levels deep. The text itself is kept as given.
pub fn validate_data(data: &str, max_bytes: u64) -> Result<(), Invalid> {
    if data.len() as u64 > max_bytes {
        return Err(Invalid::TooLarge(format!(
            "session data is {} bytes; the limit (session.max-data-bytes) is {max_bytes}",
            data.len()
        )));
    }
    let mut de = serde_json::Deserializer::from_str(data);
    de.deserialize_map(Valid)
        .and_then(|_| de.end())
        .map_err(|e| Invalid::Data(describe_json_error(data, &e)))
}

/// Walks a JSON value without building it, so every string is fully decoded
/// (escapes, surrogate pairs) but nothing is allocated.
struct Valid;

impl<'de> DeserializeSeed<'de> for Valid {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Valid {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Valid)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Valid)?.is_some() {
            map.next_value_seed(Valid)?;
        }
        Ok(())
    }
}

fn describe_json_error(data: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => "session data must be a JSON object".to_string(),
        Category::Eof if data.trim().is_empty() => {
            "session data is empty; use {} for an empty session".to_string()
        }
        // serde_json's only way of saying it: the text may be valid JSON,
        // but it nests deeper than a store accepts.
        Category::Syntax if e.to_string().starts_with("recursion limit exceeded") => {
            format!(
                "session data nests objects and arrays more than {MAX_DEPTH} levels deep (at line {} column {})",
                e.line(),
                e.column()
            )
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
        for ok in [
            "{}",
            " {\"a\":1} ",
            "{\"a\":{\"b\":[1,2,null]}}",
            // RFC 8259 numbers beyond f64 and u64: valid JSON, kept as text.
            "{\"a\":1e999}",
            "{\"a\":-1E+400}",
            "{\"a\":123456789012345678901234567890}",
        ] {
            assert_eq!(validate_data(ok, 1000), Ok(()), "{ok}");
        }
        for bad in [
            "[]",
            "1",
            "\"s\"",
            "null",
            "{",
            "{}{}",
            "{\"a\":}",
            "",
            "{'a':1}",
            "{\"a\":\"\\ud800\"}",
            "{\"\\udc00\":1}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":1e}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":NaN}",
            "{\"a\":-}",
        ] {
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
        // Broken (and far too deep) as well as too large: the size answers,
        // so oversized input is refused without being parsed.
        for both in ["[[[[[", "{\"a\":", &"[".repeat(1 << 16)] {
            assert!(
                matches!(validate_data(both, 3), Err(Invalid::TooLarge(_))),
                "{}",
                &both[..5]
            );
        }
    }

    #[test]
    fn nesting_is_accepted_up_to_max_depth() {
        let nested = |depth: usize| {
            let inner = depth - 1;
            format!("{{\"a\":{}{}}}", "[".repeat(inner), "]".repeat(inner))
        };
        assert_eq!(validate_data(&nested(MAX_DEPTH), 1 << 20), Ok(()));
        assert!(matches!(
            validate_data(&nested(MAX_DEPTH + 1), 1 << 20),
            Err(Invalid::Data(_))
        ));
    }

    #[test]
    fn too_deep_nesting_is_reported_as_such() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        match validate_data(&deep, 1 << 20) {
            Err(Invalid::Data(msg)) => {
                assert!(msg.contains("more than 127 levels deep"), "{msg}")
            }
            other => panic!("expected invalid-data, got {other:?}"),
        }
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
