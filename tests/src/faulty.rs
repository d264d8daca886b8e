//! A kv backend that fails and races on demand and logs every call, for tests
//! of what stores write and how they report backend failures.

use host_harness::{Harness, KeyPage, KvBackend, KvError, ManualClock, MemoryBackend, WriteMode};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// One call a store made, as the backend saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvCall {
    /// `get(key)`.
    Get(String),
    /// `set(key, ..., ttl, mode)`.
    Set(String, Option<u64>, WriteMode),
    /// `delete(key)`.
    Delete(String),
    /// `delete-if-equals(key, ...)` (the harness's own records).
    DeleteIfEquals(String),
    /// `replace-if-equals(key, ...)` (the harness's own records).
    ReplaceIfEquals(String),
    /// `list-keys(prefix, ...)`.
    List(String),
}

/// A [`MemoryBackend`] whose reads (all, or of one key), or deletes of one
/// key, can be made to fail or wait (before or after they ran), a delete
/// either not running or running with its reply lost; that can refuse
/// `if-absent` writes or delete a key just before an `if-present` write
/// (another host's destroy landing between a store's read and its write);
/// and that logs every call.
pub struct FaultyBackend {
    inner: MemoryBackend,
    fail_reads: AtomicBool,
    /// Namespace, key, reads to let through, and whether only one fails.
    fail_read_of: Mutex<Option<(String, String, usize, bool)>>,
    fail_delete_of: Mutex<Option<String>>,
    fail_delete_in: Mutex<Option<(String, String)>>,
    lose_delete_reply_of: Mutex<Option<String>>,
    refuse_if_absent: AtomicUsize,
    delete_before_if_present: AtomicBool,
    hold: Mutex<Option<HeldWrite>>,
    hold_delete: Mutex<Option<HeldDelete>>,
    hold_read: Mutex<Option<HeldKeyCall>>,
    hold_after_delete: Mutex<Option<HeldKeyCall>>,
    hold_after_read: Mutex<Option<HeldKeyCall>>,
    delay: Mutex<Option<std::time::Duration>>,
    log: Mutex<Vec<KvCall>>,
}

/// Which write to hold, and the backend's end of [`Held`].
struct HeldWrite {
    mode: WriteMode,
    namespace: Option<String>,
    gate: Gate,
}

/// Which delete to hold, and the backend's end of [`Held`].
struct HeldDelete {
    namespace: String,
    key: String,
    gate: Gate,
}

/// Which call on a key to hold (a read, or a delete once it ran), after
/// how many such calls on it pass, and the backend's end of [`Held`].
struct HeldKeyCall {
    namespace: String,
    key: String,
    after: usize,
    gate: Gate,
}

/// The backend's end of [`Held`]: says the held call has started, then
/// waits for the test to let it go on.
struct Gate {
    entered: Sender<()>,
    release: Receiver<()>,
}

impl Gate {
    /// A gate and the test's end of it.
    fn new() -> (Self, Held) {
        let (entered_tx, entered) = channel();
        let (release, release_rx) = channel();
        let gate = Self {
            entered: entered_tx,
            release: release_rx,
        };
        (gate, Held { entered, release })
    }

    /// Tells the test the held call has started and waits until it is
    /// released (or the test's end is dropped).
    fn pass(self) {
        let _ = self.entered.send(());
        let _ = self.release.recv();
    }
}

/// Puts which call to hold, made by `which` around a fresh [`Gate`], in
/// `slot`, and hands back the test's end.
fn hold<W>(slot: &Mutex<Option<W>>, which: impl FnOnce(Gate) -> W) -> Held {
    let (gate, held) = Gate::new();
    if let Ok(mut h) = slot.lock() {
        *h = Some(which(gate));
    }
    held
}

/// The test's end of a held call ([`FaultyBackend::hold_next_if_present`],
/// [`FaultyBackend::hold_next_write`], [`FaultyBackend::hold_next_delete`],
/// [`FaultyBackend::hold_read_of`], [`FaultyBackend::hold_after_read_of`],
/// [`FaultyBackend::hold_after_delete_of`]).
pub struct Held {
    /// Receives once the held call has started.
    pub entered: Receiver<()>,
    /// Send (or drop) to let the held call go on.
    pub release: Sender<()>,
}

