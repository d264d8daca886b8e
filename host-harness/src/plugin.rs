//! A loaded plugin: a compiled component, pre-instantiated against the
//! harness linker, and a pool of instances that calls run on.
//!
//! [`Plugin`] is `Send + Sync + Clone`; clones share the pool, so any number
//! of threads can call it at once (each call takes its own instance).

use crate::bindings::wit_types::SessionError as WitSessionError;
use crate::bindings::{SessionHostPre, plugin_api};
use crate::capabilities;
use crate::engine::ticks_covering;
use crate::error::{CallError, SessionError};
use crate::guest_log::GuestLog;
use crate::harness::Shared;
use crate::input;
use crate::kv::host::KvView;
use crate::limits::{Limits, MemoryLimiter};
use crate::output::OutputCheck;
use crate::pool::{Instance, InstancePool};
use crate::state::{CallClock, HostState};
use crate::types::{CreateOptions, PluginInfo, SessionId, SessionRecord};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_config::WasiConfigVariables;

/// Epoch ticks before a call is first looked at: its clocks are read then,
/// so a call that ends within a tick (nearly every call) reads none.
const FIRST_LOOK_TICKS: u64 = 1;

/// Idle instances one checkout drops, at most, to find a slot (each frees
/// one; another thread may take it first).
const MAX_EVICTIONS: usize = 8;

/// What wasmtime 48 (`runtime/component/func/options.rs`) reports when a
/// lift runs out of hostcall fuel ([`Limits::copy_limit_bytes`]); its error
/// type is private, so the text is matched (the sandbox tests pin it).
const HOSTCALL_FUEL_EXHAUSTED: &str = "too much data is being copied between the host and the guest: fuel allocated for hostcalls has been exhausted";

/// Counters of one plugin's instance pool. More may be added: match on
/// fields, not on the whole struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PluginStats {
    /// Instances created so far.
    pub instantiations: u64,
    /// Instances thrown away after a failed call.
    pub discarded: u64,
    /// Instances idle in the pool now.
    pub idle: usize,
}

pub(crate) struct PluginInner {
    pub(crate) name: String,
    pub(crate) info: PluginInfo,
    pre: SessionHostPre<HostState>,
    pool: Arc<InstancePool>,
    shared: Arc<Shared>,
    config: Arc<WasiConfigVariables>,
    kv: KvView,
    /// The kv namespace `kv` is bound to.
    namespace: Arc<str>,
    limits: Limits,
    instantiations: AtomicU64,
    discarded: AtomicU64,
}

/// A loaded session plugin with typed methods for the nine operations.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

/// Which deadline a call runs under.
#[derive(Clone, Copy)]
enum Budget {
    Call,
    Maintenance,
}

