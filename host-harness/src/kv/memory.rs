//! The embedded in-memory backend: ordered maps per namespace, striped by
//! key so that writes of different keys do not wait for each other, ttls on
//! the harness clock to the millisecond (a key written at 1000.9 s with a
//! ttl of 1 s lives until 1001.9, as on Redis), expired entries reaped as
//! writes go by, in the namespace written and now and then in another.

use super::{KeyPage, KvBackend, KvError, KvNamespace, WriteIf, WriteMode};
use crate::clock::Clock;
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard};
use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;
use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Expired entries reaped per write (in the stripe written), so a write
/// never stalls on a backlog.
const REAP_PER_WRITE: usize = 16;

/// One write in this many (drawn at random: no counter shared between
/// cores, and no pattern of writes across namespaces that always lands the
/// draw on the same one) also reaps a stripe drawn at random, when no one
/// holds it, so expired entries in stripes nobody writes (a few hot
/// sessions updated, the rest left to expire) are reaped too, not kept
/// until the quota is reached; and one other in this many a stripe of a
/// namespace drawn at random, so are those of namespaces nobody writes.
const REAP_ELSEWHERE_EVERY: u32 = 16;

/// Entries one listing examines at most (live or expired), so one call never
/// holds the namespace's locks over a long run of expired entries not yet
/// reaped. A page may then be short (the contract allows it); its cursor is
/// the last entry examined, so the next call goes on from there.
const LIST_SCAN_BUDGET: usize = 4096;

/// Stripes a namespace's keys are spread over (by a hash of the key, seeded
/// per namespace). Each stripe has its own lock: two threads writing their
/// own sessions take different locks, except when their keys share a stripe
/// (one chance in this many).
const STRIPES: usize = 16;

/// Bytes one namespace may hold by default (see [`entry_cost`]): one plugin
/// cannot fill the host's memory through its kv.
pub const DEFAULT_NAMESPACE_QUOTA: usize = 256 * 1024 * 1024;

/// What an entry costs against the quota: its key and value, the map's
/// per-entry overhead, and for a key with a ttl its copy in the expiry index.
pub fn entry_cost(key: &str, value_len: usize, has_ttl: bool) -> usize {
    const ENTRY_OVERHEAD: usize = 96;
    let index = if has_ttl {
        key.len() + ENTRY_OVERHEAD / 2
    } else {
        0
    };
    key.len() + value_len + ENTRY_OVERHEAD + index
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    /// Unix millisecond at which the key disappears.
    expires_at: Option<u64>,
}

impl Entry {
    fn is_live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }

    fn cost(&self, key: &str) -> usize {
        entry_cost(key, self.value.len(), self.expires_at.is_some())
    }
}

/// The keys of one stripe of a namespace, with their expiry index.
#[derive(Debug, Default)]
struct Stripe {
    entries: BTreeMap<String, Entry>,
    /// (expires_at, key) for every entry with a ttl, soonest first.
    expiry: BTreeSet<(u64, String)>,
}

impl Stripe {
    fn live(&self, key: &str, now: u64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.is_live(now))
    }

    /// Removes `key`, live or expired; returns the bytes it cost.
    fn remove(&mut self, key: &str) -> usize {
        let Some(entry) = self.entries.remove(key) else {
            return 0;
        };
        if let Some(t) = entry.expires_at {
            self.expiry.remove(&(t, key.to_string()));
        }
        entry.cost(key)
    }

    /// Writes `key`, overwriting in place: the key is not copied again, and
    /// the expiry index changes only when the expiry does.
    fn put(&mut self, key: &str, value: Vec<u8>, expires_at: Option<u64>) {
        match self.entries.get_mut(key) {
            Some(entry) => {
                if entry.expires_at != expires_at {
                    if let Some(t) = entry.expires_at {
                        self.expiry.remove(&(t, key.to_string()));
                    }
                    if let Some(t) = expires_at {
                        self.expiry.insert((t, key.to_string()));
                    }
                    entry.expires_at = expires_at;
                }
                entry.value = value;
            }
            None => {
                if let Some(t) = expires_at {
                    self.expiry.insert((t, key.to_string()));
                }
                self.entries
                    .insert(key.to_string(), Entry { value, expires_at });
            }
        }
    }

    /// Whether an entry is due to be reaped.
    fn has_expired(&self, now: u64) -> bool {
        self.expiry.first().is_some_and(|(t, _)| *t <= now)
    }

    /// Removes up to `most` expired entries, soonest first; returns the
    /// bytes they cost.
    fn reap(&mut self, now: u64, most: usize) -> usize {
        let mut freed = 0;
        for _ in 0..most {
            match self.expiry.first() {
                Some((t, _)) if *t <= now => {
                    if let Some((_, key)) = self.expiry.pop_first()
                        && let Some(e) = self.entries.remove(&key)
                    {
                        freed += e.cost(&key);
                    }
                }
                _ => break,
            }
        }
        freed
    }
}

/// One namespace: its keys spread over [`STRIPES`] stripes, each behind a
/// lock sharded by thread (crossbeam's `ShardedLock`: a read locks only its
/// thread's shard, so concurrent loads neither wait for each other nor
/// bounce one lock's cache line between cores; a write locks every shard of
/// its stripe). The bytes held are counted for the whole namespace.
struct Namespace {
    /// Picks a key's stripe.
    hasher: SeedableRandomState,
    stripes: Box<[ShardedLock<Stripe>]>,
    /// Bytes of keys and values held in all stripes, expired entries
    /// included until reaped. Changed only by a writer holding the lock of
    /// the stripe whose entries it adds or removes.
    bytes: AtomicUsize,
}

impl Namespace {
    fn new(hasher: SeedableRandomState) -> Self {
        Self {
            hasher,
            stripes: (0..STRIPES).map(|_| ShardedLock::default()).collect(),
            bytes: AtomicUsize::new(0),
        }
    }

