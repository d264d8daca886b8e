//! Text from a plugin or a caller made safe for a terminal: what a store
//! hands back (data, a user id, an error message) is printed as it is,
//! except for the characters that would let it pass for something else.

use std::borrow::Cow;

/// `text` with control characters (a newline that would start a forged
/// `data=` line, an escape sequence that would recolour or clear the
/// terminal) and bidirectional overrides (which reorder what is shown)
/// written as Rust escapes (`\n`, `\u{1b}`, `\u{202e}`); anything else as is.
pub(crate) fn terminal_safe(text: &str) -> Cow<'_, str> {
    escaped(text, needs_escape)
}

/// Session data as `call load` prints it, last, running to the end of the
/// output: [`terminal_safe`], but a newline or tab (whitespace between JSON
/// tokens, part of the text as stored) is kept, so the data printed is the
/// data held. A carriage return is still escaped: it would move the cursor
/// back over the lines before it.
pub(crate) fn terminal_safe_data(data: &str) -> Cow<'_, str> {
    escaped(data, |c| needs_escape(c) && !matches!(c, '\n' | '\t'))
}

/// `text` with the characters `escape` picks written as Rust escapes.
fn escaped(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match escape(c) {
                true => c.escape_default().to_string(),
                false => c.to_string(),
            })
            .collect(),
    )
}

/// Control characters (C0, DEL, C1) and the Unicode bidirectional controls.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

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
    fn plain_text_is_kept_and_borrowed() {
        let s = r#"{"cart":"3 items","name":"Zoë 日本"}"#;
        assert!(matches!(terminal_safe(s), Cow::Borrowed(t) if t == s));
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(
            terminal_safe("alice\ndata={\"admin\":true}\u{1b}[31m"),
            "alice\\ndata={\"admin\":true}\\u{1b}[31m"
        );
        assert_eq!(
            terminal_safe("a\u{202e}b\u{7f}\u{85}"),
            "a\\u{202e}b\\u{7f}\\u{85}"
        );
    }

    /// The data printed is the data held: JSON whitespace stays (the jco
    /// suite compares it byte for byte), a carriage return or an escape
    /// sequence does not.
    #[test]
    fn data_keeps_newlines_and_tabs_only() {
        let json = "{\"a\": 1,\n\t\"b\": \"\u{2028}\"}";
        assert!(matches!(terminal_safe_data(json), Cow::Borrowed(t) if t == json));
        assert_eq!(
            terminal_safe_data("{}\rid=x\u{1b}[2J"),
            "{}\\rid=x\\u{1b}[2J"
        );
    }

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
