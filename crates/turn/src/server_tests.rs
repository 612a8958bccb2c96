//! The TURN exchange a browser goes through, on simulated time: a 401 with a nonce, an
//! authenticated Allocate, a permission and a channel for Moim's media address, media both
//! ways; and the refusals that keep it from being an open relay.

use super::*;
use crate::message::MessageError;

const SFU: &str = "10.0.0.1:7882";
const UNIX: u64 = 1_800_000_000;

#[derive(Default)]
struct Ports {
    open: Vec<SocketAddr>,
    next: u16,
}

impl RelayPorts for Ports {
    fn open(&mut self, _: Client) -> std::io::Result<SocketAddr> {
        self.next += 1;
        let relay = SocketAddr::from(([10, 0, 0, 1], 50_000 + self.next));
        self.open.push(relay);
        Ok(relay)
    }

    fn close(&mut self, relay: SocketAddr) {
        self.open.retain(|r| *r != relay);
    }
}

struct Browser {
    client: Client,
    username: String,
    key: [u8; 16],
    nonce: Vec<u8>,
    transactions: u8,
}

fn setup() -> (TurnServer, Ports, Browser) {
    let secret = TurnSecret::new("north");
    let credentials = secret.mint("ada", UNIX + 3600);
    let key = secret.key(&credentials.username, REALM, UNIX).unwrap();
    let server = TurnServer::new(secret, vec![SFU.parse().unwrap()], 4);
    let browser = Browser {
        client: Client {
            transport: Transport::Udp,
            addr: "192.0.2.7:40000".parse().unwrap(),
        },
        username: credentials.username,
        key,
        nonce: Vec::new(),
        transactions: 0,
    };
    (server, Ports::default(), browser)
}

impl Browser {
    /// A request with credentials, as built by `build`.
    fn request(&mut self, method: Method, build: impl FnOnce(&mut Writer)) -> Vec<u8> {
        self.transactions += 1;
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, method, Class::Request, [self.transactions; 12]);
        build(&mut w);
        w.sign(&self.username, REALM.as_bytes(), &self.nonce, &self.key);
        out
    }
}

/// What the server relayed: from which relayed address, to which peer, what.
type Relayed = (SocketAddr, SocketAddr, Vec<u8>);

fn send(
    server: &mut TurnServer,
    ports: &mut Ports,
    client: Client,
    packet: &[u8],
    now: Instant,
) -> (Vec<u8>, Option<Relayed>) {
    let mut out = Vec::new();
    let outcome = server.from_client(client, packet, now, UNIX, ports, &mut out);
    let relayed = match outcome {
        Outcome::Relay { relay, peer, data } => Some((relay, peer, data.to_vec())),
        _ => None,
    };
    (out, relayed)
}

fn error_code(reply: &[u8]) -> Option<u16> {
    let m = Message::parse(reply).ok()?;
    let v = m.attribute(attr::ERROR_CODE)?;
    Some(u16::from(v[2]) * 100 + u16::from(v[3]))
}

/// 401 with a nonce, then an authenticated Allocate; returns the relayed address.
fn allocate(
    server: &mut TurnServer,
    ports: &mut Ports,
    b: &mut Browser,
    now: Instant,
) -> SocketAddr {
    let mut bare = Vec::new();
    Writer::new(&mut bare, Method::Allocate, Class::Request, [0; 12])
        .attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    let (reply, _) = send(server, ports, b.client, &bare, now);
    assert_eq!(error_code(&reply), Some(401));
    b.nonce = Message::parse(&reply)
        .unwrap()
        .attribute(attr::NONCE)
        .unwrap()
        .to_vec();
    let request = b.request(Method::Allocate, |w| {
        w.attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    });
    let (reply, _) = send(server, ports, b.client, &request, now);
    let m = Message::parse(&reply).unwrap();
    assert_eq!(m.class, Class::Success, "{:?}", error_code(&reply));
    assert!(m.integrity_holds(&b.key));
    m.xor_addresses(attr::XOR_RELAYED_ADDRESS)
        .next()
        .flatten()
        .unwrap()
}

