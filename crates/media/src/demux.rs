//! O(1) demultiplexing of datagrams on the shared UDP port to sessions.
//!
//! A datagram from a known remote address goes straight to its session. The first datagram
//! from a new address is a STUN binding request whose USERNAME (`local:remote` ufrags) names
//! the session; once its MESSAGE-INTEGRITY proves the sender knows the session's password
//! ([`crate::stun`]), the address is learnt. Nothing scans the sessions, and nothing
//! is remembered for a sender that cannot sign.
//!
//! Every local ufrag starts with its worker's number in two hex digits, so a worker that
//! reads a datagram for another worker's session knows where to hand it (and remembers the
//! address for a while, since the kernel keeps delivering that address to the same socket).
//! A session whose ICE restarted has credentials str0m chose at random; the workers share
//! those ([`IceKey::restarted`]) and look them up before the derived ones.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::ids::SessionId;
use crate::relay::WorkerId;
use crate::stun::{self, IceKey};

/// An address that sent nothing to another worker's session for this long is forgotten
/// (ICE consent checks refresh a live one every few seconds).
const FOREIGN_ADDRESS_TTL: Duration = Duration::from_secs(30);

/// Addresses remembered for other workers' sessions at most (a safety net: each session
/// has its own cap below); beyond it only a new address's signed STUN requests are handed
/// over until an old one expires.
pub const MAX_FOREIGN_ADDRESSES: usize = 16_384;

/// Addresses one session may be reached from, on its own worker and on each other one (ICE
/// checks several candidate pairs; a network change adds one). Beyond it, the address
/// whose last STUN request is oldest is forgotten: the pair in use is refreshed by its
/// consent checks every few seconds.
pub const MAX_ADDRESSES_PER_SESSION: usize = 8;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To a session of this worker.
    Session(SessionId),
    /// To another worker, which owns the session.
    Worker(WorkerId),
    /// Nowhere: no session claims it, or a STUN message failed its integrity check.
    Unknown,
}

/// Maps remote addresses and local ICE ufrags to sessions.
#[derive(Debug)]
pub struct Demux {
    worker: WorkerId,
    workers: usize,
    key: IceKey,
    by_addr: HashMap<SocketAddr, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
    addrs_of: HashMap<SessionId, Vec<SocketAddr>>,
    /// Addresses of other workers' sessions, with when they last sent.
    foreign: HashMap<SocketAddr, (WorkerId, Instant)>,
    /// The same addresses by the ufrag whose password signed for them.
    foreign_of: HashMap<String, Vec<SocketAddr>>,
}

impl Default for Demux {
    fn default() -> Demux {
        Demux::new(WorkerId(0), 1, IceKey::random())
    }
}

/// The local ICE ufrag of a session of `worker`: the worker's number, then `random`.
pub fn worker_ufrag(worker: WorkerId, random: &str) -> String {
    format!("{:02x}{random}", worker.0)
}

impl Demux {
    /// The demultiplexer of `worker`, one of `workers`, whose sessions' passwords come
    /// from `key` (the same for every worker of the node).
    pub fn new(worker: WorkerId, workers: usize, key: IceKey) -> Demux {
        Demux {
            worker,
            workers,
            key,
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            addrs_of: HashMap::new(),
            foreign: HashMap::new(),
            foreign_of: HashMap::new(),
        }
    }

    /// The ICE password a session with local ufrag `ufrag` must use.
    pub fn password(&self, ufrag: &str) -> String {
        self.key.password(ufrag)
    }

    /// Registers a session by the local ufrag it put in its SDP.
    pub fn add_session(&mut self, session: SessionId, local_ufrag: String) {
        self.by_ufrag.insert(local_ufrag, session);
    }

    /// Registers the credentials a session's ICE restart gave it (keeping its earlier
    /// ufrags until it goes), for this worker and the others; false when the session
    /// already has `ufrag` (no restart).
    pub fn restart_session(&mut self, session: SessionId, ufrag: &str, password: &str) -> bool {
        if self.by_ufrag.get(ufrag) == Some(&session) {
            return false;
        }
        self.key.restarted(ufrag, self.worker, password);
        self.by_ufrag.insert(ufrag.to_owned(), session);
        true
    }

