//! The session operations of `cookie-session`. Every id that comes in is
//! opened (authenticated, and checked for expiry) before anything else; every
//! id that goes out is a fresh seal within `cookie.max-bytes`.

use crate::bindings::session::plugin::types::{
    CreateOptions, SessionError, SessionId, SessionRecord,
};
use crate::config::{self, Settings};
use crate::payload::Payload;
use crate::seal::OpenError;
use session_guest_support::clock::now_unix;
use session_guest_support::data::{validate_data, validate_user_id};
use session_guest_support::lifetime::{
    CLOCK_SKEW_TOLERANCE_SECONDS, clamp_created_at, effective_expiry, expiry, is_live, validate_ttl,
};

/// Refuses a session whose seal would not fit the cookie, from the lengths
/// alone: checked before the data is parsed or anything is sealed, so data
/// far over `cookie.max-bytes` costs no more than data just over it.
fn check_fits(settings: &Settings, user_id: Option<&str>, data: &str) -> Result<(), SessionError> {
    let max = settings.sealer.max_bytes();
    // A seal is longer than what it seals, so inputs longer than the limit
    // cannot fit: refused before the length arithmetic, which they could
    // overflow (on wasm32, gigabytes of data).
    let inputs = data.len().saturating_add(user_id.map_or(0, str::len));
    let sealed = if inputs > max {
        None
    } else {
        Some(
            settings
                .sealer
                .sealed_len(Payload::encoded_len_of(user_id, data)),
        )
    };
    match sealed {
        Some(sealed) if sealed <= max => Ok(()),
        Some(sealed) => Err(SessionError::TooLarge(format!(
            "the sealed session would be {sealed} bytes, over cookie.max-bytes ({max}); store less data in it"
        ))),
        None => Err(SessionError::TooLarge(format!(
            "the session's data and user id are {inputs} bytes, more than cookie.max-bytes ({max}) \
             before sealing; store less data in it"
        ))),
    }
}

/// Seals `payload`, refusing a seal that would not fit the cookie.
fn seal(settings: &Settings, payload: &Payload) -> Result<SessionId, SessionError> {
    check_fits(settings, payload.user_id.as_deref(), &payload.data)?;
    settings.sealer.seal(payload).map_err(SessionError::Backend)
}

/// Opens `id` (`invalid-id` when forged or malformed); `Ok(None)` when it is
/// authentic but expired, under its sealed expiry or the current absolute
/// cap, or created more than [`CLOCK_SKEW_TOLERANCE_SECONDS`] ahead of the
/// clock. With the payload comes whether the seal should be re-issued even
/// when nothing changes: it was sealed with an older key, or its expiry was
/// refreshed under a clock that ran ahead.
fn open_live(
    settings: &Settings,
    id: &str,
    now: u64,
) -> Result<Option<(Payload, bool)>, SessionError> {
    let mut opened = settings.sealer.open(id).map_err(unopened)?;
    let p = &mut opened.payload;
    let late = now.saturating_add(CLOCK_SKEW_TOLERANCE_SECONDS);
    // Created more than the skew replicas' clocks have ahead of this clock:
    // no session yet. Its lifetime cap cannot be placed in time (a stateless
    // store cannot pin a corrected creation time on the seal the browser
    // keeps: counted from each load, it would slide with the clock, and the
    // seal would live as long as the clock ran ahead plus its ttl, past any
    // cap). Within the skew, it counts as made now.
    if p.created_at > late {
        return Ok(None);
    }
    // Refreshed under a clock that ran ahead: its expiry is reported at
    // most its ttl away, and beyond the skew `load` re-issues it so (the
    // seal it hands back idles out after its ttl; the old one stays valid
    // until its own expiry, within the cap counted from its creation).
    let ahead = p.expires_at > late.saturating_add(p.ttl_seconds);
    p.created_at = clamp_created_at(p.created_at, now);
    p.expires_at = effective_expiry(
        p.expires_at,
        p.created_at,
        p.ttl_seconds,
        settings.session.max_lifetime_seconds,
        now,
    );
    let reissue = ahead || opened.key_index != 0;
    Ok(is_live(now, p.expires_at).then_some((opened.payload, reissue)))
}

/// `create`: seal a new session (importing ids is not possible here).
pub fn create(options: CreateOptions) -> Result<SessionId, SessionError> {
    let settings = config::settings()?;
    if options.id.is_some() {
        return Err(SessionError::Unsupported(
            "cookie-session cannot import ids: the id is the sealed session itself".to_string(),
        ));
    }
    validate_user_id(options.user_id.as_deref())?;
    check_fits(settings, options.user_id.as_deref(), &options.data)?;
    validate_data(&options.data, settings.session.max_data_bytes)?;
    let ttl = options.ttl_seconds.unwrap_or(settings.session.ttl_seconds);
    validate_ttl(ttl)?;
    let now = now_unix();
    seal(
        settings,
        &Payload {
            created_at: now,
            expires_at: expiry(now, ttl, now, settings.session.max_lifetime_seconds),
            ttl_seconds: ttl,
            user_id: options.user_id,
            data: options.data,
        },
    )
}

/// `load`: the record, re-sealed when an older key opened it (so it is
/// sealed with the current one) or its expiry is further than its ttl ahead
/// of the clock (so the seal it hands back idles out after its ttl).
pub fn load(id: SessionId) -> Result<Option<SessionRecord>, SessionError> {
    let settings = config::settings()?;
    let Some((payload, reissue)) = open_live(settings, &id, now_unix())? else {
        return Ok(None);
    };
    let id = if reissue {
        seal(settings, &payload)?
    } else {
        id
    };
    Ok(Some(SessionRecord {
        id,
        user_id: payload.user_id,
        data: payload.data,
        created_at: payload.created_at,
        expires_at: payload.expires_at,
    }))
}

