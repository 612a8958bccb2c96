//! The signaling protocol, version 1: JSON objects over one WebSocket (`docs/protocol.md`).
//!
//! [`ClientMessage`] is what a browser or SDK sends, [`ServerMessage`] what Moim answers.
//! Both travel inside an envelope whose optional `id` lets a client match replies to requests.

mod client;
mod objects;
mod server;
#[cfg(test)]
mod tests;

pub use client::*;
pub use objects::*;
pub use server::*;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame the server accepts, in bytes. An SDP answer grows by about 5 KB per
/// received track, so this leaves room for rooms of a hundred publishers.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;
