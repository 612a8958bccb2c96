//! Moim's wire contracts: what clients and the server say to each other.
//!
//! - [`signal`]: the JSON messages of the WebSocket signaling protocol (`docs/protocol.md`).
//! - [`error`]: the stable error codes every failing request is answered with.
//! - [`token`]: access tokens (JWT, HS256) and the grants they carry.
//! - [`names`]: what room names, identities and display names may be.
//!
//! The crate has no IO; the server and the tests share it so that both sides agree on the
//! shape of every message.

#![deny(missing_docs)]

pub mod error;
pub mod names;
pub mod signal;
pub mod token;

pub use error::ErrorCode;
