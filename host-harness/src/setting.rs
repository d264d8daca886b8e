//! Store settings as an operator types them, `key=value`: parsed for a
//! command line or a console, with errors that never echo a secret.

/// Longest text an error quotes: a longer one may be a secret (a cookie key
/// given as `--config cookie.keys <key>`, with a space for the `=`).
pub const QUOTED_BYTES: usize = 16;

/// `text` quoted when at most [`QUOTED_BYTES`] long, else only its length.
pub fn quoted_if_short(text: &str) -> String {
    if text.len() <= QUOTED_BYTES {
        format!("{text:?}")
    } else {
        format!("an argument of {} bytes", text.len())
    }
}

/// Parses `key=value` (the key trimmed, the value as given). A malformed
/// setting is quoted only when short: a long one may be a key pasted with
/// the wrong separator (`cookie.keys:<key>`), and errors never echo secrets.
pub fn parse_setting(text: &str) -> Result<(String, String), String> {
    let shown = || quoted_if_short(text);
    match text.split_once('=') {
        None => Err(format!("expected key=value, got {} without '='", shown())),
        Some((k, _)) if k.trim().is_empty() => Err(format!(
            "expected key=value, got {} with an empty key",
            shown()
        )),
        Some((k, v)) => Ok((k.trim().to_string(), v.to_string())),
    }
}

/// The clap value parser of a `--config key=value` argument: clap's own
/// error for a refused value quotes the value whole; this one says only
/// what [`parse_setting`] says.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettingParser;

impl clap::builder::TypedValueParser for SettingParser {
    type Value = (String, String);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let refused = |m: String| {
            let flag = arg.map_or_else(|| "--config".to_string(), |a| a.to_string());
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{flag}': {m}\n"),
            )
            .with_cmd(cmd)
        };
        let s = value
            .to_str()
            .ok_or_else(|| refused("the argument is not UTF-8".to_string()))?;
        parse_setting(s).map_err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_splits_at_its_first_equals_sign() {
        assert_eq!(
            parse_setting(" cookie.keys =base64:ab==").unwrap(),
            ("cookie.keys".to_string(), "base64:ab==".to_string())
        );
        assert_eq!(
            parse_setting("session.ttl-seconds=").unwrap(),
            ("session.ttl-seconds".to_string(), String::new())
        );
    }

    #[test]
    fn a_malformed_setting_is_quoted_only_when_short() {
        let short = parse_setting("ttl:5").unwrap_err();
        assert!(short.contains("\"ttl:5\" without '='"), "{short}");
        let key = "cookie.keys:000102030405060708090a0b0c0d0e0f";
        let long = parse_setting(key).unwrap_err();
        assert!(
            long.contains(&format!("an argument of {} bytes", key.len())),
            "{long}"
        );
        assert!(!long.contains("0001020304"), "{long}");
        let empty = parse_setting("=value").unwrap_err();
        assert!(empty.contains("with an empty key"), "{empty}");
    }
}
