//! Who gets in and who speaks: the waiting room (admit, reject), the lock, and audio rooms
//! where hosts promote listeners to speakers on the connection they already have.

mod support;

use serde_json::{Value, json};
use support::{Server, Signal, expect_error, joined};

fn sid(joined: &Value) -> String {
    joined["participant"]["sid"].as_str().unwrap().to_owned()
}

/// Joins and expects to be held in the waiting room.
async fn waits(server: &Server, room: &str, identity: &str) -> (Signal, String) {
    let mut signal = Signal::connect(&server.ws_url()).await;
    let reply = signal.join(&server.token(room, identity, &[])).await;
    assert_eq!(reply["type"], "waiting", "{reply}");
    let sid = sid(&reply);
    (signal, sid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_room_holds_newcomers_until_a_host_admits_or_rejects_them() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "w", "host", &["--host"]).await;
    let (mut early, _) = joined(&server, "w", "early", &[]).await;
    host.send(json!({"type": "room_settings", "waiting_room": true}))
        .await;
    let settings = early.recv_type("room_settings").await;
    assert_eq!(settings["settings"]["waiting_room"], true);

    let (mut ann, ann_sid) = waits(&server, "w", "ann").await;
    let list = host.recv_type("waiting_list").await;
    assert_eq!(list["waiting"][0]["identity"], "ann");
    // Waiting is not being in: no chat, and the others were not told.
    ann.send(json!({"type": "chat", "id": 1, "text": "let me in"}))
        .await;
    expect_error(&mut ann, "not_joined").await;
    // Only hosts decide.
    early
        .send(json!({"type": "admit", "participant": ann_sid}))
        .await;
    expect_error(&mut early, "permission_denied").await;

    host.send(json!({"type": "admit", "participant": ann_sid}))
        .await;
    let admitted = ann.recv_type("joined").await;
    assert_eq!(admitted["settings"]["waiting_room"], true);
    assert_eq!(
        early.recv_type("participant_joined").await["participant"]["identity"],
        "ann"
    );

    let (mut bob, bob_sid) = waits(&server, "w", "bob").await;
    host.recv_type("waiting_list").await;
    host.send(json!({"type": "reject", "participant": bob_sid}))
        .await;
    expect_error(&mut bob, "rejected").await;
    assert!(bob.recv_closed().await);

    // Through the room API, by identity.
    let (mut cy, _) = waits(&server, "w", "cy").await;
    let auth = format!("Bearer {}", server.token("w", "app", &["--host"]));
    let (status, body) = server.http(
        "GET",
        "/api/rooms/w/waiting",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"cy\""), "{body}");
    let guest = format!("Bearer {}", server.token("w", "early", &[]));
    let (status, _) = server.http(
        "POST",
        "/api/rooms/w/participants/cy/admit",
        &[("Authorization", &guest)],
        "",
    );
    assert_eq!(status, 403);
    let (status, _) = server.http(
        "POST",
        "/api/rooms/w/participants/cy/admit",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 204);
    cy.recv_type("joined").await;
    let (status, _) = server.http(
        "POST",
        "/api/rooms/w/participants/nobody/reject",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 404);

    // Someone already let in comes back after a lost connection without waiting.
    drop(ann);
    let (_ann_again, _) = joined(&server, "w", "ann", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_room_refuses_newcomers_but_not_hosts_or_returning_members() {
    let server = Server::start();
    let (_host, _) = joined(&server, "l", "host", &["--host"]).await;
    let (member, _) = joined(&server, "l", "member", &[]).await;
    let auth = format!("Bearer {}", server.token("l", "app", &["--host"]));
    let (status, body) = server.http(
        "PATCH",
        "/api/rooms/l",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"locked": true}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"locked\":true"), "{body}");

    let mut stranger = Signal::connect(&server.ws_url()).await;
    let refused = stranger.join(&server.token("l", "stranger", &[])).await;
    assert_eq!(refused["code"], "room_locked", "{refused}");
    drop(member);
    let (_member, _) = joined(&server, "l", "member", &[]).await;
    let (_cohost, _) = joined(&server, "l", "cohost", &["--host"]).await;

    let (status, _) = server.http(
        "PATCH",
        "/api/rooms/l",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"locked": "yes"}"#,
    );
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_room_host_promotes_a_listener_who_then_may_publish_on_the_same_connection() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "a", "host", &["--host"]).await;
    host.send(json!({"type": "room_settings", "mode": "audio"}))
        .await;
    host.recv_type("room_settings").await;

    let (mut lee, lee_joined) = joined(&server, "a", "lee", &[]).await;
    assert_eq!(lee_joined["participant"]["role"], "viewer");
    assert_eq!(lee_joined["settings"]["mode"], "audio");
    let offer = json!({"type": "publish_offer", "id": "p", "sdp": "v=0", "tracks": []});
    lee.send(offer.clone()).await;
    expect_error(&mut lee, "permission_denied").await;

    lee.send(json!({"type": "raise_hand", "raised": true}))
        .await;
    let raised = host.recv_type("participant_updated").await;
    assert_eq!(raised["participant"]["hand_raised"], true);
    let own = lee.recv_type("participant_updated").await;
    assert_eq!(
        own["participant"]["hand_raised"], true,
        "told about itself too"
    );

    let lee_sid = sid(&lee_joined);
    host.send(json!({"type": "set_speaker", "participant": lee_sid, "speaker": true}))
        .await;
    let promoted = lee.recv_type("participant_updated").await;
    assert_eq!(promoted["participant"]["role"], "guest");
    assert!(promoted["participant"].get("hand_raised").is_none());
    // The grant changed on this connection: the offer now reaches SDP parsing.
    lee.send(offer.clone()).await;
    expect_error(&mut lee, "invalid_sdp").await;

    host.send(json!({"type": "set_speaker", "participant": lee_sid, "speaker": false}))
        .await;
    let demoted = lee.recv_type("participant_updated").await;
    assert_eq!(demoted["participant"]["role"], "viewer");
    lee.send(offer).await;
    expect_error(&mut lee, "permission_denied").await;

    // Hosts cannot be demoted; in a meeting there are no listeners to promote.
    let host_sid = lee_joined["participants"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    host.send(json!({"type": "set_speaker", "participant": host_sid, "speaker": false}))
        .await;
    expect_error(&mut host, "conflict").await;
    host.send(json!({"type": "room_settings", "mode": "meeting"}))
        .await;
    let back = lee.recv_type("participant_updated").await;
    assert_eq!(
        back["participant"]["role"], "guest",
        "a meeting gives back the token's grants"
    );
    host.send(json!({"type": "set_speaker", "participant": lee_sid, "speaker": true}))
        .await;
    expect_error(&mut host, "conflict").await;
}
