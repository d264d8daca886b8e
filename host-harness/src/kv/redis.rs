//! A shared [`KvBackend`] on a Redis (or Valkey) server, so several hosts serve
//! the same sessions.
//!
//! Layout, for a plugin namespace `ns` (its byte length `n` written out so no
//! two namespaces can collide) under the backend's key prefix `p`:
//!
//! - `p{n}:ns/k/<key>`: one string per kv key, with the kv ttl as a Redis `EX`;
//! - `p{n}:ns/i`: a sorted set of every key written, all scores 0, so that
//!   `ZRANGEBYLEX` lists keys in ascending byte order with a cursor.
//!
//! Writes, deletes and listings are Lua scripts, so the check and the write
//! (`SET NX`/`SET XX`) and the index update are one atomic step. A key that
//! expired stays in the index until a listing passes it; the listing checks
//! every member and drops the expired ones, so `purge-expired` (which lists)
//! keeps the index as small as the data. Ttls run on the server's clock, not
//! the harness clock: moving a [`crate::ManualClock`] does not expire Redis
//! keys (stores also check expiry against their own clock, so sessions still
//! end on time as the guest sees it).

use super::{KeyPage, KvBackend, KvError, KvNamespace, WriteMode};
use redis::{Client, Connection, ConnectionLike, RedisError, Script};
use std::sync::Arc;
use std::time::Duration;

/// Ttls longer than this (about 34,000 years) are stored without expiry:
/// Redis refuses expiry times that overflow its millisecond clock.
pub const MAX_TTL_SECONDS: u64 = 1 << 40;

/// Index members one listing examines at most, on top of twice its page size,
/// so one call never blocks the server on a long run of expired keys. A host
/// may return fewer keys than asked for; the cursor then resumes after the
/// last member examined.
const LIST_SCAN_SLACK: u32 = 256;