/// Slides the expiry of an opened, live session and re-seals it.
fn slide_and_seal(
    settings: &Settings,
    mut payload: Payload,
    now: u64,
) -> Result<SessionId, SessionError> {
    payload.expires_at = expiry(
        now,
        payload.ttl_seconds,
        payload.created_at,
        settings.session.max_lifetime_seconds,
    );
    if !is_live(now, payload.expires_at) {
        return Err(SessionError::NotFound);
    }
    seal(settings, &payload)
}

/// `update`: new data and user, slid expiry, new seal. The id is opened once,
/// first: a forged id is `invalid-id` whatever the data.
pub fn update(
    id: SessionId,
    data: String,
    user_id: Option<String>,
) -> Result<SessionId, SessionError> {
    let settings = config::settings()?;
    let now = now_unix();
    let opened = open_live(settings, &id, now)?;
    validate_user_id(user_id.as_deref())?;
    check_fits(settings, user_id.as_deref(), &data)?;
    validate_data(&data, settings.session.max_data_bytes)?;
    let (mut payload, _) = opened.ok_or(SessionError::NotFound)?;
    payload.data = data;
    payload.user_id = user_id;
    slide_and_seal(settings, payload, now)
}

/// `touch`: slid expiry (optionally a new ttl), new seal.
pub fn touch(id: SessionId, ttl_seconds: Option<u64>) -> Result<SessionId, SessionError> {
    let settings = config::settings()?;
    let now = now_unix();
    let opened = open_live(settings, &id, now)?;
    if let Some(ttl) = ttl_seconds {
        validate_ttl(ttl)?;
    }
    let (mut payload, _) = opened.ok_or(SessionError::NotFound)?;
    if let Some(ttl) = ttl_seconds {
        payload.ttl_seconds = ttl;
    }
    slide_and_seal(settings, payload, now)
}

/// `regenerate`: the same session under a new seal. The old seal stays valid
/// until it expires: a stateless store cannot revoke it.
pub fn regenerate(id: SessionId) -> Result<SessionId, SessionError> {
    let settings = config::settings()?;
    let (payload, _) = open_live(settings, &id, now_unix())?.ok_or(SessionError::NotFound)?;
    seal(settings, &payload)
}

/// The session error for a seal that did not open: `invalid-id`, saying
/// whether it is not this store's or is one its keys made that this build
/// cannot read (another build's layout under the same keys and version).
/// Not `backend`: a seal of another build is foreign to this one, and as
/// `invalid-id` a host's swap still asks the build swapped out, which reads
/// it, and a web host answers it as no session instead of failing every
/// page of that visitor until the cookie goes.
fn unopened(e: OpenError) -> SessionError {
    match e {
        OpenError::Invalid(m) => SessionError::InvalidId(m),
        OpenError::Corrupt(m) => SessionError::InvalidId(format!(
            "seal made with this store's key in a layout this build cannot read: {m}"
        )),
    }
}

/// `destroy`: nothing is stored, so nothing to delete; a forged id is still
/// reported as `invalid-id`.
pub fn destroy(id: SessionId) -> Result<(), SessionError> {
    let settings = config::settings()?;
    settings.sealer.open(&id).map_err(unopened)?;
    Ok(())
}

/// `purge-expired`: a stateless store holds nothing to purge. A store
/// without usable settings says so, as every other operation does, so a
/// host's periodic purge does not report a store that cannot open a seal
/// as healthy.
pub fn purge_expired() -> Result<u64, SessionError> {
    config::settings()?;
    Ok(0)
}

/// `count`: a stateless store cannot count what it does not keep (a `config`
/// error first when its settings are unusable, as for `purge-expired`).
pub fn count() -> Result<u64, SessionError> {
    config::settings()?;
    Err(SessionError::Unsupported(
        "cookie-session is stateless: no sessions are kept on the server to count".to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_guest_support::settings::ConfigMap;

    fn settings(max_bytes: &str) -> Settings {
        let pairs = [
            ("cookie.keys", "00".repeat(32)),
            ("cookie.max-bytes", max_bytes.to_string()),
        ];
        config::from_map(&ConfigMap::new(
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ))
        .unwrap()
    }

    /// Inputs longer than `cookie.max-bytes` are refused before the seal's
    /// length is computed: that arithmetic overflows (a trap) for inputs of
    /// gigabytes on wasm32, which a host without a memory cap can pass.
    #[test]
    fn inputs_longer_than_the_limit_are_refused_before_the_length_arithmetic() {
        let s = settings("1024");
        let data = format!(r#"{{"x":"{}"}}"#, "y".repeat(1024));
        match check_fits(&s, None, &data) {
            Err(SessionError::TooLarge(m)) => assert!(m.contains("before sealing"), "{m}"),
            other => panic!("{other:?}"),
        }
        let user = "u".repeat(600);
        let data = format!(r#"{{"x":"{}"}}"#, "y".repeat(500));
        assert!(matches!(
            check_fits(&s, Some(&user), &data),
            Err(SessionError::TooLarge(m)) if m.contains("before sealing")
        ));
        // Under the limit, the exact seal length decides.
        let data = format!(r#"{{"x":"{}"}}"#, "y".repeat(900));
        assert!(matches!(
            check_fits(&s, None, &data),
            Err(SessionError::TooLarge(m)) if m.contains("would be")
        ));
        assert!(check_fits(&s, None, "{}").is_ok());
    }
}
