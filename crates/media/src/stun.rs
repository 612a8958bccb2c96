//! The few STUN facts the demultiplexer reads before a session's `Rtc` sees a datagram: the
//! USERNAME that names the session, and whether MESSAGE-INTEGRITY proves the sender knows
//! the session's ICE password (RFC 8489 §14.5).
//!
//! Every session's password is derived from its ufrag with a key the node's workers share
//! ([`IceKey`]), so any worker can check a binding request for any worker's session
//! without asking it. An address is remembered only after that check: a stranger who can
//! send datagrams but never saw the session's SDP makes the server remember nothing.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use crate::relay::WorkerId;

const HEADER: usize = 20;
const MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const INTEGRITY_LEN: usize = 20;

/// The secret from which the ICE password of every session of a node is derived, and the
/// credentials of sessions whose ICE restarted (str0m picks those at random), which every
/// worker of the node shares.
#[derive(Clone)]
pub struct IceKey {
    secret: [u8; 32],
    restarted: Arc<RwLock<HashMap<String, (WorkerId, String)>>>,
}

impl std::fmt::Debug for IceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IceKey(..)")
    }
}

impl IceKey {
    /// A key from the operating system's random source.
    pub fn random() -> IceKey {
        let mut key = [0; 32];
        getrandom::fill(&mut key).expect("the operating system's random source");
        IceKey {
            secret: key,
            restarted: Arc::default(),
        }
    }

    /// Shares the credentials a session of `worker` took when its ICE restarted.
    pub fn restarted(&self, ufrag: &str, worker: WorkerId, password: &str) {
        self.write()
            .insert(ufrag.to_owned(), (worker, password.to_owned()));
    }

    /// Forgets credentials shared with [`IceKey::restarted`].
    pub fn forget(&self, ufrags: &[String]) {
        let mut restarted = self.write();
        for ufrag in ufrags {
            restarted.remove(ufrag);
        }
    }

