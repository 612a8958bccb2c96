//! The TURN server as a state machine (RFC 8656): it takes a client's message or a peer's
//! datagram with the time and says what to send where; the IO around it ([`crate::service`])
//! owns the sockets. Every relayed packet is looked up in O(1) by client or relayed address,
//! then among the allocation's few permissions and channels.
//!
//! Moim's TURN server relays only to Moim's own media addresses (the `peers` it is given):
//! it gets clients through firewalls to this server, and is no open relay for anyone else.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::credentials::TurnSecret;
use crate::message::{
    Class, Message, Method, Writer, attr, channel_data, is_channel_data, write_channel_data,
};

/// The realm credentials are checked in.
pub const REALM: &str = "moim";
/// An allocation's lifetime when the client asks for less (RFC 8656 §3.2).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
/// The longest lifetime granted.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
const NONCE_LIFETIME: u64 = 3600;
const UDP: u8 = 17;

/// How a client reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// A TCP (or TLS) connection, by the service's number for it.
    Stream(u64),
}

/// A client: its transport and address (the 5-tuple that names its allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Client {
    /// UDP or which stream.
    pub transport: Transport,
    /// The client's address as the server sees it.
    pub addr: SocketAddr,
}

/// Where relayed addresses come from: the IO side opens and closes a UDP socket per
/// allocation.
pub trait RelayPorts {
    /// Opens a relayed transport address for `client`; returns it as clients and peers see
    /// it.
    fn open(&mut self, client: Client) -> std::io::Result<SocketAddr>;
    /// Closes a relayed address opened before.
    fn close(&mut self, relay: SocketAddr);
}

/// What to do after a client's message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'p> {
    /// Nothing to send.
    Nothing,
    /// Send what was written into `out` back to the client.
    Reply,
    /// Send `data` from the relayed address `relay` to `peer`.
    Relay {
        /// The allocation's relayed address.
        relay: SocketAddr,
        /// One of the allowed peers.
        peer: SocketAddr,
        /// The application data.
        data: &'p [u8],
    },
}

struct Allocation {
    relay: SocketAddr,
    username: String,
    expires: Instant,
    /// The transaction that created it, answered again if the client retransmits it.
    created_by: [u8; 12],
    /// Peer IPs with an expiry; at most as many as there are allowed peers.
    permissions: Vec<(IpAddr, Instant)>,
    /// Channel, peer, expiry; at most one per allowed peer.
    channels: Vec<(u16, SocketAddr, Instant)>,
}

impl Allocation {
    fn permits(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions
            .iter()
            .any(|(p, until)| *p == ip && *until > now)
    }

    fn permit(&mut self, ip: IpAddr, now: Instant) {
        let until = now + PERMISSION_LIFETIME;
        match self.permissions.iter_mut().find(|(p, _)| *p == ip) {
            Some(p) => p.1 = until,
            None => self.permissions.push((ip, until)),
        }
    }
}

