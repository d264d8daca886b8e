//! Model-based tests of the kv backends: the in-memory one (`MemoryBackend`),
//! which stripes each namespace over key-hashed stripes, counts a byte quota
//! across them and merges them in byte order for listings, and the Redis one
//! (`RedisBackend`), whose writes, listings and quota books are Lua scripts
//! over a key index.
//!
//! The reference model is one `BTreeMap<key, (value, expires_at in ms)>` per
//! namespace, on the same `ManualClock` as the backend. Every operation is
//! run on both and the results compared: the kv contract (DESIGN.md,
//! "Semantics of the `kv` import"), plus the quota as seen from outside
//! (a write that fits the quota counting live entries only must succeed; a
//! write that passes it is refused and changes nothing).
//!
//! Redis expires keys on its own clock, which the test cannot move, so its
//! runs have no clock steps and ttls of hours: nothing expires during a run,
//! and the test checks everything but expiry (which `kv_backends.rs` checks
//! on a real clock).

use host_harness::kv::memory::{DEFAULT_NAMESPACE_QUOTA, entry_cost};
use host_harness::kv::redis;
use host_harness::{
    Clock, KeyPage, KvBackend, KvError, KvNamespace, ManualClock, MemoryBackend, RedisBackend,
    WriteMode,
};
use proptest::prelude::*;
use session_tests::fixtures;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// Where every clock starts.
const T0: Duration = Duration::from_secs(1_700_000_000);

/// The backend's listing examines at most this many entries per call
/// (`LIST_SCAN_BUDGET` in memory.rs). With fewer entries held, a page is
/// exactly what one ordered map gives; with more, it may be short.
const SCAN_BUDGET: usize = 4096;

/// The two namespaces of the op mix.
const NAMESPACES: [&str; 2] = ["model-a", "model-b"];

// ---------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------

/// One namespace of the model. Expired entries may stay in the map; they are
/// invisible to every query, as in the contract.
#[derive(Debug, Default, Clone)]
struct Model {
    entries: BTreeMap<String, (Vec<u8>, Option<u64>)>,
}

fn is_live(expires_at: Option<u64>, now: u64) -> bool {
    expires_at.is_none_or(|t| now < t)
}

impl Model {
    fn get(&self, key: &str, now: u64) -> Option<&Vec<u8>> {
        self.entries
            .get(key)
            .filter(|(_, t)| is_live(*t, now))
            .map(|(v, _)| v)
    }

    fn live(&self, now: u64) -> impl Iterator<Item = (&String, &(Vec<u8>, Option<u64>))> {
        self.entries
            .iter()
            .filter(move |(_, (_, t))| is_live(*t, now))
    }

