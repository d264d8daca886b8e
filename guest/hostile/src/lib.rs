//! A deliberately hostile session plugin, used only by the sandbox tests.
//!
//! `info` behaves (so the plugin loads) unless `hostile.info` says otherwise
//! (`trap`: it panics; `liar`: it answers an empty name, which breaks the
//! contract); every other operation does what `hostile.mode` says:
//!
//! | mode | behaviour |
//! |---|---|
//! | `loop` | spins forever |
//! | `spin` | spins `hostile.spin-iterations` times, then answers `backend("SPUN")` (a call that costs CPU time and ends) |
//! | `kv-loop` | reads the kv without end (a loop that spends its time waiting on the host) |
//! | `alloc` | allocates memory without end |
//! | `trap` | panics (with `hostile.message` when set) |
//! | `huge` | returns an id (`create`) or a record whose id, data and user id (`load`) are each `hostile.bytes` bytes (default 100 MiB) |
//! | `huge-kv` | passes each `kv` call a key, prefix, cursor (8 MiB) or value (16 MiB + 1) just over the kv import's limits and reports the answers |
//! | `flood-kv` | passes `kv` `set` a 24 MiB value, more than one host call may carry |
//! | `liar` | returns ids and records that break the contract |
//! | `fs` | tries to read files; reports what happened as a backend error |
//! | `env` | tries to read environment variables and arguments |
//! | `stdin` | reads standard input to its end and reports what it got |
//! | `net` | tries to connect to `hostile.port` on 127.0.0.1 |
//! | `snoop` | lists, reads, deletes and overwrites the kv, going for kv-session's record of session `hostile.target` |
//! | `exit` | calls `exit(0)` |
//! | `sleep` | sleeps for an hour (a host call no epoch deadline interrupts) |
//! | `loud` | answers a backend error with a 10 MB message |
//! | `random` | asks `wasi:random` for `hostile.random-bytes` bytes (default 1 MiB) in one `get-random-bytes` call |
//! | `trap-on-update` | a working store for create, load and destroy (so it passes a swap's check), over the kv; update, touch, regenerate, purge-expired and count trap |
//! | `same-id` | says it is stateless (`server-side` false) and works as the `trap-on-update` store does, user ids kept, except that `regenerate` answers the id it was given and `destroy` deletes nothing (as a seal); purge-expired and count as the harmless default |
//! | `trap-on-load` | `load` traps, but answers `invalid-id` for ids starting `foreign-` (another store's ids); `destroy` answers ok for any id; the rest as the harmless default |
//! | anything else | behaves: every call answers `unsupported` (saying `hostile.message` when set) |
#![deny(missing_docs)]

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "session-host",
        path: "../../wit",
        generate_all,
    });
}

/// `wasi:random` as the guest's std never calls it: one `get-random-bytes`
/// of any length (std and getrandom ask for small amounts, or 8 bytes at a
/// time). The interface as wasi-libc (linked in) declares it, so the two
/// merge; wasmtime links every 0.2.x import to its own version.
#[allow(missing_docs)]
mod random_bindings {
    wit_bindgen::generate!({
        inline: "
            package wasi:random@0.2.0;

            interface random {
                get-random-bytes: func(len: u64) -> list<u8>;
                get-random-u64: func() -> u64;
            }

            world hostile-random {
                import random;
            }
        ",
        world: "hostile-random",
    });
}

use bindings::exports::session::plugin::session_plugin::Guest;
use bindings::session::plugin::kv;
use bindings::session::plugin::types::{
    CreateOptions, PluginInfo, SessionError, SessionId, SessionRecord,
};
use bindings::wasi::config::store as config;

struct Hostile;

fn setting(key: &str) -> String {
    config::get(key).ok().flatten().unwrap_or_default()
}

/// `hostile.message` when set, else `default`.
fn message_or(default: &str) -> String {
    match setting("hostile.message") {
        m if m.is_empty() => default.to_string(),
        m => m,
    }
}

/// Answers `Err(backend(report))` so the test can read what the attempt saw.
fn report(what: String) -> SessionError {
    SessionError::Backend(what)
}

