//! Datagrams on the shared media port from anyone: routed to a session only when a signed
//! STUN request taught the demultiplexer the sender, never remembered otherwise.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use moim_media::demux::{Demux, Route, worker_ufrag};
use moim_media::ids::SessionId;
use moim_media::relay::WorkerId;
use moim_media::stun::{self, IceKey};

fuzz_target!(|data: &[u8]| {
    let mut demux = Demux::new(WorkerId(0), 2, IceKey::random());
    let mine = worker_ufrag(WorkerId(0), "abcd");
    demux.add_session(SessionId(1), mine);
    let start = Instant::now();
    // The input is a run of datagrams: a byte of sender port, two of length, the bytes.
    let mut rest = data;
    let mut at = start;
    while rest.len() >= 3 {
        let port = 5000 + u16::from(rest[0]);
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let datagram = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let source = SocketAddr::from(([127, 0, 0, 1], port));
        let _ = stun::username(datagram);
        let route = demux.route(at, source, datagram);
        // Nobody here knows the session's password, so nothing is ever routed to it.
        assert_eq!(route, Route::Unknown, "{datagram:?}");
        at += Duration::from_millis(10);
        demux.expire(at);
    }
});
