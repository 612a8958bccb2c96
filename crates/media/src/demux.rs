//! O(1) demultiplexing of datagrams on the shared UDP port to sessions.
//!
//! A datagram from a known remote address goes straight to its session. The first datagram
//! from a new address is a STUN binding request whose USERNAME (`local:remote` ufrags) names
//! the session; the address is then learnt. Nothing scans the sessions.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::ids::SessionId;

const STUN_HEADER: usize = 20;
const STUN_MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// Maps remote addresses and local ICE ufrags to sessions.
#[derive(Debug, Default)]
pub struct Demux {
    by_addr: HashMap<SocketAddr, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
    addrs_of: HashMap<SessionId, Vec<SocketAddr>>,
}

impl Demux {
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

    /// The session a datagram from `source` belongs to, learning the address from a STUN
    /// USERNAME when it is new.
    pub fn route(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<SessionId> {
        if let Some(session) = self.by_addr.get(&source) {
            return Some(*session);
        }
        let username = stun_username(datagram)?;
        let local = username.split(':').next()?;
        let session = *self.by_ufrag.get(local)?;
        self.by_addr.insert(source, session);
        self.addrs_of.entry(session).or_default().push(source);
        Some(session)
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
        let s = SessionId(9);
        demux.add_session(s, "abcd".into());
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(
            demux.route(from, &[0x80; 40]),
            None,
            "unknown media is dropped"
        );
        assert_eq!(demux.route(from, &binding_request("abcd:peer")), Some(s));
        assert_eq!(demux.route(from, &[0x80; 40]), Some(s));
        demux.remove_session(s);
        assert_eq!(demux.route(from, &[0x80; 40]), None);
        assert_eq!(demux.route(from, &binding_request("abcd:peer")), None);
    }
}
