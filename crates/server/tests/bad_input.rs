//! Bad input gets a clear error, and a meeting already running keeps flowing throughout.

mod support;

use std::time::Duration;

use moim_media::stun::binding_request;
use serde_json::json;
use support::peer::Peer;
use support::{Server, Signal, expect_error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signaling_input_is_refused_while_media_keeps_flowing() {
    let server = Server::start();
    let _alice = Peer::join(&server.ws_url(), &server.token("bad", "alice", &[]), true).await;
    let bob = Peer::join(&server.ws_url(), &server.token("bad", "bob", &[]), false).await;
    bob.wait_for(Duration::from_secs(10), "media before the abuse", |s| {
        s.video_frames > 10
    })
    .await;
    let before = bob.seen().video_frames;

    let mut m = Signal::connect(&server.ws_url()).await;
    m.send_text("{not json".into()).await;
    expect_error(&mut m, "malformed_message").await;

    m.send(json!({"type": "teleport", "id": 42})).await;
    let reply = expect_error(&mut m, "unknown_message").await;
    assert_eq!(reply["id"], 42, "the request id is echoed");

    m.send(json!({"type": "publish_offer", "sdp": "v=0", "tracks": []}))
        .await;
    expect_error(&mut m, "not_joined").await;

    let huge = json!({"type": "ping", "pad": "x".repeat(1024 * 1024)});
    m.send(huge).await;
    expect_error(&mut m, "message_too_large").await;
    m.send(json!({"type": "ping"})).await;
    assert_eq!(
        m.recv().await.unwrap()["type"],
        "pong",
        "connection survives"
    );

    let forged = server.token("bad", "mallory", &["--api-secret", "wrong"]);
    assert_eq!(m.join(&forged).await["code"], "invalid_token");

    let expired = server.token("bad", "mallory", &["--ttl", "0s"]);
    assert_eq!(m.join(&expired).await["code"], "token_expired");

    m.send(json!({"type": "join", "v": 9, "token": "x"})).await;
    expect_error(&mut m, "unsupported_version").await;

    let viewer = server.token("bad", "viewer", &["--viewer"]);
    assert_eq!(m.join(&viewer).await["type"], "joined");
    m.send(json!({"type": "join", "v": 1, "token": viewer}))
        .await;
    expect_error(&mut m, "already_joined").await;
    m.send(json!({"type": "publish_offer", "sdp": "v=0", "tracks": []}))
        .await;
    expect_error(&mut m, "permission_denied").await;

    let mut g = Signal::connect(&server.ws_url()).await;
    assert_eq!(
        g.join(&server.token("bad", "guest", &[])).await["type"],
        "joined"
    );
    g.send(json!({"type": "publish_offer", "sdp": "this is not SDP", "tracks": []}))
        .await;
    expect_error(&mut g, "invalid_sdp").await;
    g.send(json!({"type": "subscribe_answer", "sdp": "nor is this"}))
        .await;
    expect_error(&mut g, "invalid_sdp").await;
    g.send(json!({"type": "mute", "track": "TR_ffffff", "muted": true}))
        .await;
    expect_error(&mut g, "unknown_track").await;
    g.send(json!({"type": "mute", "track": 7})).await;
    expect_error(&mut g, "malformed_message").await;

    bob.wait_for(Duration::from_secs(5), "media after the abuse", |s| {
        s.video_frames > before + 30
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_refuse_bad_requests_with_json_errors() {
    let server = Server::start();
    let guest = server.token("w", "pub", &[]);
    let viewer = server.token("w", "watch", &["--viewer"]);
    let sdp = [("Content-Type", "application/sdp")];

    let (status, body) = server.http("POST", "/whip/w", &sdp, "v=0");
    assert_eq!(status, 401);
    assert!(body.contains("\"invalid_token\""), "{body}");

    let bearer = |t: &str| format!("Bearer {t}");
    let auth = bearer(&server.token("other", "pub", &[]));
    let (status, body) = server.http("POST", "/whip/w", &[("Authorization", &auth)], "v=0");
    assert_eq!(status, 403);
    assert!(body.contains("\"wrong_room\""), "{body}");

    let auth = bearer(&viewer);
    let (status, body) = server.http("POST", "/whip/w", &[("Authorization", &auth)], "v=0");
    assert_eq!(status, 403);
    assert!(body.contains("\"permission_denied\""), "{body}");

    let auth = bearer(&guest);
    let (status, body) = server.http("POST", "/whip/w", &[("Authorization", &auth)], "garbage");
    assert_eq!(status, 400);
    assert!(body.contains("\"invalid_sdp\""), "{body}");

    let (status, body) = server.http("POST", "/whep/w/nobody", &[("Authorization", &auth)], "v=0");
    assert_eq!(status, 404);
    assert!(body.contains("\"not_found\""), "{body}");

    let (status, _) = server.http("DELETE", "/whip/w/0123456789abcdef", &[], "");
    assert_eq!(status, 404);

    let (status, head) = server.http(
        "OPTIONS",
        "/whip/w",
        &[("Origin", "https://example.com")],
        "",
    );
    assert_eq!(status, 204);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(
        head.contains("access-control-allow-headers: authorization"),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoining_with_the_same_identity_replaces_the_old_connection() {
    let server = Server::start();
    let token = server.token("re", "carol", &[]);
    let mut first = Signal::connect(&server.ws_url()).await;
    assert_eq!(first.join(&token).await["type"], "joined");
    let mut second = Signal::connect(&server.ws_url()).await;
    let joined = second.join(&token).await;
    assert_eq!(joined["type"], "joined");
    assert_eq!(joined["participants"], json!([]), "the old self is gone");
    expect_error(&mut first, "replaced").await;
    assert!(first.recv().await.is_none(), "the old connection is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_on_the_ice_tcp_port_are_let_go_while_media_keeps_flowing() {
    let port = support::unused_port(|| std::net::TcpListener::bind("127.0.0.1:0")?.local_addr());
    let server = Server::start_with(&[("MOIM_TCP_ADDR", &format!("127.0.0.1:{port}"))]);
    let _alice = Peer::join(&server.ws_url(), &server.token("tcp", "alice", &[]), true).await;
    let bob = Peer::join(&server.ws_url(), &server.token("tcp", "bob", &[]), false).await;
    bob.wait_for(Duration::from_secs(10), "media before the strangers", |s| {
        s.video_frames > 10
    })
    .await;
    let before = bob.seen().video_frames;

    // Something that is not STUN, and STUN requests for sessions that do not exist (on no
    // worker, and on the first): each connection is closed.
    let nowhere = binding_request("ffnosuchsession:x", None);
    let unknown = binding_request("00nosuchsession:x", None);
    for first in [b"hello, media server".to_vec(), nowhere, unknown] {
        let mut stranger = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("the ICE-TCP port listens");
        let mut framed = (first.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&first);
        stranger.write_all(&framed).await.unwrap();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), stranger.read(&mut buf))
            .await
            .expect("the server lets the stranger go");
        assert!(matches!(read, Ok(0) | Err(_)), "nothing answered: {read:?}");
    }

    bob.wait_for(Duration::from_secs(5), "media after the strangers", |s| {
        s.video_frames > before + 30
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_share_of_ice_tcp_connections() {
    let port = support::unused_port(|| std::net::TcpListener::bind("127.0.0.1:0")?.local_addr());
    let _server = Server::start_with(&[("MOIM_TCP_ADDR", &format!("127.0.0.1:{port}"))]);
    // Connections that never say anything hold their places until the server gives up
    // on them (10 s); the next one from the same address is closed at once.
    let mut held = Vec::new();
    for _ in 0..moim_media::TCP_CONNECTIONS_PER_ADDRESS {
        held.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("the ICE-TCP port listens"),
        );
    }
    let mut one_more = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the kernel accepts the connection");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), one_more.read(&mut buf))
        .await
        .expect("the server closes the connection beyond the limit at once");
    assert!(matches!(read, Ok(0) | Err(_)), "nothing answered: {read:?}");

    // Once they are gone, the address may connect again: that connection is kept open.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the ICE-TCP port listens");
    let waited = tokio::time::timeout(Duration::from_secs(1), again.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "the connection waits for its first frame: {waited:?}"
    );
}
