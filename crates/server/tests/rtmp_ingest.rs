//! RTMP ingest as an encoder uses it: ffmpeg publishes H.264 and AAC to
//! `rtmp://HOST:PORT/live/{token}` and the room's participants receive the stream as H.264
//! and Opus over WebRTC (video with B-frames encoded again without them); stream keys that
//! are not publish tokens for an open room are refused without harming anyone else.

mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use support::peer::Peer;
use support::{Server, joined, publish_rtmp};

/// Waits up to `within` for `child` to exit; its success, or `None` if it still runs.
fn exited_within(child: &mut Child, within: Duration) -> Option<bool> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("ffmpeg can be waited for") {
            return Some(status.success());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encoders_stream_reaches_the_room_as_h264_and_opus() {
    let server = Server::start();
    let (mut watcher, _) = joined(&server, "live", "ada", &[]).await;
    let viewer = Peer::join(&server.ws_url(), &server.token("live", "bob", &[]), false).await;
    let mut encoder = publish_rtmp(
        &server,
        &server.token("live", "obs", &["--name", "Studio"]),
        20,
        "640x360",
        &["-bf", "0", "-tune", "zerolatency"],
    );
    let arrived = loop {
        let joined = watcher.recv_type("participant_joined").await;
        if joined["participant"]["identity"] == "obs" {
            break joined;
        }
    };
    assert_eq!(arrived["participant"]["name"], "Studio", "{arrived}");
    viewer
        .wait_for(Duration::from_secs(15), "the stream's frames", |s| {
            s.video_keyframes >= 1 && s.video_frames >= 60 && s.audio_frames >= 50
        })
        .await;
    let _ = encoder.kill();
    let _ = encoder.wait();
    let left = watcher.recv_type("participant_left").await;
    assert_eq!(left["identity"], "obs", "{left}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_keys_that_may_not_publish_here_are_refused() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "gate", "host", &["--host"]).await;
    for key in [
        "not-a-token".to_owned(),
        server.token("gate", "watcher", &["--viewer"]),
    ] {
        let mut encoder = publish_rtmp(&server, &key, 10, "640x360", &["-bf", "0"]);
        assert_eq!(
            exited_within(&mut encoder, Duration::from_secs(8)),
            Some(false),
            "the encoder is turned away"
        );
    }
    // A locked room stays locked to encoders too.
    host.send(serde_json::json!({"type": "room_settings", "id": "lock", "locked": true}))
        .await;
    let _ = host.recv_type("room_settings").await;
    let mut encoder = publish_rtmp(
        &server,
        &server.token("gate", "late", &[]),
        10,
        "640x360",
        &["-bf", "0"],
    );
    assert_eq!(
        exited_within(&mut encoder, Duration::from_secs(8)),
        Some(false),
        "a locked room refuses the encoder"
    );
    let (status, _) = server.http("GET", "/healthz", &[], "");
    assert_eq!(status, 200, "the server carries on");
}

#[tokio::test(flavor = "multi_thread")]
async fn video_with_b_frames_is_encoded_again_without_them() {
    let server = Server::start();
    let viewer = Peer::join(
        &server.ws_url(),
        &server.token("bframes", "bob", &[]),
        false,
    )
    .await;
    // As OBS sends by default: high profile, B-frames, a keyframe every 2 s.
    let mut encoder = publish_rtmp(
        &server,
        &server.token("bframes", "obs", &[]),
        20,
        "640x360",
        &["-bf", "3", "-profile:v", "high", "-g", "60"],
    );
    viewer
        .wait_for(Duration::from_secs(15), "the re-encoded frames", |s| {
            s.video_keyframes >= 1 && s.video_frames >= 60 && s.audio_frames >= 50
        })
        .await;
    // The SPS said B-frames: the very first picture is the re-encoder's (main profile),
    // none of the source's (high) got through.
    let first = viewer.seen().first_video.expect("a first picture");
    let profile = first
        .windows(5)
        .find(|w| w[..4] == [0, 0, 1, 0x67])
        .map(|w| w[4]);
    assert_eq!(profile, Some(77), "the first picture's SPS profile");
    assert_eq!(
        exited_within(&mut encoder, Duration::ZERO),
        None,
        "still live"
    );
    let _ = encoder.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_on_the_rtmp_port_closes_that_connection_only() {
    use std::io::{Read, Write};
    let server = Server::start();
    let viewer = Peer::join(&server.ws_url(), &server.token("calm", "bob", &[]), false).await;
    let mut encoder = publish_rtmp(
        &server,
        &server.token("calm", "obs", &[]),
        20,
        "640x360",
        &["-bf", "0"],
    );
    let inputs: [Vec<u8>; 3] = [
        (0..4096).map(|i| (i * 7 + 3) as u8).collect(),
        // A handshake cut short.
        [&[3u8][..], &[0; 700]].concat(),
        // A handshake, then a chunk header announcing an absurd chunk size.
        [
            &[3u8][..],
            &[0; 1536],
            &[2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff],
        ]
        .concat(),
    ];
    for input in inputs {
        let mut stranger =
            std::net::TcpStream::connect(("127.0.0.1", server.rtmp_port)).expect("connects");
        stranger
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let _ = stranger.write_all(&input);
        let mut sink = [0; 8192];
        let closed = loop {
            match stranger.read(&mut sink) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) => break e.kind() != std::io::ErrorKind::WouldBlock,
            }
        };
        assert!(closed, "the server closes a connection that sends garbage");
    }
    viewer
        .wait_for(Duration::from_secs(15), "the other stream's frames", |s| {
            s.video_frames >= 60
        })
        .await;
    assert_eq!(
        exited_within(&mut encoder, Duration::ZERO),
        None,
        "still live"
    );
    let _ = encoder.kill();
}