impl Held {
    /// Waits up to 20 s for the held call to start, and hands `thread` (the
    /// one that is to make it) back.
    ///
    /// # Panics
    /// When it does not start in time: `"{what}: "` and how `thread` ended.
    pub fn wait_entered<T: Debug>(&self, thread: JoinHandle<T>, what: &str) -> JoinHandle<T> {
        if self.entered.recv_timeout(Duration::from_secs(20)).is_err() {
            panic!("{what}: {:?}", thread.join());
        }
        thread
    }
}

impl FaultyBackend {
    /// Makes the next `n` `if-absent` writes answer false without writing,
    /// as if the key were taken.
    pub fn refuse_if_absent(&self, n: usize) {
        self.refuse_if_absent.store(n, Ordering::SeqCst);
    }

    /// Makes the next `if-present` write find its key deleted just before.
    pub fn delete_before_next_if_present(&self) {
        self.delete_before_if_present.store(true, Ordering::SeqCst);
    }

    /// Makes the next `if-present` write wait, once it has started, until
    /// the test releases it: a write caught in flight.
    pub fn hold_next_if_present(&self) -> Held {
        self.hold_next_write(WriteMode::IfPresent, None)
    }

    /// Makes the next write with `mode` (in namespace `ns`, when given) wait
    /// the same way.
    pub fn hold_next_write(&self, mode: WriteMode, ns: Option<&str>) -> Held {
        hold(&self.hold, |gate| HeldWrite {
            mode,
            namespace: ns.map(str::to_string),
            gate,
        })
    }

    /// Makes the next delete of `key` in namespace `ns` wait, once it has
    /// started, until the test releases it (then it runs).
    pub fn hold_next_delete(&self, ns: &str, key: &str) -> Held {
        hold(&self.hold_delete, |gate| HeldDelete {
            namespace: ns.to_string(),
            key: key.to_string(),
            gate,
        })
    }

    /// Lets the next `after` reads of `key` in namespace `ns` through, then
    /// makes the one after wait, once it has started, until the test
    /// releases it (then it runs, or fails as [`Self::fail_reads_of`] says).
    pub fn hold_read_of(&self, ns: &str, key: &str, after: usize) -> Held {
        hold_key_call(&self.hold_read, ns, key, after)
    }

    /// Lets the next `after` reads of `key` in namespace `ns` through, then
    /// makes the one after wait, once it has read, until the test releases
    /// it (then it answers what it read): a call caught between its read
    /// and whatever it does next.
    pub fn hold_after_read_of(&self, ns: &str, key: &str, after: usize) -> Held {
        hold_key_call(&self.hold_after_read, ns, key, after)
    }

    /// Lets the next `after` deletes of `key` in namespace `ns` through,
    /// then makes the one after wait, once it has deleted, until the test
    /// releases it (then it answers): a call caught between its delete and
    /// whatever it does next.
    pub fn hold_after_delete_of(&self, ns: &str, key: &str, after: usize) -> Held {
        hold_key_call(&self.hold_after_delete, ns, key, after)
    }

