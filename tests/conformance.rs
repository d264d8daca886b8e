//! The conformance suite run against every shipped store.

use session_tests::conformance::{Capabilities, StoreUnderTest};
use session_tests::conformance_suite;
use session_tests::fixtures::Kv;

/// A well-formed kv-session id (32 characters of base64url) that no one issued.
fn kv_unknown_id() -> String {
    "unknownUnknownUnknownUnknown0000".to_string()
}

/// Deterministic importable kv-session ids.
fn kv_import_id(n: u32) -> String {
    format!("imported-session-id-{n:012}")
}

/// kv-session on the embedded in-memory backend.
fn kv_session() -> StoreUnderTest {
    StoreUnderTest {
        stem: "kv_session",
        base_config: vec![],
        caps: Capabilities {
            invalidates_ids: true,
            counts: true,
            imports_ids: true,
        },
        unknown_id: Some(kv_unknown_id),
        importable_id: Some(kv_import_id),
        kv: Kv::Memory,
    }
}

conformance_suite!(kv_session_memory, super::kv_session());

conformance_suite!(kv_session_redis, {
    let mut s = super::kv_session();
    s.kv = Kv::Redis;
    s
});

/// cookie-session in its default, private (encrypted) mode.
fn cookie_private() -> StoreUnderTest {
    StoreUnderTest {
        stem: "cookie_session",
        base_config: vec![("cookie.keys", session_tests::fixtures::KEY_A)],
        caps: Capabilities {
            invalidates_ids: false,
            counts: false,
            imports_ids: false,
        },
        unknown_id: None,
        importable_id: None,
        kv: Kv::Memory,
    }
}

conformance_suite!(cookie_session_private, super::cookie_private());

conformance_suite!(cookie_session_signed, {
    let mut s = super::cookie_private();
    s.base_config.push(("cookie.mode", "signed"));
    s
});