    /// Live keys with `prefix`, ascending.
    fn live_keys(&self, prefix: &str, now: u64) -> Vec<String> {
        self.live(now)
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Live keys with `prefix` strictly after `cursor`, ascending. (The
    /// keys with a prefix are one run of the map, from the prefix itself:
    /// start at the later of it and the cursor, stop at the first key
    /// without it. [`Model::live_keys`] filters the whole map instead, and
    /// every full paging is checked against that.)
    fn live_after<'a>(
        &'a self,
        prefix: &'a str,
        cursor: Option<&str>,
        now: u64,
    ) -> impl Iterator<Item = &'a String> + 'a {
        let start = match cursor {
            Some(c) if c >= prefix => Bound::Excluded(c.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        self.entries
            .range((start, Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .filter(move |(_, (_, t))| is_live(*t, now))
            .map(|(k, _)| k)
    }

    fn live_count(&self, now: u64) -> usize {
        self.live(now).count()
    }

    /// Quota bytes, as `cost` charges them, of the live entries other than
    /// `key`.
    fn live_bytes_without(&self, key: &str, now: u64, cost: Cost) -> usize {
        self.live(now)
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, (v, t))| cost(k, v.len(), t.is_some()))
            .sum()
    }

    /// Quota bytes, as `cost` charges them, of the live entries.
    fn live_bytes(&self, now: u64, cost: Cost) -> usize {
        self.live(now)
            .map(|(k, (v, t))| cost(k, v.len(), t.is_some()))
            .sum()
    }

    fn would_write(&self, key: &str, mode: WriteMode, now: u64) -> bool {
        let exists = self.get(key, now).is_some();
        match mode {
            WriteMode::Always => true,
            WriteMode::IfAbsent => !exists,
            WriteMode::IfPresent => exists,
        }
    }

    fn put(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>, now: u64) {
        self.entries
            .insert(key.to_string(), (value, ttl.map(|t| now + t * 1000)));
    }

    fn delete(&mut self, key: &str, now: u64) -> bool {
        let was_live = self.get(key, now).is_some();
        self.entries.remove(key);
        was_live
    }

    /// Deletes a live `key` holding `expected`; whether it did.
    fn delete_if_equals(&mut self, key: &str, expected: &[u8], now: u64) -> bool {
        let holds = self.get(key, now).is_some_and(|v| v == expected);
        if holds {
            self.entries.remove(key);
        }
        holds
    }
}

// ---------------------------------------------------------------------------
// The subject: by-name calls or a bound namespace, chosen per op
// ---------------------------------------------------------------------------

/// What a backend charges an entry against its namespace's quota:
/// `cost(key, value length, has a ttl)`.
type Cost = fn(&str, usize, bool) -> usize;

/// The backend under test.
enum Backend {
    Memory(MemoryBackend),
    Redis(RedisBackend),
}

struct Subject {
    backend: Backend,
    clock: ManualClock,
    bound: Vec<Arc<dyn KvNamespace>>,
    quota: usize,
}

impl Subject {
    /// A memory backend with `quota` whose stripes are laid out by `seed`,
    /// and whose random reaping of other stripes draws from `seed` on this
    /// thread: a failure replays with the same layout and the same draws.
    fn new(quota: Option<usize>, namespaces: &[&str], seed: u64) -> Self {
        fastrand::seed(seed);
        let clock = ManualClock::new(T0);
        let mut backend = MemoryBackend::new(Arc::new(clock.clone())).with_stripe_seed(seed);
        if let Some(q) = quota {
            backend = backend.with_namespace_quota(q);
        }
        Self::with(Backend::Memory(backend), clock, quota, namespaces)
    }

    /// A Redis backend with `quota` on the test server, under a key prefix
    /// of its own (so no other test, nor an earlier case, shares its keys).
    fn on_redis(quota: Option<usize>, namespaces: &[&str]) -> Self {
        let backend = fixtures::redis_backend_with(
            &fixtures::redis_url(),
            &fixtures::unique_redis_prefix(),
            |b| match quota {
                Some(q) => b.namespace_quota(q),
                None => b,
            },
        );
        Self::with(
            Backend::Redis(backend),
            ManualClock::new(T0),
            quota,
            namespaces,
        )
    }

    fn with(
        backend: Backend,
        clock: ManualClock,
        quota: Option<usize>,
        namespaces: &[&str],
    ) -> Self {
        let mut subject = Self {
            backend,
            clock,
            bound: Vec::new(),
            quota: quota.unwrap_or(DEFAULT_NAMESPACE_QUOTA),
        };
        subject.bound = namespaces
            .iter()
            .map(|ns| subject.kv().bind(ns).expect("the backend binds"))
            .collect();
        subject
    }

    fn kv(&self) -> &dyn KvBackend {
        match &self.backend {
            Backend::Memory(b) => b,
            Backend::Redis(b) => b,
        }
    }

    /// What this backend charges an entry against the quota.
    fn cost(&self) -> Cost {
        match self.backend {
            Backend::Memory(_) => entry_cost,
            Backend::Redis(_) => redis::entry_cost,
        }
    }

    /// Entries the backend holds in `namespace`, live or expired and not yet
    /// reaped (on Redis: members of its key index).
    fn stored_entries(&self, namespace: &str) -> usize {
        match &self.backend {
            Backend::Memory(b) => b.stored_entries(namespace),
            Backend::Redis(b) => {
                let n = b.indexed_keys(namespace).expect("the index is readable");
                usize::try_from(n).unwrap()
            }
        }
    }

    /// Whether a listing of `namespace` must be exactly one ordered map's
    /// page. The memory backend examines at most [`SCAN_BUDGET`] entries;
    /// on Redis nothing expires during a run, so no listing meets an
    /// expired member and every page is whole.
    fn lists_exactly(&self, namespace: &str) -> bool {
        match self.backend {
            Backend::Memory(_) => self.stored_entries(namespace) < SCAN_BUDGET,
            Backend::Redis(_) => true,
        }
    }

    /// Now in Unix milliseconds: a ttl runs from the millisecond of the
    /// write, as on Redis.
    fn now(&self) -> u64 {
        u64::try_from(self.clock.now().as_millis()).unwrap()
    }

    fn get(&self, ns: usize, via_bound: bool, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        if via_bound {
            self.bound[ns].get(key)
        } else {
            self.kv().get(NAMESPACES[ns], key)
        }
    }

    fn set(
        &self,
        ns: usize,
        via_bound: bool,
        key: &str,
        value: Vec<u8>,
        ttl: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        if via_bound {
            self.bound[ns].set(key, value, ttl, mode)
        } else {
            self.kv().set(NAMESPACES[ns], key, value, ttl, mode)
        }
    }

    fn delete(&self, ns: usize, via_bound: bool, key: &str) -> Result<bool, KvError> {
        if via_bound {
            self.bound[ns].delete(key)
        } else {
            self.kv().delete(NAMESPACES[ns], key)
        }
    }

    fn list(
        &self,
        ns: usize,
        via_bound: bool,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        if via_bound {
            self.bound[ns].list_keys(prefix, cursor, limit)
        } else {
            self.kv().list_keys(NAMESPACES[ns], prefix, cursor, limit)
        }
    }
}

// ---------------------------------------------------------------------------
// Checks shared by every test
// ---------------------------------------------------------------------------

/// Checks one page listed with (`prefix`, `cursor`, `limit`) against the
/// model's live keys.
///
/// The contract, always: at most `limit` keys (0 is refused:
/// [`check_zero_limit`]); with no cursor back,
/// every live key under the prefix after `cursor`; with a cursor back, it is
/// strictly after `cursor` and the page holds exactly the live keys in
/// (`cursor`, returned cursor] (so paging on from it misses and repeats
/// nothing). When `exact`, the page is also exactly what one ordered map
/// gives: the first `limit` keys, and a cursor only when more follow.
fn check_page(
    model: &Model,
    now: u64,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
    page: &KeyPage,
    exact: bool,
) -> Result<(), TestCaseError> {
    let most = limit as usize;
    // The model's live keys under the prefix after the cursor, as far as
    // this page can reach: up to its cursor and one page beyond.
    let reach = page.cursor.as_deref();
    let after: Vec<String> = model
        .live_after(prefix, cursor, now)
        .enumerate()
        .take_while(|(i, k)| *i <= most || reach.is_none_or(|next| k.as_str() <= next))
        .map(|(_, k)| k.clone())
        .collect();
    let what =
        || format!("list_keys({prefix:?}, {cursor:?}, {limit}) gave {page:?}; model has {after:?}");
    prop_assert!(page.keys.len() <= most, "too many keys: {}", what());
    match &page.cursor {
        None => prop_assert_eq!(
            &page.keys,
            &after,
            "no cursor but keys left out: {}",
            what()
        ),
        Some(next) => {
            if let Some(c) = cursor {
                prop_assert!(next.as_str() > c, "the cursor did not move on: {}", what());
            }
            let upto: Vec<String> = after
                .iter()
                .filter(|k| k.as_str() <= next.as_str())
                .cloned()
                .collect();
            prop_assert_eq!(&page.keys, &upto, "keys up to the cursor: {}", what());
        }
    }
    if exact {
        let want: Vec<String> = after.iter().take(most).cloned().collect();
        let more = after.len() > most;
        prop_assert_eq!(&page.keys, &want, "not one ordered map's page: {}", what());
        prop_assert_eq!(
            page.cursor.as_deref(),
            more.then(|| want.last().map(String::as_str)).flatten(),
            "cursor: {}",
            what()
        );
    }
    Ok(())
}

/// Checks that a listing asked for 0 keys was refused as `backend`, with the
/// message every backend gives.
fn check_zero_limit(answer: Result<KeyPage, KvError>) -> Result<(), TestCaseError> {
    match answer {
        Err(KvError::Backend(m)) if m.starts_with("list-keys limit must be at least 1") => Ok(()),
        other => Err(TestCaseError::fail(format!(
            "a limit of 0: expected a backend error, got {other:?}"
        ))),
    }
}

/// Pages `prefix` from no cursor until no cursor, checking every page and
/// that the cursors strictly increase; returns the keys seen, which must be
/// exactly the model's live keys under the prefix.
fn page_to_the_end(
    subject: &Subject,
    ns: usize,
    via_bound: bool,
    model: &Model,
    prefix: &str,
    limit: u32,
) -> Result<Vec<String>, TestCaseError> {
    let now = subject.now();
    let stored = subject.stored_entries(NAMESPACES[ns]);
    let exact = subject.lists_exactly(NAMESPACES[ns]);
    let want = model.live_keys(prefix, now);
    // Pages needed: one per `limit` live keys, one per budget of entries
    // examined, and the last.
    let max_calls = want.len() / limit as usize + stored / SCAN_BUDGET + 3;
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut calls = 0;
    loop {
        let page = subject
            .list(ns, via_bound, prefix, cursor.as_deref(), limit)
            .map_err(|e| TestCaseError::fail(format!("list_keys failed: {e}")))?;
        check_page(model, now, prefix, cursor.as_deref(), limit, &page, exact)?;
        seen.extend(page.keys);
        calls += 1;
        prop_assert!(
            calls <= max_calls,
            "paging {:?} did not end after {} calls",
            prefix,
            calls
        );
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    prop_assert_eq!(
        &seen,
        &want,
        "paging {:?} by {} visited the wrong keys",
        prefix,
        limit
    );
    Ok(seen)
}

/// The whole namespace agrees with the model: listing, every key's value,
/// and at least as many entries held as are live.
fn check_namespace(subject: &Subject, ns: usize, model: &Model) -> Result<(), TestCaseError> {
    let now = subject.now();
    page_to_the_end(subject, ns, false, model, "", 1000)?;
    page_to_the_end(subject, ns, true, model, "", 3)?;
    for key in model.entries.keys() {
        let got = subject
            .get(ns, false, key)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.as_ref(), model.get(key, now), "get({:?})", key);
    }
    let stored = subject.stored_entries(NAMESPACES[ns]);
    let live = model.live_count(now);
    prop_assert!(
        stored >= live,
        "{} entries stored but {} live",
        stored,
        live
    );
    Ok(())
}

/// With nothing live left in `ns`, a single entry costing exactly the quota
/// must be written, and one a byte larger refused without a change: the
/// books are exact once every expired entry can be reaped.
fn check_books_empty(subject: &Subject, ns: usize) -> Result<(), TestCaseError> {
    let q = subject.quota;
    let key = "books";
    let base = (subject.cost())(key, 0, false);
    prop_assert!(q >= base);
    let fill = vec![7u8; q - base];
    let set = subject.set(ns, false, key, fill.clone(), None, WriteMode::Always);
    prop_assert_eq!(
        set,
        Ok(true),
        "an entry of exactly the quota ({}) into an empty namespace",
        q
    );
    let over = subject.set(
        ns,
        true,
        key,
        vec![8u8; q - base + 1],
        None,
        WriteMode::Always,
    );
    prop_assert!(
        matches!(over, Err(KvError::TooLarge(_))),
        "one byte past the quota: {:?}",
        over
    );
    let got = subject
        .get(ns, true, key)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(got, Some(fill), "the refused write changed the value");
    prop_assert!(subject.delete(ns, false, key) == Ok(true));
    Ok(())
}

// ---------------------------------------------------------------------------
// The op mix
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Get {
        ns: usize,
        bound: bool,
        key: String,
    },
    Set {
        ns: usize,
        bound: bool,
        key: String,
        value: Vec<u8>,
        ttl: Option<u64>,
        mode: WriteMode,
    },
    Delete {
        ns: usize,
        bound: bool,
        key: String,
    },
    /// The harness's compare-and-delete (by name only: it is not part of
    /// the guest's import).
    DeleteIfEquals {
        ns: usize,
        key: String,
        expected: Vec<u8>,
    },
    /// The harness's compare-and-write (by name only, as above).
    ReplaceIfEquals {
        ns: usize,
        key: String,
        expected: Vec<u8>,
        value: Vec<u8>,
        ttl: Option<u64>,
    },
    List {
        ns: usize,
        bound: bool,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    },
    PageAll {
        ns: usize,
        bound: bool,
        prefix: String,
        limit: u32,
    },
    /// Many keys (`f:000`...) at once with a short ttl: more expired
    /// entries per stripe than one write reaps.
    Fill {
        ns: usize,
        count: usize,
        ttl: u64,
    },
    Advance {
        millis: u64,
    },
}

/// Keys that collide and share prefixes, and now and then a short generated
/// one (the empty key among them) or one outside ASCII.
fn key() -> impl Strategy<Value = String> {
    let fixed: Vec<String> = ["a", "ab", "abc", "b", "ba"]
        .into_iter()
        .map(String::from)
        .chain((1..=9).map(|i| format!("k{i}")))
        .chain((1..=20).map(|i| format!("s:{i:02}")))
        .collect();
    prop_oneof![
        12 => prop::sample::select(fixed),
        2 => "[abks:0-9]{0,3}",
        1 => prop::sample::select(vec!["", "a\u{7f}", "\u{e4}", "z", "s:", "k10", "\u{1f600}", "f:001", "f:250"])
            .prop_map(String::from),
    ]
}

fn prefix() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "", "a", "ab", "abc", "abcd", "b", "f:", "f:1", "k", "k1", "s:", "s:0", "s:1", "z",
    ])
    .prop_map(String::from)
}

