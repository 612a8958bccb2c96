//! The load tester against a real Moim server: every client connects and measures media.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

#[test]
fn livestream_subscribers_all_receive_the_publishers_media() {
    let moim = moim_binary();
    assert!(
        moim.exists(),
        "build the server first: cargo build --release ({})",
        moim.display()
    );
    let (http, udp) = free_ports();
    let mut server = Command::new(&moim)
        .args([
            "serve",
            "--http-port",
            &http.to_string(),
            "--udp-port",
            &udp.to_string(),
            "--tcp-port",
            "0",
        ])
        .env("MOIM_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_moim-load"))
        .args([
            "--url",
            &format!("http://127.0.0.1:{http}"),
            "-n",
            "3",
            "--seconds",
            "3",
        ])
        .args(["--server-pid", &server.id().to_string(), "--json"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
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