    /// Forgets a session and every address learnt for it.
    pub fn remove_session(&mut self, session: SessionId) {
        let ufrags: Vec<String> = self
            .by_ufrag
            .iter()
            .filter(|(_, s)| **s == session)
            .map(|(u, _)| u.clone())
            .collect();
        self.key.forget(&ufrags);
        self.by_ufrag.retain(|_, s| *s != session);
        for addr in self.addrs_of.remove(&session).unwrap_or_default() {
            self.by_addr.remove(&addr);
        }
    }

    /// Where a datagram from `source` goes, learning the address from a signed STUN
    /// USERNAME when it is new. A STUN USERNAME wins over a remembered foreign address, so
    /// an address that moved to a session of this worker is not handed away.
    pub fn route(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) -> Route {
        if let Some(&session) = self.by_addr.get(&source) {
            if stun::is_stun(datagram) {
                self.refresh(session, source);
            }
            return Route::Session(session);
        }
        let Some(local) = stun::username(datagram).and_then(|u| u.split(':').next()) else {
            return match self.foreign.get_mut(&source) {
                Some((worker, seen)) => {
                    *seen = now;
                    Route::Worker(*worker)
                }
                None => Route::Unknown,
            };
        };
        let restarted = self.key.restarted_as(local);
        let owner = match self.by_ufrag.get(local) {
            Some(session) => Route::Session(*session),
            None => match restarted
                .as_ref()
                .map(|(w, _)| *w)
                .or(self.worker_of(local))
            {
                Some(worker) if worker != self.worker => Route::Worker(worker),
                _ => return Route::Unknown,
            },
        };
        let password = match restarted {
            Some((_, password)) => password,
            None => self.key.password(local),
        };
        if !stun::has_integrity(datagram, &password) {
            return Route::Unknown;
        }
        match owner {
            Route::Session(session) => {
                self.foreign.remove(&source);
                self.learn(session, source);
            }
            Route::Worker(worker) => self.learn_foreign(local, worker, source, now),
            Route::Unknown => {}
        }
        owner
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
        let foreign = &self.foreign;
        self.foreign_of.retain(|_, addrs| {
            addrs.retain(|a| foreign.contains_key(a));
            !addrs.is_empty()
        });
    }

    /// How many addresses are remembered, for this worker's sessions and for others'.
    pub fn remembered(&self) -> (usize, usize) {
        (self.by_addr.len(), self.foreign.len())
    }

    /// Moves `source` to the young end of `session`'s addresses (a STUN request came
    /// from it: the pair is alive).
    fn refresh(&mut self, session: SessionId, source: SocketAddr) {
        if let Some(addrs) = self.addrs_of.get_mut(&session)
            && let Some(at) = addrs.iter().position(|a| *a == source)
        {
            let addr = addrs.remove(at);
            addrs.push(addr);
        }
    }

    /// Remembers `source` for the other worker's session whose ufrag is `ufrag`, forgetting
    /// that session's address heard from longest ago beyond the cap.
    fn learn_foreign(&mut self, ufrag: &str, worker: WorkerId, source: SocketAddr, now: Instant) {
        if !self.foreign.contains_key(&source) {
            let addrs = self.foreign_of.entry(ufrag.to_owned()).or_default();
            if addrs.len() >= MAX_ADDRESSES_PER_SESSION {
                let foreign = &self.foreign;
                let stalest = (0..addrs.len())
                    .min_by_key(|&i| foreign.get(&addrs[i]).map(|(_, seen)| *seen))
                    .expect("a full list");
                let gone = addrs.swap_remove(stalest);
                self.foreign.remove(&gone);
            }
            if self.foreign.len() >= MAX_FOREIGN_ADDRESSES {
                return;
            }
            addrs.push(source);
        }
        self.foreign.insert(source, (worker, now));
    }

