//! Checks on what a caller hands a plugin, before it is copied into the
//! guest: an id or a session larger than any the plugin may hand back on
//! this host is refused here, with the answer the store would give, instead
//! of being copied in (tens of megabytes from a hostile request would hit
//! the instance's memory limit, and the plugin would be blamed for it).

use crate::error::{CallError, SessionError};
use crate::limits::Limits;

/// An id passed to a call: no longer than [`Limits::max_id_bytes`], the
/// most a plugin may return, so no store on this host handed it out.
pub(crate) fn id(limits: &Limits, id: &str) -> Result<(), CallError> {
    if id.len() > limits.max_id_bytes {
        return Err(CallError::Session(SessionError::InvalidId(format!(
            "the id is {} bytes, longer than any id a plugin may hand out on this host \
             ({} bytes, Limits::max_id_bytes); it was not passed to the plugin",
            id.len(),
            limits.max_id_bytes
        ))));
    }
    Ok(())
}

/// Session data or a user id passed to `create` or `update`: no larger than
/// [`Limits::max_output_bytes`], or it could never be loaded back.
pub(crate) fn session(limits: &Limits, data: &str, user_id: Option<&str>) -> Result<(), CallError> {
    let max = limits.max_output_bytes;
    for (what, len) in [
        ("session data", data.len()),
        ("user id", user_id.map_or(0, str::len)),
    ] {
        if len > max {
            return Err(CallError::Session(SessionError::TooLarge(format!(
                "the {what} is {len} bytes, more than a plugin may hand back on this host \
                 ({max} bytes, Limits::max_output_bytes), so it could never be loaded; \
                 it was not passed to the plugin"
            ))));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_id_bytes: 10,
            max_output_bytes: 20,
            ..Limits::default()
        }
    }

    #[test]
    fn an_id_up_to_the_limit_passes_and_one_byte_more_is_an_invalid_id() {
        assert!(id(&limits(), &"a".repeat(10)).is_ok());
        let e = id(&limits(), &"a".repeat(11)).unwrap_err();
        let CallError::Session(SessionError::InvalidId(why)) = &e else {
            panic!("{e:?}");
        };
        assert!(
            why.contains("11 bytes") && why.contains("(10 bytes"),
            "{why}"
        );
        assert!(!e.is_plugin_fault());
    }

    #[test]
    fn data_and_user_id_up_to_the_limit_pass_and_more_is_too_large() {
        let at = "x".repeat(20);
        assert!(session(&limits(), &at, Some(&at)).is_ok());
        assert!(session(&limits(), &at, None).is_ok());
        for (data, user, what) in [
            ("x".repeat(21), None, "session data is 21 bytes"),
            (
                "{}".to_string(),
                Some("u".repeat(21)),
                "user id is 21 bytes",
            ),
        ] {
            let e = session(&limits(), &data, user.as_deref()).unwrap_err();
            let CallError::Session(SessionError::TooLarge(why)) = &e else {
                panic!("{e:?}");
            };
            assert!(why.contains(what) && why.contains("(20 bytes"), "{why}");
            assert!(!e.is_plugin_fault());
        }
    }
}