impl Plugin {
    /// Wraps a pre-instantiated component and probes it with `info`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        name: String,
        pre: SessionHostPre<HostState>,
        config: WasiConfigVariables,
        namespace: Arc<str>,
        limits: Limits,
    ) -> Result<Self, CallError> {
        let kv = KvView::new(shared.kv.clone(), namespace.clone());
        let pool = Arc::new(InstancePool::new(limits.max_idle_instances));
        shared.register_pool(&pool);
        let mut plugin = Plugin {
            inner: Arc::new(PluginInner {
                info: PluginInfo {
                    name: name.clone(),
                    version: String::new(),
                    server_side: false,
                },
                name,
                pre,
                pool,
                shared,
                config: Arc::new(config),
                kv,
                namespace,
                limits,
                instantiations: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
            }),
        };
        let info = plugin.fetch_info()?;
        // Only this function holds the Arc yet.
        if let Some(inner) = Arc::get_mut(&mut plugin.inner) {
            inner.info = info;
        }
        Ok(plugin)
    }

    /// The name this host gave the plugin (file stem or the load option); it
    /// appears in every error message.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the plugin said about itself when it was loaded.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// The kv namespace this plugin's records live in.
    pub(crate) fn namespace(&self) -> &Arc<str> {
        &self.inner.namespace
    }

    /// Whether `other` is a handle to this same loaded plugin.
    pub fn same_as(&self, other: &Plugin) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The limits this plugin runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Pool counters.
    pub fn stats(&self) -> PluginStats {
        PluginStats {
            instantiations: self.inner.instantiations.load(Ordering::Relaxed),
            discarded: self.inner.discarded.load(Ordering::Relaxed),
            idle: self.inner.pool.idle(),
        }
    }

    /// Drops the idle instances (they are recreated on demand).
    pub fn clear_pool(&self) {
        self.inner.pool.clear();
    }

    /// Pools at most one idle instance per thread shard (a replaced plugin,
    /// kept for migration lookups, holds few instance slots), or as many as
    /// its limits allow again.
    pub(crate) fn set_pooling(&self, on: bool) {
        self.inner.pool.set_closed(!on);
    }

    /// Creates a fresh instance, for measuring instantiation; it is then pooled.
    pub fn warm_up(&self, instances: usize) -> Result<(), CallError> {
        let fresh: Result<Vec<_>, _> = (0..instances).map(|_| self.instantiate()).collect();
        for i in fresh? {
            self.inner.pool.put(i);
        }
        Ok(())
    }

    /// Instantiates and immediately drops one instance (benchmark helper).
    pub fn instantiate_once(&self) -> Result<(), CallError> {
        self.instantiate().map(drop)
    }

    fn instantiate(&self) -> Result<Instance, CallError> {
        let inner = &*self.inner;
        let log = GuestLog::default();
        let state = HostState {
            wasi: capabilities::wasi_ctx(inner.shared.clock.clone(), log.clone()),
            log,
            table: capabilities::resource_table(),
            config: inner.config.clone(),
            kv: inner.kv.clone(),
            limiter: MemoryLimiter::new(inner.limits.memory_bytes),
            call: CallClock::new(inner.limits.call_deadline),
        };
        let mut store = Store::new(&inner.shared.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(inner.limits.copy_limit_bytes());
        // Every call is first looked at on its first epoch tick, then when
        // what it has left runs out in wall time (`CallClock`): the deadline
        // is for the CPU time of the guest's own work, so a thread kept off
        // the CPU (by a loaded machine or a slow kv server) is looked at
        // again later instead of being stopped.
        store.epoch_deadline_callback(|mut ctx| match ctx.data_mut().time_left() {
            left if left.is_zero() => Ok(UpdateDeadline::Interrupt),
            left => Ok(UpdateDeadline::Continue(ticks_covering(left))),
        });
        store.set_epoch_deadline(FIRST_LOOK_TICKS);
        inner.instantiations.fetch_add(1, Ordering::Relaxed);
        match inner.pre.instantiate(&mut store) {
            Ok(api) => Ok(Instance { store, api }),
            Err(e) => Err(self.classify("instantiate", inner.limits.call_deadline, &store, e)),
        }
    }

    /// An idle instance, or a new one. With no instance slot free (or no
    /// memory for one), an instance another plugin holds idle is dropped to
    /// make room, a few times over, before the host's capacity is the
    /// answer: idle instances must not keep a plugin that has calls to
    /// serve from being served. (This plugin's own, returned meanwhile, are
    /// taken, not dropped.)
    fn checkout(&self) -> Result<Instance, CallError> {
        let mut evictions = 0;
        loop {
            if let Some(i) = self.inner.pool.take() {
                return Ok(i);
            }
            match self.instantiate() {
                Err(CallError::Instantiate { .. })
                    if evictions < MAX_EVICTIONS
                        && self.inner.shared.evict_idle_instance(&self.inner.pool) =>
                {
                    evictions += 1;
                }
                made => return made,
            }
        }
    }

    /// Runs `f` on a pooled instance under the deadline, then `then` on its
    /// result. The instance goes back to the pool only when both succeeded or
    /// the failure is a session answer; one that trapped, timed out or handed
    /// back something out of bounds is discarded.
    fn run<R, T>(
        &self,
        op: &'static str,
        budget: Budget,
        f: impl FnOnce(&plugin_api::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
        then: impl FnOnce(R) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let deadline = match budget {
            Budget::Call => self.inner.limits.call_deadline,
            Budget::Maintenance => self.inner.limits.maintenance_deadline,
        };
        let mut inst = self.checkout()?;
        inst.store.data_mut().begin_call(deadline);
        inst.store.set_epoch_deadline(FIRST_LOOK_TICKS);
        let result = match f(inst.api.session_plugin_session_plugin(), &mut inst.store) {
            Ok(r) => then(r),
            Err(e) => Err(self.classify(op, deadline, &inst.store, e)),
        };
        match &result {
            Err(e) if e.is_plugin_fault() => {
                self.inner.discarded.fetch_add(1, Ordering::Relaxed);
            }
            _ => self.inner.pool.put(inst),
        }
        result
    }

    /// [`Plugin::run`] for operations returning `result<W, session-error>`,
    /// with `check` applied to the success value.
    fn op<R, W>(
        &self,
        op: &'static str,
        budget: Budget,
        f: impl FnOnce(
            &plugin_api::Guest,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<W, WitSessionError>>,
        check: impl FnOnce(&OutputCheck<'_>, W) -> Result<R, CallError>,
    ) -> Result<R, CallError> {
        self.run(op, budget, f, |answer| {
            let value = answer.map_err(|e| SessionError::from(e).sanitized())?;
            let checker = OutputCheck {
                plugin: &self.inner.name,
                op,
                limits: &self.inner.limits,
            };
            check(&checker, value)
        })
    }

    fn classify(
        &self,
        op: &'static str,
        deadline: Duration,
        store: &Store<HostState>,
        e: wasmtime::Error,
    ) -> CallError {
        let plugin = self.inner.name.clone();
        if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
            return CallError::Timeout {
                plugin,
                op,
                deadline,
                wall_time: store.data().call.stopped_by_wall_time(),
            };
        }
        // Before the memory limit: a guest that met it, carried on, then
        // handed over too much is stopped by the copy limit.
        if e.chain().any(|c| c.to_string() == HOSTCALL_FUEL_EXHAUSTED) {
            return CallError::CopyLimit {
                plugin,
                op,
                limit_bytes: self.inner.limits.copy_limit_bytes(),
            };
        }
        if store.data().limiter.hit {
            return CallError::MemoryLimit {
                plugin,
                op,
                limit_bytes: self.inner.limits.memory_bytes,
            };
        }
        let mut message = if let Some(trap) = e.downcast_ref::<Trap>() {
            trap.to_string()
        } else if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            format!("the guest called exit({})", exit.0)
        } else {
            format!("{e:#}")
        };
        if let Some(line) = store.data().log.last_line() {
            message.push_str("; guest stderr: ");
            message.push_str(&line);
        }
        // No slot in the pooling allocator, no memory to be had from the
        // system: the host's capacity. Anything else that stops an instance
        // being made (a trap in its start code, a data segment past its
        // memory, more tables or memories than a store may create) is the
        // plugin's, like a trap in a call.
        if op == "instantiate"
            && (e.is::<wasmtime::PoolConcurrencyLimitError>()
                || e.is::<wasmtime::OutOfMemory>()
                || e.is::<std::io::Error>())
        {
            return CallError::Instantiate { plugin, message };
        }
        CallError::Trap {
            plugin,
            op,
            message,
        }
    }

    /// Calls `info` on an instance (the load-time probe uses this).
    pub fn fetch_info(&self) -> Result<PluginInfo, CallError> {
        self.run(
            "info",
            Budget::Call,
            |api, store| api.call_info(store),
            |info| {
                let info = PluginInfo::from(info);
                OutputCheck {
                    plugin: &self.inner.name,
                    op: "info",
                    limits: &self.inner.limits,
                }
                .info(&info)
                .map(|()| info.escaped())
            },
        )
    }

    /// An id argument as the bindings take it (`&SessionId`, a `String`),
    /// once [`input::id`] has let it through.
    fn id_arg(&self, id: &str) -> Result<SessionId, CallError> {
        input::id(&self.inner.limits, id)?;
        Ok(id.to_owned())
    }

    /// Starts a session; returns its id.
    pub fn create(&self, options: CreateOptions) -> Result<SessionId, CallError> {
        let limits = &self.inner.limits;
        input::session(limits, &options.data, options.user_id.as_deref())?;
        if let Some(id) = &options.id {
            input::id(limits, id)?;
        }
        let options = options.into();
        self.op(
            "create",
            Budget::Call,
            |api, store| api.call_create(store, &options),
            |c, id| c.id(&id).map(|()| id),
        )
    }

    /// Loads a session: `Ok(None)` when no live session has this id.
    pub fn load(&self, id: &str) -> Result<Option<SessionRecord>, CallError> {
        let id = self.id_arg(id)?;
        let now = self.inner.shared.clock.now_secs();
        self.op(
            "load",
            Budget::Call,
            |api, store| api.call_load(store, &id),
            |c, r| match r {
                None => Ok(None),
                Some(r) => {
                    let r = SessionRecord::from(r);
                    c.record(&r, now).map(|()| Some(r))
                }
            },
        )
    }

    /// Replaces data and user and slides the expiry; returns the id to hold.
    pub fn update(
        &self,
        id: &str,
        data: &str,
        user_id: Option<&str>,
    ) -> Result<SessionId, CallError> {
        let id = self.id_arg(id)?;
        input::session(&self.inner.limits, data, user_id)?;
        self.op(
            "update",
            Budget::Call,
            |api, store| api.call_update(store, &id, data, user_id),
            |c, id| c.id(&id).map(|()| id),
        )
    }

    /// Slides the expiry (optionally with a new ttl); returns the id to hold.
    pub fn touch(&self, id: &str, ttl_seconds: Option<u64>) -> Result<SessionId, CallError> {
        let id = self.id_arg(id)?;
        self.op(
            "touch",
            Budget::Call,
            |api, store| api.call_touch(store, &id, ttl_seconds),
            |c, id| c.id(&id).map(|()| id),
        )
    }

    /// Moves the session to a new id; returns it.
    pub fn regenerate(&self, id: &str) -> Result<SessionId, CallError> {
        let id = self.id_arg(id)?;
        self.op(
            "regenerate",
            Budget::Call,
            |api, store| api.call_regenerate(store, &id),
            |c, id| c.id(&id).map(|()| id),
        )
    }

    /// Ends a session (idempotent).
    pub fn destroy(&self, id: &str) -> Result<(), CallError> {
        let id = self.id_arg(id)?;
        self.op(
            "destroy",
            Budget::Call,
            |api, store| api.call_destroy(store, &id),
            |_, ()| Ok(()),
        )
    }

    /// Removes expired records; returns how many.
    pub fn purge_expired(&self) -> Result<u64, CallError> {
        self.op(
            "purge-expired",
            Budget::Maintenance,
            |api, store| api.call_purge_expired(store),
            |_, n| Ok(n),
        )
    }

    /// How many live sessions exist.
    pub fn count(&self) -> Result<u64, CallError> {
        self.op(
            "count",
            Budget::Maintenance,
            |api, store| api.call_count(store),
            |_, n| Ok(n),
        )
    }
}