fn misbehave() -> Result<(), SessionError> {
    match setting("hostile.mode").as_str() {
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "spin" => {
            let rounds: u64 = setting("hostile.spin-iterations").parse().unwrap_or(0);
            let mut n: u64 = 0;
            for _ in 0..rounds {
                n = std::hint::black_box(n.wrapping_add(1));
            }
            Err(report(format!("SPUN {n}")))
        }
        "kv-loop" => loop {
            let _ = std::hint::black_box(kv::get("k"));
        },
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "trap" => panic!("hostile plugin: {}", message_or("trapping on purpose")),
        "fs" => {
            let mut seen = Vec::new();
            for path in ["/etc/passwd", "/", ".", "secret.txt", "/proc/self/environ"] {
                seen.push(match std::fs::read(path) {
                    Ok(bytes) => format!("{path}: READ {} bytes", bytes.len()),
                    Err(e) => format!("{path}: denied ({e})"),
                });
            }
            match std::fs::write("planted.txt", b"x") {
                Ok(()) => seen.push("write: WROTE".to_string()),
                Err(e) => seen.push(format!("write: denied ({e})")),
            }
            Err(report(seen.join("; ")))
        }
        "env" => {
            let vars = std::env::vars().count();
            let args = std::env::args().count();
            let home = std::env::var("HOME").is_ok();
            let cwd = std::env::current_dir().is_ok();
            Err(report(format!(
                "env vars: {vars}; args: {args}; HOME visible: {home}; cwd known: {cwd}"
            )))
        }
        "stdin" => {
            let mut got = Vec::new();
            let outcome = std::io::Read::read_to_end(&mut std::io::stdin(), &mut got);
            Err(report(format!(
                "stdin: {} bytes ({}): {:?}",
                got.len(),
                outcome.map_or_else(|e| format!("error {e}"), |_| "end of input".to_string()),
                String::from_utf8_lossy(&got)
            )))
        }
        "net" => {
            let port = setting("hostile.port");
            let outcome = match std::net::TcpStream::connect(format!("127.0.0.1:{port}")) {
                Ok(_) => "CONNECTED".to_string(),
                Err(e) => format!("denied ({e})"),
            };
            let lookup = match std::net::ToSocketAddrs::to_socket_addrs("localhost:80") {
                Ok(mut a) => format!("RESOLVED {:?}", a.next()),
                Err(e) => format!("denied ({e})"),
            };
            Err(report(format!("connect: {outcome}; lookup: {lookup}")))
        }
        "snoop" => {
            let target = format!("s:{}", setting("hostile.target"));
            let keys = kv::list_keys("", None, 1000).map(|p| p.keys.len());
            let direct = kv::get(&target).map(|v| v.is_some());
            // Then try to end the session, and to plant a record in its place.
            let deleted = kv::delete(&target);
            let planted = kv::set(&target, b"planted", None, kv::WriteMode::Always);
            Err(report(format!(
                "keys visible: {keys:?}; target visible: {direct:?}; \
                 deleted: {deleted:?}; planted: {planted:?}"
            )))
        }
        "huge-kv" => {
            // 8 MiB keys and a value one byte over the 16 MiB the kv takes:
            // over the kv import's limits, within what one host call may
            // carry (`Limits::copy_limit_bytes`).
            let big = "k".repeat(8 << 20);
            let value = vec![b'v'; (16 << 20) + 1];
            let get = kv::get(&big).map(|v| v.is_some());
            let set = kv::set("small", &value, None, kv::WriteMode::Always);
            let delete = kv::delete(&big);
            let list = kv::list_keys(&big, None, 10).map(|p| p.keys.len());
            let cursor = kv::list_keys("", Some(&big), 10).map(|p| p.keys.len());
            Err(report(format!(
                "get: {get:?}; set: {set:?}; delete: {delete:?}; list: {list:?}; cursor: {cursor:?}"
            )))
        }
        "flood-kv" => {
            let value = vec![b'v'; 24 << 20];
            let set = kv::set("small", &value, None, kv::WriteMode::Always);
            Err(report(format!("set: {set:?}")))
        }
        "exit" => std::process::exit(0),
        "loud" => Err(report("é".repeat(5 * 1024 * 1024))),
        "random" => {
            let len = setting("hostile.random-bytes").parse().unwrap_or(1 << 20);
            let bytes = random_bindings::wasi::random::random::get_random_bytes(len);
            Err(report(format!("got {} random bytes", bytes.len())))
        }
        "trap-on-update" => panic!("hostile plugin: trapping on a write on purpose"),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Err(report("SLEPT".to_string()))
        }
        _ => Err(SessionError::Unsupported(message_or(
            "hostile plugin in a harmless mode",
        ))),
    }
}

/// A string of `hostile.bytes` bytes (default 100 MiB).
fn huge() -> String {
    let len = setting("hostile.bytes").parse().unwrap_or(100 << 20);
    "a".repeat(len)
}

fn mode() -> String {
    setting("hostile.mode")
}

impl Guest for Hostile {
    fn info() -> PluginInfo {
        let name = match setting("hostile.info").as_str() {
            "trap" => panic!("hostile plugin: trapping in info on purpose"),
            "liar" => String::new(),
            _ => format!("hostile-{}", mode()),
        };
        PluginInfo {
            name,
            version: "0.0.0".to_string(),
            server_side: mode() != "same-id",
        }
    }

    fn create(options: CreateOptions) -> Result<SessionId, SessionError> {
        match mode().as_str() {
            "huge" => Ok(huge()),
            "liar" => Ok(String::new()),
            "trap-on-update" if options.id.is_some() => Err(SessionError::Unsupported(
                "this store does not import ids".to_string(),
            )),
            "trap-on-update" | "same-id" => working::create(&options.data),
            _ => misbehave().map(|()| String::new()),
        }
    }

