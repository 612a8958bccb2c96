//! Every way into a room passes the same gate: bans, the lock, the waiting room and an
//! audio room's right to speak hold for WHIP and WHEP as for signaling; and a bad request
//! never tears down the live session of its identity.

mod support;

use std::time::Duration;

use serde_json::json;
use support::peer::Peer;
use support::{Server, joined, post_sdp as post};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_pass_the_rooms_gate() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "g", "host", &["--host"]).await;
    let guest = server.token("g", "encoder", &[]);
    let viewer = server.token("g", "viewer", &["--viewer"]);
    let studio = server.token("g", "studio", &["--host"]);
    // A gate that lets a request through leaves it to the offer, which is no SDP here.
    let through = (400, "invalid_sdp".to_owned());
    let settings = async |host: &mut support::Signal, change: serde_json::Value| {
        let mut request = json!({"type": "room_settings"});
        request
            .as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        host.send(request).await;
        host.recv_type("room_settings").await;
    };

    settings(&mut host, json!({"locked": true})).await;
    assert_eq!(
        post(&server, "/whip/g", &guest, b"x"),
        (403, "room_locked".into())
    );
    assert_eq!(
        post(&server, "/whep/g", &viewer, b"x"),
        (403, "room_locked".into())
    );
    assert_eq!(
        post(&server, "/whip/g", &studio, b"x"),
        through,
        "hosts pass"
    );

    settings(&mut host, json!({"locked": false, "waiting_room": true})).await;
    assert_eq!(
        post(&server, "/whip/g", &guest, b"x"),
        (403, "waiting_room".into())
    );
    assert_eq!(
        post(&server, "/whep/g", &viewer, b"x"),
        (403, "waiting_room".into())
    );

    settings(&mut host, json!({"waiting_room": false, "mode": "audio"})).await;
    assert_eq!(
        post(&server, "/whip/g", &guest, b"x"),
        (403, "permission_denied".into()),
        "a listener of an audio room does not publish"
    );
    assert_eq!(
        post(&server, "/whep/g", &viewer, b"x"),
        through,
        "but listens"
    );
    settings(&mut host, json!({"mode": "meeting"})).await;

    let (_eve, eve_joined) = joined(&server, "g", "eve", &[]).await;
    let eve_sid = eve_joined["participant"]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    host.send(json!({"type": "remove_participant", "participant": eve_sid, "ban": true}))
        .await;
    host.recv_type("participant_left").await;
    let eve = server.token("g", "eve", &["--viewer"]);
    assert_eq!(post(&server, "/whep/g", &eve, b"x"), (403, "banned".into()));
    let eve = server.token("g", "eve", &[]);
    assert_eq!(post(&server, "/whip/g", &eve, b"x"), (403, "banned".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_whip_request_leaves_the_live_session_of_its_identity_alone() {
    let server = Server::start();
    let token = server.token("live", "studio", &[]);
    let studio = Peer::join(&server.ws_url(), &token, true).await;
    let viewer = Peer::join(
        &server.ws_url(),
        &server.token("live", "viewer", &[]),
        false,
    )
    .await;
    viewer
        .wait_for(Duration::from_secs(10), "media before", |s| {
            s.video_frames > 10
        })
        .await;

    for (body, expected) in [
        (&b"this is not sdp"[..], (400, "invalid_sdp")),
        (&[0xff, 0xfe, 0x00, 0x80][..], (400, "invalid_sdp")),
        (&vec![b'v'; 100 * 1024][..], (413, "message_too_large")),
    ] {
        let (status, code) = post(&server, "/whip/live", &token, body);
        assert_eq!((status, code.as_str()), expected);
    }

    let before = viewer.seen().video_frames;
    viewer
        .wait_for(
            Duration::from_secs(5),
            "media after the bad requests",
            |s| s.video_frames > before + 30,
        )
        .await;
    let replaced = studio
        .seen()
        .messages
        .iter()
        .any(|m| m["code"] == "replaced");
    assert!(!replaced, "the live session was not replaced");
}
