//! Shared pieces of the integration suites: where the built guests are, how to
//! stand a plugin up on a movable clock, and the conformance suite every store
//! runs ([`conformance`], instantiated with [`conformance_suite!`]).
#![deny(missing_docs)]

pub mod conformance;
pub mod faulty;
pub mod fixtures;