fn ttl() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        8 => Just(None),
        10 => (1u64..=5).prop_map(Some),
        1 => Just(Some(0)),
    ]
}

fn mode() -> impl Strategy<Value = WriteMode> {
    prop_oneof![
        3 => Just(WriteMode::Always),
        1 => Just(WriteMode::IfAbsent),
        1 => Just(WriteMode::IfPresent),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ns = 0..NAMESPACES.len();
    prop_oneof![
        30 => (ns.clone(), any::<bool>(), key(), prop::collection::vec(any::<u8>(), 0..40), ttl(), mode())
            .prop_map(|(ns, bound, key, value, ttl, mode)| Op::Set { ns, bound, key, value, ttl, mode }),
        15 => (ns.clone(), any::<bool>(), key()).prop_map(|(ns, bound, key)| Op::Get { ns, bound, key }),
        10 => (ns.clone(), any::<bool>(), key()).prop_map(|(ns, bound, key)| Op::Delete { ns, bound, key }),
        // Values are short random bytes: the empty one (a common value) or
        // one byte, so a compare now and then matches.
        5 => (ns.clone(), key(), prop::collection::vec(any::<u8>(), 0..2))
            .prop_map(|(ns, key, expected)| Op::DeleteIfEquals { ns, key, expected }),
        5 => (ns.clone(), key(), prop::collection::vec(any::<u8>(), 0..2), prop::collection::vec(any::<u8>(), 0..40), ttl())
            .prop_map(|(ns, key, expected, value, ttl)| Op::ReplaceIfEquals { ns, key, expected, value, ttl }),
        15 => (ns.clone(), any::<bool>(), prefix(), prop::option::weighted(0.6, key()), 0u32..5)
            .prop_map(|(ns, bound, prefix, cursor, limit)| Op::List { ns, bound, prefix, cursor, limit }),
        5 => (ns.clone(), any::<bool>(), prefix(), 1u32..5)
            .prop_map(|(ns, bound, prefix, limit)| Op::PageAll { ns, bound, prefix, limit }),
        10 => prop_oneof![(0u64..=4).prop_map(|s| s * 1000), 0u64..4000]
            .prop_map(|millis| Op::Advance { millis }),
        1 => (ns, 200usize..400, 1u64..=3).prop_map(|(ns, count, ttl)| Op::Fill { ns, count, ttl }),
    ]
}

/// Runs one op on the backend and on the model, comparing the results.
fn apply(
    subject: &Subject,
    models: &mut [Model],
    step: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    let now = subject.now();
    let fail = |what: String| TestCaseError::fail(format!("step {step}, {op:?}: {what}"));
    match op {
        Op::Get { ns, bound, key } => {
            let got = subject.get(*ns, *bound, key);
            let want = Ok(models[*ns].get(key, now).cloned());
            prop_assert_eq!(got, want, "step {}, {:?}", step, op);
        }
        Op::Set {
            ns,
            bound,
            key,
            value,
            ttl,
            mode,
        } => {
            let got = subject.set(*ns, *bound, key, value.clone(), *ttl, *mode);
            let writes = models[*ns].would_write(key, *mode, now);
            check_write(
                subject,
                models,
                (step, op),
                (*ns, key, value, *ttl),
                writes,
                got,
            )?;
        }
        Op::ReplaceIfEquals {
            ns,
            key,
            expected,
            value,
            ttl,
        } => {
            let got =
                subject
                    .kv()
                    .replace_if_equals(NAMESPACES[*ns], key, expected, value.clone(), *ttl);
            let writes = models[*ns].get(key, now).is_some_and(|v| v == expected);
            check_write(
                subject,
                models,
                (step, op),
                (*ns, key, value, *ttl),
                writes,
                got,
            )?;
        }
        Op::Delete { ns, bound, key } => {
            let got = subject.delete(*ns, *bound, key);
            let want = Ok(models[*ns].delete(key, now));
            prop_assert_eq!(got, want, "step {}, {:?}", step, op);
        }
        Op::DeleteIfEquals { ns, key, expected } => {
            let got = subject
                .kv()
                .delete_if_equals(NAMESPACES[*ns], key, expected);
            let want = Ok(models[*ns].delete_if_equals(key, expected, now));
            prop_assert_eq!(got, want, "step {}, {:?}", step, op);
            check_namespace(subject, *ns, &models[*ns])?;
        }
        Op::List {
            ns,
            bound,
            prefix,
            cursor,
            limit,
        } => {
            let answer = subject.list(*ns, *bound, prefix, cursor.as_deref(), *limit);
            if *limit == 0 {
                return check_zero_limit(answer).map_err(|e| fail(e.to_string()));
            }
            let page = answer.map_err(|e| fail(e.to_string()))?;
            let exact = subject.lists_exactly(NAMESPACES[*ns]);
            check_page(
                &models[*ns],
                now,
                prefix,
                cursor.as_deref(),
                *limit,
                &page,
                exact,
            )
            .map_err(|e| fail(e.to_string()))?;
        }
        Op::PageAll {
            ns,
            bound,
            prefix,
            limit,
        } => {
            page_to_the_end(subject, *ns, *bound, &models[*ns], prefix, *limit)
                .map_err(|e| fail(e.to_string()))?;
        }
        Op::Fill { ns, count, ttl } => {
            for i in 0..*count {
                let set = Op::Set {
                    ns: *ns,
                    bound: i % 2 == 0,
                    key: format!("f:{i:03}"),
                    value: vec![],
                    ttl: Some(*ttl),
                    mode: WriteMode::Always,
                };
                apply(subject, models, step, &set)?;
            }
        }
        Op::Advance { millis } => subject.clock.advance(Duration::from_millis(*millis)),
    }
    Ok(())
}

/// Checks what a write (`Set`, or the harness's `ReplaceIfEquals`) that
/// the model says `writes` or not answered (`got`), and keeps the model in
/// step: a ttl of 0 is refused and writes nothing, a write past the quota
/// is `too-large` and writes nothing, any other write the model makes is
/// made.
fn check_write(
    subject: &Subject,
    models: &mut [Model],
    (step, op): (usize, &Op),
    (ns, key, value, ttl): (usize, &str, &[u8], Option<u64>),
    writes: bool,
    got: Result<bool, KvError>,
) -> Result<(), TestCaseError> {
    let now = subject.now();
    let fail = |what: String| TestCaseError::fail(format!("step {step}, {op:?}: {what}"));
    // The key still holds what it held before the write (`read` now).
    let unchanged = |before: Option<Vec<u8>>, read: Result<Option<Vec<u8>>, KvError>, what| {
        let now_value = read.map_err(|e| fail(e.to_string()))?;
        prop_assert_eq!(now_value, before, "step {}, {:?}: {}", step, op, what);
        Ok(())
    };
    let model = &mut models[ns];
    let before = model.get(key, now).cloned();
    if ttl == Some(0) {
        prop_assert!(
            matches!(got, Err(KvError::Backend(_))),
            "step {}, {:?}: a ttl of 0 gave {:?}",
            step,
            op,
            got
        );
        return unchanged(before, subject.get(ns, false, key), "the ttl-0 write wrote");
    }
    if !writes {
        prop_assert_eq!(got, Ok(false), "step {}, {:?}", step, op);
        return Ok(());
    }
    let cost = (subject.cost())(key, value.len(), ttl.is_some());
    let after = model.live_bytes_without(key, now, subject.cost()) + cost;
    let quota = subject.quota;
    match got {
        Ok(true) => {
            // Held bytes include every live entry, so a write the
            // backend accepts leaves the live ones within the quota.
            prop_assert!(
                after <= quota,
                "step {}, {:?}: written, but live bytes are now {} > quota {}",
                step,
                op,
                after,
                quota
            );
            model.put(key, value.to_vec(), ttl, now);
        }
        Err(KvError::TooLarge(msg)) => {
            prop_assert!(
                after > quota,
                "step {}, {:?}: refused ({}) though the live entries after it would \
                 hold {} bytes <= quota {}",
                step,
                op,
                msg,
                after,
                quota
            );
            unchanged(
                before,
                subject.get(ns, true, key),
                "the refused write wrote",
            )?;
            check_namespace(subject, ns, model)?;
        }
        other => {
            return Err(fail(format!(
                "the model writes; the backend gave {other:?}"
            )));
        }
    }
    Ok(())
}

/// Runs `ops` on a memory backend with `quota` and stripes laid out by
/// `seed`, and on the model, comparing every result.
fn run_ops(quota: Option<usize>, seed: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    run_ops_on(
        &Subject::new(quota, &NAMESPACES, seed),
        quota.is_some(),
        ops,
    )
}

/// Runs `ops` on `subject` (fresh, on [`NAMESPACES`]) and on the model,
/// comparing every result; then, when its quota was set for the run
/// (`tight_quota`), empties it and checks the quota's books.
fn run_ops_on(subject: &Subject, tight_quota: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut models = vec![Model::default(); NAMESPACES.len()];
    for (step, op) in ops.iter().enumerate() {
        apply(subject, &mut models, step, op)?;
        let stored = subject.stored_entries(NAMESPACES[0]) + subject.stored_entries(NAMESPACES[1]);
        let live = models
            .iter()
            .map(|m| m.live_count(subject.now()))
            .sum::<usize>();
        prop_assert!(
            stored >= live,
            "step {}: {} stored < {} live",
            step,
            stored,
            live
        );
    }
    for (ns, model) in models.iter().enumerate() {
        check_namespace(subject, ns, model)?;
        let live_bytes = model.live_bytes(subject.now(), subject.cost());
        prop_assert!(
            live_bytes <= subject.quota,
            "{} live bytes > quota {}",
            live_bytes,
            subject.quota
        );
    }
    // Empty both namespaces (delete what is live, let every ttl run out): the
    // quota's books must come back to nothing, in each namespace on its own.
    if tight_quota {
        let now = subject.now();
        for (ns, model) in models.iter().enumerate() {
            for key in model.live_keys("", now) {
                prop_assert_eq!(subject.delete(ns, false, &key), Ok(true));
            }
        }
        subject.clock.advance(Duration::from_secs(6));
        for ns in 0..NAMESPACES.len() {
            check_namespace(subject, ns, &Model::default())?;
        }
        // Fill the first to the quota, then the second: quotas are separate.
        let first = subject.set(
            0,
            false,
            "full",
            vec![0; subject.quota - (subject.cost())("full", 0, false)],
            None,
            WriteMode::Always,
        );
        prop_assert_eq!(first, Ok(true));
        check_books_empty(subject, 1)?;
        prop_assert_eq!(subject.delete(0, true, "full"), Ok(true));
        check_books_empty(subject, 0)?;
    }
    Ok(())
}

/// `cases` random cases, with no regressions file in the working tree: a
/// failure prints its minimal op sequence instead.
fn model_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A quota tight enough to refuse writes, or (one run in four) the default.
fn quota() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 3 => (600usize..4000).prop_map(Some)]
}