    fn stripe(&self, key: &str) -> &ShardedLock<Stripe> {
        let hash = self.hasher.hash_one(key);
        &self.stripes[(hash % STRIPES as u64) as usize]
    }

    fn get(&self, key: &str, now: u64) -> Result<Option<Vec<u8>>, KvError> {
        let stripe = self.stripe(key).read().map_err(poisoned)?;
        Ok(stripe.live(key, now).map(|e| e.value.clone()))
    }

    /// Writes `key` in its stripe, reaping there as it goes (the caller
    /// now and then reaps another stripe: [`Namespace::reap_a_stripe`]).
    fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        condition: WriteIf<'_>,
        now: u64,
        quota: usize,
    ) -> Result<bool, KvError> {
        let cost = entry_cost(key, value.len(), ttl_seconds.is_some());
        let expires_at = ttl_seconds.map(|t| now.saturating_add(t.saturating_mul(1000)));
        let mut reaped_all = false;
        loop {
            let mut stripe = self.stripe(key).write().map_err(poisoned)?;
            let reaped = stripe.reap(now, REAP_PER_WRITE);
            self.free(reaped);
            let live = stripe.live(key, now);
            let write = match condition {
                WriteIf::Mode(WriteMode::Always) => true,
                WriteIf::Mode(WriteMode::IfAbsent) => live.is_none(),
                WriteIf::Mode(WriteMode::IfPresent) => live.is_some(),
                WriteIf::Holds(expected) => live.is_some_and(|e| e.value == expected),
            };
            if !write {
                return Ok(false);
            }
            // What the namespace would hold after the write (the entry it
            // replaces, live or not yet reaped, goes). The replaced entry's
            // cost is in `bytes`, and only this stripe's writer removes it.
            let replaced = stripe.entries.get(key).map_or(0, |e| e.cost(key));
            if cost <= replaced {
                // No growth: it fits, as the namespace never holds more
                // than its quota (and the count is left alone when the size
                // is the same, as an update's usually is: no cache line
                // taken from the other cores).
                stripe.put(key, value, expires_at);
                self.free(replaced - cost);
                return Ok(true);
            }
            let reserved = self
                .bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    debug_assert!(held >= replaced, "the replaced entry is counted");
                    let after = held.saturating_sub(replaced).saturating_add(cost);
                    (after <= quota).then_some(after)
                });
            match reserved {
                Ok(_) => {
                    stripe.put(key, value, expires_at);
                    return Ok(true);
                }
                // Expired entries still count until reaped: reap them all,
                // in every stripe (which may reap the entry this write
                // replaces), and try once more.
                Err(_) if !reaped_all => {
                    drop(stripe);
                    self.reap_all(now)?;
                    reaped_all = true;
                }
                Err(held) => {
                    return Err(KvError::TooLarge(format!(
                        "the namespace holds {held} bytes; writing {cost} more would pass its quota of {quota}",
                    )));
                }
            }
        }
    }

    /// Deletes `key` (live or expired) and says whether it was live; with
    /// `expected`, only a live key holding exactly that goes (an expired
    /// one is reaped all the same).
    fn delete(&self, key: &str, now: u64, expected: Option<&[u8]>) -> Result<bool, KvError> {
        let mut stripe = self.stripe(key).write().map_err(poisoned)?;
        let was_live = match (stripe.live(key, now), expected) {
            (Some(entry), Some(wanted)) if entry.value != wanted => return Ok(false),
            (live, _) => live.is_some(),
        };
        let removed = stripe.remove(key);
        self.free(removed);
        Ok(was_live)
    }

    /// Counts `bytes` as no longer held. Called with the lock of the stripe
    /// they left still held, so a writer that has gone through every stripe
    /// sees all they freed.
    fn free(&self, bytes: usize) {
        if bytes > 0 {
            let freed = self
                .bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    debug_assert!(held >= bytes, "only counted bytes are freed");
                    // Were the books ever short, a wrapped count would
                    // refuse every write from then on.
                    Some(held.saturating_sub(bytes))
                });
            debug_assert!(freed.is_ok());
        }
    }

    /// Removes every expired entry, one stripe at a time; a stripe with
    /// nothing due is only read-locked (a namespace at its quota refuses
    /// writes without write-locking every stripe each time).
    fn reap_all(&self, now: u64) -> Result<(), KvError> {
        for stripe in &self.stripes {
            if !stripe.read().map_err(poisoned)?.has_expired(now) {
                continue;
            }
            let mut stripe = stripe.write().map_err(poisoned)?;
            let freed = stripe.reap(now, usize::MAX);
            self.free(freed);
        }
        Ok(())
    }

    /// Reaps up to [`REAP_PER_WRITE`] entries in a stripe drawn at random
    /// (the thread's own generator), unless someone holds it.
    fn reap_a_stripe(&self, now: u64) {
        let stripe = &self.stripes[fastrand::usize(..STRIPES)];
        // Looked at under the thread's own shard first: the write lock
        // takes every shard's cache line from the cores reading them.
        let due = stripe.try_read().is_ok_and(|s| s.has_expired(now));
        if due && let Ok(mut stripe) = stripe.try_write() {
            let freed = stripe.reap(now, REAP_PER_WRITE);
            self.free(freed);
        }
    }

    fn list_keys(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
        now: u64,
    ) -> Result<KeyPage, KvError> {
        self.list_keys_within(prefix, cursor, limit, now, LIST_SCAN_BUDGET)
    }

    /// [`Namespace::list_keys`], examining at most `budget` entries. Every
    /// stripe is read at once and their keys merged in byte order, so a
    /// page is what one ordered map would give.
    fn list_keys_within(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
        now: u64,
        budget: usize,
    ) -> Result<KeyPage, KvError> {
        let stripes = self.read_all()?;
        let start = match cursor {
            Some(c) if c >= prefix => Bound::Excluded(c),
            _ => Bound::Included(prefix),
        };
        let mut runs: Vec<_> = stripes
            .iter()
            .map(|s| {
                s.entries
                    .range::<str, _>((start, Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .peekable()
            })
            .collect();
        // The stripes' entries in byte order: a min-heap of each run's next
        // key, the least taken and replaced by its run's next (a few
        // compares per entry, not one per stripe).
        let mut heads: BinaryHeap<Reverse<(&str, usize)>> = runs
            .iter_mut()
            .enumerate()
            .filter_map(|(i, run)| run.peek().map(|&(k, _)| Reverse((k.as_str(), i))))
            .collect();
        let entries = std::iter::from_fn(|| {
            let mut least = heads.peek_mut()?;
            let run = &mut runs[least.0.1];
            let entry = run.next();
            match run.peek() {
                Some(&(k, _)) => least.0.0 = k.as_str(),
                None => drop(PeekMut::pop(least)),
            }
            entry
        });
        // A limit of 0 was refused (`BoundNamespace::list_keys`): a page
        // holds at least one key, so paging always makes progress.
        debug_assert!(limit > 0);
        let limit = limit as usize;
        let mut keys: Vec<String> = Vec::new();
        let mut examined: Option<&str> = None;
        let mut budget_left = budget.max(1);
        for (key, entry) in entries {
            if budget_left == 0 {
                // Something under the prefix is left unexamined: go on
                // after the last entry examined.
                return Ok(KeyPage {
                    cursor: examined.map(str::to_string),
                    keys,
                });
            }
            if entry.is_live(now) {
                if keys.len() == limit {
                    // A live key beyond the page: there is more.
                    return Ok(KeyPage {
                        cursor: keys.last().cloned(),
                        keys,
                    });
                }
                keys.push(key.clone());
            }
            budget_left -= 1;
            examined = Some(key);
        }
        Ok(KeyPage { keys, cursor: None })
    }

    /// Every stripe, read-locked in order (writers lock one stripe at a
    /// time, so this cannot deadlock with them).
    fn read_all(&self) -> Result<Vec<ShardedLockReadGuard<'_, Stripe>>, KvError> {
        self.stripes
            .iter()
            .map(|s| s.read().map_err(poisoned))
            .collect()
    }

    /// Entries physically held, expired ones included until reaped.
    fn stored_entries(&self) -> Result<usize, KvError> {
        Ok(self.read_all()?.iter().map(|s| s.entries.len()).sum())
    }
}