/// Writes `ARGV[1]` to `KEYS[1]` with ttl `ARGV[2]` (empty: none) under mode
/// `ARGV[3]` (`NX`, `XX` or empty), and on success adds `ARGV[4]` to the
/// index `KEYS[2]`. Returns 1 when it wrote.
const SET_SCRIPT: &str = r"
local args = {'SET', KEYS[1], ARGV[1]}
if ARGV[2] ~= '' then
  args[#args + 1] = 'EX'
  args[#args + 1] = ARGV[2]
end
if ARGV[3] ~= '' then
  args[#args + 1] = ARGV[3]
end
if redis.call(unpack(args)) then
  redis.call('ZADD', KEYS[2], 0, ARGV[4])
  return 1
end
return 0
";

/// Deletes `KEYS[1]` and drops `ARGV[1]` from the index `KEYS[2]`. Returns
/// how many live keys it deleted.
const DELETE_SCRIPT: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
";

/// Lists index `KEYS[1]` from lex bound `ARGV[1]`: members starting with
/// `ARGV[2]` whose data key (`ARGV[3]` .. member) still exists, at most
/// `ARGV[4]` + 1 of them, examining at most `ARGV[5]` members. Members whose
/// key expired are removed from the index on the way. Returns the live
/// members followed by one more element: the last member examined when the
/// scan budget ran out first (the resume point), else an empty string.
const LIST_SCRIPT: &str = r"
local index, from, prefix, data = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
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
";

/// Connects to one server, with the backend's timeouts on every connection.
#[derive(Debug)]
struct Connector {
    client: Client,
    io_timeout: Duration,
}

impl r2d2::ManageConnection for Connector {
    type Connection = Connection;
    type Error = RedisError;

    fn connect(&self) -> Result<Connection, RedisError> {
        let conn = self.client.get_connection_with_timeout(self.io_timeout)?;
        conn.set_read_timeout(Some(self.io_timeout))?;
        conn.set_write_timeout(Some(self.io_timeout))?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), RedisError> {
        redis::cmd("PING").query::<()>(conn)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        !conn.is_open()
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
    /// The server did not answer.
    #[error("cannot reach redis at {url}: {reason}")]
    Unreachable {
        /// The URL as given, with any password removed.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
}

/// Settings of a [`RedisBackend`]; [`RedisBackendBuilder::connect`] opens it.
#[derive(Clone)]
pub struct RedisBackendBuilder {
    url: String,
    key_prefix: String,
    pool_size: u32,
    io_timeout: Duration,
    checkout_timeout: Duration,
}

impl std::fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("pool_size", &self.pool_size)
            .field("io_timeout", &self.io_timeout)
            .field("checkout_timeout", &self.checkout_timeout)
            .finish()
    }
}

impl RedisBackendBuilder {
    /// Prefix of every key the backend writes (default `session-harness:`),
    /// so one server can hold several deployments apart.
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

    /// Opens the pool and checks that the server answers.
    pub fn connect(self) -> Result<RedisBackend, RedisSetupError> {
        let shown = redact_url(&self.url);
        let client = Client::open(self.url.as_str()).map_err(|e| RedisSetupError::Url {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        let pool = r2d2::Pool::builder()
            .max_size(self.pool_size)
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(self.checkout_timeout.max(self.io_timeout))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(Connector {
                client,
                io_timeout: self.io_timeout,
            })
            .map_err(|e| RedisSetupError::Unreachable {
                url: shown.clone(),
                reason: e.to_string(),
            })?;
        Ok(RedisBackend {
            pool,
            url: shown,
            key_prefix: self.key_prefix.into(),
            checkout_timeout: self.checkout_timeout,
            scripts: Arc::new(Scripts {
                set: Script::new(SET_SCRIPT),
                delete: Script::new(DELETE_SCRIPT),
                list: Script::new(LIST_SCRIPT),
            }),
        })
    }
}

/// `url` with any password (in the user info or a `pass=` query parameter)
/// replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    // The user info ends at the last '@' before the path.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let mut out = match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => format!("{scheme}://{rest}"),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some(("pass" | "password", _)) => format!("{}=***", &p[..p.find('=').unwrap_or(0)]),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

struct Scripts {
    set: Script,
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
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .field("key_prefix", &self.key_prefix)
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

    fn namespace(&self, name: &str) -> RedisNamespace {
        let base = format!("{}{}:{name}", self.key_prefix, name.len());
        RedisNamespace {
            // The harness's own namespaces (migration markers) are never
            // listed, so they keep no index that only a listing would prune.
            indexed: !name.starts_with(super::RESERVED_NAMESPACE_PREFIX),
            pool: self.pool.clone(),
            url: self.url.clone().into(),
            checkout_timeout: self.checkout_timeout,
            scripts: self.scripts.clone(),
            data_prefix: format!("{base}/k/"),
            index: format!("{base}/i"),
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
    url: Arc<str>,
    checkout_timeout: Duration,
    scripts: Arc<Scripts>,
    data_prefix: String,
    index: String,
}

impl RedisNamespace {
    fn data_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.data_prefix.len() + key.len());
        k.push_str(&self.data_prefix);
        k.push_str(key);
        k
    }

    /// Runs `f` on a pooled connection; every failure is a `backend` error
    /// that names the server.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, KvError> {
        let mut conn = self
            .pool
            .get_timeout(self.checkout_timeout)
            .map_err(|e| KvError::Backend(format!("redis at {}: no connection: {e}", self.url)))?;
        f(&mut conn).map_err(|e| KvError::Backend(format!("redis at {}: {e}", self.url)))
    }
}

impl KvNamespace for RedisNamespace {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let key = self.data_key(key);
        self.with(|c| redis::cmd("GET").arg(&key).query(c))
    }

    fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        let ttl = match ttl_seconds {
            Some(0) => return Err(KvError::Backend("ttl-seconds must be at least 1".into())),
            Some(t) if t <= MAX_TTL_SECONDS => t.to_string(),
            _ => String::new(),
        };
        let mode = match mode {
            WriteMode::Always => "",
            WriteMode::IfAbsent => "NX",
            WriteMode::IfPresent => "XX",
        };
        let data_key = self.data_key(key);
        if !self.indexed {
            return self.with(|c| {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&data_key).arg(value);
                if !ttl.is_empty() {
                    cmd.arg("EX").arg(&ttl);
                }
                if !mode.is_empty() {
                    cmd.arg(mode);
                }
                cmd.query::<Option<String>>(c).map(|ok| ok.is_some())
            });
        }
        self.with(|c| {
            self.scripts
                .set
                .key(&data_key)
                .key(&self.index)
                .arg(value)
                .arg(&ttl)
                .arg(mode)
                .arg(key)
                .invoke::<i64>(c)
        })
        .map(|wrote| wrote == 1)
    }

    fn delete(&self, key: &str) -> Result<bool, KvError> {
        let data_key = self.data_key(key);
        self.with(|c| {
            self.scripts
                .delete
                .key(&data_key)
                .key(&self.index)
                .arg(key)
                .invoke::<i64>(c)
        })
        .map(|n| n > 0)
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
        let limit = limit.max(1);
        let from = match cursor {
            Some(c) if c >= prefix => format!("({c}"),
            _ => format!("[{prefix}"),
        };
        let budget = limit.saturating_mul(2).saturating_add(LIST_SCAN_SLACK);
        let mut found: Vec<String> = self.with(|c| {
            self.scripts
                .list
                .key(&self.index)
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
        assert_eq!(
            redact_url("redis+unix:///run/r.sock?db=1&pass=s3cret"),
            "redis+unix:///run/r.sock?db=1&pass=***"
        );
        let debug = format!("{:?}", RedisBackend::builder("redis://u:hunter2@h/"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn a_bad_url_is_a_setup_error_that_hides_the_password() {
        let e = RedisBackend::connect("http://u:hunter2@x").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("bad redis url"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
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
