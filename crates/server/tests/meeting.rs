//! Two str0m clients meet through a real server over loopback.

mod support;

use std::time::Duration;

use support::peer::{Peer, Seen};
use support::{Server, Signal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_receive_each_others_audio_and_video() {
    let server = Server::start();
    let alice = Peer::join(&server.ws_url(), &server.token("r1", "alice", &[]), true).await;
    let bob = Peer::join(&server.ws_url(), &server.token("r1", "bob", &[]), true).await;

    for (who, peer) in [("alice", &alice), ("bob", &bob)] {
        peer.wait_for(
            Duration::from_secs(10),
            &format!("{who} receiving media"),
            |s| s.audio_frames > 20 && s.video_frames > 20 && s.video_keyframes > 0,
        )
        .await;
    }
    let joined = &alice.seen().messages[0];
    assert_eq!(joined["type"], "joined");
    assert_eq!(joined["participant"]["identity"], "alice");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, metrics) = server.http("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    let value = |name: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("moim_participants"), 2, "{metrics}");
    assert_eq!(value("moim_tracks"), 4, "{metrics}");
    assert_eq!(value("moim_sessions"), 4, "publisher and subscriber each");
    assert!(value("moim_frames_forwarded_total") > 40, "{metrics}");
    // Every forwarded frame is in the hop histogram, nearly all within a few ms here.
    let forwarded = value("moim_frames_forwarded_total");
    let hops = value("moim_frame_hop_seconds_count");
    assert!(hops > 40 && hops <= forwarded, "{metrics}");
    let within = |le: &str| value(&format!("moim_frame_hop_seconds_bucket{{le=\"{le}\"}}"));
    assert_eq!(within("+Inf"), hops, "{metrics}");
    assert!(within("0.02") * 10 >= hops * 9, "{metrics}");
    // Every received datagram's wait in the socket is counted, by the kernel's timestamp.
    let received = value("moim_datagrams_received_total");
    let waits = value("moim_datagram_wait_seconds_count");
    assert!(waits > 40 && waits <= received, "{metrics}");
    let waited = |le: &str| value(&format!("moim_datagram_wait_seconds_bucket{{le=\"{le}\"}}"));
    assert!(waited("0.02") * 10 >= waits * 9, "{metrics}");
    // Two participants are no load: nothing is shed.
    assert_eq!(value("moim_overload_level"), 0, "{metrics}");
    assert_eq!(value("moim_participants_refused_total"), 0, "{metrics}");
    assert_eq!(value("moim_frames_shed_total"), 0, "{metrics}");

    // Once each connection has had its numbers twice (every 2 s; what is sent and
    // received is measured between two), the metrics carry what the participants send
    // and receive and how their connections are rated.
    let read = |metrics: &str, prefix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let metrics = loop {
        let (_, metrics) = server.http("GET", "/metrics", &[], "");
        let publish = read(
            &metrics,
            "moim_media_bits_per_second{direction=\"publish\"}",
        );
        let subscribe = read(
            &metrics,
            "moim_media_bits_per_second{direction=\"subscribe\"}",
        );
        if publish > 10_000.0 && subscribe > 10_000.0 {
            break metrics;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        read(&metrics, "moim_participants_by_quality{"),
        2.0,
        "{metrics}"
    );
    assert_eq!(
        read(&metrics, "moim_participant_rtt_seconds_count"),
        2.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("moim_room_participants{room=\"r1\"} 2\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_receives_without_data_channels_and_gets_chat_over_signaling() {
    let server = Server::start();
    let alice = Peer::join(&server.ws_url(), &server.token("r5", "alice", &[]), true).await;
    let vic = Peer::join(
        &server.ws_url(),
        &server.token("r5", "vic", &["--viewer"]),
        false,
    )
    .await;
    vic.wait_for(Duration::from_secs(10), "media", |s| {
        s.audio_frames > 20 && s.video_frames > 20
    })
    .await;
    let to_vic = vic.seen().subscriber_offers();
    assert!(!to_vic.is_empty());
    assert!(
        to_vic.iter().all(|sdp| !sdp.contains("m=application")),
        "no data channels for a viewer: {to_vic:?}"
    );
    assert!(
        alice.seen().subscriber_offers()[0].contains("m=application"),
        "a guest gets its data channels"
    );

    alice
        .send(serde_json::json!({"type": "chat", "text": "welcome"}))
        .await;
    vic.wait_for(Duration::from_secs(5), "the chat message", |s| {
        s.messages
            .iter()
            .any(|m| m["type"] == "chat" && m["message"]["text"] == "welcome")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_participants_tracks_disappear_for_others() {
    let server = Server::start();
    let alice = Peer::join(&server.ws_url(), &server.token("r2", "alice", &[]), true).await;
    let bob = Peer::join(&server.ws_url(), &server.token("r2", "bob", &[]), false).await;
    bob.wait_for(Duration::from_secs(10), "media", |s| s.video_frames > 10)
        .await;
    alice.vanish();
    // Alice is kept for a while in case she comes back on a new socket (`resume`)...
    tokio::time::sleep(Duration::from_secs(3)).await;
    let left = |s: &Seen| s.messages.iter().any(|m| m["type"] == "participant_left");
    assert!(!left(&bob.seen()), "alice was kept to resume");
    // ...and leaves for good when she does not (RESUME_GRACE, 20 s).
    bob.wait_for(Duration::from_secs(25), "alice leaving", |s| {
        let last_offer = s
            .messages
            .iter()
            .rev()
            .find(|m| m["type"] == "subscribe_offer");
        left(s) && last_offer.is_some_and(|o| o["tracks"].as_array().unwrap().is_empty())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_signaling_connections_and_exits() {
    let mut server = Server::start();
    let mut signal = Signal::connect(&server.ws_url()).await;
    assert_eq!(
        signal.join(&server.token("t", "ann", &[])).await["type"],
        "joined"
    );
    assert!(server.terminate(Duration::from_secs(5)), "the server exits");
    assert!(signal.recv().await.is_none(), "the connection was closed");
}