#[test]
fn a_browser_allocates_binds_a_channel_and_media_flows_both_ways() {
    let (mut server, mut ports, mut b) = setup();
    let now = Instant::now();
    let sfu: SocketAddr = SFU.parse().unwrap();
    let relay = allocate(&mut server, &mut ports, &mut b, now);
    assert_eq!(ports.open, vec![relay]);

    // Before a permission, nothing passes either way.
    let mut out = Vec::new();
    assert_eq!(server.from_peer(relay, sfu, b"early", now, &mut out), None);

    let request = b.request(Method::CreatePermission, |w| {
        w.xor_address(attr::XOR_PEER_ADDRESS, sfu);
    });
    let (reply, _) = send(&mut server, &mut ports, b.client, &request, now);
    assert_eq!(Message::parse(&reply).unwrap().class, Class::Success);

    // A Send indication reaches the SFU; its answer comes back as a Data indication.
    let mut indication = Vec::new();
    Writer::new(&mut indication, Method::Send, Class::Indication, [9; 12])
        .xor_address(attr::XOR_PEER_ADDRESS, sfu)
        .attribute(attr::DATA, b"stun check");
    let (_, relayed) = send(&mut server, &mut ports, b.client, &indication, now);
    assert_eq!(relayed, Some((relay, sfu, b"stun check".to_vec())));
    assert_eq!(
        server.from_peer(relay, sfu, b"stun answer", now, &mut out),
        Some(b.client)
    );
    let data = Message::parse(&out).unwrap();
    assert_eq!(data.method, Method::Data);
    assert_eq!(data.attribute(attr::DATA), Some(&b"stun answer"[..]));

    // With a channel, media goes as ChannelData both ways.
    let request = b.request(Method::ChannelBind, |w| {
        w.attribute(attr::CHANNEL_NUMBER, &[0x40, 0x00, 0, 0])
            .xor_address(attr::XOR_PEER_ADDRESS, sfu);
    });
    let (reply, _) = send(&mut server, &mut ports, b.client, &request, now);
    assert_eq!(Message::parse(&reply).unwrap().class, Class::Success);
    let (_, relayed) = send(
        &mut server,
        &mut ports,
        b.client,
        &[0x40, 0, 0, 3, 1, 2, 3, 0],
        now,
    );
    assert_eq!(relayed, Some((relay, sfu, vec![1, 2, 3])));
    assert_eq!(
        server.from_peer(relay, sfu, &[4, 5], now, &mut out),
        Some(b.client)
    );
    assert_eq!(out, vec![0x40, 0, 0, 2, 4, 5]);

    // Refresh with lifetime 0 deletes it and closes the port.
    let request = b.request(Method::Refresh, |w| {
        w.u32(attr::LIFETIME, 0);
    });
    let (reply, _) = send(&mut server, &mut ports, b.client, &request, now);
    assert_eq!(Message::parse(&reply).unwrap().class, Class::Success);
    assert!(ports.open.is_empty());
    assert_eq!(server.allocations(), 0);
}

#[test]
fn only_moims_media_address_is_a_peer() {
    let (mut server, mut ports, mut b) = setup();
    let now = Instant::now();
    allocate(&mut server, &mut ports, &mut b, now);
    let elsewhere: SocketAddr = "203.0.113.9:53".parse().unwrap();
    let request = b.request(Method::CreatePermission, |w| {
        w.xor_address(attr::XOR_PEER_ADDRESS, elsewhere);
    });
    let (reply, _) = send(&mut server, &mut ports, b.client, &request, now);
    assert_eq!(error_code(&reply), Some(403));
    // Another port on the SFU's IP is no peer for a channel either.
    let request = b.request(Method::ChannelBind, |w| {
        w.attribute(attr::CHANNEL_NUMBER, &[0x40, 0x01, 0, 0])
            .xor_address(attr::XOR_PEER_ADDRESS, "10.0.0.1:22".parse().unwrap());
    });
    let (reply, _) = send(&mut server, &mut ports, b.client, &request, now);
    assert_eq!(error_code(&reply), Some(403));
    let mut indication = Vec::new();
    Writer::new(&mut indication, Method::Send, Class::Indication, [9; 12])
        .xor_address(attr::XOR_PEER_ADDRESS, elsewhere)
        .attribute(attr::DATA, b"x");
    assert_eq!(
        send(&mut server, &mut ports, b.client, &indication, now).1,
        None
    );
}

