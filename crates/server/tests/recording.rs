//! Server recordings over signaling and the room API: only the record grant starts them,
//! everyone sees that one runs, each track goes to its own file (checked with ffprobe),
//! the manifest names them, and a `kill -9` leaves the files readable.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::peer::Peer;
use support::{Server, Signal, body_json, expect_error, joined, start_recording, stop_recording};

/// Waits until `signal` has heard of `n` published tracks; returns their sids.
async fn tracks_published(signal: &mut Signal, n: usize) -> Vec<String> {
    let mut sids = Vec::new();
    for _ in 0..n {
        let m = signal.recv_type("track_published").await;
        sids.push(m["track"]["sid"].as_str().unwrap().to_owned());
    }
    sids
}

/// `ffprobe` output for `file`, one line per entry asked for.
fn probe(file: &Path, entries: &str) -> (String, String) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries", entries])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    (
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// A host starts a recording of `kind` over signaling while someone publishes; three
/// seconds later the server is killed. Returns the recording's id.
async fn record_then_kill(server: &mut Server, room: &str, kind: &str) -> String {
    let (mut host, _) = joined(server, room, "host", &["--host"]).await;
    let _ann = Peer::join(&server.ws_url(), &server.token(room, "ann", &[]), true).await;
    tracks_published(&mut host, 2).await;
    host.send(json!({"type": "recording_start", "kind": kind}))
        .await;
    let id = host.recv_type("recording").await["recording"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill9();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_records_each_track_to_its_own_file_and_guests_cannot() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "rec", "host", &["--host"]).await;
    let ann = Peer::join(&server.ws_url(), &server.token("rec", "ann", &[]), true).await;
    let ann_tracks = tracks_published(&mut host, 2).await;
    let (mut guest, _) = joined(&server, "rec", "guest", &[]).await;

    guest
        .send(json!({"type": "recording_start", "id": "r", "kind": "track"}))
        .await;
    expect_error(&mut guest, "permission_denied").await;
    let guest_auth = format!("Bearer {}", server.token("rec", "guest", &[]));
    let (status, _) = server.http(
        "POST",
        "/api/rooms/rec/recordings",
        &[
            ("Authorization", &guest_auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"kind": "track"}"#,
    );
    assert_eq!(status, 403);

    host.send(json!({"type": "recording_start", "id": "r", "kind": "track"}))
        .await;
    let started = host.recv_type("recording").await;
    let id = started["recording"]["id"].as_str().unwrap().to_owned();
    let seen = guest.recv_type("recording").await;
    assert_eq!(
        seen["recording"]["id"],
        id.as_str(),
        "everyone sees it running"
    );
    host.send(json!({"type": "recording_start", "id": "again", "kind": "track"}))
        .await;
    expect_error(&mut host, "conflict").await;

    // Two seconds muted in the middle: the files keep the pause (a gap in WebM, silence
    // in Ogg), so they still last as long as the recording.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for muted in [true, false] {
        for track in &ann_tracks {
            ann.send(json!({"type": "mute", "track": track, "muted": muted}))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(2000)).await;
    }
    let (status, _) = server.http(
        "GET",
        "/api/rooms/rec/recordings",
        &[("Authorization", &guest_auth)],
        "",
    );
    assert_eq!(status, 403, "guests cannot list recordings");
    let auth = format!("Bearer {}", server.token("rec", "app", &["--host"]));
    let path = format!("/api/rooms/rec/recordings/{id}");
    let (status, response) = server.http("DELETE", &path, &[("Authorization", &auth)], "");
    assert_eq!(status, 200, "{response}");
    let manifest = body_json(&response);
    assert!(
        guest
            .recv_type("recording")
            .await
            .get("recording")
            .is_none()
    );

    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["tracks"].as_array().unwrap().len(), 2);
    let identities: Vec<&str> = manifest["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert!(
        identities.contains(&"ann") && identities.contains(&"guest"),
        "{identities:?}"
    );
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{manifest}");
    let dir = server.recordings.join("rec").join(&id);
    for file in files {
        let name = file["file"].as_str().unwrap();
        let expected = if name.ends_with(".ogg") {
            "opus"
        } else {
            "vp8"
        };
        let (codec, errors) = probe(&dir.join(name), "stream=codec_name");
        assert_eq!(codec, expected, "{errors}");
        let (duration, _) = probe(&dir.join(name), "format=duration");
        let duration: f64 = duration.parse().unwrap();
        let recorded = (manifest["ended_at"].as_f64().unwrap()
            - manifest["started_at"].as_f64().unwrap()
            - file["offset_ms"].as_f64().unwrap())
            / 1000.0;
        assert!(
            (duration - recorded).abs() / recorded < 0.05,
            "{name}: {duration} s in the file, {recorded} s recorded"
        );
        eprintln!(
            "{name}: {duration} s in the file, {recorded} s recorded, {} frames",
            file["frames"]
        );
        let frame_ms = if expected == "opus" { 20.0 } else { 33.3 };
        let sent = file["frames"].as_f64().unwrap() * frame_ms / 1000.0;
        assert!(
            sent < 0.75 * duration,
            "{name}: the muted stretch has no frames"
        );
        let (status, response) = server.http(
            "GET",
            &format!("{path}/{name}"),
            &[("Authorization", &auth)],
            "",
        );
        assert_eq!(status, 200);
        assert!(response.contains(if expected == "opus" {
            "audio/ogg"
        } else {
            "video/webm"
        }));
        // Players seek with ranges.
        let (status, response) = server.http(
            "GET",
            &format!("{path}/{name}"),
            &[("Authorization", &auth), ("Range", "bytes=0-9")],
            "",
        );
        assert_eq!(status, 206, "{}", &response[..response.len().min(400)]);
        let head = response.to_ascii_lowercase();
        assert!(head.contains("content-range: bytes 0-9/"), "{head:.400}");
        assert!(head.contains("content-length: 10\r\n"), "{head:.400}");
    }
    let (status, response) = server.http(
        "GET",
        "/api/rooms/rec/recordings",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(body_json(&response)["recordings"][0]["id"], id.as_str());
    let (_, metrics) = server.http("GET", "/metrics", &[], "");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("moim_frames_recorded_total ")
                && l.split(' ').nth(1).unwrap().parse::<u64>().unwrap() > 200),
        "{metrics}"
    );
    let (status, _) = server.http(
        "GET",
        &format!("{path}/..%2Fsecret"),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_leaves_files_that_still_read() {
    let mut server = Server::start();
    let id = record_then_kill(&mut server, "crash", "track").await;

    let dir = server.recordings.join("crash").join(&id);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "recording");
    for track in manifest["tracks"].as_array().unwrap() {
        let file = dir.join(track["file"].as_str().unwrap());
        let (packets, errors) = probe(&file, "stream=nb_read_packets");
        assert_eq!(errors, "", "{}", file.display());
        let packets: u64 = packets.parse().unwrap();
        assert!(packets >= 50, "{}: {packets} packets", file.display());
    }

    // Started again on the same folder, the server says the recording was cut short.
    let folder = server.recordings.to_str().unwrap().to_owned();
    let _again = Server::start_with(&[("MOIM_RECORDINGS_DIR", &folder)]);
    let mut status = Value::Null;
    for _ in 0..50 {
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        status = manifest["status"].clone();
        if status == "interrupted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_leaves_a_composite_that_ffmpeg_finishes() {
    let mut server = Server::start();
    let id = record_then_kill(&mut server, "crashgrid", "composite").await;

    // The encoder sees its input end and finishes the file on its own.
    let file = server
        .recordings
        .join("crashgrid")
        .join(&id)
        .join("composite.webm");
    let mut duration = 0.0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (d, _) = probe(&file, "format=duration");
        duration = d.parse().unwrap_or(0.0);
        if duration > 0.0 {
            break;
        }
    }
    assert!(duration > 2.0, "{duration} s in {}", file.display());
    let (streams, errors) = probe(&file, "stream=codec_name");
    assert_eq!(
        streams.lines().collect::<Vec<_>>(),
        ["vp8", "opus"],
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_recording_puts_audio_and_video_in_one_file() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "each", "host", &["--host"]).await;
    let _ann = Peer::join(&server.ws_url(), &server.token("each", "ann", &[]), true).await;
    tracks_published(&mut host, 2).await;
    let (auth, id) = start_recording(&server, "each", "participant");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let manifest = stop_recording(&server, "each", &auth, &id);
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "one file for ann: {manifest}");
    assert_eq!(files[0]["codec"], "vp8+opus");
    let file = server
        .recordings
        .join("each")
        .join(&id)
        .join(files[0]["file"].as_str().unwrap());
    let (codecs, errors) = probe(&file, "stream=codec_name");
    assert_eq!(
        codecs.lines().collect::<Vec<_>>(),
        ["vp8", "opus"],
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_composite_recording_is_one_video_of_the_grid_with_the_mixed_audio() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "grid", "host", &["--host"]).await;
    let _ann = Peer::join(&server.ws_url(), &server.token("grid", "ann", &[]), true).await;
    let bob = Peer::join(&server.ws_url(), &server.token("grid", "bob", &[]), true).await;
    tracks_published(&mut host, 4).await;
    let (auth, id) = start_recording(&server, "grid", "composite");
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Someone leaving mid-recording: the grid re-flows, the timeline goes on.
    bob.send(json!({"type": "leave"})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let manifest = stop_recording(&server, "grid", &auth, &id);
    let recorded = started.elapsed().as_secs_f64();
    assert_eq!(manifest["kind"], "composite");
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "one file: {manifest}");
    assert_eq!(files[0]["file"], "composite.webm");
    assert_eq!(files[0]["codec"], "vp8+opus");
    let file = server
        .recordings
        .join("grid")
        .join(&id)
        .join("composite.webm");
    let (streams, errors) = probe(&file, "stream=codec_name,width,height");
    assert_eq!(
        streams.lines().collect::<Vec<_>>(),
        ["vp8,1280,720", "opus"],
        "{errors}"
    );
    let (duration, _) = probe(&file, "format=duration");
    let duration: f64 = duration.parse().unwrap();
    assert!(
        (duration - recorded).abs() / recorded < 0.05,
        "{duration} s in the file, {recorded} s recorded"
    );
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args([
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "-1",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        decode.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&decode.stderr)
    );
}
