//! Host moderation over signaling and the room API: muting another participant's track
//! (forwarding stops at once, a lock holds), removing with a ban, ending the meeting.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::peer::Peer;
use support::{Server, Signal, expect_error, joined};

/// The sid and audio track sid of `identity` as the host's `joined` lists them.
fn audio_of(joined: &Value, identity: &str) -> (String, String) {
    let p = joined["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identity"] == identity)
        .unwrap_or_else(|| panic!("{identity} in {joined}"));
    let track = p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "audio")
        .unwrap_or_else(|| panic!("an audio track in {p}"));
    (
        p["sid"].as_str().unwrap().to_owned(),
        track["sid"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_mutes_a_microphone_and_its_audio_stops_within_a_second() {
    let server = Server::start();
    let alice = Peer::join(&server.ws_url(), &server.token("m", "alice", &[]), true).await;
    let bob = Peer::join(&server.ws_url(), &server.token("m", "bob", &[]), false).await;
    bob.wait_for(Duration::from_secs(10), "alice's audio", |s| {
        s.audio_frames > 20
    })
    .await;
    let (mut host, reply) = joined(&server, "m", "host", &["--host"]).await;
    let (alice_sid, track) = audio_of(&reply, "alice");

    let (mut guest, _) = joined(&server, "m", "guest", &[]).await;
    guest
        .send(json!({"type": "mute_participant", "participant": alice_sid, "track": track, "muted": true}))
        .await;
    expect_error(&mut guest, "permission_denied").await;

    host.send(
        json!({"type": "mute_participant", "participant": alice_sid, "track": track,
        "muted": true, "lock": true}),
    )
    .await;
    let muted = host.recv_type("track_muted").await;
    assert_eq!(muted["muted"], true);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_a_second = bob.seen().audio_frames;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        bob.seen().audio_frames <= after_a_second + 1,
        "audio stopped: {} then {}",
        after_a_second,
        bob.seen().audio_frames
    );
    let told = alice
        .seen()
        .messages
        .into_iter()
        .find(|m| m["type"] == "muted_by_host")
        .expect("alice was told");
    assert_eq!(told["locked"], true);

    // Alice's own unmute is refused while the lock holds.
    let unmute = json!({"type": "mute", "id": "unmute", "track": track, "muted": false});
    alice.send(unmute.clone()).await;
    alice
        .wait_for(Duration::from_secs(5), "the refusal", |s| {
            s.messages
                .iter()
                .any(|m| m["id"] == "unmute" && m["code"] == "permission_denied")
        })
        .await;

    // The room API lifts the lock (it never unmutes on its own).
    let auth = format!("Bearer {}", server.token("m", "app", &["--host"]));
    let body = json!({"track": track, "muted": false}).to_string();
    let (status, _) = server.http(
        "POST",
        "/api/rooms/m/participants/alice/mute",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &body,
    );
    assert_eq!(status, 204);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let allowed = alice
        .seen()
        .messages
        .into_iter()
        .rfind(|m| m["type"] == "muted_by_host")
        .unwrap();
    assert_eq!(allowed["muted"], false);
    alice.send(unmute).await;
    let unmuted = host.recv_type("track_muted").await;
    assert_eq!(unmuted["muted"], false, "allowed, alice unmutes herself");

    host.send(json!({"type": "mute_participant", "participant": "PA_ffffff", "track": track, "muted": true}))
        .await;
    expect_error(&mut host, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_participant_cannot_rejoin_and_the_others_carry_on() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "b", "host", &["--host"]).await;
    let (mut eve, eve_joined) = joined(&server, "b", "eve", &[]).await;
    let (mut bob, _) = joined(&server, "b", "bob", &[]).await;
    let eve_sid = eve_joined["participant"]["sid"]
        .as_str()
        .unwrap()
        .to_owned();

    host.send(json!({"type": "remove_participant", "participant": eve_sid, "ban": true}))
        .await;
    expect_error(&mut eve, "banned").await;
    assert!(eve.recv_closed().await, "eve's connection is closed");
    let left = bob.recv_type("participant_left").await;
    assert_eq!(left["identity"], "eve");

    let mut again = Signal::connect(&server.ws_url()).await;
    assert_eq!(
        again.join(&server.token("b", "eve", &[])).await["code"],
        "banned"
    );
    let (_ok, _) = joined(&server, "b", "carol", &[]).await;

    // Through the room API: remove bob, then end the meeting.
    let auth = format!("Bearer {}", server.token("b", "app", &["--host"]));
    let (status, _) = server.http(
        "DELETE",
        "/api/rooms/b/participants/bob",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 204);
    expect_error(&mut bob, "removed").await;
    let (status, _) = server.http(
        "DELETE",
        "/api/rooms/b/participants/nobody",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 404);
    let guest = format!("Bearer {}", server.token("b", "bob", &[]));
    let (status, _) = server.http("DELETE", "/api/rooms/b", &[("Authorization", &guest)], "");
    assert_eq!(status, 403);
    let (status, _) = server.http("DELETE", "/api/rooms/b", &[("Authorization", &auth)], "");
    assert_eq!(status, 204);
    expect_error(&mut host, "meeting_ended").await;

    // The ban outlives the meeting: a later meeting in the same room keeps eve out.
    let (_next, _) = joined(&server, "b", "dan", &[]).await;
    let mut later = Signal::connect(&server.ws_url()).await;
    assert_eq!(
        later.join(&server.token("b", "eve", &[])).await["code"],
        "banned"
    );
}