/// In-memory [`KvBackend`]. Cheap to clone handles are not needed: share it
/// behind an `Arc`.
pub struct MemoryBackend {
    clock: Arc<dyn Clock>,
    quota: usize,
    /// Seeds the stripes' hash when set (tests); random otherwise.
    stripe_seed: Option<u64>,
    registry: Arc<RwLock<Registry>>,
}

/// The namespaces of a [`MemoryBackend`], by name and in a list (to draw
/// one at random). A namespace, once made, stays for the backend's life.
#[derive(Default)]
struct Registry {
    by_name: HashMap<String, Arc<Namespace>>,
    all: Vec<Arc<Namespace>>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// An empty backend whose ttls run on `clock`, each namespace holding at
    /// most [`DEFAULT_NAMESPACE_QUOTA`] bytes.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            quota: DEFAULT_NAMESPACE_QUOTA,
            stripe_seed: None,
            registry: Arc::default(),
        }
    }

    fn namespace(&self, name: &str) -> Result<Arc<Namespace>, KvError> {
        if let Some(ns) = self.registry.read().map_err(poisoned)?.by_name.get(name) {
            return Ok(ns.clone());
        }
        let mut registry = self.registry.write().map_err(poisoned)?;
        if let Some(ns) = registry.by_name.get(name) {
            return Ok(ns.clone());
        }
        let hasher = match self.stripe_seed {
            Some(seed) => SeedableRandomState::with_seed(seed, SharedSeed::global_fixed()),
            None => SeedableRandomState::random(),
        };
        let ns = Arc::new(Namespace::new(hasher));
        registry.by_name.insert(name.to_string(), ns.clone());
        registry.all.push(ns.clone());
        Ok(ns)
    }

    /// Spreads keys over the stripes by a hash with this seed instead of a
    /// random one, the same in every namespace: for tests that must replay a
    /// failure with the same layout. (A random seed keeps anyone from
    /// choosing keys that crowd one stripe.)
    #[doc(hidden)]
    pub fn with_stripe_seed(mut self, seed: u64) -> Self {
        self.stripe_seed = Some(seed);
        self
    }

    /// Sets how many bytes (keys plus values) each namespace may hold; a
    /// write past it is a `too-large` kv error.
    pub fn with_namespace_quota(mut self, bytes: usize) -> Self {
        self.quota = bytes;
        self
    }

    /// `name` as a bound namespace; the by-name methods go through it.
    fn bound(&self, name: &str) -> Result<BoundNamespace, KvError> {
        // The harness's own namespaces (migration markers) are written by the
        // host, one small entry per session moved, so plugins cannot grow
        // them: the quota, which is there to hold plugins back, would only
        // make migrations fail once many sessions had moved.
        let quota = if name.starts_with(super::RESERVED_NAMESPACE_PREFIX) {
            usize::MAX
        } else {
            self.quota
        };
        Ok(BoundNamespace {
            clock: self.clock.clone(),
            quota,
            ns: self.namespace(name)?,
            registry: self.registry.clone(),
        })
    }

    /// Number of entries physically held in `namespace`, expired ones included
    /// until reaped (for tests and reports).
    pub fn stored_entries(&self, namespace: &str) -> usize {
        self.bound(namespace)
            .and_then(|b| b.ns.stored_entries())
            .unwrap_or(0)
    }
}

fn poisoned<T>(_: T) -> KvError {
    KvError::Backend("memory backend lock poisoned by an earlier panic".to_string())
}

