//! World-independent helpers shared by the session-plugin guests.
//!
//! Nothing here touches WIT bindings: each guest generates its own and maps
//! [`Invalid`] onto its `session-error` variants.
#![deny(missing_docs)]

pub mod clock;
pub mod data;
pub mod lifetime;
pub mod settings;

/// An input a guest refuses, before any storage work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The session data is not the text of a JSON object.
    Data(String),
    /// An input exceeds a configured limit.
    TooLarge(String),
    /// The configuration is missing or invalid.
    Config(String),
}
