//! A shared [`KvBackend`] on a Redis (or Valkey) server, so several hosts serve
//! the same sessions.
//!
//! Layout, for a plugin namespace `ns` (its byte length `n` written out so no
//! two namespaces can collide) under the backend's key prefix `p` (which must
//! not end in an ASCII digit, or the length could run into it):
//!
//! - `p{n}:ns/k/<key>`: one string per kv key, with the kv ttl as a Redis `EX`;
//! - `p{n}:ns/i`: a sorted set of every key written, all scores 0, so that
//!   `ZRANGEBYLEX` lists keys in ascending byte order with a cursor;
//! - `p{n}:ns/e`: a sorted set of the keys written with a ttl, scored by when
//!   they expire (Unix milliseconds, server clock);
//! - `p{n}:ns/l`: a hash of what each key in the index is charged against the
//!   namespace's quota ([`entry_cost`]), and `p{n}:ns/b`: their sum, the
//!   bytes the namespace holds (expired keys included until reaped).
//!
//! Writes, deletes and listings are Lua scripts, so the check and the write
//! (`NX`/`XX`, the quota) and the index updates are one atomic step. Redis
//! expires a key's data itself; its index members (and its charge) go when a
//! later write reaps them (each write looks at up to 16 members of `…/e` that
//! are due, `REAP_PER_WRITE`, and drops those whose key is gone from both
//! sets and the cost hash, as the memory backend does), or when a listing
//! passes them. So the index
//! stays about as small as the live data even on a deployment that never
//! lists. Ttls run on the server's clock, not the harness clock: moving a
//! [`crate::ManualClock`] does not expire Redis keys (stores also check expiry
//! against their own clock, so sessions still end on time as the guest sees
//! it).
//!
//! Each namespace holds at most a quota of bytes (default
//! [`DEFAULT_NAMESPACE_QUOTA`], as on the memory backend), so one plugin
//! cannot fill a shared server, nor, under an eviction policy, have Redis
//! evict other namespaces' sessions: a write past it is a `too-large` kv
//! error and writes nothing. The check and the counting are in the same
//! scripts, so they are atomic too. Keys written before the quota existed
//! are charged nothing until rewritten. The harness's own namespaces
//! (migration markers, written by the host) have no quota.

use super::memory::DEFAULT_NAMESPACE_QUOTA;
use super::{KeyPage, KvBackend, KvError, KvNamespace, WriteIf, WriteMode};
use redis::{Client, Connection, ConnectionLike, RedisError, Script};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ttls longer than this (about 34,000 years) are stored without expiry:
/// Redis refuses expiry times that overflow its millisecond clock.
pub const MAX_TTL_SECONDS: u64 = 1 << 40;

/// Index members one listing examines at most, on top of twice its page size,
/// so one call never blocks the server on a long run of expired keys. A host
/// may return fewer keys than asked for; the cursor then resumes after the
/// last member examined.
const LIST_SCAN_SLACK: u32 = 256;

/// Index members a write reaps at most (see the module docs), as the memory
/// backend's writes do, so a write never stalls on a backlog.
const REAP_PER_WRITE: u32 = 16;

/// Index members a write reaps at most on top of [`REAP_PER_WRITE`] when it
/// would pass the namespace's quota (expired keys count until reaped). The
/// memory backend reaps everything then; a Lua script blocks the whole
/// server, so this one stops here: a write refused with more expired keys
/// left to reap still reaps these, and the next one goes on from there.
const REAP_OVER_QUOTA: u32 = 256;

/// Fixed bytes charged per key (see [`entry_cost`]): Redis's own bookkeeping
/// of the data key (its dictionary entry, key and value objects, the
/// namespace prefix of its name), of its member of the key index (a skiplist
/// node and a dictionary entry) and of its field in the cost hash.
pub const ENTRY_OVERHEAD: usize = 192;

/// Fixed bytes charged on top for a key with a ttl: its entry in Redis's
/// expires dictionary and its member of the expiry set.
pub const TTL_OVERHEAD: usize = 96;

/// What a key costs against its namespace's quota (see
/// [`RedisBackendBuilder::namespace_quota`]): its value, its key once for
/// each copy the backend keeps (the data key's name, the index member, the
/// cost hash field, and for a key with a ttl the expiry set member), and the
/// fixed overheads [`ENTRY_OVERHEAD`] and, with a ttl, [`TTL_OVERHEAD`].
pub fn entry_cost(key: &str, value_len: usize, has_ttl: bool) -> usize {
    let ttl = if has_ttl { key.len() + TTL_OVERHEAD } else { 0 };
    3 * key.len() + value_len + ENTRY_OVERHEAD + ttl
}

