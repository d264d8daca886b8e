//! Text from a plugin or a caller made safe for a terminal: what a store
//! hands back (data, a user id, an error message) is printed as it is,
//! except for the characters that would let it pass for something else.

pub(crate) use host_harness::text::{
    escape_controls as terminal_safe, escape_controls_keeping_layout as terminal_safe_data,
};

/// A user id as `call load` shows it: a Rust string literal (`{:?}`: quoted,
/// with quotes, backslashes, control characters and bidirectional controls
/// escaped), so a user named `(none)` or `""` is not mistaken for no user;
/// `(none)` for an anonymous session.
pub(crate) fn user_id(user: Option<&str>) -> String {
    match user {
        None => "(none)".to_string(),
        Some(u) => format!("{u:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_quoted_so_none_and_empty_are_told_apart() {
        assert_eq!(user_id(None), "(none)");
        assert_eq!(user_id(Some("(none)")), "\"(none)\"");
        assert_eq!(user_id(Some("")), "\"\"");
        assert_eq!(user_id(Some("say \"hi\"\n")), "\"say \\\"hi\\\"\\n\"");
        // A backslash is escaped too, so `\"` in a name cannot end the quote.
        assert_eq!(user_id(Some("a\\\"b")), "\"a\\\\\\\"b\"");
        assert_eq!(user_id(Some("\u{202e}x")), "\"\\u{202e}x\"");
    }
}
