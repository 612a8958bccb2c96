//! The TURN service on real sockets: a client over UDP and one over TCP each allocate a
//! relayed address and exchange data with a peer socket standing in for Moim's media port,
//! through Send/Data indications and through a channel.

use std::net::SocketAddr;
use std::time::Duration;

use moim_turn::credentials::long_term_key;
use moim_turn::message::{Class, Message, Method, Writer, attr, channel_data, write_channel_data};
use moim_turn::{Peer, TurnConfig, TurnSecret, TurnService};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// A client's connection to the server: datagrams or a stream of framed messages.
enum Link {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
}

impl Link {
    async fn send(&mut self, bytes: &[u8]) {
        match self {
            Link::Udp(s, to) => {
                s.send_to(bytes, *to).await.unwrap();
            }
            Link::Tcp(s) => s.write_all(bytes).await.unwrap(),
        }
    }

    async fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0; 2048];
        match self {
            Link::Udp(s, _) => {
                let n = timeout(WAIT, s.recv(&mut buf)).await.unwrap().unwrap();
                buf.truncate(n);
            }
            Link::Tcp(s) => {
                timeout(WAIT, s.read_exact(&mut buf[..4]))
                    .await
                    .unwrap()
                    .unwrap();
                let len = moim_turn::message::stream_frame_len(&buf[..4]).unwrap();
                timeout(WAIT, s.read_exact(&mut buf[4..len]))
                    .await
                    .unwrap()
                    .unwrap();
                buf.truncate(len);
            }
        }
        buf
    }
}

struct TestClient {
    link: Link,
    realm: Vec<u8>,
    username: String,
    password: String,
    key: [u8; 16],
    nonce: Vec<u8>,
    next: u8,
}

impl TestClient {
    async fn request(&mut self, method: Method, build: impl FnOnce(&mut Writer)) -> Vec<u8> {
        self.next += 1;
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, method, Class::Request, [self.next; 12]);
        build(&mut w);
        if !self.nonce.is_empty() {
            w.sign(&self.username, &self.realm, &self.nonce, &self.key);
        }
        self.link.send(&out).await;
        self.link.recv().await
    }

    async fn allocate(&mut self) -> SocketAddr {
        let transport = |w: &mut Writer| {
            w.attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        };
        let challenge = self.request(Method::Allocate, transport).await;
        let challenge = Message::parse(&challenge).unwrap();
        assert_eq!(challenge.class, Class::Error);
        self.nonce = challenge.attribute(attr::NONCE).unwrap().to_vec();
        self.realm = challenge.attribute(attr::REALM).unwrap().to_vec();
        let realm = String::from_utf8(self.realm.clone()).unwrap();
        self.key = long_term_key(&self.username, &realm, &self.password);
        let reply = self.request(Method::Allocate, transport).await;
        let reply = Message::parse(&reply).unwrap();
        assert_eq!(reply.class, Class::Success);
        reply
            .xor_addresses(attr::XOR_RELAYED_ADDRESS)
            .next()
            .flatten()
            .unwrap()
    }
}

/// Credentials for "ada" valid for a minute.
fn credentials(secret: &TurnSecret) -> moim_turn::Credentials {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    secret.mint("ada", now + 60)
}

/// Connects to a TURN server at `server` over UDP or TCP as "ada".
async fn connect(server: SocketAddr, udp: bool, secret: &TurnSecret) -> TestClient {
    let link = if udp {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Link::Udp(socket, server)
    } else {
        Link::Tcp(TcpStream::connect(server).await.unwrap())
    };
    let credentials = credentials(secret);
    TestClient {
        link,
        realm: Vec::new(),
        key: [0; 16],
        username: credentials.username,
        password: credentials.credential,
        nonce: Vec::new(),
        next: 0,
    }
}