    fn load(id: SessionId) -> Result<Option<SessionRecord>, SessionError> {
        let record = |data: String, expires_at: u64| SessionRecord {
            id: "fine-id".to_string(),
            user_id: None,
            data,
            created_at: 0,
            expires_at,
        };
        match mode().as_str() {
            "huge" => {
                let big = huge();
                Ok(Some(SessionRecord {
                    id: big.clone(),
                    user_id: Some(big.clone()),
                    ..record(big, u64::MAX)
                }))
            }
            "trap-on-update" | "same-id" => working::load(id),
            "trap-on-load" if id.starts_with("foreign-") => {
                Err(SessionError::InvalidId("not this store's id".to_string()))
            }
            "trap-on-load" => panic!("hostile plugin: trapping on a load on purpose"),
            // The id picks the lie.
            "liar" => Ok(Some(match id.as_str() {
                "array" => record("[1,2,3]".to_string(), u64::MAX),
                "expired" => record("{}".to_string(), 1),
                _ => SessionRecord {
                    id: "bad id; with spaces".to_string(),
                    ..record("{}".to_string(), u64::MAX)
                },
            })),
            _ => misbehave().map(|()| None),
        }
    }

    fn update(
        id: SessionId,
        data: String,
        user_id: Option<String>,
    ) -> Result<SessionId, SessionError> {
        match mode().as_str() {
            "liar" => Ok("line\nbreak".to_string()),
            "same-id" => working::update(id, &data, user_id.as_deref()),
            _ => misbehave().map(|()| String::new()),
        }
    }

    fn touch(id: SessionId, _ttl_seconds: Option<u64>) -> Result<SessionId, SessionError> {
        match mode().as_str() {
            "liar" => Ok("x".repeat(10 * 1024)),
            "same-id" => working::load(id.clone())?
                .map(|_| id)
                .ok_or(SessionError::NotFound),
            _ => misbehave().map(|()| String::new()),
        }
    }

    fn regenerate(id: SessionId) -> Result<SessionId, SessionError> {
        match mode().as_str() {
            // The contract's "new id" broken: the one it was given.
            "same-id" => working::load(id.clone())?
                .map(|_| id)
                .ok_or(SessionError::NotFound),
            _ => misbehave().map(|()| String::new()),
        }
    }

    fn destroy(id: SessionId) -> Result<(), SessionError> {
        match mode().as_str() {
            "trap-on-update" => working::destroy(&id),
            "trap-on-load" | "same-id" => Ok(()),
            _ => misbehave(),
        }
    }

    fn purge_expired() -> Result<u64, SessionError> {
        misbehave().map(|()| 0)
    }

    fn count() -> Result<u64, SessionError> {
        misbehave().map(|()| 0)
    }
}

/// The honest part of `trap-on-update` and `same-id`: sessions as kv
/// entries `s:<id>` holding the data (and `u:<id>` the user id, once an
/// update names one), ids `h<hex>` allocated with `if-absent` writes.
mod working {
    use super::kv::{self, WriteMode};
    use super::{SessionError, SessionId, SessionRecord};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    const TTL: u64 = 3600;

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn backend(e: kv::KvError) -> SessionError {
        SessionError::Backend(format!("{e:?}"))
    }

    pub fn create(data: &str) -> Result<SessionId, SessionError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        for _ in 0..64 {
            let id = format!(
                "h{:x}",
                start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
            );
            let written = kv::set(
                &format!("s:{id}"),
                data.as_bytes(),
                Some(TTL),
                WriteMode::IfAbsent,
            )
            .map_err(backend)?;
            if written {
                return Ok(id);
            }
        }
        Err(SessionError::Backend("no free id".to_string()))
    }

    pub fn load(id: SessionId) -> Result<Option<SessionRecord>, SessionError> {
        let Some(bytes) = kv::get(&format!("s:{id}")).map_err(backend)? else {
            return Ok(None);
        };
        let data = String::from_utf8(bytes)
            .map_err(|_| SessionError::Backend("stored data is not UTF-8".to_string()))?;
        let now = now();
        let user_id = kv::get(&format!("u:{id}"))
            .map_err(backend)?
            .map(|u| String::from_utf8_lossy(&u).into_owned());
        Ok(Some(SessionRecord {
            id,
            user_id,
            data,
            created_at: now,
            expires_at: now + TTL,
        }))
    }

    pub fn destroy(id: &str) -> Result<(), SessionError> {
        kv::delete(&format!("s:{id}")).map_err(backend)?;
        kv::delete(&format!("u:{id}")).map_err(backend)?;
        Ok(())
    }

    /// Replaces a live session's data and user id; `not-found` when none.
    pub fn update(
        id: SessionId,
        data: &str,
        user_id: Option<&str>,
    ) -> Result<SessionId, SessionError> {
        let key = format!("s:{id}");
        let written =
            kv::set(&key, data.as_bytes(), Some(TTL), WriteMode::IfPresent).map_err(backend)?;
        if !written {
            return Err(SessionError::NotFound);
        }
        let user = format!("u:{id}");
        match user_id {
            Some(u) => {
                kv::set(&user, u.as_bytes(), Some(TTL), WriteMode::Always).map_err(backend)?;
            }
            None => {
                kv::delete(&user).map_err(backend)?;
            }
        }
        Ok(id)
    }
}

bindings::export!(Hostile with_types_in bindings);
