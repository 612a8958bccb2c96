//! Meetings spanning nodes: participants stay on the node they reached, which links
//! itself with the room's node (real Redis, real processes, str0m peers): they meet, each
//! frame crosses to a node once, chat, moderation, resuming and recording reach across, a
//! dead node's participants leave; only a node of the cluster opens a link.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::cluster::{Redis, nodes_with, wait_for_nodes};
use support::peer::Peer;
use support::{Server, Signal, expect_error};

const THREE: [&str; 3] = ["node-0", "node-1", "node-2"];

/// The value of `/metrics` line `name` (with its labels) on `node`.
fn metric(node: &Server, name: &str) -> u64 {
    let (_, metrics) = node.http("GET", "/metrics", &[], "");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// How many others `s` saw in the room: in `joined`, then joining and leaving.
fn others(s: &support::peer::Seen) -> i64 {
    s.messages
        .iter()
        .map(|m| match m["type"].as_str() {
            Some("joined") => m["participants"].as_array().map_or(0, |p| p.len() as i64),
            Some("participant_joined") => 1,
            Some("participant_left") => -1,
            _ => 0,
        })
        .sum()
}

const SPAN: [(&str, &str); 1] = [("MOIM_SPAN_ROOMS", "1")];

/// The token a node of the test's cluster shows another about `room`.
fn node_token(room: &str) -> String {
    use moim_proto::token::{Claims, Grants};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Claims {
        iss: "devkey".into(),
        sub: "moim-relay".into(),
        name: None,
        nbf: 0,
        exp: now + 60,
        video: Grants {
            room: room.into(),
            node_admin: true,
            ..Grants::default()
        },
    }
    .sign("secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_spans_the_nodes_its_participants_reached() {
    let redis = Redis::start();
    let mut nodes = nodes_with(&redis, 0..3, &SPAN);
    wait_for_nodes(&nodes[0], &THREE, Duration::from_secs(5));
    let join =
        |i: usize, who: &str, extra: &[&str]| (nodes[i].ws_url(), nodes[i].token("s1", who, extra));
    // Alice places the room on node 0; bob publishes on node 1; carol and dave watch on
    // node 2.
    let (url, token) = join(0, "alice", &["--host"]);
    let alice = Peer::join(&url, &token, true).await;
    let (url, token) = join(1, "bob", &[]);
    let bob = Peer::join(&url, &token, true).await;
    let (url, token) = join(2, "carol", &[]);
    let carol = Peer::join(&url, &token, false).await;
    let (url, token) = join(2, "dave", &[]);
    let dave = Peer::join(&url, &token, false).await;
    let everyone = [
        ("alice", &alice),
        ("bob", &bob),
        ("carol", &carol),
        ("dave", &dave),
    ];
    for (who, peer) in everyone {
        // The publishers hear and see each other; the watchers both publishers.
        peer.wait_for(
            Duration::from_secs(15),
            &format!("{who} in the meeting"),
            |s| others(s) == 3 && s.audio_frames > 40 && s.video_frames > 40,
        )
        .await;
    }

    // The room runs on node 0; each participant's media stays on the node it reached.
    assert_eq!(metric(&nodes[0], "moim_participants"), 4);
    assert_eq!(
        metric(&nodes[0], "moim_span_participants{side=\"room\"}"),
        3
    );
    assert_eq!(metric(&nodes[0], "moim_node_links{side=\"room\"}"), 2);
    assert_eq!(metric(&nodes[0], "moim_tracks"), 2, "only alice's");
    assert_eq!(metric(&nodes[1], "moim_tracks"), 2, "bob's");
    assert_eq!(
        metric(&nodes[1], "moim_span_participants{side=\"edge\"}"),
        1
    );
    assert_eq!(
        metric(&nodes[2], "moim_span_participants{side=\"edge\"}"),
        2
    );
    assert_eq!(metric(&nodes[2], "moim_node_links{side=\"edge\"}"), 1);

    // Each frame crosses to a node once, however many receive it there: node 2 forwards
    // every frame it takes in to both its watchers; node 0 sends each of alice's frames to
    // both other nodes and passes bob's on to node 2.
    let counts = |n: &Server| {
        (
            metric(n, "moim_node_link_frames_total{direction=\"in\"}"),
            metric(n, "moim_node_link_frames_total{direction=\"out\"}"),
            metric(n, "moim_frames_forwarded_total"),
        )
    };
    let before: Vec<_> = nodes.iter().map(counts).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<_> = nodes.iter().map(counts).collect();
    let delta = |i: usize| {
        let (a, b) = (after[i], before[i]);
        (a.0 - b.0, a.1 - b.1, a.2 - b.2)
    };
    let (in2, _, forwarded2) = delta(2);
    let (in1, out1, _) = delta(1);
    let (_, out0, _) = delta(0);
    eprintln!(
        "frames over 3 s: node 0 sent {out0}; node 1 sent {out1}, took {in1}; node 2 took {in2}, forwarded {forwarded2}"
    );
    assert!(in2 > 300, "node 2 takes alice's and bob's frames: {in2}");
    let ratio = forwarded2 as f64 / in2 as f64;
    assert!(
        (1.8..=2.2).contains(&ratio),
        "two watchers per frame in: {ratio}"
    );
    let ratio = out0 as f64 / (in1 + in2) as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "what node 0 sends is what arrives: {ratio}"
    );

    // A recording on the room's node takes every publisher's tracks, bob's from node 1
    // as node 0 mirrors them.
    let (auth, id) = support::start_recording(&nodes[0], "s1", "track");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let manifest = support::stop_recording(&nodes[0], "s1", &auth, &id);
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 4, "{manifest}");
    for file in files {
        assert!(file["frames"].as_u64().unwrap() > 40, "{manifest}");
    }

    // The room's messages reach everyone wherever they are (erin, on node 1, has no
    // data channel: chat comes on her signaling).
    let mut erin = Signal::connect(&nodes[1].ws_url()).await;
    let reply = erin.join(&nodes[1].token("s1", "erin", &[])).await;
    assert_eq!(reply["type"], "joined", "{reply}");
    carol
        .send(json!({"type": "chat", "id": "c", "text": "hello from node 2"}))
        .await;
    carol
        .wait_for(Duration::from_secs(5), "carol's chat echoed", |s| {
            s.messages
                .iter()
                .any(|m| m["type"] == "chat" && m["id"] == "c")
        })
        .await;
    let chat = erin.recv_type("chat").await;
    assert_eq!(chat["message"]["text"], "hello from node 2", "{chat}");
    assert_eq!(chat["message"]["from"]["identity"], "carol", "{chat}");
    // Her socket breaks; she resumes through node 1 where she left off.
    let (sid, key) = (reply["participant"]["sid"].clone(), reply["resume"].clone());
    drop(erin);
    let mut erin = Signal::connect(&nodes[1].ws_url()).await;
    erin.send(json!({"type": "resume", "v": 1, "participant": sid, "key": key, "received": 2}))
        .await;
    let resumed = erin.recv_type("resumed").await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    support::leave(erin).await;

    // The host removes dave, whose media is on node 2: he is told and goes.
    let dave_sid = dave.seen().messages[0]["participant"]["sid"].clone();
    alice
        .send(json!({"type": "remove_participant", "id": "r", "participant": dave_sid}))
        .await;
    dave.wait_for(Duration::from_secs(5), "dave removed", |s| {
        s.messages.iter().any(|m| m["code"] == "removed")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&nodes[2], "moim_span_participants{side=\"edge\"}") != 1 {
        assert!(
            Instant::now() < deadline,
            "dave's media is let go on node 2"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Node 1 dies: bob leaves the meeting for the others; carol still gets alice.
    let killed = Instant::now();
    nodes[1].kill9();
    for (who, peer) in [("alice", &alice), ("carol", &carol)] {
        peer.wait_for(
            Duration::from_secs(10),
            &format!("bob gone at {who}"),
            |s| others(s) == 1,
        )
        .await;
    }
    eprintln!(
        "bob's node gone from the meeting after {:?}",
        killed.elapsed()
    );
    let frames = carol.seen().video_frames;
    carol
        .wait_for(Duration::from_secs(5), "alice's video going on", |s| {
            s.video_frames > frames + 30
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_node_of_the_cluster_links_itself_with_a_room_or_speaks_for_a_participant() {
    let redis = Redis::start();
    let nodes = nodes_with(&redis, 0..1, &SPAN);
    let node = &nodes[0];
    let salt = "ab".repeat(32);
    let link = |auth: Option<String>, salt: Option<&str>, name: Option<&str>| {
        let mut headers = vec![("Connection", "Upgrade"), ("Upgrade", "moim-link")];
        let auth = auth.map(|token| format!("Bearer {token}"));
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        if let Some(salt) = salt {
            headers.push(("moim-link-salt", salt));
        }
        if let Some(name) = name {
            headers.push(("moim-node", name));
        }
        let (status, response) = node.http("GET", "/cluster/link/l1", &headers, "");
        (status, response)
    };
    let (status, response) = link(None, Some(&salt), Some("node-9"));
    assert_eq!(status, 401, "{response}");
    assert!(response.contains("\"invalid_token\""), "{response}");
    // A participant's token, even a host's or one named as the nodes name themselves, is
    // not a node's: that one carries the server-wide nodeAdmin grant.
    let host = node.token("l1", "eve", &["--host"]);
    let named = node.token("l1", "moim-relay", &["--host"]);
    for token in [&host, &named] {
        let (status, response) = link(Some(token.clone()), Some(&salt), Some("node-9"));
        assert_eq!(status, 403, "{response}");
        assert!(response.contains("\"permission_denied\""), "{response}");
    }
    let relay = node_token("l1");
    let (status, response) = link(Some(relay.clone()), Some(&salt), None);
    assert_eq!(status, 400, "{response}");
    let (status, response) = link(Some(relay.clone()), Some("zz"), Some("node-9"));
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("moim-link-salt"), "{response}");
    // Signaling that says it comes from a node needs a node's token for the room.
    let mut signal = Signal::connect_with(&node.ws_url(), &[("moim-node", "node-9")]).await;
    signal
        .send(json!({"type": "join", "v": 1, "token": host, "id": 1}))
        .await;
    let refused = expect_error(&mut signal, "invalid_token").await;
    assert_eq!(refused["id"], 1, "{refused}");
    // A node's token with nothing linked: no media to speak for.
    let mut signal = Signal::connect_with(
        &node.ws_url(),
        &[
            ("moim-node", "node-9"),
            ("Authorization", &format!("Bearer {relay}")),
        ],
    )
    .await;
    let guest = node.token("l1", "mallory", &[]);
    signal
        .send(json!({"type": "join", "v": 1, "token": guest}))
        .await;
    expect_error(&mut signal, "cluster_unavailable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_join_through_a_node_linking_itself_with_a_new_rooms_node_gets_in() {
    let redis = Redis::start();
    let nodes = nodes_with(&redis, 0..2, &SPAN);
    wait_for_nodes(&nodes[0], &THREE[..2], Duration::from_secs(5));
    // Each room is new: about half are placed on node 1, and the join through node 0 links
    // node 0 with it and passes on at once.
    let mut passed = 0;
    for round in 0..200 {
        let room = format!("new-{round}");
        let mut signal = Signal::connect(&nodes[0].ws_url()).await;
        let reply = signal.join(&nodes[0].token(&room, "ada", &[])).await;
        assert_eq!(reply["type"], "joined", "round {round}: {reply}");
        support::leave(signal).await;
        passed = metric(&nodes[0], "moim_node_links{side=\"edge\"}");
    }
    assert!(passed > 0, "some rooms were placed on node 1");
}
