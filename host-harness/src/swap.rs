//! One place that owns "the active store": [`SwappableStore`] routes every call
//! to the current plugin, replaces it atomically, and lazily migrates sessions
//! that only the previous plugin knows.
//!
//! * A swap is one atomic pointer store. A call reads the pointer once, so a
//!   call already running finishes on the plugin it started on, and no call
//!   fails because a swap happened. [`SwappableStore::swap_file`] and
//!   [`SwappableStore::swap_bytes`] load the new plugin and check it with a
//!   create/load/destroy round trip first: a plugin that fails to load or
//!   to serve never goes live, and the old one stays active.
//! * Calls through the store are counted per generation. Before a session is
//!   copied out of a replaced server-side plugin, calls that started on it
//!   before the swap are waited for, so a write still running there is
//!   neither lost nor answered `not-found` by the move.
//! * With migration on (the default), after swapping A -> B an id that B does
//!   not recognise (`none` or `invalid-id`) is looked up in A; a live session
//!   there is created in B with the same data, user and remaining lifetime
//!   (under the same id when B can import it), removed from A when A is
//!   server-side, and the caller gets B's id. After the grace period A is
//!   dropped.

use crate::clock::Clock;
use crate::error::{CallError, LoadError, SessionError};
use crate::harness::{Harness, LoadOptions};
use crate::plugin::Plugin;
use crate::pool;
use crate::types::{CreateOptions, SessionId, SessionRecord};
use arc_swap::{ArcSwap, Guard};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod markers;

pub use markers::MARKER_NAMESPACE;
use markers::{Marker, Markers};

/// Longest wait for calls on a replaced plugin to finish before one of its
/// sessions is moved or destroyed (the calls waited for are the session
/// calls, not `count`/`purge-expired`: each is bounded by its deadline,
/// 250 ms of CPU time by default and five times that in wall time however
/// long it is off the CPU; past this the move or destroy goes ahead).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Most recorded moves a look-up or a destroy follows from one id. Each
/// move leaves a store, but a store swapped back in leaves the retired list
/// and records outlive the plugins dropped since, so a session's chain can
/// be longer than the retired list (a cookie store and a kv store swapped
/// back and forth); past this many something loops.
const MAX_HOPS: usize = 16;

/// Most times a move tries to record itself while other calls keep changing
/// the record of its id under it; after that it follows the record there.
const RECORD_TRIES: usize = 3;

/// Why a swap did not happen. The active plugin is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// The new plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The new plugin loaded but failed its check (create, load, destroy of
    /// a throwaway session), e.g. a cookie store without keys.
    #[error("plugin {plugin} failed its check with a throwaway session ({step}): {error}")]
    Check {
        /// Plugin name.
        plugin: String,
        /// The step that failed.
        step: &'static str,
        /// What the plugin answered.
        error: CallError,
    },
}

/// How swaps treat the plugin being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapOptions {
    /// Look unknown ids up in replaced plugins and move their sessions over.
    pub migrate: bool,
    /// How long a replaced plugin is kept for migration.
    pub grace: Duration,
    /// Most replaced plugins kept at once; past it the longest-retired one
    /// is dropped early (every swap to a freshly loaded plugin retires one).
    pub max_retired: usize,
}

impl Default for SwapOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            grace: Duration::from_secs(24 * 3600),
            max_retired: 8,
        }
    }
}

/// Faults in a row, while looking sessions up for migration, after which a
/// retired plugin is dropped: a store swapped out because it broke must not
/// fail (or stall) every request with an unknown id until its grace period
/// ends. Counted in points: a trap or an answer that breaks the contract
/// weighs [`FAULT_POINTS`], a timeout [`TIMEOUT_POINTS`] (a timeout can be a
/// loaded machine, so it takes 8 in a row, against 3 traps).
const QUARANTINE_POINTS: u32 = 24;
/// See [`QUARANTINE_POINTS`].
const FAULT_POINTS: u32 = 8;
/// See [`QUARANTINE_POINTS`].
const TIMEOUT_POINTS: u32 = 3;

/// A replaced plugin still consulted for migration until `until`.
#[derive(Clone)]
struct Retired {
    plugin: Plugin,
    /// Unix second (harness clock) after which it is dropped.
    until: u64,
    /// Fault points in a row while migrating from it (see
    /// [`QUARANTINE_POINTS`]; shared by every generation that keeps it).
    faults: Arc<AtomicU32>,
}

/// A counter on its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicUsize);

/// Calls running on one generation, counted per pool shard so that threads
/// do not contend on one counter.
#[derive(Default)]
struct CallCount([Padded; pool::SHARDS]);

impl CallCount {
    fn running(&self) -> usize {
        self.0.iter().map(|c| c.0.load(Ordering::SeqCst)).sum()
    }
}

/// A replaced generation whose calls may still be running: how many, and
/// the kv namespaces its moves delete from (those of its server-side
/// retired plugins).
#[derive(Clone)]
struct Earlier {
    calls: Arc<CallCount>,
    moving_from: Arc<[Arc<str>]>,
}

/// What is active now: the current plugin and those kept for migration,
/// most recently replaced first.
struct Generation {
    current: Plugin,
    retired: Vec<Retired>,
    /// Calls that entered through this generation and are still running.
    calls: Arc<CallCount>,
    /// The generation this one replaced and older ones that still had
    /// calls running when it was made.
    earlier: Vec<Earlier>,
    /// False while calls must first wait for the earlier generations'
    /// calls: a move begun there may still delete the old copy of a session
    /// from a store that is current again (swapped back, or a new build in
    /// the same namespace), after a call here wrote to that copy. Set after
    /// the first wait: they were seen finished (no call starts on a
    /// replaced generation, so that is final), or [`DRAIN_LIMIT`] passed.
    settled: AtomicBool,
}

impl Generation {
    fn first(current: Plugin) -> Self {
        Self {
            current,
            retired: Vec::new(),
            calls: Arc::default(),
            earlier: Vec::new(),
            settled: AtomicBool::new(true),
        }
    }

    /// The generation that replaces `self`.
    fn next(&self, current: Plugin, retired: Vec<Retired>) -> Self {
        // This generation's own count is kept whatever it reads now: a call
        // may still enter it until the swap lands. Older ones were replaced
        // before, so a zero there is final.
        let this = Earlier {
            calls: self.calls.clone(),
            moving_from: self
                .retired
                .iter()
                .filter(|r| r.plugin.info().server_side)
                .map(|r| r.plugin.namespace().clone())
                .collect(),
        };
        let earlier: Vec<Earlier> = std::iter::once(this)
            .chain(
                self.earlier
                    .iter()
                    .filter(|e| e.calls.running() > 0)
                    .cloned(),
            )
            .collect();
        let settle = current.info().server_side
            && earlier
                .iter()
                .any(|e| e.moving_from.contains(current.namespace()));
        Self {
            current,
            retired,
            calls: Arc::default(),
            earlier,
            settled: AtomicBool::new(!settle),
        }
    }
}