#[test]
fn wrong_expired_or_stale_credentials_are_refused() {
    let (mut server, mut ports, mut b) = setup();
    let now = Instant::now();
    allocate(&mut server, &mut ports, &mut b, now);
    let good_key = b.key;

    b.key = [0; 16];
    let request = b.request(Method::Refresh, |_| {});
    assert_eq!(
        error_code(&send(&mut server, &mut ports, b.client, &request, now).0),
        Some(401)
    );

    b.key = good_key;
    let stale = b.nonce.clone();
    b.nonce = b"0000000000000001ffffffffffffffff".to_vec();
    let request = b.request(Method::Refresh, |_| {});
    assert_eq!(
        error_code(&send(&mut server, &mut ports, b.client, &request, now).0),
        Some(438)
    );
    b.nonce = stale;

    let secret = TurnSecret::new("north");
    let expired = secret.mint("ada", UNIX - 1);
    let mut late = Browser {
        client: Client {
            transport: Transport::Stream(1),
            addr: b.client.addr,
        },
        key: [0; 16],
        username: expired.username,
        nonce: b.nonce.clone(),
        transactions: 0,
    };
    let request = late.request(Method::Allocate, |w| {
        w.attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    });
    assert_eq!(
        error_code(&send(&mut server, &mut ports, late.client, &request, now).0),
        Some(401)
    );
}

#[test]
fn allocations_expire_and_their_ports_close() {
    let (mut server, mut ports, mut b) = setup();
    let now = Instant::now();
    allocate(&mut server, &mut ports, &mut b, now);
    server.expire(now + DEFAULT_LIFETIME - Duration::from_secs(1), &mut ports);
    assert_eq!(server.allocations(), 1);
    server.expire(now + DEFAULT_LIFETIME, &mut ports);
    assert_eq!(server.allocations(), 0);
    assert!(ports.open.is_empty());
}

#[test]
fn a_full_server_says_so_and_tcp_allocations_are_unsupported() {
    let (mut server, mut ports, mut b) = setup();
    let now = Instant::now();
    for port in 0..4 {
        b.client.addr.set_port(41_000 + port);
        allocate(&mut server, &mut ports, &mut b, now);
    }
    b.client.addr.set_port(42_000);
    let request = b.request(Method::Allocate, |w| {
        w.attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    });
    assert_eq!(
        error_code(&send(&mut server, &mut ports, b.client, &request, now).0),
        Some(486)
    );
    let request = b.request(Method::Allocate, |w| {
        w.attribute(attr::REQUESTED_TRANSPORT, &[6, 0, 0, 0]);
    });
    assert_eq!(
        error_code(&send(&mut server, &mut ports, b.client, &request, now).0),
        Some(442)
    );
}

#[test]
fn garbage_gets_no_answer_and_a_binding_request_its_address() {
    let (mut server, mut ports, b) = setup();
    let now = Instant::now();
    for junk in [&b""[..], &[0u8; 19], &[0xff; 64], &[0x40, 0, 0, 200, 1]] {
        assert_eq!(
            send(&mut server, &mut ports, b.client, junk, now),
            (Vec::new(), None)
        );
    }
    assert_eq!(
        Message::parse(&[0u8; 19]).unwrap_err(),
        MessageError::Truncated
    );
    let mut binding = Vec::new();
    Writer::new(&mut binding, Method::Binding, Class::Request, [3; 12]);
    let (reply, _) = send(&mut server, &mut ports, b.client, &binding, now);
    let m = Message::parse(&reply).unwrap();
    assert_eq!(
        m.xor_addresses(attr::XOR_MAPPED_ADDRESS).next(),
        Some(Some(b.client.addr))
    );
}