impl KvBackend for MemoryBackend {
    fn name(&self) -> &str {
        "memory"
    }

    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bound(namespace)?.get(key)
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        self.bound(namespace)?.set(key, value, ttl_seconds, mode)
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        self.bound(namespace)?.delete(key)
    }

    fn delete_if_equals(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, KvError> {
        let bound = self.bound(namespace)?;
        bound.ns.delete(key, bound.now(), Some(expected))
    }

    fn replace_if_equals(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> Result<bool, KvError> {
        self.bound(namespace)?
            .write(key, value, ttl_seconds, WriteIf::Holds(expected))
    }

    fn list_keys(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        self.bound(namespace)?.list_keys(prefix, cursor, limit)
    }

    fn bind(&self, namespace: &str) -> Option<Arc<dyn KvNamespace>> {
        let bound: Arc<dyn KvNamespace> = Arc::new(self.bound(namespace).ok()?);
        Some(bound)
    }
}

/// A namespace of a [`MemoryBackend`], bound once: no map lookup per call.
struct BoundNamespace {
    clock: Arc<dyn Clock>,
    quota: usize,
    ns: Arc<Namespace>,
    /// Every namespace of the backend, for reaping in one nobody writes.
    registry: Arc<RwLock<Registry>>,
}

impl BoundNamespace {
    /// Writes `key` when `condition` holds (a ttl of 0 is refused), then
    /// now and then reaps another stripe, of this namespace or another.
    fn write(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        condition: WriteIf<'_>,
    ) -> Result<bool, KvError> {
        if ttl_seconds == Some(0) {
            return Err(super::zero_ttl());
        }
        let now = self.now();
        let written = self
            .ns
            .set(key, value, ttl_seconds, condition, now, self.quota);
        // One draw (the thread's own generator) for both.
        match fastrand::u32(..REAP_ELSEWHERE_EVERY) {
            0 => self.ns.reap_a_stripe(now),
            1 => self.reap_another_namespace(now),
            _ => {}
        }
        written
    }

    /// Reaps a random stripe of a namespace drawn at random from every one
    /// the backend holds: a namespace nobody writes any more (a plugin
    /// swapped out, its sessions left to expire) would otherwise keep its
    /// expired entries, up to its quota, for the life of the process.
    /// Skipped when a namespace is being added (its lock held).
    fn reap_another_namespace(&self, now: u64) {
        let Ok(registry) = self.registry.try_read() else {
            return;
        };
        let Some(ns) = registry
            .all
            .get(fastrand::usize(..registry.all.len().max(1)))
        else {
            return;
        };
        let ns = ns.clone();
        drop(registry);
        ns.reap_a_stripe(now);
    }

    /// Now on the backend's clock, in Unix milliseconds.
    fn now(&self) -> u64 {
        millis(&*self.clock)
    }
}

/// `clock`'s time in Unix milliseconds, the unit entries expire in.
fn millis(clock: &dyn Clock) -> u64 {
    u64::try_from(clock.now().as_millis()).unwrap_or(u64::MAX)
}

impl KvNamespace for BoundNamespace {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.ns.get(key, self.now())
    }

    fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        self.write(key, value, ttl_seconds, WriteIf::Mode(mode))
    }

    fn delete(&self, key: &str) -> Result<bool, KvError> {
        self.ns.delete(key, self.now(), None)
    }

    fn list_keys(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        if limit == 0 {
            return Err(super::zero_limit());
        }
        self.ns.list_keys(prefix, cursor, limit, self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    fn backend() -> (MemoryBackend, ManualClock) {
        let clock = ManualClock::new(Duration::from_secs(1_000));
        (MemoryBackend::new(Arc::new(clock.clone())), clock)
    }

    #[test]
    fn a_namespace_cannot_pass_its_quota() {
        let c = entry_cost;
        let quota = c("a", 49, false) + c("b", 39, true);
        let clock = ManualClock::new(Duration::from_secs(1_000));
        let b = MemoryBackend::new(Arc::new(clock.clone())).with_namespace_quota(quota);
        let set =
            |ns: &str, k: &str, n: usize, ttl| b.set(ns, k, vec![0; n], ttl, WriteMode::Always);
        assert!(set("n", "a", 49, None).unwrap());
        assert!(set("n", "b", 39, Some(10)).unwrap()); // full
        let e = set("n", "c", 0, None).unwrap_err();
        assert!(
            matches!(e, KvError::TooLarge(ref m) if m.contains("quota")),
            "{e}"
        );
        assert_eq!(b.get("n", "c").unwrap(), None, "nothing written");
        // Overwriting counts the difference; other namespaces have their own.
        assert!(set("n", "a", 48, None).unwrap());
        assert!(set("n", "a", 49, None).unwrap());
        assert!(set("n", "a", 50, None).is_err());
        assert!(set("m", "x", 100, None).unwrap());
        // The harness's own namespaces (migration markers) have none.
        let markers = crate::swap::MARKER_NAMESPACE;
        for i in 0..10 {
            assert!(set(markers, &format!("m{i}"), 100, None).unwrap());
        }
        // Expired entries still count until reaped, and are reaped to make room.
        clock.advance(Duration::from_secs(10));
        assert!(set("n", "c", 0, None).unwrap());
        // Deletes free room.
        assert!(b.delete("n", "a").unwrap());
        assert!(set("n", "d", 49, None).unwrap());
        // Writing over an expired entry that the reaping then removes.
        let b = MemoryBackend::new(Arc::new(clock.clone())).with_namespace_quota(c("k", 90, true));
        assert!(
            b.set("z", "k", vec![0; 90], Some(5), WriteMode::Always)
                .unwrap()
        );
        clock.advance(Duration::from_secs(5));
        assert!(
            b.set("z", "k", vec![0; 200], None, WriteMode::Always)
                .is_err()
        );
        assert!(
            b.set("z", "k", vec![0; 90], None, WriteMode::Always)
                .unwrap()
        );
        // Many tiny entries are not free: each costs its overhead.
        let b = MemoryBackend::new(Arc::new(clock.clone())).with_namespace_quota(10_000);
        let fitted = (0..10_000)
            .take_while(|i| {
                b.set("t", &i.to_string(), vec![], None, WriteMode::Always)
                    .is_ok()
            })
            .count();
        assert!(fitted < 110, "{fitted}");
    }

    #[test]
    fn write_modes() {
        let (b, _) = backend();
        assert!(
            !b.set("n", "k", b"1".to_vec(), None, WriteMode::IfPresent)
                .unwrap()
        );
        assert_eq!(b.get("n", "k").unwrap(), None);
        assert!(
            b.set("n", "k", b"1".to_vec(), None, WriteMode::IfAbsent)
                .unwrap()
        );
        assert!(
            !b.set("n", "k", b"2".to_vec(), None, WriteMode::IfAbsent)
                .unwrap()
        );
        assert_eq!(b.get("n", "k").unwrap(), Some(b"1".to_vec()));
        assert!(
            b.set("n", "k", b"3".to_vec(), None, WriteMode::IfPresent)
                .unwrap()
        );
        assert!(
            b.set("n", "k", b"4".to_vec(), None, WriteMode::Always)
                .unwrap()
        );
        assert_eq!(b.get("n", "k").unwrap(), Some(b"4".to_vec()));
        assert!(b.delete("n", "k").unwrap());
        assert!(!b.delete("n", "k").unwrap());
    }

    #[test]
    fn expired_keys_are_invisible_and_reaped() {
        let (b, clock) = backend();
        b.set("n", "k", b"v".to_vec(), Some(10), WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_secs(9));
        assert!(b.get("n", "k").unwrap().is_some());
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.get("n", "k").unwrap(), None);
        assert!(!b.delete("n", "k").unwrap());
        assert!(
            !b.set("n", "k", b"w".to_vec(), None, WriteMode::IfPresent)
                .unwrap()
        );
        assert_eq!(
            b.list_keys("n", "", None, 10).unwrap().keys,
            Vec::<String>::new()
        );
        // An expired key counts as absent for if-absent, and is reaped.
        b.set("n", "k2", b"x".to_vec(), Some(5), WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_secs(5));
        assert!(
            b.set("n", "k2", b"y".to_vec(), None, WriteMode::IfAbsent)
                .unwrap()
        );
        assert_eq!(b.stored_entries("n"), 1);
    }

    #[test]
    fn overwrite_replaces_ttl() {
        let (b, clock) = backend();
        b.set("n", "k", b"v".to_vec(), Some(5), WriteMode::Always)
            .unwrap();
        b.set("n", "k", b"v".to_vec(), Some(50), WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_secs(10));
        assert!(b.get("n", "k").unwrap().is_some());
    }

    /// Keys of `ns` whose stripe is (`same`) or is not that of `key`.
    fn keys_by_stripe<'a>(
        ns: &'a Namespace,
        key: &'a str,
        same: bool,
    ) -> impl Iterator<Item = String> + 'a {
        let stripe = |k: &str| std::ptr::from_ref(ns.stripe(k));
        (0..)
            .map(|i| format!("k{i}"))
            .filter(move |k| k != key && (stripe(k) == stripe(key)) == same)
    }

    fn key_by_stripe(ns: &Namespace, key: &str, same: bool) -> String {
        keys_by_stripe(ns, key, same).next().unwrap()
    }

    /// The expiry index and the bytes counted against the quota.
    fn books(b: &MemoryBackend, ns: &str) -> (Vec<(u64, String)>, usize) {
        let ns = b.bound(ns).unwrap().ns;
        let mut index: Vec<_> = ns
            .read_all()
            .unwrap()
            .iter()
            .flat_map(|s| s.expiry.iter().cloned())
            .collect();
        index.sort();
        (index, ns.bytes.load(Ordering::Acquire))
    }

    #[test]
    fn overwrites_in_place_keep_the_expiry_index_exact() {
        let (b, clock) = backend();
        let index = |b: &MemoryBackend| books(b, "n").0;
        let bytes = |b: &MemoryBackend| books(b, "n").1;
        let set = |v: &[u8], ttl| b.set("n", "k", v.to_vec(), ttl, WriteMode::Always);
        set(b"1", Some(5)).unwrap();
        set(b"22", Some(5)).unwrap(); // same expiry: the index is untouched
        assert_eq!(index(&b), vec![(1_005_000, "k".to_string())]);
        assert_eq!(bytes(&b), entry_cost("k", 2, true));
        set(b"3", Some(50)).unwrap();
        assert_eq!(index(&b), vec![(1_050_000, "k".to_string())]);
        assert_eq!(bytes(&b), entry_cost("k", 1, true));
        set(b"4444", None).unwrap();
        assert_eq!(index(&b), vec![]);
        assert_eq!(bytes(&b), entry_cost("k", 4, false));
        clock.advance(Duration::from_secs(100));
        assert_eq!(b.get("n", "k").unwrap(), Some(b"4444".to_vec()));
        set(b"5", Some(10)).unwrap();
        assert_eq!(index(&b), vec![(1_110_000, "k".to_string())]);
        assert_eq!(bytes(&b), entry_cost("k", 1, true));
        clock.advance(Duration::from_secs(10));
        assert_eq!(b.get("n", "k").unwrap(), None);
        // The next write in its stripe reaps it through the index: nothing
        // is left behind.
        let other = key_by_stripe(&b.bound("n").unwrap().ns, "k", true);
        b.set("n", &other, vec![], None, WriteMode::Always).unwrap();
        assert_eq!(b.stored_entries("n"), 1);
        assert_eq!(index(&b), vec![]);
        assert_eq!(bytes(&b), entry_cost(&other, 0, false));
    }

    #[test]
    fn an_expired_entry_not_yet_reaped_is_overwritten_in_place() {
        // A seed whose draws send no write to reap another stripe: one
        // write in 256 reaps "k"'s stripe a second time, taking the four
        // entries this test counts on being left (seen once in CI).
        fastrand::seed(1);
        let (b, clock) = backend();
        // More expired entries in its stripe than one write reaps, all
        // sooner than "k", so "k" is still held (expired) when it is
        // written again.
        let ns = b.bound("n").unwrap().ns;
        let mut sooner: Vec<String> = keys_by_stripe(&ns, "k", true)
            .take(REAP_PER_WRITE + 4)
            .collect();
        sooner.sort(); // the order they are reaped in (same expiry)
        for key in &sooner {
            b.set("n", key, vec![0; 3], Some(1), WriteMode::Always)
                .unwrap();
        }
        b.set("n", "k", vec![0; 10], Some(5), WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_secs(10));
        assert!(
            b.set("n", "k", b"new".to_vec(), Some(7), WriteMode::IfAbsent)
                .unwrap(),
            "an expired key counts as absent"
        );
        let (index, bytes) = books(&b, "n");
        assert_eq!(b.get("n", "k").unwrap(), Some(b"new".to_vec()));
        assert!(index.contains(&(1_017_000, "k".to_string())), "{index:?}");
        assert!(!index.contains(&(1_005_000, "k".to_string())), "{index:?}");
        // Four expired entries are left to reap, and the new "k".
        assert_eq!(index.len(), 5, "{index:?}");
        assert_eq!(
            bytes,
            sooner[REAP_PER_WRITE..]
                .iter()
                .map(|key| entry_cost(key, 3, true))
                .sum::<usize>()
                + entry_cost("k", 3, true)
        );
    }

    #[test]
    fn a_bound_namespace_sees_what_the_by_name_methods_see() {
        let (b, clock) = backend();
        let bound = b.bind("n").unwrap();
        assert!(
            bound
                .set("k", b"v".to_vec(), Some(5), WriteMode::IfAbsent)
                .unwrap()
        );
        assert_eq!(b.get("n", "k").unwrap(), Some(b"v".to_vec()));
        b.set("n", "j", b"w".to_vec(), None, WriteMode::Always)
            .unwrap();
        assert_eq!(bound.list_keys("", None, 10).unwrap().keys, vec!["j", "k"]);
        clock.advance(Duration::from_secs(5));
        assert_eq!(bound.get("k").unwrap(), None);
        // Another bound namespace does not see "j" while it is live in "n",
        // and writing and deleting its own "j" leaves the one in "n" alone.
        let other = b.bind("other").unwrap();
        assert_eq!(b.get("n", "j").unwrap(), Some(b"w".to_vec()));
        assert_eq!(other.get("j").unwrap(), None);
        assert!(other.list_keys("", None, 10).unwrap().keys.is_empty());
        assert!(!other.delete("j").unwrap(), "nothing live in other");
        assert_eq!(bound.get("j").unwrap(), Some(b"w".to_vec()));
        assert!(
            other
                .set("j", b"o".to_vec(), None, WriteMode::IfAbsent)
                .unwrap(),
            "\"j\" in n does not make it present in other"
        );
        assert_eq!(bound.get("j").unwrap(), Some(b"w".to_vec()));
        assert!(bound.delete("j").unwrap());
        assert_eq!(other.get("j").unwrap(), Some(b"o".to_vec()));
    }

    #[test]
    fn a_ttl_of_zero_is_refused_and_writes_nothing() {
        let (b, _) = backend();
        b.set("n", "k", b"v".to_vec(), None, WriteMode::Always)
            .unwrap();
        for mode in [WriteMode::Always, WriteMode::IfAbsent, WriteMode::IfPresent] {
            for key in ["k", "new"] {
                let e = b.set("n", key, b"x".to_vec(), Some(0), mode).unwrap_err();
                assert!(
                    matches!(&e, KvError::Backend(m) if m.contains("at least 1")),
                    "{e}"
                );
            }
        }
        assert_eq!(b.get("n", "k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(b.get("n", "new").unwrap(), None);
        assert_eq!(b.stored_entries("n"), 1, "no dead entry was stored");
        let e = b
            .bind("n")
            .unwrap()
            .set("new", vec![], Some(0), WriteMode::Always)
            .unwrap_err();
        assert!(matches!(e, KvError::Backend(_)), "{e}");
    }

    #[test]
    fn a_listing_examines_a_bounded_number_of_entries() {
        let (b, clock) = backend();
        let expired = 2 * LIST_SCAN_BUDGET + 100;
        for i in 0..expired {
            b.set(
                "n",
                &format!("e:{i:05}"),
                vec![],
                Some(1),
                WriteMode::Always,
            )
            .unwrap();
        }
        b.set("n", "e:live", vec![], None, WriteMode::Always)
            .unwrap();
        b.set("n", "f:after", vec![], None, WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_secs(1));
        // Nothing was written since they expired: every entry is still held.
        assert_eq!(b.stored_entries("n"), expired + 2);
        let page = b.list_keys("n", "e:", None, 10).unwrap();
        assert!(page.keys.is_empty(), "{page:?}");
        assert_eq!(
            page.cursor,
            Some(format!("e:{:05}", LIST_SCAN_BUDGET - 1)),
            "stopped after examining the budget, resuming after the last examined"
        );
        let mut cursor = page.cursor;
        let mut calls = 1;
        let mut seen = vec![];
        while let Some(c) = cursor {
            let page = b.list_keys("n", "e:", Some(&c), 10).unwrap();
            assert!(page.cursor.as_deref().is_none_or(|next| next > c.as_str()));
            seen.extend(page.keys);
            cursor = page.cursor;
            calls += 1;
            assert!(calls < 10, "the listing never ended");
        }
        assert_eq!(seen, ["e:live"]);
        assert_eq!(calls, expired.div_ceil(LIST_SCAN_BUDGET));
        // With a budget of 3 entries: three expired ones, then a cursor.
        let ns = b.bound("n").unwrap().ns;
        let now = millis(&clock);
        let page = ns.list_keys_within("", None, 1, now, 3).unwrap();
        assert_eq!(page.keys, Vec::<String>::new());
        assert_eq!(page.cursor.as_deref(), Some("e:00002"));
        let page = ns.list_keys_within("e:l", None, 1, now, 3).unwrap();
        assert_eq!((page.keys, page.cursor), (vec!["e:live".to_string()], None));
        // A full page with a live key after it: the cursor is its last key.
        let page = ns
            .list_keys_within("", Some("e:00500"), 1, now, usize::MAX)
            .unwrap();
        assert_eq!(page.keys, ["e:live"]);
        assert_eq!(page.cursor.as_deref(), Some("e:live"), "f:after follows");
    }

    #[test]
    fn a_write_waits_only_for_its_own_stripe() {
        let (b, _) = backend();
        let b = Arc::new(b);
        let ns = b.bound("n").unwrap().ns;
        let elsewhere = key_by_stripe(&ns, "held", false);
        let alongside = key_by_stripe(&ns, "held", true);
        let held = ns.stripe("held").write().unwrap();
        let write = |key: String| {
            let (done, wait) = std::sync::mpsc::channel();
            let b = b.clone();
            std::thread::spawn(move || {
                let set = b.set("n", &key, b"v".to_vec(), None, WriteMode::Always);
                done.send(set.unwrap()).unwrap();
            });
            wait
        };
        // Another stripe's write goes through while this one is held (the
        // timeout only keeps a regression from hanging the suite).
        let other = write(elsewhere.clone());
        assert_eq!(other.recv_timeout(Duration::from_secs(60)), Ok(true));
        // One in the same stripe waits for it, and then goes through.
        let same = write(alongside.clone());
        assert_eq!(
            same.recv_timeout(Duration::from_millis(200)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        drop(held);
        assert_eq!(same.recv_timeout(Duration::from_secs(60)), Ok(true));
        assert_eq!(b.get("n", &elsewhere).unwrap(), Some(b"v".to_vec()));
        assert_eq!(b.get("n", &alongside).unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn writers_in_many_stripes_together_keep_to_the_quota() {
        let quota = 200 * entry_cost("t0-000", 10, true);
        let clock = ManualClock::new(Duration::from_secs(1_000));
        let b = MemoryBackend::new(Arc::new(clock)).with_namespace_quota(quota);
        let start = std::sync::Barrier::new(4);
        let written: usize = std::thread::scope(|s| {
            let writers: Vec<_> = (0..4)
                .map(|t| {
                    let (b, start) = (&b, &start);
                    s.spawn(move || {
                        start.wait();
                        (0..100)
                            .filter(|i| {
                                let key = format!("t{t}-{i:03}");
                                match b.set("n", &key, vec![0; 10], Some(60), WriteMode::Always) {
                                    Ok(written) => written,
                                    Err(KvError::TooLarge(_)) => false,
                                    Err(e) => panic!("{e}"),
                                }
                            })
                            .count()
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(written, 200, "the quota holds exactly 200");
        let (index, bytes) = books(&b, "n");
        assert_eq!(index.len(), 200);
        assert_eq!(bytes, quota);
        assert_eq!(b.stored_entries("n"), 200);
        // Deleting gives the room back, whichever stripe it is in.
        let (_, key) = &index[0];
        assert!(b.delete("n", key).unwrap());
        assert_eq!(books(&b, "n").1, quota - entry_cost(key, 10, true));
        assert!(
            b.set("n", "again", vec![0; 10], Some(60), WriteMode::Always)
                .unwrap()
        );
    }

    /// The bytes the entries of `ns` cost, counted entry by entry.
    fn counted(b: &MemoryBackend, ns: &str) -> usize {
        let ns = b.bound(ns).unwrap().ns;
        let stripes = ns.read_all().unwrap();
        let entries = stripes.iter().flat_map(|s| s.entries.iter());
        entries.map(|(k, e)| e.cost(k)).sum()
    }

    /// Writers in every stripe at once, over a namespace full of expired
    /// entries: each write that meets the quota reaps them all (whoever
    /// reaped an entry has freed its bytes by the time another writer is
    /// through that stripe), so no write is refused while the live entries
    /// fit, and the books match the entries after writes, deletes and reaps.
    #[test]
    fn concurrent_writers_reap_and_keep_the_books_exact() {
        let cost = entry_cost("p-000", 10, true);
        let clock = ManualClock::new(Duration::from_secs(1_000));
        let b = MemoryBackend::new(Arc::new(clock.clone())).with_namespace_quota(400 * cost);
        for i in 0..400 {
            let key = format!("p-{i:03}");
            assert!(
                b.set("n", &key, vec![0; 10], Some(5), WriteMode::Always)
                    .unwrap()
            );
        }
        assert!(
            b.set("n", "p-400", vec![0; 10], Some(5), WriteMode::Always)
                .is_err(),
            "full"
        );
        clock.advance(Duration::from_secs(5));
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (b, start) = (&b, &start);
                s.spawn(move || {
                    start.wait();
                    for round in 0..3 {
                        for i in 0..50 {
                            let key = format!("w{t}-{i:02}");
                            let set = b.set("n", &key, vec![0; 10], Some(60), WriteMode::Always);
                            assert_eq!(set, Ok(true), "round {round}, {key}");
                        }
                        for i in (0..50).step_by(2) {
                            assert!(b.delete("n", &format!("w{t}-{i:02}")).unwrap());
                        }
                    }
                });
            }
        });
        let live = b.list_keys("n", "", None, 1000).unwrap().keys;
        assert_eq!(live.len(), 100, "25 of each writer's 50 were deleted");
        assert!(live.iter().all(|k| k.starts_with('w')), "{live:?}");
        let (_, bytes) = books(&b, "n");
        assert_eq!(bytes, counted(&b, "n"));
        assert!(bytes <= 400 * cost);
    }

    /// Writes to one hot key still reap, now and then, the expired entries
    /// of stripes nobody writes, in every namespace, however the writes
    /// alternate between them (with a counter per thread, writes to two
    /// namespaces in turn would land every draw on the same one).
    #[test]
    fn writes_in_one_stripe_reap_the_others_now_and_then() {
        fastrand::seed(7);
        let (b, clock) = backend();
        for name in ["a", "b"] {
            let ns = b.bound(name).unwrap().ns;
            for key in keys_by_stripe(&ns, "hot", false).take(64) {
                b.set(name, &key, vec![0; 10], Some(5), WriteMode::Always)
                    .unwrap();
            }
        }
        clock.advance(Duration::from_secs(5));
        for i in 0u64..20_000 {
            for name in ["a", "b"] {
                let value = i.to_le_bytes().to_vec();
                b.set(name, "hot", value, Some(60), WriteMode::Always)
                    .unwrap();
            }
        }
        for name in ["a", "b"] {
            assert_eq!(
                b.stored_entries(name),
                1,
                "{name}: only the hot key is left"
            );
            assert_eq!(books(&b, name).1, entry_cost("hot", 8, true));
        }
    }

    /// A namespace nobody writes any more (its plugin swapped out, its
    /// sessions left to expire) is reaped by writes to other namespaces.
    #[test]
    fn writes_elsewhere_reap_a_namespace_nobody_writes() {
        fastrand::seed(11);
        let (b, clock) = backend();
        for i in 0..200 {
            b.set(
                "left",
                &format!("s{i}"),
                vec![0; 10],
                Some(5),
                WriteMode::Always,
            )
            .unwrap();
        }
        b.set("left", "kept", vec![0; 4], None, WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_secs(5));
        for i in 0u64..20_000 {
            b.set(
                "busy",
                "hot",
                i.to_le_bytes().to_vec(),
                Some(60),
                WriteMode::Always,
            )
            .unwrap();
        }
        assert_eq!(b.stored_entries("left"), 1, "only the key without a ttl");
        assert_eq!(books(&b, "left"), (vec![], entry_cost("kept", 4, false)));
        assert_eq!(b.get("left", "kept").unwrap(), Some(vec![0; 4]));
    }

    /// A ttl counts from the millisecond of the write, as on Redis: a key
    /// written late in a second does not expire at the start of the next.
    #[test]
    fn a_ttl_runs_from_the_millisecond_of_the_write() {
        let clock = ManualClock::new(Duration::from_millis(1_000_900));
        let b = MemoryBackend::new(Arc::new(clock.clone()));
        b.set("n", "k", b"v".to_vec(), Some(1), WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_millis(200)); // 1001.1 s
        assert_eq!(b.get("n", "k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(b.list_keys("n", "", None, 10).unwrap().keys, ["k"]);
        assert!(
            !b.set("n", "k", b"w".to_vec(), Some(1), WriteMode::IfAbsent)
                .unwrap(),
            "still present"
        );
        clock.advance(Duration::from_millis(799)); // 1001.899 s
        assert_eq!(b.get("n", "k").unwrap(), Some(b"v".to_vec()));
        clock.advance(Duration::from_millis(1)); // 1001.9 s: one second on
        assert_eq!(b.get("n", "k").unwrap(), None);
        assert!(b.list_keys("n", "", None, 10).unwrap().keys.is_empty());
        assert!(
            b.set("n", "k", b"w".to_vec(), Some(1), WriteMode::IfAbsent)
                .unwrap()
        );
    }

    #[test]
    fn a_listing_merges_the_stripes_in_byte_order() {
        let (b, _) = backend();
        let keys: Vec<String> = (0..200)
            .map(|i| format!("s:{:03}", (i * 37) % 200))
            .collect();
        for key in &keys {
            b.set("n", key, vec![], None, WriteMode::Always).unwrap();
        }
        let ns = b.bound("n").unwrap().ns;
        let used = ns
            .read_all()
            .unwrap()
            .iter()
            .filter(|s| !s.entries.is_empty())
            .count();
        assert!(used > 1, "the keys are spread over the stripes");
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(b.list_keys("n", "s:", None, 1000).unwrap().keys, sorted);
        let page = b.list_keys("n", "s:", Some("s:099"), 3).unwrap();
        assert_eq!(page.keys, ["s:100", "s:101", "s:102"]);
        assert_eq!(page.cursor.as_deref(), Some("s:102"));
    }

    #[test]
    fn namespaces_are_separate() {
        let (b, _) = backend();
        b.set("a", "k", b"v".to_vec(), None, WriteMode::Always)
            .unwrap();
        assert_eq!(b.get("b", "k").unwrap(), None);
        assert!(b.list_keys("b", "", None, 10).unwrap().keys.is_empty());
    }

    #[test]
    fn paging_visits_every_live_key_once_in_order() {
        let (b, clock) = backend();
        for i in 0..25 {
            let ttl = if i % 5 == 0 { Some(1) } else { None };
            b.set("n", &format!("s:{i:03}"), vec![], ttl, WriteMode::Always)
                .unwrap();
        }
        b.set("n", "t:other", vec![], None, WriteMode::Always)
            .unwrap();
        b.set("n", "r:other", vec![], None, WriteMode::Always)
            .unwrap();
        clock.advance(Duration::from_secs(1));
        let mut seen = vec![];
        let mut cursor = None;
        loop {
            let page = b.list_keys("n", "s:", cursor.as_deref(), 7).unwrap();
            assert!(page.keys.len() <= 7);
            seen.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let expected: Vec<String> = (0..25)
            .filter(|i| i % 5 != 0)
            .map(|i| format!("s:{i:03}"))
            .collect();
        assert_eq!(seen, expected);
        // A final page exactly at the limit reports no cursor.
        let page = b.list_keys("n", "s:", None, 20).unwrap();
        assert_eq!((page.keys.len(), page.cursor), (20, None));
    }
}
