//! What relaying costs: the state machine's work per packet each way (criterion), and the
//! CPU the whole service spends per packet relayed over loopback, against the same packets
//! sent directly (`cargo bench -p moim-turn --bench relay`; docs/performance.md).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use moim_turn::credentials::long_term_key;
use moim_turn::message::{Class, Message, Method, Writer, attr, write_channel_data};
use moim_turn::server::{Client, Outcome, REALM, RelayPorts, Transport, TurnServer};
use moim_turn::{Peer, TurnConfig, TurnSecret, TurnService};

const PACKET: usize = 1200;

struct FixedPort;

impl RelayPorts for FixedPort {
    fn open(&mut self, _: Client) -> std::io::Result<SocketAddr> {
        Ok("10.0.0.1:50000".parse().unwrap())
    }
    fn close(&mut self, _: SocketAddr) {}
}

/// A server with one allocation whose channel 0x4000 leads to the SFU at `sfu`.
fn bound_server(sfu: SocketAddr) -> (TurnServer, Client, SocketAddr) {
    let secret = TurnSecret::new("north");
    let mut server = TurnServer::new(secret.clone(), vec![sfu], 8);
    let client = Client {
        transport: Transport::Udp,
        addr: "192.0.2.7:40000".parse().unwrap(),
    };
    let unix = 1_800_000_000;
    let credentials = secret.mint("ada", unix + 60);
    let key = secret.key(&credentials.username, REALM, unix).unwrap();
    let now = Instant::now();
    let mut out = Vec::new();
    let mut allocate = |server: &mut TurnServer, nonce: &[u8]| {
        let mut msg = Vec::new();
        let mut w = Writer::new(&mut msg, Method::Allocate, Class::Request, [1; 12]);
        w.attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        if !nonce.is_empty() {
            w.sign(&credentials.username, REALM.as_bytes(), nonce, &key);
        }
        server.from_client(client, &msg, now, unix, &mut FixedPort, &mut out);
        out.clone()
    };
    let challenge = allocate(&mut server, b"");
    let nonce = Message::parse(&challenge)
        .unwrap()
        .attribute(attr::NONCE)
        .unwrap()
        .to_vec();
    let allocated = allocate(&mut server, &nonce);
    let relay = Message::parse(&allocated)
        .unwrap()
        .xor_addresses(attr::XOR_RELAYED_ADDRESS)
        .next()
        .flatten()
        .unwrap();
    let mut msg = Vec::new();
    let mut w = Writer::new(&mut msg, Method::ChannelBind, Class::Request, [2; 12]);
    w.attribute(attr::CHANNEL_NUMBER, &[0x40, 0, 0, 0])
        .xor_address(attr::XOR_PEER_ADDRESS, sfu);
    w.sign(&credentials.username, REALM.as_bytes(), &nonce, &key);
    server.from_client(client, &msg, now, unix, &mut FixedPort, &mut out);
    assert_eq!(Message::parse(&out).unwrap().class, Class::Success);
    (server, client, relay)
}

fn state_machine(c: &mut Criterion) {
    let sfu: SocketAddr = "10.0.0.1:7882".parse().unwrap();
    let (mut server, client, relay) = bound_server(sfu);
    let now = Instant::now();
    let mut frame = Vec::new();
    write_channel_data(&mut frame, 0x4000, &[0x90; PACKET], false);
    let mut out = Vec::with_capacity(2048);
    c.bench_function("turn: ChannelData from a client to the SFU", |b| {
        b.iter(|| {
            let outcome = server.from_client(
                client,
                black_box(&frame),
                now,
                1_800_000_000,
                &mut FixedPort,
                &mut out,
            );
            assert!(matches!(outcome, Outcome::Relay { .. }));
        })
    });
    let media = [0x90; PACKET];
    c.bench_function("turn: a datagram from the SFU to its client", |b| {
        b.iter(|| black_box(server.from_peer(relay, sfu, black_box(&media), now, &mut out)))
    });
}

