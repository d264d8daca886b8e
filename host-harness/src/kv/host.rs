//! The `session:plugin/kv` import as a plugin sees it: one namespace of a
//! [`KvBackend`], bound once at load, with the host's limits on every
//! guest-controlled argument checked before the backend is touched, and the
//! sizes of strings and lists checked before they are copied out of the
//! guest (`add_to_linker`). In place, that is: the harness loads only
//! components that pass strings as UTF-8 (`string_encoding`), which
//! wasmtime reads without converting. Arguments past
//! [`crate::Limits::copy_limit_bytes`] together never get here: wasmtime
//! stops the call as it lifts them (`CallError::CopyLimit`).

use super::{KeyPage, KvBackend, KvError, KvNamespace, WriteMode};
use crate::bindings::kv_api::{self, Host as _};
use crate::state::HostState;
use std::sync::Arc;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmList, WasmStr};

/// Largest key a guest may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a guest may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// Most keys returned by one `list-keys` call, whatever the guest asks for.
pub const MAX_PAGE: u32 = 1000;

/// A namespace reached through a backend's by-name methods, for backends
/// that do not [`KvBackend::bind`].
struct ByName {
    backend: Arc<dyn KvBackend>,
    namespace: Arc<str>,
}

impl KvNamespace for ByName {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.backend.get(&self.namespace, key)
    }

    fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        self.backend
            .set(&self.namespace, key, value, ttl_seconds, mode)
    }

    fn delete(&self, key: &str) -> Result<bool, KvError> {
        self.backend.delete(&self.namespace, key)
    }

    fn list_keys(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        self.backend
            .list_keys(&self.namespace, prefix, cursor, limit)
    }
}

/// One plugin's view of the kv backend. Each instance has its own copy.
#[derive(Clone)]
pub struct KvView {
    ns: Arc<dyn KvNamespace>,
}

impl KvView {
    /// Binds `backend` to `namespace`; the plugin can reach nothing else.
    pub fn new(backend: Arc<dyn KvBackend>, namespace: Arc<str>) -> Self {
        let ns = match backend.bind(&namespace) {
            Some(bound) => bound,
            None => Arc::new(ByName { backend, namespace }),
        };
        Self { ns }
    }

    fn check_key(what: &str, key: &str) -> Result<(), KvError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(KvError::TooLarge(format!(
                "{what} is {} bytes; the limit is {MAX_KEY_BYTES}",
                key.len()
            )));
        }
        Ok(())
    }

    fn checked_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Self::check_key("key", key)?;
        self.ns.get(key)
    }

    fn checked_set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Option<u64>,
        mode: WriteMode,
    ) -> Result<bool, KvError> {
        Self::check_key("key", key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(value_too_large(value.len()));
        }
        if ttl == Some(0) {
            return Err(super::zero_ttl());
        }
        self.ns.set(key, value, ttl, mode)
    }

    fn checked_delete(&self, key: &str) -> Result<bool, KvError> {
        Self::check_key("key", key)?;
        self.ns.delete(key)
    }

    fn checked_list_keys(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        Self::check_key("prefix", prefix)?;
        if let Some(c) = cursor {
            Self::check_key("cursor", c)?;
        }
        if limit == 0 {
            return Err(super::zero_limit());
        }
        self.ns.list_keys(prefix, cursor, limit.min(MAX_PAGE))
    }
}

/// Links `session:plugin/kv` for the plugins of `linker`, each call served by
/// the instance's [`KvView`]. The arguments are looked at where they lie in
/// the guest's memory and their sizes checked before anything is copied to
/// the host (generated glue would copy every string and list first): a guest
/// passing a 60 MB key costs the host a UTF-8 check, not a 60 MB allocation.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut kv = linker.instance("session:plugin/kv@0.1.0")?;
    kv.func_wrap(
        "get",
        |mut store: StoreContextMut<'_, HostState>, (key,): (WasmStr,)| {
            let key = bounded("key", &key, &store)?;
            Ok((key.and_then(|key| store.data_mut().kv.get(key)),))
        },
    )?;
    kv.func_wrap(
        "set",
        |mut store: StoreContextMut<'_, HostState>,
         (key, value, ttl, mode): (WasmStr, WasmList<u8>, Option<u64>, kv_api::WriteMode)| {
            let key = bounded("key", &key, &store)?;
            let answer = key.and_then(|key| match value.len() {
                n if n > MAX_VALUE_BYTES => Err(to_wit(value_too_large(n))),
                _ => {
                    let value = value.as_le_slice(&store).to_vec();
                    store.data_mut().kv.set(key, value, ttl, mode)
                }
            });
            Ok((answer,))
        },
    )?;
    kv.func_wrap(
        "delete",
        |mut store: StoreContextMut<'_, HostState>, (key,): (WasmStr,)| {
            let key = bounded("key", &key, &store)?;
            Ok((key.and_then(|key| store.data_mut().kv.delete(key)),))
        },
    )?;
    kv.func_wrap(
        "list-keys",
        |mut store: StoreContextMut<'_, HostState>,
         (prefix, cursor, limit): (WasmStr, Option<WasmStr>, u32)| {
            let prefix = bounded("prefix", &prefix, &store)?;
            let cursor = cursor.map(|c| bounded("cursor", &c, &store)).transpose()?;
            let answer = prefix.and_then(|prefix| {
                let cursor = cursor.transpose()?;
                store.data_mut().kv.list_keys(prefix, cursor, limit)
            });
            Ok((answer,))
        },
    )?;
    Ok(())
}