proptest! {
    #![proptest_config(model_config(128))]

    /// Random op sequences (up to 200, about 100 on average; short ones
    /// too, so a failure shrinks to a few ops) over two namespaces, with a
    /// quota tight enough to refuse writes (or the default one), match the
    /// model op for op.
    #[test]
    fn memory_backend_matches_the_model(
        quota in quota(),
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..=200),
    ) {
        run_ops(quota, seed, &ops)?;
    }
}

/// `ops` as a Redis run takes them: no clock steps (Redis expires keys on
/// its own clock) and every ttl in hours rather than seconds, so nothing
/// expires during the run; a ttl of 0 stays 0 (refused).
fn without_expiry(ops: Vec<Op>) -> Vec<Op> {
    let lasting = |ttl: Option<u64>| ttl.map(|t| t * 3600);
    ops.into_iter()
        .filter_map(|op| match op {
            Op::Advance { .. } => None,
            Op::Set {
                ns,
                bound,
                key,
                value,
                ttl,
                mode,
            } => Some(Op::Set {
                ns,
                bound,
                key,
                value,
                ttl: lasting(ttl),
                mode,
            }),
            Op::ReplaceIfEquals {
                ns,
                key,
                expected,
                value,
                ttl,
            } => Some(Op::ReplaceIfEquals {
                ns,
                key,
                expected,
                value,
                ttl: lasting(ttl),
            }),
            Op::Fill { ns, count, ttl } => Some(Op::Fill {
                ns,
                count,
                ttl: ttl * 3600,
            }),
            other => Some(other),
        })
        .collect()
}