    /// The worker and password of a session whose ICE restarted to `ufrag`, if one did.
    pub fn restarted_as(&self, ufrag: &str) -> Option<(WorkerId, String)> {
        let restarted = self.restarted.read().unwrap_or_else(|e| e.into_inner());
        restarted.get(ufrag).cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (WorkerId, String)>> {
        self.restarted.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The local ICE password of the session whose local ufrag is `ufrag`: 32 hex digits
    /// (ICE asks for at least 128 bits).
    pub fn password(&self, ufrag: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("any key length");
        mac.update(ufrag.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Whether `datagram` looks like a STUN message (RFC 8489 §6: two zero bits, the magic
/// cookie), without reading its attributes.
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER && datagram[0] & 0xc0 == 0 && datagram[4..8] == MAGIC
}

/// The USERNAME attribute of a STUN message, if `datagram` is one and has it.
pub fn username(datagram: &[u8]) -> Option<&str> {
    let (_, _, value) = attributes(datagram)?.find(|(kind, _, _)| *kind == ATTR_USERNAME)?;
    std::str::from_utf8(value).ok()
}

/// Whether `datagram` is a STUN message whose MESSAGE-INTEGRITY was made with `password`.
pub fn has_integrity(datagram: &[u8], password: &str) -> bool {
    let Some((_, at, value)) = attributes(datagram)
        .and_then(|mut a| a.find(|(kind, _, _)| *kind == ATTR_MESSAGE_INTEGRITY))
    else {
        return false;
    };
    if value.len() != INTEGRITY_LEN {
        return false;
    }
    // The HMAC covers the message up to the attribute, with the header's length counting
    // the attribute itself as the message's last.
    let covered_len = (at - HEADER + 4 + INTEGRITY_LEN) as u16;
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(password.as_bytes()).expect("any key");
    mac.update(&datagram[..2]);
    mac.update(&covered_len.to_be_bytes());
    mac.update(&datagram[4..at]);
    mac.verify_slice(value).is_ok()
}

/// The attributes of a STUN message: (type, offset of the attribute in the datagram, value).
fn attributes(datagram: &[u8]) -> Option<impl Iterator<Item = (u16, usize, &[u8])>> {
    if !is_stun(datagram) {
        return None;
    }
    let body_len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let end = HEADER.checked_add(body_len)?;
    if end > datagram.len() {
        return None;
    }
    let mut at = HEADER;
    Some(std::iter::from_fn(move || {
        if at + 4 > end {
            return None;
        }
        let kind = u16::from_be_bytes([datagram[at], datagram[at + 1]]);
        let len = u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]) as usize;
        let value = datagram.get(at + 4..(at + 4 + len).min(end))?;
        if value.len() != len {
            return None;
        }
        let start = at;
        at += 4 + len.div_ceil(4) * 4;
        Some((kind, start, value))
    }))
}

/// A binding request from `username`, signed with `password` when given, as an ICE agent
/// sends it (tests and benchmarks build their datagrams with it).
#[doc(hidden)]
pub fn binding_request(username: &str, password: Option<&str>) -> Vec<u8> {
    let mut msg = vec![0x00, 0x01, 0, 0];
    msg.extend_from_slice(&MAGIC);
    msg.extend_from_slice(&[7; 12]);
    // An attribute before USERNAME, with padding, as browsers send PRIORITY and others.
    push_attribute(&mut msg, 0x8029, &[1, 2, 3]);
    push_attribute(&mut msg, ATTR_USERNAME, username.as_bytes());
    if let Some(password) = password {
        let covered_len = (msg.len() - HEADER + 4 + INTEGRITY_LEN) as u16;
        msg[2..4].copy_from_slice(&covered_len.to_be_bytes());
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(password.as_bytes()).expect("any key");
        mac.update(&msg);
        let integrity = mac.finalize().into_bytes();
        push_attribute(&mut msg, ATTR_MESSAGE_INTEGRITY, &integrity);
    }
    let body_len = (msg.len() - HEADER) as u16;
    msg[2..4].copy_from_slice(&body_len.to_be_bytes());
    msg
}

fn push_attribute(msg: &mut Vec<u8>, kind: u16, value: &[u8]) {
    msg.extend_from_slice(&kind.to_be_bytes());
    msg.extend_from_slice(&(value.len() as u16).to_be_bytes());
    msg.extend_from_slice(value);
    while !msg.len().is_multiple_of(4) {
        msg.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_is_found_after_other_attributes() {
        let request = binding_request("abcd:wxyz", None);
        assert_eq!(username(&request), Some("abcd:wxyz"));
    }

    #[test]
    fn non_stun_has_no_username() {
        assert_eq!(username(&[0x80; 40]), None);
        assert_eq!(username(&[0; 5]), None);
        let mut truncated = binding_request("abcd:wxyz", None);
        truncated.truncate(26);
        assert_eq!(username(&truncated), None);
    }

    #[test]
    fn integrity_holds_only_with_the_password() {
        let key = IceKey::random();
        let password = key.password("abcd");
        assert_eq!(password.len(), 32);
        assert_ne!(password, IceKey::random().password("abcd"));
        let signed = binding_request("abcd:wxyz", Some(&password));
        assert!(has_integrity(&signed, &password));
        assert!(!has_integrity(&signed, &key.password("abce")));
        assert!(!has_integrity(
            &binding_request("abcd:wxyz", None),
            &password
        ));
        let mut tampered = signed.clone();
        tampered[HEADER + 9] ^= 1;
        assert!(!has_integrity(&tampered, &password));
    }

    #[test]
    fn integrity_matches_a_real_ice_agent() {
        // str0m's ICE agent signs its binding requests; the check must accept them.
        use str0m::{Candidate, Rtc};
        let key = IceKey::random();
        let mut server_creds = str0m::IceCreds::new();
        server_creds.pass = key.password(&server_creds.ufrag);
        let now = std::time::Instant::now();
        let mut server = Rtc::builder()
            .set_ice_lite(true)
            .set_local_ice_credentials(server_creds.clone())
            .build(now);
        let server_addr = "127.0.0.1:4000".parse().unwrap();
        server.add_local_candidate(Candidate::host(server_addr, "udp").unwrap());
        let mut client = Rtc::builder().build(now);
        let client_addr = "127.0.0.1:5000".parse().unwrap();
        client.add_local_candidate(Candidate::host(client_addr, "udp").unwrap());
        let mut change = client.sdp_api();
        change.add_channel("x".into());
        let (offer, pending) = change.apply().unwrap();
        let answer = server.sdp_api().accept_offer(offer).unwrap();
        client.sdp_api().accept_answer(pending, answer).unwrap();
        let mut at = now;
        for _ in 0..50 {
            while let Ok(output) = client.poll_output() {
                match output {
                    str0m::Output::Transmit(t) => {
                        if let Some(user) = username(&t.contents) {
                            assert!(user.starts_with(&server_creds.ufrag));
                            assert!(has_integrity(&t.contents, &server_creds.pass));
                            return;
                        }
                    }
                    str0m::Output::Timeout(t) => {
                        at = at.max(t);
                        break;
                    }
                    str0m::Output::Event(_) => {}
                }
            }
            client.handle_input(str0m::Input::Timeout(at)).unwrap();
        }
        panic!("the client sent no binding request");
    }
}