    /// Takes the calls logged since the last take.
    pub fn take_log(&self) -> Vec<KvCall> {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    fn record(&self, call: KvCall) {
        if let Ok(mut l) = self.log.lock() {
            l.push(call);
        }
        if let Some(d) = self.delay.lock().ok().and_then(|d| *d) {
            std::thread::sleep(d);
        }
    }

    /// Makes every call take `delay` longer (a slow server), or not.
    pub fn delay_each_call(&self, delay: Option<std::time::Duration>) {
        if let Ok(mut d) = self.delay.lock() {
            *d = delay;
        }
    }

    /// Makes every `get` fail (or succeed again).
    pub fn fail_reads(&self, fail: bool) {
        self.fail_reads.store(fail, Ordering::SeqCst);
    }

    /// Lets the next `after` reads of `key` in namespace `ns` through, then
    /// makes every read of it fail (none: no failures).
    pub fn fail_reads_of(&self, rule: Option<(&str, &str, usize)>) {
        if let Ok(mut r) = self.fail_read_of.lock() {
            *r = rule.map(|(ns, key, after)| (ns.to_string(), key.to_string(), after, false));
        }
    }

    /// Lets the next `after` reads of `key` in namespace `ns` through, then
    /// makes the one after fail, and only that one.
    pub fn fail_one_read_of(&self, ns: &str, key: &str, after: usize) {
        if let Ok(mut r) = self.fail_read_of.lock() {
            *r = Some((ns.to_string(), key.to_string(), after, true));
        }
    }

    /// Whether this read is to fail (see [`Self::fail_reads_of`]).
    fn read_fails(&self, ns: &str, key: &str) -> bool {
        let Ok(mut rule) = self.fail_read_of.lock() else {
            return false;
        };
        let fails = match rule.as_mut() {
            Some((n, k, after, _)) if n == ns && k == key => counted_down(after),
            _ => false,
        };
        if fails && rule.as_ref().is_some_and(|r| r.3) {
            *rule = None;
        }
        fails
    }

    /// Makes deletes of `key` fail without deleting (none: no failures).
    pub fn fail_delete_of(&self, key: Option<String>) {
        if let Ok(mut k) = self.fail_delete_of.lock() {
            *k = key;
        }
    }

    /// Makes deletes of `key` in namespace `ns` fail without deleting (none:
    /// no failures): one store's backend failing while another's answers.
    pub fn fail_delete_in(&self, rule: Option<(&str, &str)>) {
        if let Ok(mut r) = self.fail_delete_in.lock() {
            *r = rule.map(|(ns, key)| (ns.to_string(), key.to_string()));
        }
    }

    /// Makes the next delete of `key` run and then fail, as when the
    /// connection is lost after the server ran the command but before its
    /// reply arrived.
    pub fn lose_next_delete_reply_of(&self, key: &str) {
        if let Ok(mut k) = self.lose_delete_reply_of.lock() {
            *k = Some(key.to_string());
        }
    }
}

/// Puts a hold of the call on `key` in `ns` after `after` such calls pass
/// in `slot` ([`FaultyBackend::hold_read_of`] and the like).
fn hold_key_call(slot: &Mutex<Option<HeldKeyCall>>, ns: &str, key: &str, after: usize) -> Held {
    hold(slot, |gate| HeldKeyCall {
        namespace: ns.to_string(),
        key: key.to_string(),
        after,
        gate,
    })
}

/// The hold in `slot`, taken out of it, when it names `key` in `ns` and the
/// calls it lets through first have passed (this one counted).
fn counted_hold(slot: &Mutex<Option<HeldKeyCall>>, ns: &str, key: &str) -> Option<HeldKeyCall> {
    let mut h = slot.lock().ok()?;
    let held = h.as_mut().filter(|r| r.namespace == ns && r.key == key)?;
    if counted_down(&mut held.after) {
        h.take()
    } else {
        None
    }
}

/// Counts one more call against `after` calls let through: true once they
/// have all passed (this call and every later one), false while one is left.
fn counted_down(after: &mut usize) -> bool {
    match after.checked_sub(1) {
        Some(left) => {
            *after = left;
            false
        }
        None => true,
    }
}

/// Whether `rule` names `key`.
fn names(rule: &Mutex<Option<String>>, key: &str) -> bool {
    rule.lock().ok().and_then(|k| k.clone()).as_deref() == Some(key)
}

/// A harness on a [`ManualClock`] over a fresh [`FaultyBackend`].
pub fn harness_with_faulty_kv() -> (Harness, Arc<FaultyBackend>) {
    let (harness, backend, _) = harness_with_faulty_kv_and_clock();
    (harness, backend)
}

impl FaultyBackend {
    /// A backend over a fresh memory kv on `clock`, behaving until told
    /// otherwise.
    pub fn new(clock: &ManualClock) -> FaultyBackend {
        FaultyBackend {
            inner: MemoryBackend::new(Arc::new(clock.clone())),
            fail_reads: AtomicBool::new(false),
            fail_read_of: Mutex::new(None),
            fail_delete_of: Mutex::new(None),
            fail_delete_in: Mutex::new(None),
            lose_delete_reply_of: Mutex::new(None),
            refuse_if_absent: AtomicUsize::new(0),
            delete_before_if_present: AtomicBool::new(false),
            hold: Mutex::new(None),
            hold_delete: Mutex::new(None),
            hold_read: Mutex::new(None),
            hold_after_delete: Mutex::new(None),
            hold_after_read: Mutex::new(None),
            delay: Mutex::new(None),
            log: Mutex::new(Vec::new()),
        }
    }
}

/// [`harness_with_faulty_kv`], with the clock.
pub fn harness_with_faulty_kv_and_clock() -> (Harness, Arc<FaultyBackend>, ManualClock) {
    let clock = ManualClock::new(crate::fixtures::T0);
    let backend = Arc::new(FaultyBackend::new(&clock));
    // The shared test harness (with the test compile cache, so each test
    // does not compile the guests again).
    let harness = crate::fixtures::harness_on(backend.clone(), &clock);
    (harness, backend, clock)
}

impl KvBackend for FaultyBackend {
    fn name(&self) -> &str {
        "faulty"
    }

    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.record(KvCall::Get(key.to_string()));
        if let Some(r) = counted_hold(&self.hold_read, ns, key) {
            r.gate.pass();
        }
        if self.fail_reads.load(Ordering::SeqCst) || self.read_fails(ns, key) {
            return Err(KvError::Backend("read timed out".into()));
        }
        let read = self.inner.get(ns, key);
        if let Some(r) = counted_hold(&self.hold_after_read, ns, key) {
            r.gate.pass();
        }
        read
    }

