//! O(1) demultiplexing of datagrams on the shared UDP port to sessions.
//!
//! A datagram from a known remote address goes straight to its session. The first datagram
//! from a new address is a STUN binding request whose USERNAME (`local:remote` ufrags) names
//! the session; the address is then learnt. Nothing scans the sessions.
//!
//! Every local ufrag starts with its worker's number in two hex digits, so a worker that
//! reads a datagram for another worker's session knows where to hand it (and remembers the
//! address for a while, since the kernel keeps delivering that address to the same socket).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::ids::SessionId;
use crate::relay::WorkerId;

const STUN_HEADER: usize = 20;
const STUN_MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// An address that sent nothing to another worker's session for this long is forgotten
/// (ICE consent checks refresh a live one every few seconds).
const FOREIGN_ADDRESS_TTL: Duration = Duration::from_secs(30);

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To a session of this worker.
    Session(SessionId),
    /// To another worker, which owns the session.
    Worker(WorkerId),
    /// Nowhere: no session claims it.
    Unknown,
}

/// Maps remote addresses and local ICE ufrags to sessions.
#[derive(Debug)]
pub struct Demux {
    worker: WorkerId,
    workers: usize,
    by_addr: HashMap<SocketAddr, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
    addrs_of: HashMap<SessionId, Vec<SocketAddr>>,
    /// Addresses of other workers' sessions, with when they last sent.
    foreign: HashMap<SocketAddr, (WorkerId, Instant)>,
}

impl Default for Demux {
    fn default() -> Demux {
        Demux::new(WorkerId(0), 1)
    }
}

/// The local ICE ufrag of a session of `worker`: the worker's number, then `random`.
pub fn worker_ufrag(worker: WorkerId, random: &str) -> String {
    format!("{:02x}{random}", worker.0)
}

impl Demux {
    /// The demultiplexer of `worker`, one of `workers`.
    pub fn new(worker: WorkerId, workers: usize) -> Demux {
        Demux {
            worker,
            workers,
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            addrs_of: HashMap::new(),
            foreign: HashMap::new(),
        }
    }

    /// Registers a session by the local ufrag it put in its SDP.
    pub fn add_session(&mut self, session: SessionId, local_ufrag: String) {
        self.by_ufrag.insert(local_ufrag, session);
    }

    /// Forgets a session and every address learnt for it.
    pub fn remove_session(&mut self, session: SessionId) {
        self.by_ufrag.retain(|_, s| *s != session);
        for addr in self.addrs_of.remove(&session).unwrap_or_default() {
            self.by_addr.remove(&addr);
        }
    }

    /// Where a datagram from `source` goes, learning the address from a STUN USERNAME when
    /// it is new. A STUN USERNAME wins over a remembered foreign address, so an address that
    /// moved to a session of this worker is not handed away.
    pub fn route(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) -> Route {
        if let Some(session) = self.by_addr.get(&source) {
            return Route::Session(*session);
        }
        let Some(local) = stun_username(datagram).and_then(|u| u.split(':').next()) else {
            return match self.foreign.get_mut(&source) {
                Some((worker, seen)) => {
                    *seen = now;
                    Route::Worker(*worker)
                }
                None => Route::Unknown,
            };
        };
        if let Some(session) = self.by_ufrag.get(local).copied() {
            self.foreign.remove(&source);
            self.by_addr.insert(source, session);
            self.addrs_of.entry(session).or_default().push(source);
            return Route::Session(session);
        }
        match self.worker_of(local) {
            Some(worker) if worker != self.worker => {
                self.foreign.insert(source, (worker, now));
                Route::Worker(worker)
            }
            _ => Route::Unknown,
        }
    }

    /// The session of this worker a datagram handed over by another worker belongs to
    /// (never handed on again).
    pub fn route_local(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) -> Route {
        match self.route(now, source, datagram) {
            Route::Worker(_) => Route::Unknown,
            route => route,
        }
    }

    /// Forgets foreign addresses that went quiet.
    pub fn expire(&mut self, now: Instant) {
        self.foreign
            .retain(|_, (_, seen)| now.saturating_duration_since(*seen) < FOREIGN_ADDRESS_TTL);
    }

