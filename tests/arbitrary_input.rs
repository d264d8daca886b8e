//! Every operation of both stores fed arbitrary input (proptest): the answer
//! is always one the contract allows for that operation, never a trap, a
//! broken contract or a host refusal; what a store accepts reads back as
//! given; and a session made beforehand is untouched by all of it.
//! (`cookie_session.rs` goes deeper into `load` of forged seals.)

use host_harness::{CallError, CreateOptions, Plugin, SessionError};
use proptest::prelude::*;
use session_tests::fixtures::{KEY_A, harness, load_into};
use std::sync::OnceLock;

/// A store on its own harness, and a session no case touches.
struct Shared {
    plugin: Plugin,
    keeper: String,
}

const KEPT: &str = r#"{"kept":true}"#;

/// The store `stem` (`kv_session`, `cookie_session`), loaded once per test
/// process.
fn shared(stem: &str) -> &'static Shared {
    static KV: OnceLock<Shared> = OnceLock::new();
    static COOKIE: OnceLock<Shared> = OnceLock::new();
    let cell = if stem == "kv_session" { &KV } else { &COOKIE };
    cell.get_or_init(|| {
        let (h, _, _) = harness();
        let plugin = load_into(&h, stem, &[("cookie.keys", KEY_A)]);
        let keeper = plugin
            .create(CreateOptions::new(KEPT).user("keeper"))
            .unwrap();
        Shared { plugin, keeper }
    })
}

const STEMS: [&str; 2] = ["kv_session", "cookie_session"];

/// One call of an operation with arbitrary arguments.
#[derive(Debug, Clone)]
enum Call {
    Create {
        data: String,
        user: Option<String>,
        ttl: Option<u64>,
        id: Option<String>,
    },
    Load(String),
    Update {
        id: String,
        data: String,
        user: Option<String>,
    },
    Touch(String, Option<u64>),
    Regenerate(String),
    Destroy(String),
}

/// Ids of every shape: any text, text of the kv id alphabet and length (so
/// it reaches the kv), and text shaped like a seal (so it reaches the
/// cookie store's decoder).
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[A-Za-z0-9_-]{32}",
        "v1\\.[ps]\\.[A-Za-z0-9_-]{0,120}(\\.[A-Za-z0-9_-]{43})?",
    ]
}

/// Data of every shape: any text, text of JSON's characters, and objects
/// with arbitrary strings inside.
fn data() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[\\[\\]{}\",:0-9a-z .eE+\\\\-]{0,60}",
        ".{0,40}".prop_map(|s| serde_json::json!({ "s": s }).to_string()),
    ]
}

fn ttl() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(Some),
        (0u64..100_000).prop_map(Some)
    ]
}

fn call() -> impl Strategy<Value = Call> {
    let user = proptest::option::of(".{0,40}");
    prop_oneof![
        (data(), user.clone(), ttl(), proptest::option::of(id())).prop_map(
            |(data, user, ttl, id)| Call::Create {
                data,
                user,
                ttl,
                id
            }
        ),
        id().prop_map(Call::Load),
        (id(), data(), user).prop_map(|(id, data, user)| Call::Update { id, data, user }),
        (id(), ttl()).prop_map(|(id, ttl)| Call::Touch(id, ttl)),
        id().prop_map(Call::Regenerate),
        id().prop_map(Call::Destroy),
    ]
}

/// Whether `e` is a session error the contract allows from `call`.
fn allowed(call: &Call, e: &SessionError) -> bool {
    use SessionError::*;
    match (call, e) {
        (Call::Create { id, .. }, Conflict | InvalidId(_) | Unsupported(_)) => id.is_some(),
        (Call::Create { .. }, InvalidData(_) | TooLarge(_)) => true,
        (Call::Load(_) | Call::Destroy(_), InvalidId(_)) => true,
        (Call::Update { .. }, NotFound | InvalidId(_) | InvalidData(_) | TooLarge(_)) => true,
        (Call::Touch(..), NotFound | InvalidId(_) | InvalidData(_)) => true,
        (Call::Regenerate(_), NotFound | InvalidId(_)) => true,
        _ => false,
    }
}

/// Runs `call`; what it made reads back as given.
fn run(p: &Plugin, call: &Call) -> Result<(), TestCaseError> {
    let (made, wanted): (Result<Option<String>, CallError>, _) = match call {
        Call::Create {
            data,
            user,
            ttl,
            id,
        } => {
            let mut o = CreateOptions::new(data.clone());
            o.user_id = user.clone();
            o.ttl_seconds = *ttl;
            o.id = id.clone();
            (p.create(o).map(Some), Some((data, user)))
        }
        Call::Load(id) => (p.load(id).map(|_| None), None),
        Call::Update { id, data, user } => (
            p.update(id, data, user.as_deref()).map(Some),
            Some((data, user)),
        ),
        Call::Touch(id, ttl) => (p.touch(id, *ttl).map(|_| None), None),
        Call::Regenerate(id) => (p.regenerate(id).map(|_| None), None),
        Call::Destroy(id) => (p.destroy(id).map(|()| None), None),
    };
    match made {
        Ok(Some(new_id)) => {
            let (data, user) = wanted.expect("a write names what it wrote");
            let r = p
                .load(&new_id)
                .map_err(|e| TestCaseError::fail(format!("{call:?}: its id does not load: {e}")))?;
            let r = r.ok_or_else(|| TestCaseError::fail(format!("{call:?}: gone at once")))?;
            prop_assert_eq!(&r.data, data, "{:?}", call);
            prop_assert_eq!(&r.user_id, user, "{:?}", call);
        }
        Ok(None) => {}
        Err(CallError::Session(e)) => prop_assert!(allowed(call, &e), "{:?} gave {:?}", call, e),
        Err(e) => prop_assert!(false, "{:?} gave a host-side failure: {}", call, e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_operation_answers_arbitrary_input_within_the_contract(
        calls in prop::collection::vec(call(), 1..4),
        store in 0usize..2,
    ) {
        let s = shared(STEMS[store]);
        for c in &calls {
            run(&s.plugin, c)?;
        }
        let kept = s.plugin.load(&s.keeper).unwrap().expect("the keeper lives");
        prop_assert_eq!(kept.data.as_str(), KEPT);
        prop_assert_eq!(kept.user_id.as_deref(), Some("keeper"));
    }
}