/// Allocates, then sends to `media` and hears back from it, by indications and by a
/// channel.
async fn round_trip(client: &mut TestClient, media: &UdpSocket) {
    let media_addr = media.local_addr().unwrap();
    let relay = client.allocate().await;
    let reply = client
        .request(Method::CreatePermission, |w| {
            w.xor_address(attr::XOR_PEER_ADDRESS, media_addr);
        })
        .await;
    assert_eq!(Message::parse(&reply).unwrap().class, Class::Success);

    // A Send indication arrives at the media socket from the relayed address.
    let mut send = Vec::new();
    Writer::new(&mut send, Method::Send, Class::Indication, [42; 12])
        .xor_address(attr::XOR_PEER_ADDRESS, media_addr)
        .attribute(attr::DATA, b"binding request");
    client.link.send(&send).await;
    let mut buf = [0; 1500];
    let (n, from) = timeout(WAIT, media.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"binding request"[..], relay));

    // The answer comes back as a Data indication.
    media.send_to(b"binding response", relay).await.unwrap();
    let data = client.link.recv().await;
    let data = Message::parse(&data).unwrap();
    assert_eq!(data.method, Method::Data);
    assert_eq!(data.attribute(attr::DATA), Some(&b"binding response"[..]));

    // Through a channel, media flows as ChannelData.
    let reply = client
        .request(Method::ChannelBind, |w| {
            w.attribute(attr::CHANNEL_NUMBER, &[0x40, 0x00, 0, 0])
                .xor_address(attr::XOR_PEER_ADDRESS, media_addr);
        })
        .await;
    assert_eq!(Message::parse(&reply).unwrap().class, Class::Success);
    let stream = matches!(client.link, Link::Tcp(_));
    let mut frame = Vec::new();
    write_channel_data(&mut frame, 0x4000, b"rtp", stream);
    client.link.send(&frame).await;
    let (n, _) = timeout(WAIT, media.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"rtp");
    media.send_to(b"rtcp!", relay).await.unwrap();
    let frame = client.link.recv().await;
    assert_eq!(channel_data(&frame), Some((0x4000, &b"rtcp!"[..])));
    // On a stream, a frame is padded to four bytes (whose content does not matter).
    assert!(!stream || frame.len() % 4 == 0, "{frame:?}");
}

async fn moim_turn(media: &UdpSocket, secret: &TurnSecret) -> TurnService {
    let media_addr = media.local_addr().unwrap();
    TurnService::start(TurnConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        relay_ip: "127.0.0.1".parse().unwrap(),
        advertise_ip: "127.0.0.1".parse().unwrap(),
        peers: vec![Peer {
            advertised: media_addr,
            local: media_addr,
        }],
        secret: secret.clone(),
        max_allocations: 8,
        max_connections: 8,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_udp_client_relays_to_the_media_port_and_back() {
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let secret = TurnSecret::new("north");
    let service = moim_turn(&media, &secret).await;
    let mut client = connect(service.listen_addr(), true, &secret).await;
    round_trip(&mut client, &media).await;
    assert_eq!(service.allocations(), 1);
}

#[tokio::test]
async fn a_tcp_client_relays_to_the_media_port_and_back_and_hanging_up_frees_it() {
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let secret = TurnSecret::new("north");
    let service = moim_turn(&media, &secret).await;
    let mut client = connect(service.listen_addr(), false, &secret).await;
    round_trip(&mut client, &media).await;
    assert_eq!(service.allocations(), 1);
    drop(client);
    let deadline = tokio::time::Instant::now() + WAIT;
    while service.allocations() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(service.allocations(), 0);
}

/// A coturn (`turnserver`) child process, killed when dropped.
struct Coturn(std::process::Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The credentials Moim mints are the ones an external coturn with `use-auth-secret`
/// accepts, so an operator can hand clients coturn instead of the embedded server.
#[tokio::test]
async fn coturn_with_use_auth_secret_accepts_moims_credentials() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let coturn = std::process::Command::new("turnserver")
        .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--simple-log"])
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
        .arg(format!("--listening-port={port}"))
        .args([
            "--use-auth-secret",
            "--static-auth-secret=north",
            "--realm=example.org",
        ])
        .args(["--allow-loopback-peers", "--log-file=stdout"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let coturn =
        Coturn(coturn.expect(
            "coturn's turnserver runs (scripts/test.sh installs the Debian package coturn)",
        ));
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_until_listening(server).await;
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let secret = TurnSecret::new("north");
    for udp in [true, false] {
        let mut client = connect(server, udp, &secret).await;
        round_trip(&mut client, &media).await;
    }
    drop(coturn);
}

/// Waits until a TURN server answers a Binding request on `server`.
async fn wait_until_listening(server: SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut binding = Vec::new();
    Writer::new(&mut binding, Method::Binding, Class::Request, [1; 12]);
    let mut buf = [0; 512];
    for _ in 0..100 {
        socket.send_to(&binding, server).await.unwrap();
        if timeout(Duration::from_millis(100), socket.recv(&mut buf))
            .await
            .is_ok()
        {
            return;
        }
    }
    panic!("no TURN server answered at {server}");
}