/// An error response's code and phrase.
type Refusal = (u16, &'static str);

/// The TURN server's state: allocations by client and by relayed address.
pub struct TurnServer {
    secret: TurnSecret,
    nonce_key: [u8; 32],
    peers: Vec<SocketAddr>,
    allocations: HashMap<Client, Allocation>,
    by_relay: HashMap<SocketAddr, Client>,
    max_allocations: usize,
    indications: u64,
}

impl TurnServer {
    /// A server that checks credentials against `secret`, relays only to `peers`, and
    /// holds at most `max_allocations` at once.
    pub fn new(secret: TurnSecret, peers: Vec<SocketAddr>, max_allocations: usize) -> TurnServer {
        let mut nonce_key = [0; 32];
        getrandom::fill(&mut nonce_key).expect("the operating system's random source");
        TurnServer {
            secret,
            nonce_key,
            peers,
            allocations: HashMap::new(),
            by_relay: HashMap::new(),
            max_allocations,
            indications: 0,
        }
    }

    /// How many allocations are open.
    pub fn allocations(&self) -> usize {
        self.allocations.len()
    }

    /// Handles a datagram or stream message from `client`; `unix` is the wall clock in
    /// seconds (for credentials and nonces), `now` the monotonic one. A reply is written
    /// into `out` (cleared first).
    pub fn from_client<'p>(
        &mut self,
        client: Client,
        packet: &'p [u8],
        now: Instant,
        unix: u64,
        ports: &mut dyn RelayPorts,
        out: &mut Vec<u8>,
    ) -> Outcome<'p> {
        out.clear();
        if is_channel_data(packet) {
            return self.channel_from_client(client, packet, now);
        }
        let Ok(message) = Message::parse(packet) else {
            return Outcome::Nothing;
        };
        match (message.class, message.method) {
            (Class::Request, Method::Binding) => {
                Writer::new(out, Method::Binding, Class::Success, message.transaction)
                    .xor_address(attr::XOR_MAPPED_ADDRESS, client.addr);
                Outcome::Reply
            }
            (Class::Indication, Method::Send) => self.send_indication(client, &message, now),
            (Class::Request, method) => {
                match self.authenticated(client, &message, method, now, unix, ports) {
                    Ok(key) => {
                        self.success(client, &message, method, now, out)
                            .integrity(&key);
                    }
                    Err((code, reason, with_nonce)) => {
                        let mut w = Writer::new(out, method, Class::Error, message.transaction);
                        w.error(code, reason);
                        if with_nonce {
                            w.attribute(attr::REALM, REALM.as_bytes())
                                .attribute(attr::NONCE, self.nonce(unix).as_bytes());
                        }
                    }
                }
                Outcome::Reply
            }
            _ => Outcome::Nothing,
        }
    }

    /// Checks the long-term credentials of a request and carries it out: `Ok(key)` to
    /// answer with success under `key`, or an error response (with a fresh nonce when the
    /// client should retry).
    fn authenticated(
        &mut self,
        client: Client,
        message: &Message,
        method: Method,
        now: Instant,
        unix: u64,
        ports: &mut dyn RelayPorts,
    ) -> Result<[u8; 16], (u16, &'static str, bool)> {
        if !message.has_integrity() {
            return Err((401, "Unauthorized", true));
        }
        let (Some(username), Some(_), Some(nonce)) = (
            message.text(attr::USERNAME),
            message.attribute(attr::REALM),
            message.text(attr::NONCE),
        ) else {
            return Err((400, "Bad Request", false));
        };
        if !self.nonce_fresh(nonce, unix) {
            return Err((438, "Stale Nonce", true));
        }
        let Some(key) = self.secret.key(username, REALM, unix) else {
            return Err((401, "Unauthorized", true));
        };
        if !message.integrity_holds(&key) {
            return Err((401, "Unauthorized", true));
        }
        if let Some(allocation) = self.allocations.get(&client)
            && allocation.username != username
        {
            return Err((441, "Wrong Credentials", false));
        }
        let refused = |(code, reason): Refusal| (code, reason, false);
        match method {
            Method::Allocate => self
                .allocate(client, message, username, now, ports)
                .map_err(refused)?,
            Method::Refresh => self.refresh(client, message, now, ports).map_err(refused)?,
            Method::CreatePermission => self
                .create_permission(client, message, now)
                .map_err(refused)?,
            Method::ChannelBind => self.channel_bind(client, message, now).map_err(refused)?,
            _ => return Err((400, "Bad Request", false)),
        }
        Ok(key)
    }

    fn success<'o>(
        &self,
        client: Client,
        message: &Message,
        method: Method,
        now: Instant,
        out: &'o mut Vec<u8>,
    ) -> Writer<'o> {
        let mut w = Writer::new(out, method, Class::Success, message.transaction);
        match self.allocations.get(&client) {
            // A Refresh with a zero lifetime has just deleted it.
            None if method == Method::Refresh => {
                w.u32(attr::LIFETIME, 0);
            }
            None => {}
            Some(allocation) => {
                let lifetime = allocation.expires.saturating_duration_since(now).as_secs() as u32;
                match method {
                    Method::Allocate => {
                        w.xor_address(attr::XOR_RELAYED_ADDRESS, allocation.relay)
                            .u32(attr::LIFETIME, lifetime)
                            .xor_address(attr::XOR_MAPPED_ADDRESS, client.addr);
                    }
                    Method::Refresh => {
                        w.u32(attr::LIFETIME, lifetime);
                    }
                    _ => {}
                }
            }
        }
        w
    }

    fn allocate(
        &mut self,
        client: Client,
        message: &Message,
        username: &str,
        now: Instant,
        ports: &mut dyn RelayPorts,
    ) -> Result<(), Refusal> {
        if let Some(allocation) = self.allocations.get(&client) {
            return if allocation.created_by == message.transaction {
                Ok(())
            } else {
                Err((437, "Allocation Mismatch"))
            };
        }
        match message.attribute(attr::REQUESTED_TRANSPORT) {
            None => return Err((400, "Bad Request")),
            Some(value) if value.first() != Some(&UDP) => {
                return Err((442, "Unsupported Transport Protocol"));
            }
            Some(_) => {}
        }
        let wants_v6 = message
            .attribute(attr::REQUESTED_ADDRESS_FAMILY)
            .is_some_and(|v| v.first() == Some(&0x02));
        if !self.peers.iter().any(|p| p.is_ipv6() == wants_v6) {
            return Err((440, "Address Family not Supported"));
        }
        if self.allocations.len() >= self.max_allocations {
            return Err((486, "Allocation Quota Reached"));
        }
        let relay = ports
            .open(client)
            .map_err(|_| (508, "Insufficient Capacity"))?;
        self.allocations.insert(
            client,
            Allocation {
                relay,
                username: username.to_owned(),
                expires: now + lifetime(message),
                created_by: message.transaction,
                permissions: Vec::new(),
                channels: Vec::new(),
            },
        );
        self.by_relay.insert(relay, client);
        Ok(())
    }

    /// Extends an allocation, or deletes it when asked for a zero lifetime.
    fn refresh(
        &mut self,
        client: Client,
        message: &Message,
        now: Instant,
        ports: &mut dyn RelayPorts,
    ) -> Result<(), Refusal> {
        if !self.allocations.contains_key(&client) {
            return Err((437, "Allocation Mismatch"));
        }
        let requested = message.attribute(attr::LIFETIME);
        if requested.is_some_and(|v| v.iter().all(|b| *b == 0)) {
            self.remove(client, ports);
            return Ok(());
        }
        if let Some(allocation) = self.allocations.get_mut(&client) {
            allocation.expires = now + lifetime(message);
        }
        Ok(())
    }

    fn create_permission(
        &mut self,
        client: Client,
        message: &Message,
        now: Instant,
    ) -> Result<(), Refusal> {
        let mut ips = Vec::new();
        for peer in message.xor_addresses(attr::XOR_PEER_ADDRESS) {
            let ip = peer.ok_or((400, "Bad Request"))?.ip();
            if !self.peers.iter().any(|p| p.ip() == ip) {
                return Err((403, "Forbidden"));
            }
            ips.push(ip);
        }
        if ips.is_empty() {
            return Err((400, "Bad Request"));
        }
        let allocation = self
            .allocations
            .get_mut(&client)
            .ok_or((437, "Allocation Mismatch"))?;
        for ip in ips {
            allocation.permit(ip, now);
        }
        Ok(())
    }

    fn channel_bind(
        &mut self,
        client: Client,
        message: &Message,
        now: Instant,
    ) -> Result<(), Refusal> {
        let channel = message
            .attribute(attr::CHANNEL_NUMBER)
            .and_then(|v| Some(u16::from_be_bytes([*v.first()?, *v.get(1)?])))
            .filter(|c| (0x4000..=0x7fff).contains(c))
            .ok_or((400, "Bad Request"))?;
        let peer = message
            .xor_addresses(attr::XOR_PEER_ADDRESS)
            .next()
            .flatten()
            .ok_or((400, "Bad Request"))?;
        if !self.peers.contains(&peer) {
            return Err((403, "Forbidden"));
        }
        let allocation = self
            .allocations
            .get_mut(&client)
            .ok_or((437, "Allocation Mismatch"))?;
        let until = now + CHANNEL_LIFETIME;
        match allocation
            .channels
            .iter_mut()
            .find(|(c, p, _)| *c == channel || *p == peer)
        {
            Some(bound) if bound.0 == channel && bound.1 == peer => bound.2 = until,
            Some(_) => return Err((400, "Bad Request")),
            None => allocation.channels.push((channel, peer, until)),
        }
        allocation.permit(peer.ip(), now);
        Ok(())
    }

    fn send_indication<'p>(
        &self,
        client: Client,
        message: &Message<'p>,
        now: Instant,
    ) -> Outcome<'p> {
        let (Some(allocation), Some(Some(peer)), Some(data)) = (
            self.allocations.get(&client),
            message.xor_addresses(attr::XOR_PEER_ADDRESS).next(),
            message.attribute(attr::DATA),
        ) else {
            return Outcome::Nothing;
        };
        if !self.peers.contains(&peer) || !allocation.permits(peer.ip(), now) {
            return Outcome::Nothing;
        }
        Outcome::Relay {
            relay: allocation.relay,
            peer,
            data,
        }
    }

    fn channel_from_client<'p>(
        &self,
        client: Client,
        packet: &'p [u8],
        now: Instant,
    ) -> Outcome<'p> {
        let (Some(allocation), Some((channel, data))) =
            (self.allocations.get(&client), channel_data(packet))
        else {
            return Outcome::Nothing;
        };
        match allocation
            .channels
            .iter()
            .find(|(c, _, until)| *c == channel && *until > now)
        {
            Some((_, peer, _)) => Outcome::Relay {
                relay: allocation.relay,
                peer: *peer,
                data,
            },
            None => Outcome::Nothing,
        }
    }

    /// Wraps a datagram from `peer` to the relayed address `relay` for its client (as
    /// ChannelData when a channel is bound, else a Data indication) into `out`, and says
    /// which client to send it to; `None` when no allocation permits it.
    pub fn from_peer(
        &mut self,
        relay: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<Client> {
        out.clear();
        let client = *self.by_relay.get(&relay)?;
        let allocation = self.allocations.get(&client)?;
        if !allocation.permits(peer.ip(), now) {
            return None;
        }
        let stream = matches!(client.transport, Transport::Stream(_));
        match allocation
            .channels
            .iter()
            .find(|(_, p, until)| *p == peer && *until > now)
        {
            Some((channel, _, _)) => write_channel_data(out, *channel, data, stream),
            None => {
                self.indications += 1;
                let mut transaction = [0; 12];
                transaction[4..].copy_from_slice(&self.indications.to_be_bytes());
                Writer::new(out, Method::Data, Class::Indication, transaction)
                    .xor_address(attr::XOR_PEER_ADDRESS, peer)
                    .attribute(attr::DATA, data);
            }
        }
        Some(client)
    }

    /// Closes allocations whose lifetime ran out and forgets expired permissions and
    /// channels.
    pub fn expire(&mut self, now: Instant, ports: &mut dyn RelayPorts) {
        let expired: Vec<Client> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(c, _)| *c)
            .collect();
        for client in expired {
            self.remove(client, ports);
        }
        for allocation in self.allocations.values_mut() {
            allocation.permissions.retain(|(_, until)| *until > now);
            allocation.channels.retain(|(_, _, until)| *until > now);
        }
    }

    /// Closes the allocation of a client whose connection ended.
    pub fn remove(&mut self, client: Client, ports: &mut dyn RelayPorts) {
        if let Some(allocation) = self.allocations.remove(&client) {
            self.by_relay.remove(&allocation.relay);
            ports.close(allocation.relay);
        }
    }

    /// A nonce: when it was issued and a MAC over that, so it needs no state to check.
    fn nonce(&self, unix: u64) -> String {
        format!("{unix:016x}{}", self.nonce_mac(unix))
    }

    fn nonce_mac(&self, issued: u64) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.nonce_key).expect("any key length");
        mac.update(&issued.to_be_bytes());
        mac.finalize().into_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn nonce_fresh(&self, nonce: &str, unix: u64) -> bool {
        let Some(issued) = nonce
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            return false;
        };
        nonce.get(16..) == Some(self.nonce_mac(issued).as_str())
            && unix.saturating_sub(issued) < NONCE_LIFETIME
    }
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("peers", &self.peers)
            .field("allocations", &self.allocations.len())
            .finish()
    }
}

fn lifetime(message: &Message) -> Duration {
    let requested = message
        .attribute(attr::LIFETIME)
        .and_then(|v| Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?)))
        .map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(s.into()));
    requested.clamp(DEFAULT_LIFETIME, MAX_LIFETIME)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