proptest! {
    #![proptest_config(model_config(64))]

    /// The same op sequences, without expiry ([`without_expiry`]), on the
    /// Redis backend: modes, compare-and-write, compare-and-delete, paging
    /// with prefixes and cursors, bound and by-name calls, and the quota's
    /// books (its Lua scripts) match the model op for op.
    #[test]
    fn redis_backend_matches_the_model(
        quota in quota(),
        ops in prop::collection::vec(op(), 1..=200).prop_map(without_expiry),
    ) {
        run_ops_on(&Subject::on_redis(quota, &NAMESPACES), quota.is_some(), &ops)?;
    }
}

// ---------------------------------------------------------------------------
// Deterministic tests
// ---------------------------------------------------------------------------

/// Edge cases of the op mix, pinned as fixed sequences: the empty key,
/// cursors of "" and outside the prefix, expiry at a whole second, a ttl
/// of 0, and the quota making room by reaping.
#[test]
fn model_edge_cases() {
    use Op::*;
    let set = |key: &str, value: &[u8], ttl, mode| Set {
        ns: 0,
        bound: false,
        key: key.to_string(),
        value: value.to_vec(),
        ttl,
        mode,
    };
    let page = |prefix: &str, limit| PageAll {
        ns: 0,
        bound: true,
        prefix: prefix.to_string(),
        limit,
    };
    let list = |prefix: &str, cursor: Option<&str>, limit| List {
        ns: 0,
        bound: false,
        prefix: prefix.to_string(),
        cursor: cursor.map(String::from),
        limit,
    };
    // The empty key, a cursor of "", a cursor before and after the prefix.
    let ops = vec![
        set("", b"e", None, WriteMode::Always),
        set("a", b"1", Some(1), WriteMode::Always),
        set("ab", b"2", None, WriteMode::IfAbsent),
        set("b", b"3", None, WriteMode::IfPresent),
        list("", None, 0),
        list("", Some(""), 1),
        list("a", Some(""), 5),
        list("a", Some("b"), 5),
        list("ab", Some("a"), 5),
        page("", 1),
        Advance { millis: 999 },
        page("a", 1),
        Advance { millis: 1 },
        page("a", 1),
        set("a", b"again", None, WriteMode::IfAbsent),
        set("a", b"no", Some(0), WriteMode::Always),
        page("", 2),
        Delete {
            ns: 0,
            bound: false,
            key: String::new(),
        },
        page("", 1),
    ];
    run_ops(None, 1, &ops).unwrap();
    // Under a quota: an expired entry's bytes make room once reaped, and an
    // overwrite counts only the difference.
    let cost = entry_cost("k1", 10, true);
    let ops = vec![
        set("k1", &[0; 10], Some(1), WriteMode::Always),
        set("k2", &[0; 10], Some(1), WriteMode::Always),
        set("k3", &[0; 10], Some(1), WriteMode::Always),
        Advance { millis: 1000 },
        set("k4", &[0; 10], Some(1), WriteMode::Always),
        set("k5", &[0; 10], Some(1), WriteMode::Always),
        set("k5", &[1; 10], Some(1), WriteMode::IfPresent),
        set("k6", &[0; 10], Some(1), WriteMode::Always),
        page("k", 1),
    ];
    run_ops(Some(2 * cost), 1, &ops).unwrap();
}

