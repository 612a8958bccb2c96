//! Recordings stay within the operator's limits: a maximum duration, a quota for the
//! recordings folder; the server stops them by itself and says why.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, expect_error, joined};

/// The next `recording` message that says none runs, within `within`.
async fn stopped(signal: &mut support::Signal, within: Duration) -> Value {
    tokio::time::timeout(within, async {
        loop {
            let msg = signal.recv_type("recording").await;
            if msg.get("recording").is_none() {
                return msg;
            }
        }
    })
    .await
    .expect("the recording stops by itself")
}

/// The manifest of recording `id` of `room` once its files are complete (the stop is
/// announced before they are).
async fn finished_manifest(server: &Server, room: &str, id: &str) -> Value {
    let path = server.recordings.join(room).join(id).join("manifest.json");
    for _ in 0..100 {
        let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if written["status"] == "complete" {
            return written;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never completes", path.display())
}

#[tokio::test]
async fn a_recording_stops_at_the_maximum_duration_and_everyone_is_told_why() {
    let server = Server::start_with(&[("MOIM_RECORDING_MAX_DURATION", "2")]);
    let (mut host, _) = joined(&server, "long", "host", &["--host"]).await;
    let (mut guest, _) = joined(&server, "long", "guest", &[]).await;
    host.send(json!({"type": "recording_start", "id": "r", "kind": "track"}))
        .await;
    let started = host.recv_type("recording").await;
    let id = started["recording"]["id"].as_str().unwrap().to_owned();
    let at = Instant::now();
    assert_eq!(guest.recv_type("recording").await["recording"]["id"], id);

    for signal in [&mut host, &mut guest] {
        let stopped = stopped(signal, Duration::from_secs(10)).await;
        assert_eq!(stopped["reason"], "max_duration", "{stopped}");
    }
    let lasted = at.elapsed();
    assert!(
        lasted >= Duration::from_millis(1500),
        "stopped after {lasted:?}"
    );
    let written = finished_manifest(&server, "long", &id).await;
    assert_eq!(written["stop_reason"], "max_duration", "{written}");
}

#[tokio::test]
async fn recordings_stop_and_are_refused_when_their_quota_is_used() {
    let server = Server::start_with(&[("MOIM_RECORDINGS_QUOTA_MB", "1")]);
    let (mut host, _) = joined(&server, "full", "host", &["--host"]).await;
    host.send(json!({"type": "recording_start", "id": "r", "kind": "track"}))
        .await;
    let started = host.recv_type("recording").await;
    let id = started["recording"]["id"].as_str().unwrap().to_owned();

    // Something else fills the folder past its quota.
    std::fs::write(server.recordings.join("filler"), vec![0u8; 2 << 20]).unwrap();
    let stopped = stopped(&mut host, Duration::from_secs(15)).await;
    assert_eq!(stopped["reason"], "storage_full", "{stopped}");
    assert_eq!(
        finished_manifest(&server, "full", &id).await["stop_reason"],
        "storage_full"
    );

    host.send(json!({"type": "recording_start", "id": "again", "kind": "track"}))
        .await;
    let refused = expect_error(&mut host, "storage_full").await;
    assert!(
        refused["message"].as_str().unwrap().contains("quota"),
        "{refused}"
    );
    let auth = format!("Bearer {}", server.token("full", "app", &["--host"]));
    let (status, response) = server.http(
        "POST",
        "/api/rooms/full/recordings",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"kind": "track"}"#,
    );
    assert_eq!(status, 507, "{response}");
    assert!(response.contains("\"storage_full\""), "{response}");

    std::fs::remove_file(server.recordings.join("filler")).unwrap();
    host.send(json!({"type": "recording_start", "id": "room", "kind": "track"}))
        .await;
    assert!(host.recv_type("recording").await["recording"]["id"].is_string());
}