    fn set(
        &self,
        ns: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        self.record(KvCall::Set(key.to_string(), ttl, mode));
        let refuse = mode == WriteMode::IfAbsent
            && self
                .refuse_if_absent
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if refuse {
            return Ok(false);
        }
        let held = self.hold.lock().ok().and_then(|mut h| {
            let wanted = h
                .as_ref()
                .is_some_and(|w| w.mode == mode && w.namespace.as_deref().is_none_or(|n| n == ns));
            if wanted { h.take() } else { None }
        });
        if let Some(w) = held {
            w.gate.pass();
        }
        if mode == WriteMode::IfPresent
            && self.delete_before_if_present.swap(false, Ordering::SeqCst)
        {
            self.inner.delete(ns, key)?;
        }
        self.inner.set(ns, key, value, ttl, mode)
    }

    fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        self.record(KvCall::Delete(key.to_string()));
        let held = self
            .hold_delete
            .lock()
            .ok()
            .and_then(|mut h| h.take_if(|h| h.namespace == ns && h.key == key));
        if let Some(h) = held {
            h.gate.pass();
        }
        let failing_here = self
            .fail_delete_in
            .lock()
            .ok()
            .is_some_and(|r| r.as_ref().is_some_and(|(n, k)| n == ns && k == key));
        if names(&self.fail_delete_of, key) || failing_here {
            return Err(KvError::Backend("connection reset by peer".into()));
        }
        let lose_reply = self
            .lose_delete_reply_of
            .lock()
            .ok()
            .and_then(|mut k| k.take_if(|k| k == key))
            .is_some();
        if lose_reply {
            self.inner.delete(ns, key)?;
            return Err(KvError::Backend(
                "connection lost before the reply arrived".into(),
            ));
        }
        let deleted = self.inner.delete(ns, key);
        if let Some(h) = counted_hold(&self.hold_after_delete, ns, key) {
            h.gate.pass();
        }
        deleted
    }

    fn delete_if_equals(&self, ns: &str, key: &str, expected: &[u8]) -> Result<bool, KvError> {
        self.record(KvCall::DeleteIfEquals(key.to_string()));
        self.inner.delete_if_equals(ns, key, expected)
    }

    fn replace_if_equals(
        &self,
        ns: &str,
        key: &str,
        expected: &[u8],
        value: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool, KvError> {
        self.record(KvCall::ReplaceIfEquals(key.to_string()));
        self.inner.replace_if_equals(ns, key, expected, value, ttl)
    }

    fn list_keys(
        &self,
        ns: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        self.record(KvCall::List(prefix.to_string()));
        self.inner.list_keys(ns, prefix, cursor, limit)
    }
}
