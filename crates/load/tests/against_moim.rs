//! The load tester against a real Moim server: every client connects and measures media.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `moim` binary built next to this test's binary.
fn moim_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("moim")
}

fn free_ports() -> (u16, u16) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    )
}

/// A `moim serve` on free loopback ports, with `env`; killed when dropped.
struct Node {
    child: Child,
    http: u16,
}

impl Node {
    fn start(env: &[(&str, String)]) -> Node {
        let moim = moim_binary();
        assert!(
            moim.exists(),
            "build the server first: cargo build --release ({})",
            moim.display()
        );
        let (child, http) = spawn_on_free_port(|| {
            let (http, udp) = free_ports();
            let child = Command::new(&moim)
                .args([
                    "serve",
                    "--http-port",
                    &http.to_string(),
                    "--udp-port",
                    &udp.to_string(),
                    "--tcp-port",
                    "0",
                    "--rtmp-port",
                    "0",
                ])
                .env("MOIM_LOG", "warn")
                .env("MOIM_TURN", "0")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            (child, http)
        });
        Node { child, http }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// Places room `room` on this node of a cluster, as a publisher reaching it first
    /// does: a WHIP request with a token for the room (its offer, none, is refused after
    /// the room was placed). Viewers arriving first would place it on their own node.
    fn place(&self, room: &str) {
        let token = Command::new(moim_binary())
            .args(["token", "--room", room, "--identity", "placer"])
            .output()
            .unwrap();
        let token = String::from_utf8(token.stdout).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        let request = format!(
            "POST /whip/{room} HTTP/1.1\r\nHost: moim\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/sdp\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
            token.trim()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    }

    /// The value of gauge `name` (labels included) in the node's `/metrics`.
    fn gauge(&self, name: &str) -> Option<f64> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.http)).ok()?;
        let request = "GET /metrics HTTP/1.1\r\nHost: moim\r\nConnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON report of a `moim-load --json` run that succeeded.
fn report_of(out: std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts a process listening on the port `spawn` chose, again on another port when the
/// one it chose was taken meanwhile (a port found free may be taken by a test running
/// beside this one before the process binds it: the process then exits, while something
/// else answers on the port).
fn spawn_on_free_port(spawn: impl Fn() -> (Child, u16)) -> (Child, u16) {
    for _ in 0..5 {
        let (mut child, port) = spawn();
        wait_for_port(port);
        std::thread::sleep(Duration::from_millis(100));
        if child.try_wait().unwrap().is_none() {
            return (child, port);
        }
    }
    panic!("no free port was left free long enough");
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn livestream_subscribers_all_receive_the_publishers_media() {
    let node = Node::start(&[]);
    let http = node.http;
    let out = Command::new(env!("CARGO_BIN_EXE_moim-load"))
        .args([
            "--url",
            &format!("http://127.0.0.1:{http}"),
            "-n",
            "3",
            "--seconds",
            "3",
            "--threads",
            "2",
        ])
        .args(["--server-pid", &node.child.id().to_string(), "--json"])
        .output()
        .unwrap();
    drop(node);
    let report = report_of(out);
    let summary = &report["summary"];
    assert_eq!(summary["subscribers_connected"], 3, "{summary}");
    assert_eq!(summary["publishers_connected"], 1, "{summary}");
    assert_eq!(summary["failures"], 0, "{summary}");
    // One 360p VP8 layer and Opus to each of three subscribers.
    assert!(
        summary["packets_per_s"].as_f64().unwrap() > 150.0,
        "{summary}"
    );
    assert!(summary["loss_pct"].as_f64().unwrap() < 1.0, "{summary}");
    assert!(
        summary["p99_delay_ms"].as_f64().is_some(),
        "delay was measured: {summary}"
    );
    assert!(summary["server_cpu_s"].as_f64().is_some(), "{summary}");
    assert!(!report["samples"].as_array().unwrap().is_empty());
    // The clients ran on two threads, the publisher on one and viewers on both; the
    // tester's own lag and the server's delays were measured apart.
    assert_eq!(summary["tester_threads"], 2, "{summary}");
    assert!(summary["p99_lag_ms"].as_f64().is_some(), "{summary}");
    assert!(
        summary["server_hop"]["count"].as_u64().unwrap() > 100,
        "{summary}"
    );
    assert!(
        summary["server_socket_wait"]["count"].as_u64().unwrap() > 100,
        "{summary}"
    );
    // Every participant's join was timed; the last viewer found the three before it.
    assert_eq!(summary["joined_ms"]["count"], 4, "{summary}");
    assert_eq!(summary["connected_ms"]["count"], 4, "{summary}");
    assert_eq!(summary["first_media_ms"]["count"], 3, "{summary}");
    assert_eq!(summary["room_at_join"]["participants"], 3, "{summary}");
    let placed: u64 = summary["workers"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(placed, 4, "every participant's worker is known: {summary}");
}

/// `redis-server` on a free port, without persistence; killed when dropped.
struct Redis(Child, u16);

impl Redis {
    fn start() -> Redis {
        let (child, port) = spawn_on_free_port(|| {
            let port = free_ports().0;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server (Debian package redis-server) runs");
            (child, port)
        });
        Redis(child, port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_streams_viewers_on_two_other_nodes_cost_its_node_one_relay_each() {
    let redis = Redis::start();
    let node = |id: &str, region: &str| {
        Node::start(&[
            ("MOIM_REDIS_URL", format!("redis://127.0.0.1:{}", redis.1)),
            ("MOIM_NODE_ID", id.to_owned()),
            // The publisher joins at the origin: its region keeps the room there.
            ("MOIM_REGION", region.to_owned()),
        ])
    };
    let origin = node("origin", "a");
    let edges = [node("edge-1", "b"), node("edge-2", "b")];
    origin.place("load");
    // Six WHEP viewers of the room's stream, three at each edge; the publisher at the origin.
    let viewers_at = format!("{},{}", edges[0].url(), edges[1].url());
    let load = Command::new(env!("CARGO_BIN_EXE_moim-load"))
        .args(["--url", &origin.url(), "--viewers-at", &viewers_at])
        .args(["-n", "6", "--seconds", "6", "--join-rate", "20", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Measured once everyone is in.
    let deadline = Instant::now() + Duration::from_secs(8);
    while origin.gauge("moim_relays{direction=\"out\"}") != Some(2.0)
        || edges
            .iter()
            .any(|e| e.gauge("moim_participants") != Some(4.0))
    {
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let relays_out = origin.gauge("moim_relays{direction=\"out\"}");
    let origin_participants = origin.gauge("moim_participants");
    let relays_in: Vec<Option<f64>> = edges
        .iter()
        .map(|e| e.gauge("moim_relays{direction=\"in\"}"))
        .collect();
    let edge_participants: Vec<Option<f64>> =
        edges.iter().map(|e| e.gauge("moim_participants")).collect();
    let report = report_of(load.wait_with_output().unwrap());
    let summary = &report["summary"];
    assert_eq!(summary["subscribers_connected"], 6, "{summary}");
    assert_eq!(summary["failures"], 0, "{summary}");
    assert!(summary["loss_pct"].as_f64().unwrap() < 1.0, "{summary}");
    // Every viewer gets a 360p-or-better picture and sound.
    assert!(
        summary["packets_per_s"].as_f64().unwrap() > 6.0 * 50.0,
        "{summary}"
    );
    assert_eq!(relays_out, Some(2.0), "one relay per edge node");
    assert_eq!(
        origin_participants,
        Some(3.0),
        "the publisher and the two relays, not the six viewers"
    );
    assert_eq!(relays_in, [Some(1.0), Some(1.0)]);
    // Each edge: its three viewers and the relay publishing into its mirror of the room.
    assert_eq!(edge_participants, [Some(4.0), Some(4.0)]);
}

#[test]
fn an_edge_whose_streams_node_dies_ends_its_relay_and_its_viewers() {
    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}", redis.1);
    let origin = Node::start(&[
        ("MOIM_REDIS_URL", url.clone()),
        ("MOIM_NODE_ID", "origin".into()),
        ("MOIM_REGION", "a".into()),
    ]);
    let edge = Node::start(&[
        ("MOIM_REDIS_URL", url),
        ("MOIM_NODE_ID", "edge".into()),
        ("MOIM_REGION", "b".into()),
    ]);
    origin.place("load");
    let mut load = Command::new(env!("CARGO_BIN_EXE_moim-load"))
        .args(["--url", &origin.url(), "--viewers-at", &edge.url()])
        .args(["-n", "3", "--seconds", "30", "--join-rate", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let relays_in = || edge.gauge("moim_relays{direction=\"in\"}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while relays_in() != Some(1.0) || edge.gauge("moim_participants") != Some(4.0) {
        assert!(
            Instant::now() < deadline,
            "the edge did not relay to its three viewers: {:?} relays, {:?} participants",
            relays_in(),
            edge.gauge("moim_participants")
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    drop(origin);
    let died = Instant::now();
    while relays_in() != Some(0.0) || edge.gauge("moim_participants") != Some(0.0) {
        assert!(
            died.elapsed() < Duration::from_secs(20),
            "the edge still relays, or still has viewers, {:?} after the stream's node died",
            died.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "relay and viewers gone {:?} after the stream's node died",
        died.elapsed()
    );
    let _ = load.kill();
    let _ = load.wait();
}
