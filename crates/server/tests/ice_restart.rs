//! ICE restart through signaling: `restart_ice` gets a subscriber offer with new ICE
//! credentials, which the client answers on the same connection, media going on.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Server;
use support::peer::Peer;

fn ufrag(sdp: &str) -> &str {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .expect("an ICE ufrag")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_ice_gets_a_subscriber_offer_with_new_credentials_and_media_goes_on() {
    let server = Server::start();
    let _alice = Peer::join(&server.ws_url(), &server.token("ir", "alice", &[]), true).await;
    let bob = Peer::join(&server.ws_url(), &server.token("ir", "bob", &[]), false).await;
    bob.wait_for(Duration::from_secs(10), "media", |s| s.video_frames > 10)
        .await;
    let before = bob.seen().subscriber_offers();
    bob.send(json!({"type": "restart_ice"})).await;
    bob.wait_for(Duration::from_secs(5), "a new offer", |s| {
        s.subscriber_offers().len() > before.len()
    })
    .await;
    let after = bob.seen().subscriber_offers();
    assert_ne!(
        ufrag(before.last().unwrap()),
        ufrag(after.last().unwrap()),
        "new ICE credentials"
    );
    let frames = bob.seen().video_frames;
    bob.wait_for(Duration::from_secs(5), "media after the restart", |s| {
        s.video_frames > frames + 30
    })
    .await;
}