/// Lua shared by the scripts that drop index members: `uncharge(bytes,
/// costs, m)` takes member `m`'s charged cost (hash `costs`) off the
/// namespace's byte counter `bytes`. A member written before the quota
/// existed has no cost and takes nothing off; the counter never goes below 0
/// (at 0 it is deleted).
macro_rules! uncharge_lua {
    () => {
        r"
local function uncharge(bytes, costs, m)
  local c = redis.call('HGET', costs, m)
  if c then
    redis.call('HDEL', costs, m)
    local left = tonumber(redis.call('GET', bytes) or '0') - tonumber(c)
    if left > 0 then
      redis.call('SET', bytes, string.format('%d', left))
    else
      redis.call('DEL', bytes)
    end
  end
end
"
    };
}

/// Writes `ARGV[1]` to `KEYS[1]` with ttl `ARGV[2]` (seconds; empty: none)
/// under mode `ARGV[3]` (`NX`, `XX`, empty, or `EQ`: only while the key
/// holds exactly `ARGV[10]`), charging it `ARGV[7]` bytes against the
/// namespace's quota `ARGV[8]`.
///
/// First it reaps: of up to `ARGV[6]` members of the expiry set `KEYS[3]`
/// that are due, those whose data key (`ARGV[5]` .. member) is gone leave
/// both sets and the cost hash `KEYS[5]`, their cost taken off the byte
/// counter `KEYS[4]`; one still there (rewritten by someone else, or due
/// this very millisecond) is scored again by its real remaining ttl. Then,
/// unless the mode refuses (which writes and charges nothing), it checks the
/// quota: the counter, less what member `ARGV[4]` is charged already (its
/// old value, live or not yet reaped), plus the new cost. Past the quota it
/// reaps up to `ARGV[9]` more and checks again; still past it, it writes
/// nothing. On a write it adds the member to the index `KEYS[2]`, and to the
/// expiry set scored by its expiry in server milliseconds (without a ttl,
/// drops it from there), and charges it.
///
/// Returns `{status, bytes}`: status 1 when it wrote, 0 when the mode
/// refused, -1 when the quota did; bytes is the counter afterwards.
const SET_SCRIPT: &str = concat!(
    uncharge_lua!(),
    r"
local data, index, expiry, bytes, costs = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local member, mode, cost, quota = ARGV[4], ARGV[3], tonumber(ARGV[7]), tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function held()
  return tonumber(redis.call('GET', bytes) or '0')
end
local function reap(most)
  local due = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, most)
  for _, m in ipairs(due) do
    local left = redis.call('PTTL', ARGV[5] .. m)
    if left == -2 then
      redis.call('ZREM', index, m)
      redis.call('ZREM', expiry, m)
      uncharge(bytes, costs, m)
    elseif left == -1 then
      redis.call('ZREM', expiry, m)
    else
      redis.call('ZADD', expiry, now + left, m)
    end
  end
end
reap(tonumber(ARGV[6]))
if mode == 'EQ' then
  if redis.call('GET', data) ~= ARGV[10] then
    return {0, held()}
  end
elseif mode ~= '' then
  local exists = redis.call('EXISTS', data) == 1
  if (mode == 'NX' and exists) or (mode == 'XX' and not exists) then
    return {0, held()}
  end
end
local function after()
  return held() - tonumber(redis.call('HGET', costs, member) or '0') + cost
end
if after() > quota then
  reap(tonumber(ARGV[9]))
  if after() > quota then
    return {-1, held()}
  end
