//! Rust mirrors of the WIT records, as the public API hands them out.

use crate::bindings::wit_types as wit;

/// A session id as issued by a plugin.
pub type SessionId = String;

/// What to put in a new session (mirrors `create-options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// The session data: the text of a JSON object.
    pub data: String,
    /// The logged-in user, if any.
    pub user_id: Option<String>,
    /// Lifetime in seconds; none uses the plugin's configured default.
    pub ttl_seconds: Option<u64>,
    /// An existing id to import (server-side stores only).
    pub id: Option<SessionId>,
}

impl CreateOptions {
    /// Options for an anonymous session holding `data` with the default ttl.
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            data: data.into(),
            user_id: None,
            ttl_seconds: None,
            id: None,
        }
    }

    /// Sets the logged-in user.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets the lifetime in seconds.
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl_seconds = Some(seconds);
        self
    }

    /// Imports an existing id.
    pub fn with_id(mut self, id: impl Into<SessionId>) -> Self {
        self.id = Some(id.into());
        self
    }
}

impl From<CreateOptions> for wit::CreateOptions {
    fn from(o: CreateOptions) -> Self {
        Self {
            data: o.data,
            user_id: o.user_id,
            ttl_seconds: o.ttl_seconds,
            id: o.id,
        }
    }
}

/// A live session (mirrors `session-record`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The id to hold from now on (may differ from the one loaded).
    pub id: SessionId,
    /// The logged-in user, if any.
    pub user_id: Option<String>,
    /// The session data, byte for byte as stored.
    pub data: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry time, Unix seconds.
    pub expires_at: u64,
}

impl From<wit::SessionRecord> for SessionRecord {
    fn from(r: wit::SessionRecord) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            data: r.data,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// What a plugin says about itself (mirrors `plugin-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Short name, e.g. `kv-session`, as the plugin gave it with its
    /// control characters escaped ([`crate::text::escape_controls`]).
    pub name: String,
    /// Semantic version, escaped the same way.
    pub version: String,
    /// True when destroy/regenerate really invalidate old ids.
    pub server_side: bool,
}

impl PluginInfo {
    /// The name and version with their control characters escaped, as the
    /// harness hands them on.
    pub(crate) fn escaped(self) -> Self {
        // The string itself when nothing needed escaping (most names): no
        // copy on every `info` call.
        Self {
            name: crate::text::escape_controls_owned(self.name),
            version: crate::text::escape_controls_owned(self.version),
            server_side: self.server_side,
        }
    }
}

impl From<wit::PluginInfo> for PluginInfo {
    fn from(i: wit::PluginInfo) -> Self {
        Self {
            name: i.name,
            version: i.version,
            server_side: i.server_side,
        }
    }
}