/// A call's hold on the generation it entered: counted until dropped.
struct Entered {
    g: Guard<Arc<Generation>>,
    shard: usize,
}

impl std::ops::Deref for Entered {
    type Target = Generation;
    fn deref(&self) -> &Generation {
        &self.g
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.g.calls.0[self.shard].0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a lookup in the retired plugins found.
enum Migration {
    /// Moved to the current plugin: the record as it holds it now.
    Moved(SessionRecord),
    /// A retired plugin knows the id but has no live session under it.
    Gone,
    /// A retired or the current plugin failed while migrating.
    Failed(CallError),
    /// No retired plugin recognises the id.
    Unknown,
}

/// The record a move made of itself (`SwappableStore::record_move`), to
/// take back if the move is undone.
struct Recorded {
    /// The marker the move wrote.
    marker: Marker,
    /// The marker it replaced: that of an earlier move under the same id.
    before: Option<Marker>,
    /// Seconds the marker lasts.
    ttl: u64,
}

/// What the retired plugins hold under an id (`SwappableStore::find_retired`).
enum Found<'g> {
    /// A live session, and the retired plugin that holds it.
    Live(&'g Retired, SessionRecord),
    /// A retired plugin knows the id but has no live session under it.
    Gone,
    /// A retired plugin failed.
    Failed(CallError),
    /// No retired plugin recognises the id.
    Unknown,
}

/// Where one step of a destroy along the recorded moves
/// (`SwappableStore::end_record`) led.
enum Ended {
    /// Nothing more to end.
    Done,
    /// The record changed since it was read: read it again.
    Changed,
    /// The copy under a new id `to` was ended (the record that led there is
    /// buried later); `to` needs a tombstone for `needed` seconds if it has
    /// no record.
    MovedOn { to: String, needed: Option<u64> },
}

/// A record a destroy walked past (`SwappableStore::end`): the id `from`
/// whose record `was`, and how long `from` needs a tombstone should that
/// record be gone when the destroy comes back to it.
struct Walked {
    from: String,
    was: Marker,
    needed: Option<u64>,
}

/// What `SwappableStore::destroy_everywhere` did with an id.
struct Destroyed {
    /// The current plugin's answer (`ok` when any plugin knew the id).
    answer: Result<(), CallError>,
    /// Seconds the id stays a live session in a retired stateless plugin
    /// (which cannot forget it), if it is one there.
    stateless_live_for: Option<u64>,
    /// The first retired plugin that failed, if any: it may still hold the
    /// session. The first server-side one's failure when `holder_failed`.
    retired_failed: Option<CallError>,
    /// Whether a retired server-side plugin's destroy failed: it may still
    /// hold a copy, which the tombstone keeps from migrating but which it
    /// would serve again were it swapped back in (or a new build in its
    /// namespace).
    holder_failed: bool,
}

/// Counters of a [`SwappableStore`]. More may be added: match on fields,
/// not on the whole struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SwapStats {
    /// Swaps done.
    pub swaps: u64,
    /// Sessions moved from a replaced plugin to the current one.
    pub migrated: u64,
    /// Migrations in which the current plugin's `create` of the copy failed
    /// (the caller got that error), or that were undone after the copy was
    /// made (the caller got the error that undid it). A retired plugin
    /// failing its first look, or the marker kv failing before a copy is
    /// made, is the caller's error too but not counted here
    /// (`retired_dropped` counts retired plugins dropped for their faults).
    pub migration_failures: u64,
    /// Migration attempts the current plugin refused because it can never
    /// hold the session (`too-large` or `invalid-data` from its `create`:
    /// more data than a cookie carries, say), or that found the old plugin
    /// returning more than the host's output limits take. The session is answered as
    /// gone, so the user starts a new one instead of failing every request
    /// until the grace period ends; the old copy stays where it is (a swap
    /// back finds it). Each request that presents such an id tries, and
    /// counts, again.
    pub unmovable: u64,
    /// Retired plugins dropped before their grace period ended: after
    /// repeated faults while migrating, or by [`SwappableStore::drop_retired`].
    pub retired_dropped: u64,
    /// Waits for calls begun before a swap (or before a grace period ended)
    /// to finish, because a move in flight there could otherwise undo what
    /// the waiting call does: delete the copy it just wrote, or bring back
    /// a session it destroyed. Each wait lasts at most 10 s; a call can wait
    /// more than once (on entering, and again before it moves or destroys a
    /// session) only when an earlier wait ran out. A count that keeps rising
    /// says calls on the old store are slow.
    pub waited_for_earlier_calls: u64,
}

/// A session store whose plugin can be replaced at runtime. `Send + Sync`,
/// cheap to clone (clones share the active store).
#[derive(Clone)]
pub struct SwappableStore {
    inner: Arc<Inner>,
}

struct Inner {
    harness: Harness,
    active: ArcSwap<Generation>,
    markers: Markers,
    clock: Arc<dyn Clock>,
    options: SwapOptions,
    swaps: AtomicU64,
    migrated: AtomicU64,
    migration_failures: AtomicU64,
    unmovable: AtomicU64,
    retired_dropped: AtomicU64,
    waited_for_earlier_calls: AtomicU64,
    /// Held while a swap sets the plugins' pooling flags.
    pooling: std::sync::Mutex<()>,
}

impl std::fmt::Debug for SwappableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.inner.active.load();
        f.debug_struct("SwappableStore")
            .field("current", &g.current.name())
            .field("retired", &g.retired.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Whether an answer means "this store does not know that id".
fn unknown_id<T>(r: &Result<Option<T>, CallError>) -> bool {
    matches!(
        r,
        Ok(None) | Err(CallError::Session(SessionError::InvalidId(_)))
    )
}

/// Whether a write failed because the store does not know the id.
fn unknown_for_write<T>(r: &Result<T, CallError>) -> bool {
    matches!(
        r,
        Err(CallError::Session(
            SessionError::NotFound | SessionError::InvalidId(_)
        ))
    )
}

impl SwappableStore {
    /// A store serving `plugin`, on the clock and kv backend of `harness`.
    pub fn new(harness: &Harness, plugin: Plugin, options: SwapOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                harness: harness.clone(),
                active: ArcSwap::from_pointee(Generation::first(plugin)),
                markers: Markers::new(harness.kv_backend().clone()),
                clock: harness.clock().clone(),
                options,
                swaps: AtomicU64::new(0),
                migrated: AtomicU64::new(0),
                migration_failures: AtomicU64::new(0),
                unmovable: AtomicU64::new(0),
                retired_dropped: AtomicU64::new(0),
                waited_for_earlier_calls: AtomicU64::new(0),
                pooling: std::sync::Mutex::new(()),
            }),
        }
    }

    /// The plugin serving calls now.
    pub fn current(&self) -> Plugin {
        self.inner.active.load().current.clone()
    }

    /// Names of the replaced plugins still kept for migration.
    pub fn retired(&self) -> Vec<String> {
        self.inner
            .active
            .load()
            .retired
            .iter()
            .map(|r| r.plugin.name().to_string())
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> SwapStats {
        SwapStats {
            swaps: self.inner.swaps.load(Ordering::Relaxed),
            migrated: self.inner.migrated.load(Ordering::Relaxed),
            migration_failures: self.inner.migration_failures.load(Ordering::Relaxed),
            unmovable: self.inner.unmovable.load(Ordering::Relaxed),
            retired_dropped: self.inner.retired_dropped.load(Ordering::Relaxed),
            waited_for_earlier_calls: self.inner.waited_for_earlier_calls.load(Ordering::Relaxed),
        }
    }

    /// Makes `plugin` the active store, as it is: see [`Self::swap_file`] and
    /// [`Self::swap_bytes`] for swaps that load and check the plugin first.
    /// The replaced one is kept for the grace period when migration is on
    /// (its idle instances are dropped; migration makes new ones on demand);
    /// swapping back to a retired plugin takes it off the retired list.
    pub fn swap(&self, plugin: Plugin) {
        let now = self.inner.clock.now_secs();
        let options = self.inner.options;
        // Whole seconds on the harness clock, rounded up, so a grace period
        // under a second still keeps the old plugin.
        let grace = options
            .grace
            .as_secs()
            .saturating_add(u64::from(options.grace.subsec_nanos() > 0));
        let replaced = self.inner.active.rcu(|g| {
            let mut retired: Vec<Retired> = Vec::new();
            if options.migrate {
                if !g.current.same_as(&plugin) {
                    retired.push(Retired {
                        plugin: g.current.clone(),
                        until: now.saturating_add(grace),
                        faults: Arc::default(),
                    });
                }
                retired.extend(
                    g.retired
                        .iter()
                        .filter(|r| r.until > now && !r.plugin.same_as(&plugin))
                        .cloned(),
                );
                retired.truncate(options.max_retired);
            }
            g.next(plugin.clone(), retired)
        });
        // Pooling follows what is active once the swap landed: only the
        // current plugin pools. Swaps set the flags one at a time, each from
        // what is active when it holds the lock, so the last one to set
        // them saw every swap before it.
        {
            let _one_at_a_time = self
                .inner
                .pooling
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now_active = self.inner.active.load();
            let others = [&plugin, &replaced.current]
                .into_iter()
                .chain(now_active.retired.iter().map(|r| &r.plugin));
            for p in others.filter(|p| !p.same_as(&now_active.current)) {
                p.set_pooling(false);
            }
            now_active.current.set_pooling(true);
        }
        self.inner.swaps.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops every retired plugin named `name` now, before its grace period
    /// ends: their sessions no longer migrate (their holders start new ones).
    /// For an operator who swapped away from a broken store. Returns whether
    /// any such plugin was retired.
    pub fn drop_retired(&self, name: &str) -> bool {
        self.drop_retired_where(|r| r.plugin.name() == name)
    }

    /// Drops every retired plugin that `doomed` picks; whether any was.
    fn drop_retired_where(&self, doomed: impl Fn(&Retired) -> bool) -> bool {
        // No new generation when nothing goes (a destroy would wait for the
        // calls of the one it replaced).
        if !self.inner.active.load().retired.iter().any(&doomed) {
            return false;
        }
        let before = self.inner.active.rcu(|g| {
            let retired = g.retired.iter().filter(|r| !doomed(r)).cloned().collect();
            g.next(g.current.clone(), retired)
        });
        let dropped = before.retired.iter().filter(|r| doomed(r)).count();
        self.inner
            .retired_dropped
            .fetch_add(dropped as u64, Ordering::Relaxed);
        dropped > 0
    }

    /// Loads the plugin at `path`, checks it (a throwaway session created,
    /// loaded and destroyed) and makes it active. On any failure the active
    /// plugin is unchanged. Returns the new plugin.
    pub fn swap_file(
        &self,
        path: impl AsRef<Path>,
        options: LoadOptions,
    ) -> Result<Plugin, SwapError> {
        let plugin = self.inner.harness.load_file(path, options)?;
        self.swap_checked(plugin)
    }

    /// [`Self::swap_file`] for a component already in memory.
    pub fn swap_bytes(&self, wasm: &[u8], options: LoadOptions) -> Result<Plugin, SwapError> {
        let plugin = self.inner.harness.load_bytes(wasm, options)?;
        self.swap_checked(plugin)
    }

    /// Checks `plugin` with a throwaway session, then swaps it in.
    pub fn swap_checked(&self, plugin: Plugin) -> Result<Plugin, SwapError> {
        check_serves(&plugin)?;
        self.swap(plugin.clone());
        Ok(plugin)
    }

    /// The generation to serve this call, with expired retirees dropped.
    /// With nothing retired it is one `ArcSwap::load` (no reference count
    /// touched, no clock read).
    fn generation(&self) -> Guard<Arc<Generation>> {
        let g = self.inner.active.load();
        if g.retired.is_empty() {
            return g;
        }
        let now = self.inner.clock.now_secs();
        if g.retired.iter().all(|r| r.until > now) {
            return g;
        }
        drop(g);
        self.inner.active.rcu(|g| {
            let retired = g
                .retired
                .iter()
                .filter(|r| r.until > now)
                .cloned()
                .collect();
            g.next(g.current.clone(), retired)
        });
        self.inner.active.load()
    }

    /// Enters the current generation for one call: counted on this thread's
    /// shard, and re-checked after counting, so a migration that saw an old
    /// generation's count at zero knows no call can still start on it. On a
    /// generation that is not yet settled, the call first waits for the
    /// earlier generations' calls.
    fn enter(&self) -> Entered {
        self.enter_settled(true)
    }

    /// [`Self::enter`], waiting for an unsettled generation only when
    /// `settle` is set (a `create` makes a new id, which no move touches).
    fn enter_settled(&self, settle: bool) -> Entered {
        let shard = pool::home();
        loop {
            let g = self.generation();
            g.calls.0[shard].0.fetch_add(1, Ordering::SeqCst);
            if std::ptr::eq(&**self.inner.active.load(), &**g) {
                if settle && !g.settled.load(Ordering::Acquire) {
                    self.wait_for_earlier_calls(&g);
                    g.settled.store(true, Ordering::Release);
                }
                return Entered { g, shard };
            }
            g.calls.0[shard].0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits (up to [`DRAIN_LIMIT`]) until calls that entered earlier
    /// generations have finished.
    fn wait_for_earlier_calls(&self, g: &Generation) {
        let until = Instant::now() + DRAIN_LIMIT;
        let mut counted = false;
        for earlier in &g.earlier {
            while earlier.calls.running() > 0 && Instant::now() < until {
                if !counted {
                    counted = true;
                    let waited = &self.inner.waited_for_earlier_calls;
                    waited.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// How long a tombstone must last: as long as any retired plugin is
    /// kept (after that nothing migrates, so nothing can come back).
    fn tombstone_ttl(&self, g: &Generation) -> u64 {
        let now = self.inner.clock.now_secs();
        let until = g.retired.iter().map(|r| r.until).max().unwrap_or(now);
        until.saturating_sub(now).max(1)
    }

    /// The session a recorded move to `new_id` led to, as `g.current` holds
    /// it now. When the current plugin does not know the copy's id (the copy
    /// was made in a plugin that has since been swapped out too), it is
    /// looked up, and moved on, from the retired plugins: at most
    /// [`MAX_HOPS`] hops (`hops` counts them, [`Self::migrate_from`] stops
    /// past that).
    fn follow(&self, g: &Generation, new_id: &str, hops: usize) -> Migration {
        match Self::in_current(g, new_id) {
            Migration::Gone if hops < MAX_HOPS => self.migrate_known(g, new_id, hops + 1),
            other => other,
        }
    }

    /// Where a recorded move of `id` leads, if `id` moved before.
    fn follow_marker(&self, g: &Generation, id: &str, hops: usize) -> Option<Migration> {
        self.follow_record(g, id, self.inner.markers.get(id), hops)
    }

    /// Where `record`, the marker of `id` as read, leads.
    fn follow_record(
        &self,
        g: &Generation,
        id: &str,
        record: Result<Option<Marker>, CallError>,
        hops: usize,
    ) -> Option<Migration> {
        match record {
            Ok(Some(Marker::Tombstone)) => Some(Migration::Gone),
            Ok(Some(Marker::Moved(new_id))) => Some(self.follow(g, &new_id, hops)),
            Ok(Some(Marker::Kept(into))) => Some(self.follow_same_id(g, id, into.as_deref(), hops)),
            Ok(None) => None,
            Err(e) => Some(Migration::Failed(e)),
        }
    }

    /// Where a move of `id` under the same id into the store with kv
    /// namespace `into` leads: the session is in the current store, or in
    /// `into` if it is still kept; older stores, which may hold a stale copy
    /// left behind by a move, are not asked, nor are newer ones, which never
    /// held it. (Before, the newest retired store was asked, so a session
    /// moved under its id was lost once the visitor stayed away through one
    /// more swap; and before that, the marker was followed to itself until
    /// the hop limit.) With no `into` (a marker of an earlier build), the
    /// newest retired store that answers for the id is taken to hold it.
    fn follow_same_id(
        &self,
        g: &Generation,
        id: &str,
        into: Option<&str>,
        hops: usize,
    ) -> Migration {
        if hops > MAX_HOPS {
            return Migration::Gone;
        }
        match Self::in_current(g, id) {
            Migration::Gone => {}
            other => return other,
        }
        let holders = g
            .retired
            .iter()
            .filter(|r| into.is_none_or(|ns| &**r.plugin.namespace() == ns));
        match self.find_retired(g, holders, id, true) {
            Found::Live(retired, old) => self.copy(g, retired, id, old, hops + 1),
            Found::Failed(e) => Migration::Failed(e),
            Found::Gone | Found::Unknown => self.moved_on_meanwhile(g, id, into, hops),
        }
    }

    /// Where `id` is, now that `into`, the store its marker named when this
    /// call read it, answered none: a move on of it that an earlier call
    /// was making while this one waited for it ([`Self::find_retired`])
    /// has since landed and named the store it went to (before, such a
    /// session was answered gone). With no marker now, the move this call
    /// followed was the session's first and was undone (the old store
    /// failed as it checked it again): the session is where it was, and is
    /// looked up as one that never moved. Another marker is followed as it
    /// says; the same one means the session is gone.
    fn moved_on_meanwhile(
        &self,
        g: &Generation,
        id: &str,
        into: Option<&str>,
        hops: usize,
    ) -> Migration {
        match self.inner.markers.get(id) {
            Ok(Some(Marker::Kept(now))) if now.as_deref() == into => Migration::Gone,
            Ok(None) => self.migrate_known(g, id, hops + 1),
            record => self
                .follow_record(g, id, record, hops + 1)
                .unwrap_or(Migration::Gone),
        }
    }

    /// The live session under `id` in `stores` (retired plugins of `g`,
    /// newest first), with the one that holds it. A plugin with no live
    /// session under it ends the search when `first_answer` (it holds the
    /// latest state), else the older ones are asked too (`Gone` if none has
    /// it).
    fn find_retired<'g>(
        &self,
        g: &Generation,
        stores: impl IntoIterator<Item = &'g Retired>,
        id: &str,
        first_answer: bool,
    ) -> Found<'g> {
        let mut outcome = Found::Unknown;
        let mut stores = stores.into_iter().peekable();
        // Calls begun before the swap land first: a write to a server-side
        // store, and, whatever the store, a destroy or a move of this id
        // under way (a logout by a seal a stateless store opens would
        // otherwise look for copies only in its own generation's stores, and
        // miss the one this lookup makes).
        if stores.peek().is_some() {
            self.wait_for_earlier_calls(g);
        }
        for retired in stores {
            let answer = retired.plugin.load(id);
            // It holds more under this id than the host takes (its limits
            // were lowered since, or the store broke): the session can never
            // move, so it is gone, as one the new store cannot hold is
            // (`copy`), rather than fail every request that brings the id
            // until the grace period ends. An answer, not a fault: one
            // user's big session must not get the store, and every session
            // not yet moved, dropped.
            if matches!(answer, Err(CallError::OutputTooLarge { .. })) {
                self.inner.unmovable.fetch_add(1, Ordering::Relaxed);
            }
            match answer {
                Ok(Some(old)) => {
                    retired.faults.store(0, Ordering::Relaxed);
                    return Found::Live(retired, old);
                }
                Ok(None) | Err(CallError::OutputTooLarge { .. }) => {
                    retired.faults.store(0, Ordering::Relaxed);
                    if first_answer {
                        return Found::Gone;
                    }
                    outcome = Found::Gone;
                }
                // Not this store's id: try the next one. Not a sign that
                // it works on its own ids, so its count of faults in a row
                // stays (ids of another store, as every request bringing one
                // meets it, would otherwise keep a store that traps on its
                // own sessions from ever being dropped).
                Err(CallError::Session(SessionError::InvalidId(_))) => {}
                // The old store broke (trapped, broke the contract, timed
                // out: `fault_points`) too often in a row: it is dropped, and
                // its sessions are lost either way.
                Err(e) if self.quarantine(retired, fault_points(&e)) => {}
                // The old store failed: say so rather than log the user out.
                Err(e) => return Found::Failed(from_retired(&retired.plugin, e)),
            }
        }
        outcome
    }

    /// Finds `id` in a retired plugin and moves it to `current`.
    fn migrate(&self, g: &Generation, id: &str) -> Migration {
        self.migrate_from(g, id, 0)
    }

    /// [`Self::migrate_from`] for an id that named a session (a record led
    /// to it): no store knowing it means the session is gone.
    fn migrate_known(&self, g: &Generation, id: &str, hops: usize) -> Migration {
        match self.migrate_from(g, id, hops) {
            Migration::Unknown => Migration::Gone,
            other => other,
        }
    }

    /// [`Self::migrate`], `hops` markers deep.
    fn migrate_from(&self, g: &Generation, id: &str, hops: usize) -> Migration {
        if hops > MAX_HOPS {
            return Migration::Gone;
        }
        // Migrated before (by this call's predecessors or a concurrent one):
        // follow the marker instead of migrating again.
        if let Some(found) = self.follow_marker(g, id, hops) {
            return found;
        }
        match self.find_retired(g, &g.retired, id, false) {
            Found::Live(retired, old) => self.copy(g, retired, id, old, hops),
            Found::Failed(e) => Migration::Failed(e),
            Found::Unknown => Migration::Unknown,
            Found::Gone => {
                // A concurrent call may have just moved it (and removed the
                // old copy): look where it would be now before answering
                // "gone".
                if let Some(found) = self.follow_marker(g, id, hops) {
                    return found;
                }
                match g.current.load(id) {
                    Ok(Some(record)) => Migration::Moved(record),
                    _ => Migration::Gone,
                }
            }
        }
    }

    /// Counts a fault of `retired` worth `points`; true when it was one too
    /// many and the plugin is now dropped (never for 0 points: not a fault).
    fn quarantine(&self, retired: &Retired, points: u32) -> bool {
        if points == 0 {
            return false;
        }
        let before = retired.faults.fetch_add(points, Ordering::Relaxed);
        if before.saturating_add(points) < QUARANTINE_POINTS {
            return false;
        }
        self.drop_retired_where(|r| r.plugin.same_as(&retired.plugin));
        true
    }

    /// The current plugin's answer for `id`, as a migration outcome.
    fn in_current(g: &Generation, id: &str) -> Migration {
        match g.current.load(id) {
            Ok(Some(record)) => Migration::Moved(record),
            Ok(None) | Err(CallError::Session(SessionError::InvalidId(_))) => Migration::Gone,
            Err(e) => Migration::Failed(e),
        }
    }

    /// Creates `old` (found under `id` in `retired`) in the current plugin and
    /// retires the old copy (`hops` as in [`Self::migrate_from`]).
    fn copy(
        &self,
        g: &Generation,
        retired: &Retired,
        id: &str,
        old: SessionRecord,
        hops: usize,
    ) -> Migration {
        let now = self.inner.clock.now_secs();
        let remaining = old.expires_at.saturating_sub(now);
        if remaining == 0 {
            return Migration::Gone;
        }
        // The contract's create-options carry neither created-at nor the
        // session's own ttl: the copy lives exactly as long as the original
        // had left, and slides by that remaining time afterwards.
        let options = CreateOptions {
            data: old.data,
            user_id: old.user_id,
            ttl_seconds: Some(remaining),
            id: None,
        };
        let created = if g.current.info().server_side {
            // Keep the caller's id when the new store can take it.
            match g.current.create(CreateOptions {
                id: Some(id.to_string()),
                ..options.clone()
            }) {
                // Another call migrated this id a moment ago: use its copy.
                // (Or the two stores share storage and the new one holds a
                // record it no longer counts as live: then it is gone.)
                Err(CallError::Session(SessionError::Conflict)) => return Self::in_current(g, id),
                Err(CallError::Session(
                    SessionError::InvalidId(_) | SessionError::Unsupported(_),
                )) => g.current.create(options),
                other => other,
            }
        } else {
            g.current.create(options)
        };
        let new_id = match created {
            Ok(new_id) => new_id,
            // The new store can never hold this session: answering its
            // refusal would fail every request of this user until the grace
            // period ends. It ends here instead, for this store.
            Err(CallError::Session(SessionError::TooLarge(_) | SessionError::InvalidData(_))) => {
                self.inner.unmovable.fetch_add(1, Ordering::Relaxed);
                return Migration::Gone;
            }
            Err(e) => {
                self.inner
                    .migration_failures
                    .fetch_add(1, Ordering::Relaxed);
                return Migration::Failed(e);
            }
        };
        // Record the move before the old copy is checked again and goes, so
        // a concurrent or later call with the old id finds the new one, and
        // a destroy that left a tombstone meanwhile (its retired store
        // failing) is seen here. Under the same id too: a destroy that reads
        // the marker ends this copy, and one that wrote its tombstone first
        // makes this claim fail.
        let recorded = match self.record_move(g, id, &new_id, remaining, hops) {
            Ok(recorded) => recorded,
            Err(answer) => return answer,
        };
        if retired.plugin.info().server_side {
            match retired.plugin.load(id) {
                Ok(Some(_)) => {}
                // Destroyed while it was being copied (destroy reaches the
                // retired stores first): the copy goes too, and so does the
                // marker's way to it (a stateless copy cannot be destroyed;
                // the destroy may have read the marker before it was made).
                // Buried only while the record is still this move's: a later
                // move on of the copy (by a call that stopped waiting for
                // this one) recorded where it went, and a destroy must still
                // find that.
                Ok(None) | Err(CallError::Session(SessionError::InvalidId(_))) => {
                    let _ = g.current.destroy(&new_id);
                    let ttl = self.tombstone_ttl(g);
                    if let Err(e) = self.inner.markers.bury_if(id, &recorded.marker, ttl) {
                        return self.undo_copy(g, id, &new_id, &recorded, e);
                    }
                    return Migration::Gone;
                }
                // The old store failed, so whether the session was destroyed
                // meanwhile is unknown: undo the move (the session stays
                // where it was, for a later call to move) and report it,
                // rather than keep a copy that may have been logged out or
                // answer "gone" for one that was not.
                Err(e) => {
                    let e = from_retired(&retired.plugin, e);
                    return self.undo_copy(g, id, &new_id, &recorded, e);
                }
            }
            // The new plugin did not see the id, so the two do not share
            // storage: remove the old copy so it cannot migrate twice. If it
            // stays behind, the marker recorded above keeps it from ever
            // migrating again (after a regenerate, it would undo it).
            let _ = retired.plugin.destroy(&old.id);
        }
        self.inner.migrated.fetch_add(1, Ordering::Relaxed);
        Self::in_current(g, &new_id)
    }

    /// Records the move of `id` to `new_id` (copied into `g.current`), for
    /// `ttl` seconds. When `id` moved before under the same id, this is the
    /// move on from the store it went to, and the record now names this one.
    /// Otherwise a record already there wins: another call moved it first
    /// (keep its copy) or a destroy left a tombstone (the session is over);
    /// this copy is then destroyed and the error is where the record leads.
    /// A record that changes or goes while this looks at it (another move
    /// undone) is looked at again, up to [`RECORD_TRIES`] times.
    fn record_move(
        &self,
        g: &Generation,
        id: &str,
        new_id: &str,
        ttl: u64,
        hops: usize,
    ) -> Result<Recorded, Migration> {
        let marker = if new_id == id {
            Marker::Kept(Some(g.current.namespace().to_string()))
        } else {
            Marker::Moved(new_id.to_string())
        };
        let markers = &self.inner.markers;
        // On the way out without a record: the copy goes first, then the
        // record found is followed.
        let refused = |record| {
            let _ = g.current.destroy(new_id);
            self.follow_record(g, id, record, hops)
                .unwrap_or(Migration::Gone)
        };
        let mut tries = 0;
        let before = loop {
            match markers.claim(id, &marker, ttl) {
                Ok(true) => break None,
                Ok(false) => match markers.get(id) {
                    Ok(Some(was @ Marker::Kept(_))) => {
                        match markers.replace(id, &was, &marker, ttl) {
                            Ok(true) => break Some(was),
                            // Changed meanwhile (a destroy's tombstone,
                            // another move): look again.
                            Ok(false) => {}
                            Err(e) => return Err(refused(Err(e))),
                        }
                    }
                    // Gone meanwhile (another call's move undone, its
                    // record taken back; or it expired): nothing leads
                    // anywhere, so this move is the one to record. Before,
                    // its copy was dropped and the session answered gone.
                    Ok(None) => {}
                    record => return Err(refused(record)),
                },
                Err(e) => return Err(refused(Err(e))),
            }
            tries += 1;
            if tries == RECORD_TRIES {
                return Err(refused(markers.get(id)));
            }
        };
        Ok(Recorded {
            marker,
            before,
            ttl,
        })
    }

    /// Takes back a copy of `id` made as `new_id` after the old store failed
    /// mid-move, puts back the record of `id` as it was before the move
    /// (unless a destroy has since buried it), and reports that failure.
    /// Should putting the record back fail too (the kv failing with the old
    /// store), the copy still goes and the record is left leading to it:
    /// the session then answers as gone until the record expires. Keeping
    /// the copy instead could keep a session a logout ended meanwhile, the
    /// worse of the two.
    fn undo_copy(
        &self,
        g: &Generation,
        id: &str,
        new_id: &str,
        recorded: &Recorded,
        error: CallError,
    ) -> Migration {
        let _ = g.current.destroy(new_id);
        let markers = &self.inner.markers;
        let _ = match &recorded.before {
            None => markers.release(id, &recorded.marker),
            Some(was) => markers.replace(id, &recorded.marker, was, recorded.ttl),
        };
        self.inner
            .migration_failures
            .fetch_add(1, Ordering::Relaxed);
        Migration::Failed(error)
    }

    /// Runs a write on the current plugin; when it does not know the id,
    /// migrates the session and retries with the new id.
    fn write<T>(
        &self,
        id: &str,
        op: impl Fn(&Plugin, &str) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let g = self.enter();
        let first = op(&g.current, id);
        if g.retired.is_empty() || !unknown_for_write(&first) {
            return first;
        }
        match self.migrate(&g, id) {
            Migration::Moved(record) => op(&g.current, &record.id),
            Migration::Gone => Err(SessionError::NotFound.into()),
            Migration::Failed(e) => Err(e),
            Migration::Unknown => first,
        }
    }

    /// Starts a session on the current plugin.
    pub fn create(&self, options: CreateOptions) -> Result<SessionId, CallError> {
        self.enter_settled(false).current.create(options)
    }

    /// Loads a session, migrating it from a retired plugin when needed; the
    /// record's id is the one to hold.
    pub fn load(&self, id: &str) -> Result<Option<SessionRecord>, CallError> {
        let g = self.enter();
        let first = g.current.load(id);
        if g.retired.is_empty() || !unknown_id(&first) {
            return first;
        }
        match self.migrate(&g, id) {
            Migration::Moved(record) => Ok(Some(record)),
            Migration::Gone => Ok(None),
            Migration::Failed(e) => Err(e),
            Migration::Unknown => first,
        }
    }

    /// Updates a session (migrating it first when needed).
    pub fn update(
        &self,
        id: &str,
        data: &str,
        user_id: Option<&str>,
    ) -> Result<SessionId, CallError> {
        self.write(id, |p, id| p.update(id, data, user_id))
    }

    /// Slides a session's expiry (migrating it first when needed).
    pub fn touch(&self, id: &str, ttl_seconds: Option<u64>) -> Result<SessionId, CallError> {
        self.write(id, |p, id| p.touch(id, ttl_seconds))
    }

    /// Gives a session a new id (migrating it first when needed). While
    /// plugins are retired and the current store is server-side, the old id
    /// is then ended everywhere, as by [`Self::destroy`]: a move of it still
    /// in flight (copied into the current store, not yet deleted from the
    /// old one) must not bring it back beside the new id. If that fails, the
    /// new id is destroyed too and the error returned: the session ends
    /// rather than live on under two ids. (A stateless current store cannot
    /// kill the old id anyway, and a move into it always makes a new one.)
    pub fn regenerate(&self, id: &str) -> Result<SessionId, CallError> {
        let g = self.enter();
        let first = g.current.regenerate(id);
        if g.retired.is_empty() {
            return first;
        }
        let (old, regenerated) = if unknown_for_write(&first) {
            match self.migrate(&g, id) {
                Migration::Moved(record) => {
                    let r = g.current.regenerate(&record.id);
                    (record.id, r)
                }
                Migration::Gone => return Err(SessionError::NotFound.into()),
                Migration::Failed(e) => return Err(e),
                Migration::Unknown => return first,
            }
        } else {
            (id.to_string(), first)
        };
        let new_id = regenerated?;
        if !g.current.info().server_side {
            // The caller's id led to the regenerated seal through a marker:
            // it should lead nowhere now (best effort; the old seal itself
            // stays valid, as every seal of a stateless store does).
            if old != id {
                let _ = self.inner.markers.bury(id, self.tombstone_ttl(&g));
            }
            return Ok(new_id);
        }
        if let Err(e) = self.end(&g, &old) {
            // The old id may live on somewhere: hand out no second one.
            let _ = g.current.destroy(&new_id);
            return Err(e);
        }
        Ok(new_id)
    }

    /// Ends a session in the current plugin and in every retired one, and,
    /// when it migrated under a new id, that copy too.
    pub fn destroy(&self, id: &str) -> Result<(), CallError> {
        let g = self.enter();
        if g.retired.is_empty() && !self.inner.options.migrate {
            return g.current.destroy(id);
        }
        self.end(&g, id)
    }

    /// [`Self::destroy`] within the generation `g` of this call.
    fn end(&self, g: &Generation, id: &str) -> Result<(), CallError> {
        // A migration that started before the last swap (or before the
        // grace period ended) may still be copying this session into a
        // store this destroy is about to pass: let it land first.
        if self.inner.options.migrate {
            self.wait_for_earlier_calls(g);
        }
        if g.retired.is_empty() {
            return g.current.destroy(id);
        }
        let gone = self.destroy_everywhere(g, id);
        // Read after the stores forgot `id`: a migration records its move
        // before it checks the old store again, so either the marker is seen
        // here or the migration sees the session gone and drops its copy.
        let mut record = self.inner.markers.get(id)?;
        // Follow the recorded moves (a session that moved twice has two),
        // ending each copy, then bury each record walked, newest first: a
        // stateless store still opens a copy's id, so no older id may lead
        // to it any more. Were ending a copy to fail, every record still
        // leads to it, so a retry by the old id gets there (before, the ids
        // walked were buried as it went, and a retry stopped at the first
        // one and answered ok while the copy lived on).
        let (mut from, mut needed) = (id.to_string(), self.tombstone_needed(g, &gone));
        let mut walked: Vec<Walked> = Vec::new();
        let mut changes = 0;
        // A retired server-side store that failed to destroy a copy on the
        // way: that copy has its tombstone, but the records that lead to it
        // stay unburied, so the retry the caller is told to make gets there
        // again (buried, the retry stopped at the first record and answered
        // ok, and the store served the copy were it swapped back).
        let mut copy_kept = None;
        loop {
            let ended = self.end_record(g, &from, record.as_ref(), needed, &mut copy_kept)?;
            let changed = match ended {
                Ended::Done => {
                    if let Some(e) = copy_kept.take() {
                        return Err(e);
                    }
                    match self.bury_walked(g, &mut walked)? {
                        None => break,
                        // A record changed since it was walked: go on from it.
                        Some(step) => {
                            (from, needed) = (step.from, step.needed);
                            true
                        }
                    }
                }
                Ended::Changed => true,
                Ended::MovedOn { to, needed: then } => {
                    if walked.len() == MAX_HOPS {
                        return Err(SessionError::Backend(format!(
                            "migration marker: the session's records lead through more than \
                             {MAX_HOPS} moves; the copies past them may still be live"
                        ))
                        .into());
                    }
                    let was = Marker::Moved(to.clone());
                    let step = Walked { from, was, needed };
                    walked.push(step);
                    (from, needed) = (to, then);
                    false
                }
            };
            if changed {
                changes += 1;
                if changes > RECORD_TRIES {
                    return Err(SessionError::Backend(format!(
                        "migration marker: moves racing this destroy changed the session's \
                         records {changes} times; it may still be live, destroy it again"
                    ))
                    .into());
                }
            }
            record = self.inner.markers.get(&from)?;
        }
        match (gone.answer, gone.retired_failed, gone.holder_failed) {
            // A retired server-side store could not destroy its copy: the
            // tombstone keeps it from migrating, but that store would serve
            // it again were it swapped back, so the logout is not done and
            // the caller hears so (and retries; a store that keeps failing
            // is soon quarantined and dropped). Before, this answered ok.
            (Ok(()) | Err(CallError::Session(SessionError::InvalidId(_))), Some(e), true) => Err(e),
            // The current store is done with it and the tombstone (or the
            // marker of its move) keeps the failed retired stateless store's
            // seal from ever coming back: the session is over.
            (Ok(()) | Err(CallError::Session(SessionError::InvalidId(_))), Some(_), false) => {
                Ok(())
            }
            (answer, _, _) => answer,
        }
    }

    /// Ends one step of a destroy's way along the recorded moves: `record`
    /// is the marker of `from` as read. A move under the same id is buried,
    /// then its copies (which answer to `from` itself) are ended; a move
    /// under a new id has its copy ended, and is left for the caller to
    /// bury ([`Self::bury_walked`]); no record gets a tombstone when
    /// `needed` says `from` could still come back (a retired stateless store
    /// opens it, or a failed one may hold it), for as long as that could
    /// happen. Each is written only while the record still says what was
    /// read: a move on, or a move undone and made again, may change it
    /// meanwhile, and is then followed (`Changed`) rather than written over.
    /// Before, the tombstone was written over it, and a copy that move made
    /// under a new id outlived a destroy that answered ok.
    ///
    /// A retired server-side store that fails to destroy a copy leaves its
    /// error in `copy_kept` (the first such one).
    fn end_record(
        &self,
        g: &Generation,
        from: &str,
        record: Option<&Marker>,
        needed: Option<u64>,
        copy_kept: &mut Option<CallError>,
    ) -> Result<Ended, CallError> {
        let mut end_copy = |copy: Destroyed| {
            if copy.holder_failed
                && let Some(e) = copy.retired_failed
            {
                copy_kept.get_or_insert(e);
            }
            copy_ended(copy.answer)
        };
        let markers = &self.inner.markers;
        let written = match record {
            Some(Marker::Tombstone) => return Ok(Ended::Done),
            None => match needed {
                None => return Ok(Ended::Done),
                Some(secs) => markers.claim(from, &Marker::Tombstone, secs)?,
            },
            Some(was @ Marker::Kept(_)) => {
                // Buried first: a move on of it in flight (it read a store
                // whose destroy failed) either recorded itself before, and
                // this burial fails, or meets the tombstone and drops its
                // copy; a copy it made under the same id before recording
                // itself is in a store the pass below reaches.
                let buried = markers.bury_if(from, was, self.tombstone_ttl(g))?;
                if buried {
                    end_copy(self.destroy_everywhere(g, from))?;
                }
                buried
            }
            // Buried by the caller once every copy on the way is ended.
            Some(Marker::Moved(new_id)) => {
                let copy = self.destroy_everywhere(g, new_id);
                let then = self.tombstone_needed(g, &copy);
                end_copy(copy)?;
                return Ok(Ended::MovedOn {
                    to: new_id.clone(),
                    needed: then,
                });
            }
        };
        Ok(if written { Ended::Done } else { Ended::Changed })
    }

    /// Buries the records a destroy walked (their copies are ended), newest
    /// first, each only while it still says what was read. The first that
    /// changed since (another call's move undone and made again) is taken
    /// out and handed back, for the destroy to walk on from; none when all
    /// are buried.
    fn bury_walked(
        &self,
        g: &Generation,
        walked: &mut Vec<Walked>,
    ) -> Result<Option<Walked>, CallError> {
        let ttl = self.tombstone_ttl(g);
        while let Some(step) = walked.pop() {
            if !self.inner.markers.bury_if(&step.from, &step.was, ttl)? {
                return Ok(Some(step));
            }
        }
        Ok(None)
    }

    /// Destroys `id` in the current and every retired plugin, going on past
    /// a retired plugin that fails (the caller decides what that means).
    /// Its faults count toward its quarantine, as in a migration: a broken
    /// retired store would otherwise make every logout, of any id at all,
    /// leave a tombstone for as long as it is kept.
    fn destroy_everywhere(&self, g: &Generation, id: &str) -> Destroyed {
        // Retired stores first, oldest first (sessions migrate from older to
        // newer): a migration that read the session before this then finds
        // it gone when it checks again (see `copy`).
        let mut known_somewhere = false;
        let mut stateless_live_for = None;
        let mut retired_failed = None;
        let mut holder_failed = false;
        for r in g.retired.iter().rev() {
            // A good answer here does not reset the count: it counts faults
            // in a row while migrating, and a store that breaks on `load`
            // but destroys fine must still be dropped.
            match r.plugin.destroy(id) {
                Ok(()) => {
                    known_somewhere = true;
                    if !r.plugin.info().server_side {
                        // It accepts the id; whether the id could migrate
                        // back to life is whether it opens as a live
                        // session (an expired seal answers a destroy `ok`
                        // too, and needs no tombstone).
                        match self.live_for(r, id) {
                            Ok(None) => {}
                            Ok(Some(secs)) => {
                                stateless_live_for = stateless_live_for.max(Some(secs));
                            }
                            Err(e) => {
                                self.quarantine(r, fault_points(&e));
                                retired_failed.get_or_insert(e);
                            }
                        }
                    }
                }
                Err(CallError::Session(SessionError::InvalidId(_))) => {}
                Err(e) => {
                    self.quarantine(r, fault_points(&e));
                    if r.plugin.info().server_side && !holder_failed {
                        holder_failed = true;
                        retired_failed = Some(destroying_in_retired(&r.plugin, e));
                    } else {
                        retired_failed.get_or_insert(e);
                    }
                }
            }
        }
        let current = g.current.destroy(id);
        known_somewhere |= current.is_ok();
        let answer = match current {
            Err(CallError::Session(SessionError::InvalidId(_))) if known_somewhere => Ok(()),
            other => other,
        };
        Destroyed {
            answer,
            stateless_live_for,
            retired_failed,
            holder_failed,
        }
    }

    /// Seconds `id` stays a live session in `retired` (none: it is none).
    fn live_for(&self, retired: &Retired, id: &str) -> Result<Option<u64>, CallError> {
        let now = self.inner.clock.now_secs();
        match retired.plugin.load(id) {
            Ok(Some(record)) => Ok(Some(record.expires_at.saturating_sub(now)).filter(|&s| s > 0)),
            Ok(None) | Err(CallError::Session(SessionError::InvalidId(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How long a tombstone for the id `gone` answered must last, if one is
    /// needed: while a retired store that failed may hold it, as long as
    /// any retired store is kept; while a retired stateless store opens it,
    /// until that session expires (or the store is dropped, if sooner).
    /// Each tombstone is an entry in the harness's namespace: one per
    /// destroy of a session that can still come back, never longer than it
    /// could.
    fn tombstone_needed(&self, g: &Generation, gone: &Destroyed) -> Option<u64> {
        let kept = self.tombstone_ttl(g);
        if gone.retired_failed.is_some() {
            return Some(kept);
        }
        gone.stateless_live_for.map(|secs| secs.min(kept).max(1))
    }

    /// Purges the current plugin and the retired ones; the total removed.
    /// A plugin that fails does not stop the others from being purged; the
    /// first failure is then the answer.
    pub fn purge_expired(&self) -> Result<u64, CallError> {
        // Not counted as a call of this generation: it writes no session, so
        // a move or destroy need not wait for it (it may run for seconds).
        let g = self.generation();
        let mut removed = 0;
        let mut failed = None;
        let results = std::iter::once(&g.current)
            .chain(g.retired.iter().map(|r| &r.plugin))
            .map(Plugin::purge_expired);
        for result in results {
            match result {
                Ok(n) => removed += n,
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(removed), Err)
    }

    /// Live sessions in the current plugin.
    pub fn count(&self) -> Result<u64, CallError> {
        // Not counted, as `purge_expired`.
        self.generation().current.count()
    }
}

/// Whether destroying a copy everywhere ended it: ok, or no store that is
/// still kept knows its id; else that store's error.
fn copy_ended(answer: Result<(), CallError>) -> Result<(), CallError> {
    match answer {
        Ok(()) | Err(CallError::Session(SessionError::InvalidId(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What a retired plugin's failure counts toward its quarantine (see
/// [`QUARANTINE_POINTS`]): a trap or a broken contract is the store's fault,
/// a timeout may be; the memory limit or no free instance slot is one
/// session's size or the host's load, not the store's, and counts nothing
/// (else one user's requests for a session too big for the limit could get
/// the store dropped, and with it every session not yet moved). So a store
/// that hits the memory limit on every lookup, or traps after a refused
/// growth (reported as the limit), fails those lookups until its grace
/// period ends or the host drops it ([`SwappableStore::drop_retired`]).
fn fault_points(e: &CallError) -> u32 {
    match e {
        CallError::Trap { .. } | CallError::Contract { .. } => FAULT_POINTS,
        CallError::Timeout { .. } => TIMEOUT_POINTS,
        _ => 0,
    }
}

/// A retired plugin's failure to destroy its copy of a session, as the
/// caller of `destroy` gets it (a session answer names the plugin).
fn destroying_in_retired(plugin: &Plugin, e: CallError) -> CallError {
    match e {
        CallError::Session(s) => CallError::Session(s.prefixed(&format!(
            "retired plugin {} (which may still hold the session; destroy it again): ",
            plugin.name()
        ))),
        other => other,
    }
}

/// A retired plugin's failure, as the caller of a migration gets it: a
/// session answer names the plugin (it would otherwise read as the current
/// store's); traps, timeouts and contract errors name it already.
fn from_retired(plugin: &Plugin, e: CallError) -> CallError {
    match e {
        CallError::Session(s) => CallError::Session(s.prefixed(&format!(
            "retired plugin {} (consulted to migrate the session): ",
            plugin.name()
        ))),
        other => other,
    }
}

/// Checks that `plugin` serves, with its configuration, by one throwaway
/// session: the empty session (`{}`, no user, so the smallest limits a store
/// accepts still pass) created (60 s ttl), loaded back, destroyed. [`SwappableStore`]
/// runs this before swapping a plugin in; a host can run it after loading,
/// since a store reads its configuration on first use.
pub fn check_serves(plugin: &Plugin) -> Result<(), SwapError> {
    let failed = |step: &'static str| {
        move |error: CallError| SwapError::Check {
            plugin: plugin.name().to_string(),
            step,
            error,
        }
    };
    let data = crate::data::empty_data_json();
    let id = plugin
        .create(CreateOptions::new(data.clone()).ttl(60))
        .map_err(failed("create"))?;
    match plugin.load(&id).map_err(failed("load"))? {
        Some(r) if r.data == data => {}
        other => {
            return Err(failed("load")(CallError::Contract {
                plugin: plugin.name().to_string(),
                op: "load",
                reason: format!("the session just created loads as {other:?}"),
            }));
        }
    }
    plugin.destroy(&id).map_err(failed("destroy"))
}
