//! Moim's TURN server (RFC 8656): clients whose networks block UDP, or everything but one
//! TLS port, reach Moim's media through a relayed address.
//!
//! [`server::TurnServer`] is the protocol as a state machine (allocations, permissions,
//! channels, long-term credentials); [`service::TurnService`] runs it on UDP, TCP and TLS
//! with a UDP socket per allocation. Credentials are minted per participant with
//! [`credentials::TurnSecret`] in the form coturn's `use-auth-secret` accepts, so an
//! external coturn can stand in for this server. It relays only to Moim's own media
//! addresses.

#![deny(missing_docs)]

pub mod credentials;
pub mod message;
pub mod server;
pub mod service;

pub use credentials::{Credentials, TurnSecret};
pub use service::{Peer, TurnConfig, TurnService};