/// More entries than one listing examines, most of them expired and not
/// yet reaped, with a run longer than the scan budget in which nothing is
/// live: pages may be short or empty, but paging visits exactly the live
/// keys, and keeps doing so as writes reap the expired ones. Conditional
/// writes and deletes of expired keys, in stripes holding many more expired
/// entries than one write reaps, see them as absent.
#[test]
fn paging_past_the_scan_budget_matches_the_model() {
    let subject = Subject::new(None, &NAMESPACES, 2);
    let mut models = vec![Model::default(); NAMESPACES.len()];
    let n = 2 * SCAN_BUDGET + 500;
    // Nothing in here outlives the first second: a run past the budget.
    let gap = 1000..1000 + SCAN_BUDGET + 900;
    let set = |key: String, value: Vec<u8>, ttl, mode, bound| Op::Set {
        ns: 0,
        bound,
        key,
        value,
        ttl,
        mode,
    };
    for i in 0..n {
        // Mostly gone after a second; some live for three, a few for ever.
        let ttl = match i {
            _ if gap.contains(&i) => Some(1),
            _ if i % 613 == 0 => None,
            _ if i % 401 == 0 => Some(3),
            _ => Some(1),
        };
        let op = set(
            format!("e:{i:05}"),
            vec![i as u8],
            ttl,
            WriteMode::Always,
            i % 2 == 0,
        );
        apply(&subject, &mut models, i, &op).unwrap();
    }
    for key in ["a", "e:", "e:live", "f:after"] {
        let op = set(key.to_string(), vec![], None, WriteMode::Always, false);
        apply(&subject, &mut models, n, &op).unwrap();
    }
    for step in 0..4 {
        subject.clock.advance(Duration::from_secs(1));
        if step == 0 {
            // Nothing reaped yet: a listing of "" runs out of budget twice.
            assert!(subject.stored_entries(NAMESPACES[0]) > 2 * SCAN_BUDGET);
        }
        for prefix in ["", "e:", "e:0", "e:05", "e:live", "f"] {
            for limit in [1, 7, 1000] {
                for bound in [false, true] {
                    page_to_the_end(&subject, 0, bound, &models[0], prefix, limit).unwrap();
                }
            }
        }
        // Single pages from cursors spread over the range.
        let now = subject.now();
        for c in (0..n).step_by(997) {
            let cursor = format!("e:{c:05}");
            let page = subject.list(0, false, "e:", Some(&cursor), 3).unwrap();
            check_page(&models[0], now, "e:", Some(&cursor), 3, &page, false).unwrap();
        }
        // Expired keys are absent to conditional writes and deletes, even
        // where one write's reaping does not reach them. (A key rewritten
        // here lives a second, so the run stays expired the next step.)
        for c in (step * 131..n).step_by(577) {
            let key = format!("e:{c:05}");
            let bound = c % 2 == 1;
            let ops = [
                Op::Get {
                    ns: 0,
                    bound,
                    key: key.clone(),
                },
                set(
                    key.clone(),
                    b"p".to_vec(),
                    Some(1),
                    WriteMode::IfPresent,
                    bound,
                ),
                Op::Delete {
                    ns: 0,
                    bound: !bound,
                    key: key.clone(),
                },
                set(
                    key.clone(),
                    b"a".to_vec(),
                    Some(1),
                    WriteMode::IfAbsent,
                    bound,
                ),
                set(
                    key.clone(),
                    b"b".to_vec(),
                    Some(1),
                    WriteMode::IfAbsent,
                    !bound,
                ),
                set(
                    key.clone(),
                    b"c".to_vec(),
                    Some(1),
                    WriteMode::IfPresent,
                    bound,
                ),
                Op::Get {
                    ns: 0,
                    bound: !bound,
                    key,
                },
            ];
            for op in &ops {
                apply(&subject, &mut models, c, op).unwrap();
            }
        }
        // Writes reap some of what expired (16 a write, and in turn elsewhere).
        for i in 0..50 {
            let op = set(
                format!("w:{step}:{i}"),
                vec![],
                Some(10),
                WriteMode::Always,
                true,
            );
            apply(&subject, &mut models, i, &op).unwrap();
        }
        check_namespace(&subject, 0, &models[0]).unwrap();
    }
}