/// The guest's string `s`, copied to the host only when it is within
/// [`MAX_KEY_BYTES`]; a string that is not valid is a trap, as in generated
/// glue.
fn bounded(
    what: &str,
    s: &WasmStr,
    store: &StoreContextMut<'_, HostState>,
) -> wasmtime::Result<Result<String, kv_api::KvError>> {
    let text = s.to_str(store)?;
    Ok(KvView::check_key(what, &text)
        .map(|()| text.into_owned())
        .map_err(to_wit))
}

fn value_too_large(len: usize) -> KvError {
    KvError::TooLarge(format!(
        "value is {len} bytes; the limit is {MAX_VALUE_BYTES}"
    ))
}

fn to_wit(e: KvError) -> kv_api::KvError {
    match e {
        KvError::Backend(m) => kv_api::KvError::Backend(m),
        KvError::TooLarge(m) => kv_api::KvError::TooLarge(m),
    }
}

fn mode_from_wit(m: kv_api::WriteMode) -> WriteMode {
    match m {
        kv_api::WriteMode::Always => WriteMode::Always,
        kv_api::WriteMode::IfAbsent => WriteMode::IfAbsent,
        kv_api::WriteMode::IfPresent => WriteMode::IfPresent,
    }
}

impl kv_api::Host for KvView {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, kv_api::KvError> {
        self.checked_get(&key).map_err(to_wit)
    }

    fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
        mode: kv_api::WriteMode,
    ) -> Result<bool, kv_api::KvError> {
        self.checked_set(&key, value, ttl_seconds, mode_from_wit(mode))
            .map_err(to_wit)
    }

    fn delete(&mut self, key: String) -> Result<bool, kv_api::KvError> {
        self.checked_delete(&key).map_err(to_wit)
    }

    fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<kv_api::KeyPage, kv_api::KvError> {
        self.checked_list_keys(&prefix, cursor.as_deref(), limit)
            .map(|p| kv_api::KeyPage {
                keys: p.keys,
                cursor: p.cursor,
            })
            .map_err(to_wit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::kv::memory::MemoryBackend;
    use std::time::Duration;

    fn view(ns: &str, backend: &Arc<MemoryBackend>) -> KvView {
        KvView::new(backend.clone(), Arc::from(ns))
    }

    fn backend() -> Arc<MemoryBackend> {
        Arc::new(MemoryBackend::new(Arc::new(ManualClock::new(
            Duration::from_secs(10),
        ))))
    }

    #[test]
    fn oversized_key_value_prefix_and_cursor_are_refused() {
        let b = backend();
        let mut v = view("p", &b);
        let big = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(
            v.get(big.clone()),
            Err(kv_api::KvError::TooLarge(_))
        ));
        assert!(matches!(
            v.delete(big.clone()),
            Err(kv_api::KvError::TooLarge(_))
        ));
        assert!(matches!(
            v.set(big.clone(), vec![], None, kv_api::WriteMode::Always),
            Err(kv_api::KvError::TooLarge(_))
        ));
        assert!(matches!(
            v.set(
                "k".into(),
                vec![0; MAX_VALUE_BYTES + 1],
                None,
                kv_api::WriteMode::Always
            ),
            Err(kv_api::KvError::TooLarge(_))
        ));
        assert!(matches!(
            v.list_keys(big.clone(), None, 1),
            Err(kv_api::KvError::TooLarge(_))
        ));
        assert!(matches!(
            v.list_keys(String::new(), Some(big), 1),
            Err(kv_api::KvError::TooLarge(_))
        ));
    }

    #[test]
    fn zero_ttl_is_refused() {
        let b = backend();
        let mut v = view("p", &b);
        assert!(matches!(
            v.set("k".into(), vec![], Some(0), kv_api::WriteMode::Always),
            Err(kv_api::KvError::Backend(_))
        ));
    }

    #[test]
    fn page_limit_is_clamped() {
        let b = backend();
        let mut v = view("p", &b);
        for i in 0..(MAX_PAGE + 5) {
            v.set(format!("{i:05}"), vec![], None, kv_api::WriteMode::Always)
                .unwrap();
        }
        let page = v.list_keys(String::new(), None, u32::MAX).unwrap();
        assert_eq!(page.keys.len(), MAX_PAGE as usize);
        assert!(page.cursor.is_some());
        // A limit of 0 is refused: a page of no keys could never move on.
        match v.list_keys(String::new(), None, 0) {
            Err(kv_api::KvError::Backend(m)) => assert_eq!(
                m,
                "list-keys limit must be at least 1 (a page of 0 keys could never move on)"
            ),
            other => panic!("expected a backend error, got {other:?}"),
        }
    }

    #[test]
    fn a_plugin_cannot_see_another_namespace() {
        let b = backend();
        let mut a = view("plugin-a", &b);
        let mut other = view("plugin-b", &b);
        a.set(
            "s:secret".into(),
            b"x".to_vec(),
            None,
            kv_api::WriteMode::Always,
        )
        .unwrap();
        assert_eq!(other.get("s:secret".into()).unwrap(), None);
        assert!(!other.delete("s:secret".into()).unwrap());
        assert!(
            other
                .list_keys(String::new(), None, 100)
                .unwrap()
                .keys
                .is_empty()
        );
        assert!(a.get("s:secret".into()).unwrap().is_some());
    }
}
