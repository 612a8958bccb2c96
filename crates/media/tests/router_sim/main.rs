//! The router driven without sockets, in simulated time: str0m peers exchange datagrams
//! with it in memory, so every run is the same (harness in `../sim/mod.rs`).

#[path = "../sim/mod.rs"]
mod sim;

mod layers;
mod media;
mod rooms;
