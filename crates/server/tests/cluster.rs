//! Nodes sharing a real Redis: they register and are listed, a room runs on one node and
//! clients that reach another are sent there, a dead or draining node's rooms are placed
//! again with their chat, and a Redis outage stops only new rooms. A Redis Cluster and a
//! master found through a Sentinel (after a failover too) serve as well. Participants here are
//! sent to their room's node (`moved`); `span.rs` tests nodes that keep them.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::cluster::{
    Redis, list_nodes, node_ids, nodes, nodes_at, nodes_with, redis_cluster, redis_over_tls,
    redis_with_sentinel, scratch, self_signed, tls_front, wait_for_nodes,
};
use support::peer::Peer;
use support::{Server, Signal, body_json, expect_error, joined, post_sdp};

const THREE: [&str; 3] = ["node-0", "node-1", "node-2"];

/// The index of the node hosting `room`, found by joining it through `through` as
/// `identity` and leaving again.
async fn host_of(nodes: &[Server], through: usize, room: &str, identity: &str) -> usize {
    placement(nodes, through, room, identity)
        .await
        .unwrap_or_else(|| panic!("{room} could not be placed"))
}

/// [`host_of`], asked again while the cluster refuses to place the room, for at most
/// `within`.
async fn placed_within(nodes: &[Server], through: usize, room: &str, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        if let Some(host) = placement(nodes, through, room, "probe").await {
            return host;
        }
        assert!(
            Instant::now() < deadline,
            "{room} was not placed within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`host_of`], or `None` while the cluster refuses to place the room
/// (`cluster_unavailable`).
async fn placement(nodes: &[Server], through: usize, room: &str, identity: &str) -> Option<usize> {
    let token = nodes[through].token(room, identity, &[]);
    let mut signal = Signal::connect(&nodes[through].ws_url()).await;
    let reply = signal.join(&token).await;
    match reply["type"].as_str() {
        Some("joined") => {
            support::leave(signal).await;
            Some(through)
        }
        Some("moved") => {
            let url = reply["url"].as_str().unwrap();
            nodes.iter().position(|n| n.ws_url() == url)
        }
        _ => {
            assert_eq!(reply["code"], "cluster_unavailable", "{reply}");
            None
        }
    }
}

#[test]
fn nodes_register_and_an_operator_lists_them() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 3);
    wait_for_nodes(&nodes[1], &THREE, Duration::from_secs(5));
    let listing = list_nodes(&nodes[1]);
    assert_eq!(listing["node"], "node-1");
    assert_eq!(listing["clustered"], true);
    for (node, server) in listing["nodes"].as_array().unwrap().iter().zip(&nodes) {
        assert_eq!(
            node["url"],
            format!("http://127.0.0.1:{}", server.http_port)
        );
        assert_eq!(node["media"], format!("127.0.0.1:{}", server.udp_port));
        for field in [
            "rooms",
            "participants",
            "tracks",
            "cpu",
            "packets_per_second",
        ] {
            assert!(node["load"][field].is_number(), "{field}: {node}");
        }
    }

    let (status, response) = nodes[0].http("GET", "/api/nodes", &[], "");
    assert_eq!(status, 401, "{response}");
    assert_eq!(body_json(&response)["code"], "invalid_token");
    let host = format!("Bearer {}", nodes[0].token("r", "ada", &["--host"]));
    let (status, response) = nodes[0].http("GET", "/api/nodes", &[("Authorization", &host)], "");
    assert_eq!(status, 403, "a room's host is no operator: {response}");
    assert_eq!(body_json(&response)["code"], "permission_denied");

    let alone = Server::start();
    let listing = list_nodes(&alone);
    assert_eq!(listing["clustered"], false);
    assert_eq!(listing["nodes"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_who_reach_different_nodes_meet_on_the_rooms_node() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 3);
    wait_for_nodes(&nodes[0], &THREE, Duration::from_secs(5));
    let mut peers = Vec::new();
    for (i, who) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let token = nodes[i].token("c1", who, &[]);
        peers.push(Peer::join(&nodes[i].ws_url(), &token, true).await);
    }
    for (who, peer) in ["alice", "bob", "carol"].iter().zip(&peers) {
        peer.wait_for(
            Duration::from_secs(15),
            &format!("{who} meeting both others"),
            |s| {
                let others = s
                    .messages
                    .iter()
                    .map(|m| match m["type"].as_str() {
                        Some("joined") => m["participants"].as_array().map_or(0, Vec::len),
                        Some("participant_joined") => 1,
                        _ => 0,
                    })
                    .sum::<usize>();
                others == 2 && s.audio_frames > 40 && s.video_frames > 40
            },
        )
        .await;
    }

    // Everyone is on one node; the others send there.
    let host = host_of(&nodes, 0, "c1", "probe").await;
    let (_, metrics) = nodes[host].http("GET", "/metrics", &[], "");
    assert!(metrics.contains("\nmoim_participants 3\n"), "{metrics}");
    let elsewhere = (host + 1) % 3;
    let mut signal = Signal::connect(&nodes[elsewhere].ws_url()).await;
    let reply = signal
        .join(&nodes[elsewhere].token("c1", "dave", &[]))
        .await;
    assert_eq!(reply["type"], "moved", "{reply}");
    assert_eq!(reply["room"], "c1");
    assert_eq!(reply["url"], nodes[host].ws_url());

    // WHIP to another node is redirected there, method and body kept; only with a token.
    let auth = format!("Bearer {}", nodes[elsewhere].token("c1", "obs", &[]));
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/sdp"),
    ];
    let (status, response) = nodes[elsewhere].http("POST", "/whip/c1", &headers, "v=0");
    assert_eq!(status, 307, "{response}");
    let location = format!("http://127.0.0.1:{}/whip/c1", nodes[host].http_port);
    assert!(
        response.contains(&format!("location: {location}\r\n")),
        "{response}"
    );
    let (status, _) = nodes[elsewhere].http("POST", "/whip/c1", &[], "v=0");
    assert_eq!(status, 401);

    // HLS, without a token, follows a room that runs, and places none.
    let (status, response) = nodes[elsewhere].http("GET", "/hls/c1/index.m3u8", &[], "");
    assert_eq!(status, 307, "{response}");
    let location = format!(
        "http://127.0.0.1:{}/hls/c1/index.m3u8",
        nodes[host].http_port
    );
    assert!(
        response.contains(&format!("location: {location}\r\n")),
        "{response}"
    );
    let (status, response) = nodes[elsewhere].http("GET", "/hls/nowhere/index.m3u8", &[], "");
    assert_eq!(status, 404, "{response}");
    // The watch page's questions are answered where they arrive, as the room's node
    // answers them: this room has no broadcast.
    let (status, response) = nodes[elsewhere].http("GET", "/watch/c1/info?key=k", &[], "");
    assert_eq!(status, 404, "{response}");
    assert!(response.contains("\"not_found\""), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_rooms_are_placed_again_on_live_nodes() {
    let redis = Redis::start();
    let mut nodes = nodes(&redis, 3);
    wait_for_nodes(&nodes[0], &THREE, Duration::from_secs(5));
    let alice = Peer::join(
        &nodes[0].ws_url(),
        &nodes[0].token("c2", "alice", &[]),
        true,
    )
    .await;
    alice
        .send(json!({"type": "chat", "id": "c", "text": "before the crash"}))
        .await;
    alice
        .wait_for(Duration::from_secs(5), "the chat echo", |s| {
            s.messages.iter().any(|m| m["type"] == "chat")
        })
        .await;
    let host = host_of(&nodes, 0, "c2", "probe").await;
    // The room's state reaches Redis with the node's next heartbeat.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = Instant::now();
    nodes[host].kill9();
    let live: Vec<usize> = (0..3).filter(|&i| i != host).collect();
    let ids: Vec<&str> = live.iter().map(|&i| THREE[i]).collect();
    wait_for_nodes(&nodes[live[0]], &ids, Duration::from_secs(5));
    let gone = killed.elapsed();
    let bob = Peer::join(
        &nodes[live[0]].ws_url(),
        &nodes[live[0]].token("c2", "bob", &[]),
        false,
    )
    .await;
    bob.wait_for(Duration::from_secs(5), "bob in the room again", |s| {
        s.messages.first().is_some_and(|m| m["type"] == "joined")
    })
    .await;
    let joined = &bob.seen().messages[0];
    assert_eq!(
        joined["chat"][0]["text"], "before the crash",
        "the chat outlives the node: {joined}"
    );
    let new_host = host_of(&nodes, live[1], "c2", "probe").await;
    assert!(live.contains(&new_host));
    eprintln!("node gone from the list after {gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_away_running_rooms_go_on_and_new_rooms_wait() {
    let mut redis = Redis::start();
    let nodes = nodes(&redis, 2);
    wait_for_nodes(&nodes[0], &THREE[..2], Duration::from_secs(5));
    let host = host_of(&nodes, 0, "c3", "probe").await;
    let node = &nodes[host];
    let alice = Peer::join(&node.ws_url(), &node.token("c3", "alice", &[]), true).await;

    redis.stop();
    let bob = Peer::join(&node.ws_url(), &node.token("c3", "bob", &[]), true).await;
    for peer in [&alice, &bob] {
        peer.wait_for(
            Duration::from_secs(10),
            "media between alice and bob",
            |s| s.audio_frames > 40 && s.video_frames > 40,
        )
        .await;
    }
    let asked = Instant::now();
    let mut carol = Signal::connect(&node.ws_url()).await;
    carol
        .send(serde_json::json!({"type": "join", "v": 1, "token": node.token("c4", "carol", &[])}))
        .await;
    expect_error(&mut carol, "cluster_unavailable").await;
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    let auth = format!("Bearer {}", node.node_admin_token());
    let (status, response) = node.http("GET", "/api/nodes", &[("Authorization", &auth)], "");
    assert_eq!(status, 503, "{response}");

    // Back, the nodes register again, and place rooms once all had the time to.
    redis.restart();
    wait_for_nodes(node, &THREE[..2], Duration::from_secs(10));
    let placed = placed_within(&nodes, host, "c4", Duration::from_secs(5)).await;
    assert_eq!(
        placed_within(&nodes, 1 - host, "c4", Duration::from_secs(5)).await,
        placed
    );
    let before = alice.seen().video_frames;
    alice
        .wait_for(Duration::from_secs(5), "media still flowing", |s| {
            s.video_frames > before + 20
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_sends_everyone_to_join_again_and_exits() {
    let redis = Redis::start();
    let mut nodes = nodes(&redis, 3);
    wait_for_nodes(&nodes[0], &THREE, Duration::from_secs(5));
    let host = host_of(&nodes, 0, "c5", "probe").await;
    let node = &nodes[host];
    let alice = Peer::join(&node.ws_url(), &node.token("c5", "alice", &[]), true).await;
    alice
        .send(json!({"type": "chat", "id": "c", "text": "before the drain"}))
        .await;
    alice
        .wait_for(Duration::from_secs(10), "the chat echo", |s| {
            s.messages.iter().any(|m| m["type"] == "chat")
        })
        .await;

    // Asked through another node, the drain is sent to the node itself.
    let other = (host + 1) % 3;
    let auth = format!("Bearer {}", nodes[other].node_admin_token());
    let path = format!("/api/nodes/{}/drain", THREE[host]);
    let (status, response) = nodes[other].http("POST", &path, &[("Authorization", &auth)], "");
    assert_eq!(status, 307, "{response}");
    let location = format!("http://127.0.0.1:{}{path}", nodes[host].http_port);
    assert!(
        response.contains(&format!("location: {location}\r\n")),
        "{response}"
    );
    let (status, response) = nodes[host].http("POST", &path, &[("Authorization", &auth)], "");
    assert_eq!(status, 202, "{response}");
    // The node gave the room up and its last heartbeats do not take it back: a join
    // elsewhere places it elsewhere.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let moved_to = host_of(&nodes, other, "c5", "dave").await;
    assert_ne!(moved_to, host, "a join was sent back to the draining node");

    alice
        .wait_for(Duration::from_secs(5), "the node's reconnect", |s| {
            s.messages
                .iter()
                .any(|m| m["type"] == "reconnect" && m["reason"] == "draining")
        })
        .await;
    let started = Instant::now();
    while nodes[host].running() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the drained node exits"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The room goes on elsewhere, with its chat.
    let live: Vec<usize> = (0..3).filter(|&i| i != host).collect();
    let again = host_of(&nodes, live[0], "c5", "bob").await;
    assert!(live.contains(&again), "{again}");
    let mut carol = Signal::connect(&nodes[again].ws_url()).await;
    let joined = carol.join(&nodes[again].token("c5", "carol", &[])).await;
    assert_eq!(joined["chat"][0]["text"], "before the drain", "{joined}");
    nodes[host].kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_on_a_dead_node_is_marked_interrupted_by_the_node_taking_its_room_over() {
    let redis = Redis::start();
    let shared = std::env::temp_dir().join(format!("moim-shared-rec-{}", redis.port));
    let shared_dir = shared.to_str().unwrap().to_owned();
    let mut nodes = nodes_with(&redis, 0..3, &[("MOIM_RECORDINGS_DIR", &shared_dir)]);
    wait_for_nodes(&nodes[0], &THREE, Duration::from_secs(5));
    let host = host_of(&nodes, 0, "c6", "probe").await;
    let node = &nodes[host];
    let _alice = Peer::join(&node.ws_url(), &node.token("c6", "alice", &[]), true).await;
    let (_, id) = support::start_recording(node, "c6", "track");
    let manifest = shared.join("c6").join(&id).join("manifest.json");
    let status = || -> String {
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&text).map_or(String::new(), |m| {
            m["status"].as_str().unwrap_or_default().to_owned()
        })
    };
    // A node starting beside it leaves the running recording alone.
    let late = nodes_with(&redis, 3..4, &[("MOIM_RECORDINGS_DIR", &shared_dir)]);
    wait_for_nodes(
        &late[0],
        &["node-0", "node-1", "node-2", "node-3"],
        Duration::from_secs(5),
    );
    assert_eq!(status(), "recording");

    tokio::time::sleep(Duration::from_millis(700)).await;
    nodes[host].kill9();
    let live = (host + 1) % 3;
    let mut ids: Vec<String> = (0..4)
        .filter(|&i| i != host)
        .map(|i| format!("node-{i}"))
        .collect();
    ids.sort();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_for_nodes(&nodes[live], &ids, Duration::from_secs(5));
    let bob = Peer::join(
        &nodes[live].ws_url(),
        &nodes[live].token("c6", "bob", &[]),
        false,
    )
    .await;
    bob.wait_for(Duration::from_secs(5), "bob in the room again", |s| {
        s.messages.first().is_some_and(|m| m["type"] == "joined")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while status() != "interrupted" {
        assert!(Instant::now() < deadline, "status {}", status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&shared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_rooms_through_a_redis_cluster() {
    let (_redis, url) = redis_cluster();
    let nodes = nodes_at(&url, 0..2, &[]);
    wait_for_nodes(&nodes[1], &["node-0", "node-1"], Duration::from_secs(10));
    for room in ["rc1", "rc2", "rc3"] {
        let host = host_of(&nodes, 0, room, "ada").await;
        assert_eq!(
            host_of(&nodes, 1, room, "grace").await,
            host,
            "{room} runs on one node, whichever a client reaches"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_follow_the_sentinels_to_a_new_master() {
    let (mut redis, url) = redis_with_sentinel();
    let nodes = nodes_at(&url, 0..2, &[]);
    wait_for_nodes(&nodes[0], &["node-0", "node-1"], Duration::from_secs(10));
    let host = host_of(&nodes, 0, "before", "ada").await;
    assert_eq!(host_of(&nodes, 1, "before", "grace").await, host);

    // The master dies; the Sentinel makes the replica the master, and the nodes find it.
    redis.kill(0);
    let placed = placed_within(&nodes, 0, "after", Duration::from_secs(20)).await;
    assert_eq!(
        placed_within(&nodes, 1, "after", Duration::from_secs(5)).await,
        placed,
        "the new room runs on one node"
    );
    wait_for_nodes(&nodes[1], &["node-0", "node-1"], Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_redis_over_tls_and_check_its_certificate() {
    let (_redis, url, cert) = redis_over_tls();
    let nodes = nodes_at(&url, 0..2, &[("SSL_CERT_FILE", &cert)]);
    wait_for_nodes(&nodes[0], &["node-0", "node-1"], Duration::from_secs(10));
    let host = host_of(&nodes, 0, "tls", "ada").await;
    assert_eq!(host_of(&nodes, 1, "tls", "grace").await, host);

    // A node that does not trust the certificate does not talk to that Redis.
    let stranger = nodes_at(&url, 2..3, &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let listed = node_ids(&stranger[0]);
    assert!(listed.is_err(), "{listed:?}");
    assert!(listed.unwrap_err().contains("cluster_unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whep_players_of_another_nodes_room_pass_its_door_where_they_are() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 2);
    wait_for_nodes(&nodes[0], &THREE[..2], Duration::from_secs(5));
    let host = host_of(&nodes, 0, "door", "probe").await;
    let edge = &nodes[1 - host];
    let (mut hosting, _) = joined(&nodes[host], "door", "host", &["--host"]).await;
    let viewer = edge.token("door", "viewer", &["--viewer"]);
    // The gate lets a player through to its offer, which is no SDP here.
    let through = (400, "invalid_sdp".to_owned());
    assert_eq!(post_sdp(edge, "/whep/door", &viewer, b"x"), through);

    // The host locks the room on its node; within a heartbeat the other node knows.
    hosting
        .send(json!({"type": "room_settings", "locked": true}))
        .await;
    hosting.recv_type("room_settings").await;
    let locked = (403, "room_locked".to_owned());
    let deadline = Instant::now() + Duration::from_secs(3);
    while post_sdp(edge, "/whep/door", &viewer, b"x") != locked {
        assert!(
            Instant::now() < deadline,
            "the lock did not reach the other node"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let host_token = edge.token("door", "studio", &["--host"]);
    assert_eq!(
        post_sdp(edge, "/whep/door", &host_token, b"x"),
        through,
        "hosts pass a lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_https_relays_its_rooms_stream_to_the_others() {
    let redis = Redis::start();
    let (cert, key) = self_signed(&scratch("https-front"));
    let (front, behind) = tls_front(&cert, &key).await;
    let public = format!("https://127.0.0.1:{front}");
    let origin = nodes_with(&redis, 0..1, &[("MOIM_PUBLIC_URL", &public)]).remove(0);
    behind.send(origin.http_port).unwrap();
    wait_for_nodes(&origin, &THREE[..1], Duration::from_secs(5));
    // The room runs on the node behind https, the only one when it is placed.
    let (_hosting, _) = joined(&origin, "tls", "host", &["--host"]).await;
    let cert = cert.to_string_lossy().into_owned();
    let edge = nodes_with(&redis, 1..2, &[("SSL_CERT_FILE", &cert)]).remove(0);
    wait_for_nodes(&edge, &THREE[..2], Duration::from_secs(5));

    // A player at the other node starts its relay (its own offer is no SDP here), which
    // plays the room's stream from the room's node at its https:// address.
    let viewer = edge.token("tls", "viewer", &["--viewer"]);
    let through = (400, "invalid_sdp".to_owned());
    assert_eq!(post_sdp(&edge, "/whep/tls", &viewer, b"x"), through);
    let relaying = |node: &Server, direction: &str| {
        let (_, metrics) = node.http("GET", "/metrics", &[], "");
        metrics.contains(&format!("\nmoim_relays{{direction=\"{direction}\"}} 1\n"))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !relaying(&origin, "out") {
        assert!(
            Instant::now() < deadline,
            "the relay did not reach the room's node over https"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(relaying(&edge, "in"));

    // A node that does not trust the certificate cannot relay: its players are sent to
    // the room's node, at its https:// address, the first one and those after it.
    let stranger = nodes_with(&redis, 2..3, &[]).remove(0);
    wait_for_nodes(&stranger, &THREE, Duration::from_secs(5));
    let auth = format!("Bearer {}", stranger.token("tls", "viewer", &["--viewer"]));
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/sdp"),
    ];
    for _ in 0..2 {
        let (status, response) = stranger.http("POST", "/whep/tls", &headers, "x");
        assert_eq!(status, 307, "{response}");
        assert!(
            response.contains(&format!("location: {public}/whep/tls\r\n")),
            "{response}"
        );
    }
}