    /// Remembers `source` for `session`, forgetting its oldest address beyond the cap.
    fn learn(&mut self, session: SessionId, source: SocketAddr) {
        let addrs = self.addrs_of.entry(session).or_default();
        if addrs.len() == MAX_ADDRESSES_PER_SESSION {
            let oldest = addrs.remove(0);
            self.by_addr.remove(&oldest);
        }
        addrs.push(source);
        self.by_addr.insert(source, session);
    }

    /// The worker whose sessions use ufrags like `ufrag`, if it is one of ours.
    fn worker_of(&self, ufrag: &str) -> Option<WorkerId> {
        ufrag_worker(ufrag, self.workers)
    }
}

/// The worker, one of `workers`, whose session has the local ufrag `ufrag`.
pub(crate) fn ufrag_worker(ufrag: &str, workers: usize) -> Option<WorkerId> {
    let worker = usize::from_str_radix(ufrag.get(..2)?, 16).ok()?;
    (worker < workers).then_some(WorkerId(worker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::binding_request;

    /// A binding request to the session with local ufrag `local`, signed as its peer would.
    fn signed(demux: &Demux, local: &str) -> Vec<u8> {
        binding_request(&format!("{local}:peer"), Some(&demux.password(local)))
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
        let stun = signed(&demux, "abcd");
        assert_eq!(demux.route(now, from, &stun), Route::Session(s));
        assert_eq!(demux.route(now, from, &[0x80; 40]), Route::Session(s));
        demux.remove_session(s);
        assert_eq!(demux.route(now, from, &[0x80; 40]), Route::Unknown);
        assert_eq!(demux.route(now, from, &stun), Route::Unknown);
    }

    #[test]
    fn a_stranger_who_cannot_sign_is_not_remembered() {
        let mut demux = Demux::new(WorkerId(0), 2, IceKey::random());
        let now = Instant::now();
        demux.add_session(SessionId(1), "00abcd".into());
        let stranger: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let other_worker = worker_ufrag(WorkerId(1), "efgh");
        for (local, password) in [
            ("00abcd", None),
            ("00abcd", Some("not the password")),
            (other_worker.as_str(), None),
            (other_worker.as_str(), Some("not the password")),
        ] {
            let request = binding_request(&format!("{local}:peer"), password);
            assert_eq!(demux.route(now, stranger, &request), Route::Unknown);
            assert_eq!(
                demux.route(now, stranger, &[0x80; 40]),
                Route::Unknown,
                "media from {stranger} after an unsigned request for {local}"
            );
        }
        assert_eq!(demux.remembered(), (0, 0));
    }

    #[test]
    fn a_restarted_session_is_found_by_its_new_credentials_from_any_worker() {
        let key = IceKey::random();
        let mut mine = Demux::new(WorkerId(1), 2, key.clone());
        let mut other = Demux::new(WorkerId(0), 2, key);
        let now = Instant::now();
        let session = SessionId(4);
        mine.add_session(session, worker_ufrag(WorkerId(1), "abcd"));
        // str0m's restart credentials: random, without the worker's prefix.
        mine.restart_session(session, "0fRandom", "a random password of 24+");
        let request = |password| binding_request("0fRandom:peer", Some(password));
        let moved: SocketAddr = "127.0.0.1:6001".parse().unwrap();
        assert_eq!(
            other.route(now, moved, &request("a random password of 24+")),
            Route::Worker(WorkerId(1))
        );
        assert_eq!(
            other.route(now, moved, &[0x80; 40]),
            Route::Worker(WorkerId(1))
        );
        let elsewhere: SocketAddr = "127.0.0.1:6003".parse().unwrap();
        assert_eq!(
            other.route(now, elsewhere, &request("the derived one is no good now")),
            Route::Unknown
        );
        assert_eq!(
            mine.route(now, moved, &request("a random password of 24+")),
            Route::Session(session)
        );
        mine.remove_session(session);
        assert_eq!(
            other.route(now, elsewhere, &request("a random password of 24+")),
            Route::Unknown,
            "forgotten with its session"
        );
    }

    #[test]
    fn each_session_keeps_a_few_addresses_and_the_live_one_stays() {
        let mut demux = Demux::new(WorkerId(0), 2, IceKey::random());
        let mut now = Instant::now();
        demux.add_session(SessionId(1), "00abcd".into());
        let stun = signed(&demux, "00abcd");
        let live = SocketAddr::from(([127, 0, 0, 1], 5000));
        assert_eq!(demux.route(now, live, &stun), Route::Session(SessionId(1)));
        // A signed request replayed from twenty more addresses, while the live pair keeps
        // sending its consent checks.
        for port in 1..=20u16 {
            let from = SocketAddr::from(([127, 0, 0, 1], 5000 + port));
            assert_eq!(demux.route(now, from, &stun), Route::Session(SessionId(1)));
            if port % 4 == 0 {
                demux.route(now, live, &stun);
            }
        }
        assert_eq!(demux.remembered().0, MAX_ADDRESSES_PER_SESSION);
        assert_eq!(
            demux.route(now, live, &[0x80; 40]),
            Route::Session(SessionId(1))
        );
        let first_replay = SocketAddr::from(([127, 0, 0, 1], 5001));
        assert_eq!(demux.route(now, first_replay, &[0x80; 40]), Route::Unknown);

        // The same for another worker's session: replays from a thousand addresses cost
        // eight entries, and the address that keeps sending stays.
        let other = signed(&demux, &worker_ufrag(WorkerId(1), "efgh"));
        let sending = SocketAddr::from(([10, 0, 0, 1], 6000));
        assert_eq!(
            demux.route(now, sending, &other),
            Route::Worker(WorkerId(1))
        );
        for i in 0..1000u16 {
            now += Duration::from_millis(1);
            let from = SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 6000));
            assert_eq!(demux.route(now, from, &other), Route::Worker(WorkerId(1)));
            demux.route(now, sending, &[0x80; 40]);
        }
        assert_eq!(demux.remembered().1, MAX_ADDRESSES_PER_SESSION);
        assert_eq!(
            demux.route(now, sending, &[0x80; 40]),
            Route::Worker(WorkerId(1))
        );
        let another = signed(&demux, &worker_ufrag(WorkerId(1), "ijkl"));
        let from = SocketAddr::from(([10, 2, 0, 1], 6000));
        assert_eq!(demux.route(now, from, &another), Route::Worker(WorkerId(1)));
        assert_eq!(demux.remembered().1, MAX_ADDRESSES_PER_SESSION + 1);
        demux.expire(now + FOREIGN_ADDRESS_TTL);
        assert_eq!(demux.remembered().1, 0);
        assert!(demux.foreign_of.is_empty());
    }

    #[test]
    fn datagrams_for_another_worker_are_handed_over_until_quiet() {
        let mut demux = Demux::new(WorkerId(0), 2, IceKey::random());
        let now = Instant::now();
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let other = worker_ufrag(WorkerId(1), "abcd");
        let stun = signed(&demux, &other);
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
        let unknown_worker = signed(&demux, &worker_ufrag(WorkerId(7), "x"));
        let elsewhere: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        assert_eq!(demux.route(now, elsewhere, &unknown_worker), Route::Unknown);

        // The address moves to a session of this worker: its STUN wins.
        let mine = worker_ufrag(WorkerId(0), "efgh");
        demux.add_session(SessionId(3), mine.clone());
        let stun = signed(&demux, &mine);
        assert_eq!(demux.route(now, from, &stun), Route::Session(SessionId(3)));

        let later = now + FOREIGN_ADDRESS_TTL;
        let quiet: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let stun = signed(&demux, &other);
        assert_eq!(demux.route(now, quiet, &stun), Route::Worker(WorkerId(1)));
        demux.expire(later);
        assert_eq!(demux.route(later, quiet, &[0x80; 40]), Route::Unknown);
    }
}