/// One thread's generator: proptest's ChaCha, seeded, so every run makes
/// the same ops.
struct ThreadOps(proptest::test_runner::TestRng);

impl ThreadOps {
    fn seeded(seed: u64) -> Self {
        let mut bytes = [0; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let algorithm = proptest::test_runner::RngAlgorithm::ChaCha;
        Self(proptest::test_runner::TestRng::from_seed(algorithm, &bytes))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
}

const THREADS: usize = 4;
const ROUNDS: usize = 8;
const OPS_PER_ROUND: usize = 400;
const KEYS_PER_THREAD: u64 = 40;

/// One thread's share of the concurrent test: random ops on its own keys
/// (`t{t}:...`), each checked against its own model; between rounds every
/// thread waits while thread 0 moves the clock on. Under a quota the other
/// threads' entries decide whether a write fits, so a refusal is accepted,
/// but it must change nothing.
fn thread_ops(
    subject: &Subject,
    t: usize,
    barrier: &Barrier,
    quota: bool,
) -> Result<(Model, usize), TestCaseError> {
    let mut rng = ThreadOps::seeded(0x5eed_0000 + t as u64);
    let mut model = Model::default();
    let mut refused = 0usize;
    let mut failure = None;
    for _ in 0..ROUNDS {
        // A thread that failed still keeps to the barriers, so the others
        // finish and the failure is reported rather than hung on.
        if failure.is_none()
            && let Err(e) = thread_round(subject, t, quota, &mut rng, &mut model, &mut refused)
        {
            failure = Some(e);
        }
        barrier.wait();
        if t == 0 {
            subject.clock.advance(Duration::from_secs(1));
        }
        barrier.wait();
    }
    failure.map_or(Ok((model, refused)), Err)
}

/// One round of [`thread_ops`]: [`OPS_PER_ROUND`] ops on the clock as it is.
fn thread_round(
    subject: &Subject,
    t: usize,
    quota: bool,
    rng: &mut ThreadOps,
    model: &mut Model,
    refused: &mut usize,
) -> Result<(), TestCaseError> {
    let own = format!("t{t}:");
    let key_of = |i: u64| format!("t{t}:{}{i:02}", if i.is_multiple_of(3) { "x" } else { "k" });
    for _ in 0..OPS_PER_ROUND {
        let now = subject.now();
        let key = key_of(1 + rng.below(KEYS_PER_THREAD));
        let bound = rng.below(2) == 0;
        match rng.below(10) {
            0..=3 => {
                let value = vec![t as u8; rng.below(30) as usize];
                let ttl = match rng.below(4) {
                    0 | 1 => None,
                    _ => Some(1 + rng.below(3)),
                };
                let mode = [
                    WriteMode::Always,
                    WriteMode::Always,
                    WriteMode::IfAbsent,
                    WriteMode::IfPresent,
                ][rng.below(4) as usize];
                let got = subject.set(0, bound, &key, value.clone(), ttl, mode);
                let writes = model.would_write(&key, mode, now);
                match got {
                    Ok(true) if writes => model.put(&key, value, ttl, now),
                    Ok(false) if !writes => {}
                    Err(KvError::TooLarge(_)) if writes && quota => {
                        *refused += 1;
                        let got = subject
                            .get(0, !bound, &key)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert_eq!(
                            got.as_ref(),
                            model.get(&key, now),
                            "t{} refused {} changed it",
                            t,
                            key
                        );
                    }
                    other => prop_assert!(
                        false,
                        "t{} set {} {:?}: model writes: {}, got {:?}",
                        t,
                        key,
                        mode,
                        writes,
                        other
                    ),
                }
            }
            4 | 5 => {
                let got = subject.get(0, bound, &key);
                prop_assert_eq!(got, Ok(model.get(&key, now).cloned()), "t{} get {}", t, key);
            }
            6 => {
                let got = subject.delete(0, bound, &key);
                prop_assert_eq!(got, Ok(model.delete(&key, now)), "t{} delete {}", t, key);
            }
            7 | 8 => {
                let prefix = [
                    own.clone(),
                    format!("{own}k"),
                    format!("{own}x"),
                    format!("{own}k1"),
                ][rng.below(4) as usize]
                    .clone();
                let cursor = (rng.below(3) > 0).then(|| key_of(rng.below(KEYS_PER_THREAD + 2)));
                let limit = rng.below(6) as u32;
                let answer = subject.list(0, bound, &prefix, cursor.as_deref(), limit);
                if limit == 0 {
                    check_zero_limit(answer)?;
                    continue;
                }
                let page = answer.map_err(|e| TestCaseError::fail(e.to_string()))?;
                // Only this thread's keys are under its prefixes, and
                // there are too few entries to exhaust the scan budget.
                check_page(model, now, &prefix, cursor.as_deref(), limit, &page, true)?;
            }
            _ => {
                let limit = 1 + rng.below(4) as u32;
                page_to_the_end(subject, 0, bound, model, &own, limit)?;
            }
        }
    }
    Ok(())
}

fn concurrent_threads(quota: Option<usize>) {
    let subject = Subject::new(quota, &NAMESPACES[..1], 3);
    let barrier = Barrier::new(THREADS);
    let results: Vec<(Model, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (subject, barrier) = (&subject, &barrier);
                s.spawn(move || thread_ops(subject, t, barrier, quota.is_some()))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("no thread panicked").unwrap())
            .collect()
    });
    let refused: usize = results.iter().map(|(_, r)| r).sum();
    assert_eq!(refused > 0, quota.is_some(), "{refused} writes refused");
    // The namespace is exactly the union of the threads' models.
    let mut union = Model::default();
    for (m, _) in &results {
        union.entries.extend(m.entries.clone());
    }
    let now = subject.now();
    for prefix in ["", "t", "t1:", "t2:k"] {
        for limit in [1, 7, 1000] {
            page_to_the_end(&subject, 0, false, &union, prefix, limit).unwrap();
        }
    }
    check_namespace(&subject, 0, &union).unwrap();
    let stored = subject.stored_entries(NAMESPACES[0]);
    assert!(stored >= union.live_count(now), "{stored} stored");
    assert!(union.live_count(now) > 0, "something is left to check");
    if quota.is_some() {
        assert!(union.live_bytes(now, subject.cost()) <= subject.quota);
        // Delete everything, let the ttls run out: the books that many
        // threads kept must come back to nothing.
        for key in union.live_keys("", now) {
            assert_eq!(subject.delete(0, true, &key), Ok(true));
        }
        subject.clock.advance(Duration::from_secs(10));
        check_books_empty(&subject, 0).unwrap();
    }
}

/// Four threads on disjoint keys of one namespace, with no quota in the way:
/// every result matches the thread's own model, and the namespace ends up
/// as the union of the models.
#[test]
fn concurrent_threads_on_disjoint_keys_match_their_models() {
    concurrent_threads(None);
}

/// The same under a quota shared by the threads' keys, so writes are
/// refused: a refusal changes nothing, the live entries stay within the
/// quota, and the books are exact once the threads are done.
#[test]
fn concurrent_threads_under_a_shared_quota_refuse_cleanly() {
    concurrent_threads(Some(60 * entry_cost("t0:k00", 15, true)));
}
