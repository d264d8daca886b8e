//! Text from a plugin made safe to log or print. What a store hands back (an
//! error message, the tail of its stderr) is the plugin's to choose: a
//! newline in it would start a forged log line, an escape sequence would
//! recolour or clear a terminal, a bidirectional override would reorder what
//! is shown. The harness escapes those in every message it takes from a
//! plugin and in its `info` name and version; session data and user ids are
//! passed on as they are (they are the caller's values), and a host printing
//! them can use these functions too.
//!
//! The escaping is one way: a backslash is not escaped, so a plugin that
//! sends the text `\n` reads the same as one that sent a newline. What it
//! guarantees is that no control character gets through, not that the text
//! can be turned back into what the plugin sent.

use std::borrow::Cow;

/// `text` with control characters (C0, DEL, C1), the Unicode line and
/// paragraph separators and the bidirectional controls written as Rust
/// escapes (`\n`, `\u{1b}`, `\u{2028}`, `\u{202e}`); anything else as is,
/// borrowed when nothing needed escaping.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escaped(text, in_messages)
}

/// [`escape_controls`] of an owned string: the string itself when nothing
/// needed escaping (no copy).
pub(crate) fn escape_controls_owned(text: String) -> String {
    match escape_controls(&text) {
        Cow::Owned(escaped) => escaped,
        Cow::Borrowed(_) => text,
    }
}

/// [`escape_controls`] of the first `max_bytes` of `text` or fewer: the
/// escaped text is at most `max_bytes` long and never ends inside an escape
/// or a character. Returns it with how many bytes of `text` were left out.
pub fn escape_controls_within(text: &str, max_bytes: usize) -> (Cow<'_, str>, usize) {
    if text.len() <= max_bytes && !text.chars().any(in_messages) {
        return (Cow::Borrowed(text), 0);
    }
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for (at, c) in text.char_indices() {
        let escape = in_messages(c);
        let len = match escape {
            true => c.escape_default().len(),
            false => c.len_utf8(),
        };
        if out.len() + len > max_bytes {
            return (Cow::Owned(out), text.len() - at);
        }
        push_shown(&mut out, c, escape);
    }
    (Cow::Owned(out), 0)
}

/// [`escape_controls`], but a newline or tab (whitespace between JSON
/// tokens, part of session data as stored) and the line and paragraph
/// separators (text inside JSON strings) are kept. A carriage return is
/// still escaped: it would move the cursor back over the line before it.
pub fn escape_controls_keeping_layout(text: &str) -> Cow<'_, str> {
    escaped(text, |c| needs_escape(c) && !matches!(c, '\n' | '\t'))
}

/// `text` with the characters `escape` picks written as Rust escapes.
fn escaped(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_shown(&mut out, c, escape(c));
    }
    Cow::Owned(out)
}

/// Appends `c` to `out`, as a Rust escape when `escape`.
fn push_shown(out: &mut String, c: char, escape: bool) {
    match escape {
        true => out.extend(c.escape_default()),
        false => out.push(c),
    }
}

/// What is escaped in a message: controls, bidirectional controls and the
/// line and paragraph separators.
fn in_messages(c: char) -> bool {
    needs_escape(c) || is_separator(c)
}

/// Control characters (C0, DEL, C1) and the Unicode bidirectional controls
/// (the Arabic letter mark, the left-to-right and right-to-left marks, the
/// embeddings, overrides and isolates).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The Unicode line and paragraph separators, which some log viewers start
/// a new line at.
fn is_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
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
            escape_controls("a\u{202e}b\u{7f}\u{85}\u{61c}\u{2028}"),
            "a\\u{202e}b\\u{7f}\\u{85}\\u{61c}\\u{2028}"
        );
    }

    /// The bound is on the escaped text, and an escape is never cut in two.
    #[test]
    fn escaping_within_a_bound_cuts_between_characters() {
        assert!(matches!(
            escape_controls_within("abc", 3),
            (Cow::Borrowed("abc"), 0)
        ));
        assert_eq!(escape_controls_within("abcd", 3), ("abc".into(), 1));
        // "\u{1b}" is 6 bytes: 4 escapes do not fit in 20, 3 do.
        let escapes = "\u{1b}".repeat(4);
        let (shown, left) = escape_controls_within(&escapes, 20);
        assert_eq!((&*shown, left), ("\\u{1b}\\u{1b}\\u{1b}", 1));
        // A two-byte character is not split either.
        assert_eq!(escape_controls_within("aé", 2), ("a".into(), 2));
        assert_eq!(escape_controls_within("a\nb", 2), ("a".into(), 2));
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