end
local total = math.max(0, after())
local args = {'SET', data, ARGV[1]}
if ARGV[2] ~= '' then
  args[#args + 1] = 'EX'
  args[#args + 1] = ARGV[2]
end
redis.call(unpack(args))
redis.call('ZADD', index, 0, member)
if ARGV[2] ~= '' then
  redis.call('ZADD', expiry, now + tonumber(ARGV[2]) * 1000, member)
else
  redis.call('ZREM', expiry, member)
end
redis.call('HSET', costs, member, ARGV[7])
if total > 0 then
  redis.call('SET', bytes, string.format('%d', total))
else
  redis.call('DEL', bytes)
end
return {1, total}
"
);

/// Writes `ARGV[2]` to `KEYS[1]` with ttl `ARGV[3]` (seconds; empty: none)
/// only while it holds exactly `ARGV[1]`, for a namespace of the harness's
/// own (not indexed, no quota). Returns 1 when it wrote, else 0.
const REPLACE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
";

/// Deletes `KEYS[1]` and drops `ARGV[1]` from the index `KEYS[2]`, the
/// expiry set `KEYS[3]` and the cost hash `KEYS[5]`, taking its cost off the
/// byte counter `KEYS[4]`; with `ARGV[2]` given, only when the key holds
/// exactly that or is gone (expired: its index entries go all the same),
/// else it changes nothing. Returns how many live keys it deleted.
const DELETE_SCRIPT: &str = concat!(
    uncharge_lua!(),
    r"
if ARGV[2] ~= nil then
  local held = redis.call('GET', KEYS[1])
  if held and held ~= ARGV[2] then
    return 0
  end
end
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
uncharge(KEYS[4], KEYS[5], ARGV[1])
return n
"
);

/// Lists index `KEYS[1]` from lex bound `ARGV[1]`: members starting with
/// `ARGV[2]` whose data key (`ARGV[3]` .. member) still exists, at most
/// `ARGV[4]` + 1 of them, examining at most `ARGV[5]` members. Members whose
/// key expired are removed from the index, the expiry set `KEYS[2]` and the
/// cost hash `KEYS[4]` on the way, their cost taken off the byte counter
/// `KEYS[3]`. Returns the live
/// members followed by one more element: the last member examined when the
/// scan budget ran out first (the resume point), else an empty string.
const LIST_SCRIPT: &str = concat!(
    uncharge_lua!(),
    r"
local index, expiry, from, prefix, data = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local want, budget = tonumber(ARGV[4]) + 1, tonumber(ARGV[5])
local live, last, examined, done = {}, '', 0, false
while not done and #live < want and examined < budget do
  local batch = redis.call('ZRANGEBYLEX', index, from, '+', 'LIMIT', 0, math.min(64, budget - examined))
  if #batch == 0 then done = true end
  for _, m in ipairs(batch) do
    if string.sub(m, 1, #prefix) ~= prefix then done = true break end
    examined = examined + 1
    last = m
    if redis.call('EXISTS', data .. m) == 1 then
      live[#live + 1] = m
      if #live >= want then break end
    else
      redis.call('ZREM', index, m)
      redis.call('ZREM', expiry, m)
      uncharge(KEYS[3], KEYS[4], m)
    end
  end
  from = '(' .. last
end
local resume = ''
if not done and #live < want then
  -- The budget ran out: resume after the last member examined, unless
  -- nothing under the prefix follows it.
  local nxt = redis.call('ZRANGEBYLEX', index, '(' .. last, '+', 'LIMIT', 0, 1)
  if #nxt > 0 and string.sub(nxt[1], 1, #prefix) == prefix then resume = last end
end
live[#live + 1] = resume
return live
"
);

/// Connects to one server, with the backend's timeouts on every connection.
#[derive(Debug)]
struct Connector {
    client: Client,
    io_timeout: Duration,
}

/// A pooled connection, and whether a failed command may have left it in
/// the middle of an exchange.
///
/// redis-rs keeps a connection open after a write or read timeout, but a
/// command cut off halfway (a large value while the server stalls) leaves
/// the server waiting for the rest of it: the next command sent would be
/// read as that rest, landing in another key, maybe another namespace's.
/// So a connection goes back to the pool only after commands that ended in
/// a whole reply.
struct PooledConnection {
    conn: Connection,
    broken: bool,
    /// When the connection last had a whole reply from the server.
    last_reply: Instant,
}

/// A pooled connection that had no reply for this long is pinged before its
/// next command: the server may have closed it meanwhile (its `timeout`
/// setting, a restart, a failover, `CLIENT KILL`), which the client only
/// learns from the command after, and that command (a session write) would
/// fail for nothing. (A connection dropped silently on the way answers the
/// ping with a timeout, like a stalled server: that call fails.)
const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// Asks the server on `c` for a reply, noting when one came.
fn ping(c: &mut PooledConnection) -> Result<(), RedisError> {
    redis::cmd("PING").query::<()>(&mut c.conn)?;
    c.last_reply = Instant::now();
    Ok(())
}

/// Whether the connection that gave `e` is still in step with the server:
/// only when the error is the server's own whole reply, with a code redis-rs
/// knows (`Server`) or not (`Extension`: `OOM`, `BUSY`, `MISCONF`, ...), so a
/// server refusing writes under memory pressure does not cost a reconnect
/// per write. Any I/O, parse or client failure discards it.
fn leaves_connection_in_step(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
    )
}

impl r2d2::ManageConnection for Connector {
    type Connection = PooledConnection;
    type Error = RedisError;

    fn connect(&self) -> Result<PooledConnection, RedisError> {
        let conn = self.client.get_connection_with_timeout(self.io_timeout)?;
        conn.set_read_timeout(Some(self.io_timeout))?;
        conn.set_write_timeout(Some(self.io_timeout))?;
        Ok(PooledConnection {
            conn,
            broken: false,
            last_reply: Instant::now(),
        })
    }

    fn is_valid(&self, c: &mut PooledConnection) -> Result<(), RedisError> {
        ping(c)
    }

    fn has_broken(&self, c: &mut PooledConnection) -> bool {
        c.broken || !c.conn.is_open()
    }
}

/// Why a [`RedisBackend`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// The URL is not a Redis URL.
    #[error("bad redis url {url:?}: {reason}")]
    Url {
        /// The URL as given, with any password removed.
        url: String,
        /// What the client said about it.
        reason: String,
    },
    /// The key prefix could make two deployments share keys.
    #[error("bad redis key prefix {prefix:?}: {reason}")]
    Prefix {
        /// The prefix as given.
        prefix: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server did not answer.
    #[error("cannot reach redis at {url}: {reason}")]
    Unreachable {
        /// The URL as given, with any password removed.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The server answered but refused these credentials (a wrong or
    /// missing user name or password).
    #[error(
        "redis at {url} refused the connection: {reason} (check the user name and password \
         in the URL)"
    )]
    Refused {
        /// The URL as given, with any password removed.
        url: String,
        /// What the server said.
        reason: String,
    },
}

/// Whether `e` is the server refusing who we are, rather than not answering:
/// a failed `AUTH` (`WRONGPASS`) or a command before any (`NOAUTH`).
fn is_refusal(e: &RedisError) -> bool {
    matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// Settings of a [`RedisBackend`]; [`RedisBackendBuilder::connect`] opens it.
#[derive(Clone)]
pub struct RedisBackendBuilder {
    url: String,
    key_prefix: String,
    pool_size: u32,
    io_timeout: Duration,
    checkout_timeout: Duration,
    namespace_quota: usize,
}

impl std::fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("pool_size", &self.pool_size)
            .field("io_timeout", &self.io_timeout)
            .field("checkout_timeout", &self.checkout_timeout)
            .field("namespace_quota", &self.namespace_quota)
            .finish()
    }
}

impl RedisBackendBuilder {
    /// Prefix of every key the backend writes (default `session-harness:`),
    /// so one server can hold several deployments apart. It must not end in
    /// an ASCII digit ([`RedisBackendBuilder::connect`] refuses one that
    /// does): each key goes on with the namespace's length, so prefix `app`
    /// with a 13-byte namespace and prefix `app1` with a 3-byte one would
    /// spell the same keys. Give deployments prefixes that do not start with
    /// one another (`myapp:` and `myapp:staging:` overlap; `myapp:prod:` and
    /// `myapp:staging:` do not).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Connections kept open (default 16); a call waits for a free one.
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Connect, read and write timeout of one command (default 100 ms, under
    /// the default call deadline, so a stalled server is a `backend` error
    /// rather than a timeout of the whole call).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// How long a call waits for a free or new connection (default 100 ms).
    pub fn checkout_timeout(mut self, timeout: Duration) -> Self {
        self.checkout_timeout = timeout;
        self
    }

    /// Bytes each namespace may hold, as [`entry_cost`] counts them (default
    /// [`DEFAULT_NAMESPACE_QUOTA`], 256 MiB); a write past it is a
    /// `too-large` kv error and writes nothing. Expired keys count until
    /// reaped; a write that would pass the quota first reaps up to 272 due
    /// keys (its usual 16 and 256 more), so with a larger backlog of expired
    /// keys a write may be refused that a retry lets through. The harness's
    /// own namespaces have no quota.
    pub fn namespace_quota(mut self, bytes: usize) -> Self {
        self.namespace_quota = bytes;
        self
    }

    /// Checks the key prefix, opens the pool and checks that the server
    /// answers.
    pub fn connect(self) -> Result<RedisBackend, RedisSetupError> {
        if self.key_prefix.ends_with(|c: char| c.is_ascii_digit()) {
            return Err(RedisSetupError::Prefix {
                prefix: self.key_prefix,
                reason: "it ends in a digit, which would run into the namespace length that \
                         follows it (prefix `app` with a 13-byte namespace and `app1` with a \
                         3-byte one give the same keys); end it with a separator such as `:`"
                    .to_string(),
            });
        }
        let shown = redact_url(&self.url);
        let client = Client::open(self.url.as_str()).map_err(|e| RedisSetupError::Url {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        let connector = Connector {
            client,
            io_timeout: self.io_timeout,
        };
        // One connection and a PING first: the pool's own attempts would
        // report a wrong password as a timeout, and a server that wants one
        // accepts the connection and refuses only the first command. A user
        // whose ACL denies PING (`NOPERM`) got an answer: that will do (the
        // pool copes with such a user too).
        let answered = r2d2::ManageConnection::connect(&connector)
            .and_then(|mut c| ping(&mut c))
            .or_else(|e| match e.code() {
                Some("NOPERM") => Ok(()),
                _ => Err(e),
            });
        if let Err(e) = answered {
            let (url, reason) = (shown, e.to_string());
            return Err(match is_refusal(&e) {
                true => RedisSetupError::Refused { url, reason },
                false => RedisSetupError::Unreachable { url, reason },
            });
        }
        let pool = r2d2::Pool::builder()
            .max_size(self.pool_size)
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(self.checkout_timeout.max(self.io_timeout))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(connector)
            .map_err(|e| RedisSetupError::Unreachable {
                url: shown.clone(),
                reason: e.to_string(),
            })?;
        Ok(RedisBackend {
            pool,
            url: shown,
            key_prefix: self.key_prefix.into(),
            checkout_timeout: self.checkout_timeout,
            namespace_quota: self.namespace_quota,
            scripts: Arc::new(Scripts {
                set: Script::new(SET_SCRIPT),
                replace: Script::new(REPLACE_SCRIPT),
                delete: Script::new(DELETE_SCRIPT),
                list: Script::new(LIST_SCRIPT),
            }),
        })
    }
}

/// `url` with any password (in the user info or a `pass=`/`password=` query
/// parameter) replaced by `***`, for messages.
///
/// Messages show URLs the client may have refused, so this does not trust
/// the URL to be well formed: a password with an unescaped `/`, `?`, `#` or
/// `@` in it is hidden too. Everything that is a password under either
/// reading below is hidden; the rest is shown as given.
///
/// - As a URL parser reads it: the authority ends at the first `/`, `?` or
///   `#`, and its user info at the last `@` inside it.
/// - As someone who did not escape the password meant it: when an `@`
///   follows the end of that authority, the user info may run to the last `@`.
pub fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    // Byte ranges of `rest` to hide.
    let mut secrets: Vec<std::ops::Range<usize>> = Vec::new();
    let mut password_before = |at: usize| {
        // The password runs from the user info's first ':' to its end (a
        // user info without one is a user name, which is no secret).
        if let Some(colon) = rest[..at].find(':') {
            secrets.push(colon + 1..at);
        }
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some(at) = rest[..authority_end].rfind('@') {
        password_before(at);
    }
    if let Some(at) = rest.rfind('@').filter(|&at| at >= authority_end) {
        password_before(at);
    }
    // Query parameters, to the end of the string (a `#` in a password is
    // no fragment), each value up to the next '&'.
    if let Some(q) = rest.find('?') {
        let mut at = q + 1;
        for param in rest[q + 1..].split('&') {
            if let Some((name, _)) = param.split_once('=')
                && matches!(name, "pass" | "password")
            {
                secrets.push(at + name.len() + 1..at + param.len());
            }
            at += param.len() + 1;
        }
    }
    secrets.sort_by_key(|r| (r.start, r.end));
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..start]);
    // Overlapping ranges (one password under both readings) are one.
    let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
    for r in secrets {
        match merged.last_mut() {
            Some(p) if r.start <= p.end => p.end = p.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut shown_to = 0;
    for r in merged {
        out.push_str(&rest[shown_to..r.start]);
        out.push_str("***");
        shown_to = r.end;
    }
    out.push_str(&rest[shown_to..]);
    out
}

struct Scripts {
    set: Script,
    replace: Script,
    delete: Script,
    list: Script,
}

/// A [`KvBackend`] on a Redis server, shared by every host that points at it.
///
/// ```no_run
/// use host_harness::{Harness, RedisBackend};
/// use std::{sync::Arc, time::Duration};
///
/// let kv = RedisBackend::builder("redis://127.0.0.1:6379/0")
///     .key_prefix("myapp:sessions:")
///     .pool_size(16)
///     .io_timeout(Duration::from_millis(100))
///     .connect()?;
/// let harness = Harness::builder().kv_backend(Arc::new(kv)).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisBackend {
    pool: r2d2::Pool<Connector>,
    url: String,
    key_prefix: Arc<str>,
    checkout_timeout: Duration,
    namespace_quota: usize,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .field("key_prefix", &self.key_prefix)
            .field("namespace_quota", &self.namespace_quota)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Settings for a backend at `url` (`redis://[user:password@]host[:port][/db]`
    /// or `redis+unix:///path`), to adjust and then [`RedisBackendBuilder::connect`].
    pub fn builder(url: impl Into<String>) -> RedisBackendBuilder {
        RedisBackendBuilder {
            url: url.into(),
            key_prefix: "session-harness:".to_string(),
            pool_size: 16,
            io_timeout: Duration::from_millis(100),
            checkout_timeout: Duration::from_millis(100),
            namespace_quota: DEFAULT_NAMESPACE_QUOTA,
        }
    }

    /// A backend at `url` with the default settings.
    pub fn connect(url: impl Into<String>) -> Result<Self, RedisSetupError> {
        Self::builder(url).connect()
    }

    /// The server's URL, password removed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Members of `namespace`'s key index (`…/i`): its live keys plus those
    /// that expired and are not yet reaped (for tests and reports).
    pub fn indexed_keys(&self, namespace: &str) -> Result<u64, KvError> {
        let ns = self.namespace(namespace);
        ns.with(|c| redis::cmd("ZCARD").arg(&ns.index).query(c))
    }

    /// Members of `namespace`'s expiry set (`…/e`): the keys written with a
    /// ttl that are not yet reaped (for tests and reports).
    pub fn expiring_keys(&self, namespace: &str) -> Result<u64, KvError> {
        let ns = self.namespace(namespace);
        ns.with(|c| redis::cmd("ZCARD").arg(&ns.expiry).query(c))
    }

    /// Bytes `namespace` holds against its quota (`…/b`): what its keys are
    /// charged ([`entry_cost`]), expired ones included until reaped (for tests
    /// and reports).
    pub fn namespace_bytes(&self, namespace: &str) -> Result<u64, KvError> {
        let ns = self.namespace(namespace);
        ns.with(|c| redis::cmd("GET").arg(&ns.bytes).query::<Option<u64>>(c))
            .map(Option::unwrap_or_default)
    }

    fn namespace(&self, name: &str) -> RedisNamespace {
        let base = format!("{}{}:{name}", self.key_prefix, name.len());
        RedisNamespace {
            // The harness's own namespaces (migration markers) are never
            // listed, so they keep no index that only a listing would prune.
            indexed: !name.starts_with(super::RESERVED_NAMESPACE_PREFIX),
            pool: self.pool.clone(),
            checkout_timeout: self.checkout_timeout,
            scripts: self.scripts.clone(),
            data_prefix: format!("{base}/k/"),
            index: format!("{base}/i"),
            expiry: format!("{base}/e"),
            bytes: format!("{base}/b"),
            costs: format!("{base}/l"),
            quota: self.namespace_quota,
        }
    }
}

impl KvBackend for RedisBackend {
    fn name(&self) -> &str {
        "redis"
    }

    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.namespace(namespace).get(key)
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        self.namespace(namespace).set(key, value, ttl_seconds, mode)
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        self.namespace(namespace).delete(key)
    }

    fn delete_if_equals(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, KvError> {
        self.namespace(namespace).delete_where(key, Some(expected))
    }

    fn replace_if_equals(
        &self,
        namespace: &str,
        key: &str,
        expected: &[u8],
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> Result<bool, KvError> {
        self.namespace(namespace)
            .write(key, value, ttl_seconds, WriteIf::Holds(expected))
    }

    fn list_keys(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        self.namespace(namespace).list_keys(prefix, cursor, limit)
    }

    fn bind(&self, namespace: &str) -> Option<Arc<dyn KvNamespace>> {
        Some(Arc::new(self.namespace(namespace)))
    }
}

/// One namespace of a [`RedisBackend`], its key names computed once.
struct RedisNamespace {
    indexed: bool,
    pool: r2d2::Pool<Connector>,
    checkout_timeout: Duration,
    scripts: Arc<Scripts>,
    data_prefix: String,
    index: String,
    /// The keys written with a ttl, scored by expiry (server milliseconds).
    expiry: String,
    /// The bytes the namespace holds against its quota.
    bytes: String,
    /// Each indexed key's charged cost.
    costs: String,
    /// Bytes the namespace may hold (its keys are indexed: the harness's own
    /// namespaces, which are not, have none).
    quota: usize,
}

impl RedisNamespace {
    fn data_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.data_prefix.len() + key.len());
        k.push_str(&self.data_prefix);
        k.push_str(key);
        k
    }

    /// Writes `key` when `condition` holds, in one step on the server (a
    /// plain `SET` in the harness's own namespaces, which are not indexed;
    /// else [`SET_SCRIPT`], which keeps the index and the quota's books).
    fn write(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        condition: WriteIf<'_>,
    ) -> Result<bool, KvError> {
        let ttl = match ttl_seconds {
            Some(0) => return Err(super::zero_ttl()),
            Some(t) if t <= MAX_TTL_SECONDS => t.to_string(),
            _ => String::new(),
        };
        let (mode, expected) = match condition {
            WriteIf::Mode(WriteMode::Always) => ("", None),
            WriteIf::Mode(WriteMode::IfAbsent) => ("NX", None),
            WriteIf::Mode(WriteMode::IfPresent) => ("XX", None),
            WriteIf::Holds(expected) => ("EQ", Some(expected)),
        };
        let data_key = self.data_key(key);
        if !self.indexed {
            return self.with(|c| match expected {
                Some(expected) => self
                    .scripts
                    .replace
                    .key(&data_key)
                    .arg(expected)
                    .arg(value)
                    .arg(&ttl)
                    .invoke::<i64>(c)
                    .map(|n| n > 0),
                None => {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(&data_key).arg(value);
                    if !ttl.is_empty() {
                        cmd.arg("EX").arg(&ttl);
                    }
                    if !mode.is_empty() {
                        cmd.arg(mode);
                    }
                    cmd.query::<Option<String>>(c).map(|ok| ok.is_some())
                }
            });
        }
        let cost = entry_cost(key, value.len(), !ttl.is_empty());
        let (status, held): (i64, u64) = self.with(|c| {
            let mut run = self.scripts.set.key(&data_key);
            run.key(&self.index)
                .key(&self.expiry)
                .key(&self.bytes)
                .key(&self.costs)
                .arg(value)
                .arg(&ttl)
                .arg(mode)
                .arg(key)
                .arg(&self.data_prefix)
                .arg(REAP_PER_WRITE)
                .arg(cost)
                .arg(self.quota)
                .arg(REAP_OVER_QUOTA);
            if let Some(expected) = expected {
                run.arg(expected);
            }
            run.invoke(c)
        })?;
        match status {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(KvError::TooLarge(format!(
                "the namespace holds {held} bytes; writing {cost} more would pass its quota of {}",
                self.quota
            ))),
        }
    }

    /// Deletes `key`, or with `expected` only while it holds exactly that
    /// (see [`DELETE_SCRIPT`]); whether a live key went.
    fn delete_where(&self, key: &str, expected: Option<&[u8]>) -> Result<bool, KvError> {
        let data_key = self.data_key(key);
        self.with(|c| {
            let mut run = self.scripts.delete.key(&data_key);
            run.key(&self.index)
                .key(&self.expiry)
                .key(&self.bytes)
                .key(&self.costs)
                .arg(key);
            if let Some(value) = expected {
                run.arg(value);
            }
            run.invoke::<i64>(c)
        })
        .map(|n| n > 0)
    }

    /// A pooled connection that answers: one idle past [`IDLE_PING_AFTER`]
    /// is pinged first, and one the server has closed is dropped for the
    /// next (a new one once the idle ones are used up); a ping that times
    /// out is the call's error.
    fn checkout(&self) -> Result<r2d2::PooledConnection<Connector>, KvError> {
        let mut dead = 0;
        loop {
            let mut pooled = self
                .pool
                .get_timeout(self.checkout_timeout)
                .map_err(|e| KvError::Backend(format!("redis: no connection: {e}")))?;
            if pooled.last_reply.elapsed() < IDLE_PING_AFTER {
                return Ok(pooled);
            }
            match ping(&mut pooled) {
                Ok(()) => return Ok(pooled),
                // The server answered, with an error (`LOADING`, an ACL
                // denying PING): a whole reply, so the connection is open
                // and in step; the command goes ahead on it.
                Err(e) if leaves_connection_in_step(&e) => {
                    pooled.last_reply = Instant::now();
                    return Ok(pooled);
                }
                // A server that does not answer in time would not answer
                // on the next connection either: one I/O timeout, not one
                // per pooled connection.
                Err(e) if e.is_timeout() => {
                    pooled.broken = true;
                    return Err(KvError::Backend(format!("redis: {e}")));
                }
                Err(e) => {
                    pooled.broken = true;
                    dead += 1;
                    if dead > self.pool.max_size() {
                        return Err(KvError::Backend(format!(
                            "redis: no connection answers: {e}"
                        )));
                    }
                }
            }
        }
    }

    /// Runs `f` on a pooled connection; every failure is a `backend` error
    /// that says it came from Redis (not where the server is: the message
    /// reaches the plugin).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, KvError> {
        self.attempt(f).map_err(|e| e.0)
    }

    /// [`Self::with`] for a command that changes nothing a retry would
    /// change twice (a read; the listing's reaping of expired keys): when
    /// the server had closed the connection, it runs again on another.
    /// Writes are not retried: the server may have run one whose reply was
    /// lost, and a second run answers differently (a repeated `delete`
    /// returns false, a repeated `if-absent` write too).
    fn with_read<T>(
        &self,
        f: impl Fn(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, KvError> {
        // Each closed connection is dropped, so the pool runs out of them:
        // the last attempt has a new one.
        let mut left = self.pool.max_size();
        loop {
            match self.attempt(&f) {
                Err(Failed(_, Some(e)))
                    if left > 0 && e.is_connection_dropped() && !e.is_timeout() =>
                {
                    left -= 1;
                }
                other => return other.map_err(|e| e.0),
            }
        }
    }

    fn attempt<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Failed> {
        let mut pooled = self.checkout().map_err(|e| Failed(e, None))?;
        match f(&mut pooled.conn) {
            Ok(answer) => {
                pooled.last_reply = Instant::now();
                Ok(answer)
            }
            Err(e) => {
                if leaves_connection_in_step(&e) {
                    pooled.last_reply = Instant::now();
                } else {
                    pooled.broken = true;
                }
                Err(Failed(KvError::Backend(format!("redis: {e}")), Some(e)))
            }
        }
    }
}

/// A failed command: the error to report, and the client's own error when
/// the command reached a connection.
struct Failed(KvError, Option<RedisError>);

impl KvNamespace for RedisNamespace {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let key = self.data_key(key);
        self.with_read(|c| redis::cmd("GET").arg(&key).query(c))
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
        self.delete_where(key, None)
    }

    fn list_keys(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        if !self.indexed {
            return Err(KvError::Backend(
                "the harness's own namespaces are not listable".to_string(),
            ));
        }
        if limit == 0 {
            return Err(super::zero_limit());
        }
        let from = match cursor {
            Some(c) if c >= prefix => format!("({c}"),
            _ => format!("[{prefix}"),
        };
        let budget = limit.saturating_mul(2).saturating_add(LIST_SCAN_SLACK);
        let mut found: Vec<String> = self.with_read(|c| {
            self.scripts
                .list
                .key(&self.index)
                .key(&self.expiry)
                .key(&self.bytes)
                .key(&self.costs)
                .arg(&from)
                .arg(prefix)
                .arg(&self.data_prefix)
                .arg(limit)
                .arg(budget)
                .invoke(c)
        })?;
        // The last element is the resume point when the scan budget ran out.
        let resume = found.pop().filter(|r| !r.is_empty());
        let more = found.len() > limit as usize;
        found.truncate(limit as usize);
        let cursor = if more { found.last().cloned() } else { resume };
        Ok(KeyPage {
            keys: found,
            cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("redis://app:s3cret@cache:6379/2"),
            "redis://app:***@cache:6379/2"
        );
        assert_eq!(redact_url("redis://:s3cret@cache"), "redis://:***@cache");
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        // The user info ends at the last '@'.
        assert_eq!(redact_url("redis://u:p@ss@h:1/0"), "redis://u:***@h:1/0");
        // A password with an unescaped '/', '?', '#' or '@' (which the client
        // refuses, and the message then shows the URL).
        assert_eq!(redact_url("redis://u:pa/ss@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact_url("redis://u:p?ss@h"), "redis://u:***@h");
        assert_eq!(redact_url("redis://u:p#ss@h/2"), "redis://u:***@h/2");
        assert_eq!(redact_url("redis://:a/b?c@d@h"), "redis://:***@h");
        // Read as a URL, `pass` runs from the first '?' to the end.
        assert_eq!(
            redact_url("redis://u:a?pass=b@h/0?password=c"),
            "redis://u:***"
        );
        // An '@' in a query parameter's value.
        assert_eq!(
            redact_url("redis+unix:///run/r.sock?pass=se@cret&db=1"),
            "redis+unix:///run/r.sock?pass=***&db=1"
        );
        assert_eq!(
            redact_url("redis://h:1/0?password=se@cret"),
            "redis://h:***"
        );
        // A user name alone is no secret.
        assert_eq!(redact_url("redis://app@cache/1"), "redis://app@cache/1");
        assert_eq!(
            redact_url("redis+unix:///run/r.sock?db=1&pass=s3cret"),
            "redis+unix:///run/r.sock?db=1&pass=***"
        );
        let debug = format!("{:?}", RedisBackend::builder("redis://u:hunter2@h/"));
        assert!(!debug.contains("hunter2"), "{debug}");
        // Whatever the shape, no part of the password is shown.
        for url in [
            "redis://u:hun/ter2@h",
            "redis://u:hun?ter2@h:1/0",
            "redis://u:hun#ter2@h",
            "redis://u:hun@ter2@h",
            "redis://:hun/t@er2@h",
            "redis://h/0?pass=hun@ter2",
            "redis://h?password=hun/ter2",
            "redis+unix:///s.sock?db=0&pass=hun&ter2=x",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("hun"), "{url} -> {shown}");
        }
    }

    #[test]
    fn a_bad_url_is_a_setup_error_that_hides_the_password() {
        let e = RedisBackend::connect("http://u:hunter2@x").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("bad redis url"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_key_prefix_ending_in_a_digit_is_refused() {
        // `app` + `13:` + a 13-byte namespace is `app1` + `3:` + a 3-byte one.
        let key = |prefix: &str, ns: &str, key: &str| format!("{prefix}{}:{ns}/k/{key}", ns.len());
        assert_eq!(
            key("app", "abc/k/defghij", "x"),
            key("app1", "abc", "defghij/k/x")
        );
        for prefix in ["app1", "sessions:v2", "0"] {
            // Refused before any connection is tried (nothing listens here).
            let e = RedisBackend::builder("redis://127.0.0.1:1/")
                .key_prefix(prefix)
                .connect()
                .unwrap_err();
            assert!(matches!(e, RedisSetupError::Prefix { .. }), "{e}");
            assert!(e.to_string().contains("ends in a digit"), "{e}");
        }
        // Prefixes not ending in a digit get as far as connecting.
        for prefix in ["app", "app1:", "", "v2-sessions/"] {
            let e = RedisBackend::builder("redis://127.0.0.1:1/")
                .key_prefix(prefix)
                .io_timeout(Duration::from_millis(50))
                .checkout_timeout(Duration::from_millis(50))
                .connect()
                .unwrap_err();
            assert!(matches!(e, RedisSetupError::Unreachable { .. }), "{e}");
        }
    }

    #[test]
    fn an_unreachable_server_is_a_setup_error() {
        // Port 1 on loopback: nothing listens there.
        let e = RedisBackend::builder("redis://127.0.0.1:1/")
            .io_timeout(Duration::from_millis(50))
            .checkout_timeout(Duration::from_millis(50))
            .connect()
            .unwrap_err();
        assert!(matches!(e, RedisSetupError::Unreachable { .. }), "{e}");
    }
}