/// This process's CPU time so far (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Sends `packets` datagrams of `PACKET` bytes from a client socket to the SFU's socket
/// (through TURN when `turn` is set), paced; returns the CPU time used and how many
/// arrived.
async fn send_through(turn: bool, packets: usize) -> (Duration, usize) {
    let sfu = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sfu_addr = sfu.local_addr().unwrap();
    let secret = TurnSecret::new("north");
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut target = sfu_addr;
    let mut payload = vec![0x90; PACKET];
    let _service = if turn {
        let service = TurnService::start(TurnConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            relay_ip: "127.0.0.1".parse().unwrap(),
            advertise_ip: "127.0.0.1".parse().unwrap(),
            peers: vec![Peer {
                advertised: sfu_addr,
                local: sfu_addr,
            }],
            secret: secret.clone(),
            max_allocations: 8,
            max_connections: 8,
        })
        .await
        .unwrap();
        bind_channel(&client, service.listen_addr(), &secret, sfu_addr).await;
        target = service.listen_addr();
        let mut frame = Vec::new();
        write_channel_data(&mut frame, 0x4000, &payload, false);
        payload = frame;
        Some(service)
    } else {
        None
    };
    let receiver = tokio::spawn(async move {
        let mut buf = vec![0; 2048];
        let mut got = 0;
        while got < packets {
            match tokio::time::timeout(Duration::from_secs(2), sfu.recv(&mut buf)).await {
                Ok(Ok(_)) => got += 1,
                _ => break,
            }
        }
        got
    });
    let start = cpu_time();
    for sent in 0..packets {
        client.send_to(&payload, target).await.unwrap();
        // About 25,000 packets a second: a busy relay, not a flood its sockets drop.
        if sent % 32 == 31 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let got = receiver.await.unwrap();
    let used = cpu_time() - start;
    println!(
        "{}: {got} of {packets} packets arrived, {:.2} s of CPU",
        if turn { "through TURN" } else { "direct" },
        used.as_secs_f64()
    );
    (used, got)
}

/// Allocates on `server` (answering its challenge) and binds channel 0x4000 to `sfu`.
async fn bind_channel(
    client: &tokio::net::UdpSocket,
    server: SocketAddr,
    secret: &TurnSecret,
    sfu: SocketAddr,
) {
    let credentials = secret.mint("ada", u64::MAX / 2);
    let mut buf = vec![0; 2048];
    let mut nonce = Vec::new();
    let mut realm = Vec::new();
    let steps = [Method::Allocate, Method::Allocate, Method::ChannelBind];
    for (n, method) in steps.into_iter().enumerate() {
        let mut msg = Vec::new();
        let mut w = Writer::new(&mut msg, method, Class::Request, [n as u8; 12]);
        if method == Method::ChannelBind {
            w.attribute(attr::CHANNEL_NUMBER, &[0x40, 0, 0, 0])
                .xor_address(attr::XOR_PEER_ADDRESS, sfu);
        } else {
            w.attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        }
        if !nonce.is_empty() {
            let realm_text = String::from_utf8(realm.clone()).unwrap();
            let key = long_term_key(&credentials.username, &realm_text, &credentials.credential);
            w.sign(&credentials.username, &realm, &nonce, &key);
        }
        client.send_to(&msg, server).await.unwrap();
        let len = client.recv(&mut buf).await.unwrap();
        let reply = Message::parse(&buf[..len]).unwrap();
        if reply.class == Class::Error {
            nonce = reply.attribute(attr::NONCE).unwrap().to_vec();
            realm = reply.attribute(attr::REALM).unwrap().to_vec();
        }
    }
}

fn service_cpu(_: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let packets = 200_000;
    let (direct, _) = runtime.block_on(send_through(false, packets));
    let (turn, relayed) = runtime.block_on(send_through(true, packets));
    let extra = turn.saturating_sub(direct).as_secs_f64() / relayed.max(1) as f64;
    println!(
        "TURN relaying costs about {:.1} µs of CPU per packet over loopback ({PACKET} bytes)",
        extra * 1e6
    );
}

criterion_group!(benches, state_machine, service_cpu);
criterion_main!(benches);
