//! Text from a plugin made safe to log or print. What a store hands back (an
//! error message, the tail of its stderr) is the plugin's to choose: a
//! newline in it would start a forged log line, an escape sequence would
//! recolour or clear a terminal, a bidirectional override would reorder what
//! is shown. The harness escapes those in every message it takes from a
//! plugin; session data and user ids are passed on as they are (they are the
//! caller's values), and a host printing them can use these functions too.

use std::borrow::Cow;

/// `text` with control characters (C0, DEL, C1) and the Unicode
/// bidirectional controls written as Rust escapes (`\n`, `\u{1b}`,
/// `\u{202e}`); anything else as is, borrowed when nothing needed escaping.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escaped(text, needs_escape)
}

/// [`escape_controls`], but a newline or tab (whitespace between JSON
/// tokens, part of session data as stored) is kept. A carriage return is
/// still escaped: it would move the cursor back over the line before it.
pub fn escape_controls_keeping_layout(text: &str) -> Cow<'_, str> {
    escaped(text, |c| needs_escape(c) && !matches!(c, '\n' | '\t'))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept_and_borrowed() {
        let s = r#"{"cart":"3 items","name":"Zoë 日本"}"#;
        assert!(matches!(escape_controls(s), Cow::Borrowed(t) if t == s));
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(
            escape_controls("alice\ndata={\"admin\":true}\u{1b}[31m"),
            "alice\\ndata={\"admin\":true}\\u{1b}[31m"
        );
        assert_eq!(
            escape_controls("a\u{202e}b\u{7f}\u{85}"),
            "a\\u{202e}b\\u{7f}\\u{85}"
        );
    }

    /// The data printed is the data held: JSON whitespace stays (the jco
    /// suite compares it byte for byte), a carriage return or an escape
    /// sequence does not.
    #[test]
    fn data_keeps_newlines_and_tabs_only() {
        let json = "{\"a\": 1,\n\t\"b\": \"\u{2028}\"}";
        assert!(matches!(escape_controls_keeping_layout(json), Cow::Borrowed(t) if t == json));
        assert_eq!(
            escape_controls_keeping_layout("{}\rid=x\u{1b}[2J"),
            "{}\\rid=x\\u{1b}[2J"
        );
    }
}