    /// The worker whose sessions use ufrags like `ufrag`, if it is one of ours.
    fn worker_of(&self, ufrag: &str) -> Option<WorkerId> {
        let worker = usize::from_str_radix(ufrag.get(..2)?, 16).ok()?;
        (worker < self.workers).then_some(WorkerId(worker))
    }
}

/// The USERNAME attribute of a STUN message, if `datagram` is one and has it.
pub fn stun_username(datagram: &[u8]) -> Option<&str> {
    if datagram.len() < STUN_HEADER || datagram[0] & 0xc0 != 0 || datagram[4..8] != STUN_MAGIC {
        return None;
    }
    let body_len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let body = datagram.get(STUN_HEADER..STUN_HEADER + body_len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize;
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == ATTR_USERNAME {
            return std::str::from_utf8(value).ok();
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // An attribute before USERNAME, with padding, to exercise the walk.
        attrs.extend_from_slice(&0x8029u16.to_be_bytes());
        attrs.extend_from_slice(&3u16.to_be_bytes());
        attrs.extend_from_slice(&[1, 2, 3, 0]);
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut msg = vec![0x00, 0x01];
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&STUN_MAGIC);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attrs);
        msg
    }

    #[test]
    fn username_is_found_after_other_attributes() {
        assert_eq!(
            stun_username(&binding_request("abcd:wxyz")),
            Some("abcd:wxyz")
        );
    }

    #[test]
    fn non_stun_has_no_username() {
        assert_eq!(stun_username(&[0x80; 40]), None);
        assert_eq!(stun_username(&[0; 5]), None);
        let mut truncated = binding_request("abcd:wxyz");
        truncated.truncate(26);
        assert_eq!(stun_username(&truncated), None);
    }

    #[test]
    fn address_is_learnt_from_stun_then_used_for_media() {
        let mut demux = Demux::default();
        let now = Instant::now();
        let s = SessionId(9);
        demux.add_session(s, "abcd".into());
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(
            demux.route(now, from, &[0x80; 40]),
            Route::Unknown,
            "unknown media is dropped"
        );
        let stun = binding_request("abcd:peer");
        assert_eq!(demux.route(now, from, &stun), Route::Session(s));
        assert_eq!(demux.route(now, from, &[0x80; 40]), Route::Session(s));
        demux.remove_session(s);
        assert_eq!(demux.route(now, from, &[0x80; 40]), Route::Unknown);
        assert_eq!(demux.route(now, from, &stun), Route::Unknown);
    }

    #[test]
    fn datagrams_for_another_worker_are_handed_over_until_quiet() {
        let mut demux = Demux::new(WorkerId(0), 2);
        let now = Instant::now();
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let other = worker_ufrag(WorkerId(1), "abcd");
        let stun = binding_request(&format!("{other}:peer"));
        assert_eq!(demux.route(now, from, &stun), Route::Worker(WorkerId(1)));
        assert_eq!(
            demux.route(now, from, &[0x80; 40]),
            Route::Worker(WorkerId(1))
        );
        assert_eq!(
            demux.route_local(now, from, &[0x80; 40]),
            Route::Unknown,
            "a handed-over datagram is never handed on"
        );
        let unknown_worker = binding_request(&format!("{}:peer", worker_ufrag(WorkerId(7), "x")));
        let elsewhere: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        assert_eq!(demux.route(now, elsewhere, &unknown_worker), Route::Unknown);

        // The address moves to a session of this worker: its STUN wins.
        let mine = worker_ufrag(WorkerId(0), "efgh");
        demux.add_session(SessionId(3), mine.clone());
        let stun = binding_request(&format!("{mine}:peer"));
        assert_eq!(demux.route(now, from, &stun), Route::Session(SessionId(3)));

        let later = now + FOREIGN_ADDRESS_TTL;
        let quiet: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let stun = binding_request(&format!("{other}:peer"));
        assert_eq!(demux.route(now, quiet, &stun), Route::Worker(WorkerId(1)));
        demux.expire(later);
        assert_eq!(demux.route(later, quiet, &[0x80; 40]), Route::Unknown);
    }
}
