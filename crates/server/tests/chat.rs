//! Chat and data messages over signaling: delivery, direct messages, history for late
//! joiners, limits with their errors, the room API (server data, transcript).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, expect_error, joined};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reaches_the_room_direct_messages_only_their_recipient() {
    let server = Server::start();
    let (mut ada, _) = joined(&server, "c", "ada", &["--name", "Ada", "--host"]).await;
    let (mut bob, _) = joined(&server, "c", "bob", &["--name", "Bob"]).await;
    let (mut cay, _) = joined(&server, "c", "cay", &[]).await;

    ada.send(json!({"type": "chat", "id": 1, "text": "hello all"}))
        .await;
    let echo = ada.recv_type("chat").await;
    assert_eq!(echo["id"], 1, "the sender's reply echoes the request id");
    assert_eq!(echo["message"]["from"]["identity"], "ada");
    assert_eq!(echo["message"]["from"]["name"], "Ada");
    for signal in [&mut bob, &mut cay] {
        let got = signal.recv_type("chat").await;
        assert_eq!(got["message"]["text"], "hello all");
        assert_eq!(got["message"]["id"], echo["message"]["id"]);
    }

    ada.send(json!({"type": "chat", "text": "psst", "to": ["bob"]}))
        .await;
    let dm = bob.recv_type("chat").await;
    assert_eq!(dm["message"]["text"], "psst");
    assert_eq!(dm["message"]["to"], json!(["bob"]));
    ada.send(json!({"type": "chat", "text": "after"})).await;
    assert_eq!(
        cay.recv_type("chat").await["message"]["text"],
        "after",
        "cay never saw the direct message"
    );

    // A late joiner gets the room's chat, without the direct message.
    let (_dee, reply) = joined(&server, "c", "dee", &[]).await;
    let texts: Vec<&str> = reply["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello all", "after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_data_limits_answer_with_errors_while_others_carry_on() {
    let server = Server::start();
    let (mut ada, _) = joined(&server, "l", "ada", &[]).await;
    let (mut bob, _) = joined(&server, "l", "bob", &[]).await;
    let (mut viewer, _) = joined(&server, "l", "vic", &["--viewer"]).await;

    ada.send(json!({"type": "chat", "text": "  "})).await;
    expect_error(&mut ada, "malformed_message").await;
    ada.send(json!({"type": "chat", "text": "x".repeat(4001)}))
        .await;
    expect_error(&mut ada, "message_too_large").await;
    ada.send(json!({"type": "data", "payload": "x".repeat(16 * 1024)}))
        .await;
    expect_error(&mut ada, "message_too_large").await;
    ada.send(json!({"type": "chat", "text": "hi", "to": ["nobody"]}))
        .await;
    expect_error(&mut ada, "not_found").await;
    viewer.send(json!({"type": "chat", "text": "may I?"})).await;
    expect_error(&mut viewer, "permission_denied").await;

    // A burst beyond the data rate limit: the excess is refused, one error each.
    for i in 0..150 {
        ada.send(
            json!({"type": "data", "id": i, "payload": format!("tick {i}"), "topic": "ticker"}),
        )
        .await;
    }
    let refused = expect_error(&mut ada, "rate_limited").await;
    assert!(refused["id"].as_i64().unwrap() >= 100, "{refused}");

    // Bob is not limited by Ada's burst, and Ada still receives.
    bob.send(
        json!({"type": "data", "payload": "{\"move\":\"e4\"}", "topic": "game", "to": ["ada"]}),
    )
    .await;
    let got = ada.recv_type("data").await;
    assert_eq!(got["payload"], "{\"move\":\"e4\"}");
    assert_eq!(got["topic"], "game");
    assert_eq!(got["from"]["identity"], "bob");
    let first = bob.recv_type("data").await;
    assert_eq!(
        first["payload"], "tick 0",
        "bob got Ada's messages in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_api_sends_data_and_gives_hosts_the_transcript() {
    let server = Server::start();
    let (mut ada, _) = joined(&server, "api", "ada", &["--name", "Ada"]).await;
    ada.send(json!({"type": "chat", "text": "minutes:\nall good"}))
        .await;
    ada.recv_type("chat").await;

    let host = format!("Bearer {}", server.token("api", "app", &["--host"]));
    let guest = format!("Bearer {}", server.token("api", "eve", &[]));
    let json_type = ("Content-Type", "application/json");

    let body = json!({"payload": "price 42", "topic": "ticker"}).to_string();
    let (status, _) = server.http(
        "POST",
        "/api/rooms/api/data",
        &[("Authorization", &host), json_type],
        &body,
    );
    assert_eq!(status, 204);
    let got = ada.recv_type("data").await;
    assert_eq!(got["payload"], "price 42");
    assert!(got.get("from").is_none(), "from the server: {got}");

    let (status, text) = server.http(
        "POST",
        "/api/rooms/api/data",
        &[("Authorization", &guest), json_type],
        &body,
    );
    assert_eq!(status, 403);
    assert!(text.contains("\"permission_denied\""), "{text}");
    let (status, text) = server.http(
        "POST",
        "/api/rooms/api/data",
        &[("Authorization", &host), json_type],
        "{\"paylod\": 1}",
    );
    assert_eq!(status, 400);
    assert!(text.contains("\"malformed_message\""), "{text}");
    let (status, text) = server.http(
        "POST",
        "/api/rooms/api/data",
        &[("Authorization", &host), json_type],
        &json!({"payload": "x", "padding": "x".repeat(100 * 1024)}).to_string(),
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"message_too_large\""), "{text}");
    let (status, _) = server.http(
        "POST",
        "/api/rooms/api/data",
        &[("Authorization", &host), json_type],
        &json!({"payload": "x", "to": ["nobody"]}).to_string(),
    );
    assert_eq!(status, 404);

    let (status, text) = server.http(
        "GET",
        "/api/rooms/api/transcript",
        &[("Authorization", &host)],
        "",
    );
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["messages"][0]["text"], "minutes:\nall good");
    assert_eq!(body["messages"][0]["from"]["name"], "Ada");

    let (status, text) = server.http(
        "GET",
        "/api/rooms/api/transcript?format=txt",
        &[("Authorization", &host)],
        "",
    );
    assert_eq!(status, 200);
    assert!(
        text.contains("attachment; filename=\"api-chat.txt\""),
        "{text}"
    );
    assert!(text.contains("UTC] Ada: minutes:\n    all good"), "{text}");

    let (status, _) = server.http(
        "GET",
        "/api/rooms/api/transcript",
        &[("Authorization", &guest)],
        "",
    );
    assert_eq!(status, 403);
    let (status, _) = server.http("GET", "/api/rooms/api/transcript", &[], "");
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_ask_polls_everyone_votes_once_and_sees_the_counts() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "p", "ada", &["--name", "Ada", "--host"]).await;
    let (mut bob, _) = joined(&server, "p", "bob", &[]).await;
    let (mut viewer, _) = joined(&server, "p", "vic", &["--viewer"]).await;

    bob.send(json!({"type": "poll_create", "question": "Q?", "options": ["a", "b"]}))
        .await;
    expect_error(&mut bob, "permission_denied").await;
    host.send(json!({"type": "poll_create", "question": "Q?", "options": ["a"]}))
        .await;
    expect_error(&mut host, "malformed_message").await;

    host.send(json!({"type": "poll_create", "id": 5, "question": "Lunch?", "options": ["Pizza", "Sushi"]}))
        .await;
    let created = host.recv_type("poll").await;
    assert_eq!(created["id"], 5);
    let poll = created["poll"]["id"].as_u64().unwrap();
    assert_eq!(bob.recv_type("poll").await["poll"]["question"], "Lunch?");

    bob.send(json!({"type": "poll_vote", "poll": poll, "option": 1}))
        .await;
    assert_eq!(
        bob.recv_type("poll").await["poll"]["options"][1]["votes"],
        1
    );
    let seen = host.recv_type("poll").await;
    assert_eq!(seen["poll"]["options"][1]["votes"], 1, "counts update live");
    bob.send(json!({"type": "poll_vote", "poll": poll, "option": 0}))
        .await;
    expect_error(&mut bob, "conflict").await;
    bob.send(json!({"type": "poll_vote", "poll": poll, "option": 9}))
        .await;
    expect_error(&mut bob, "not_found").await;
    viewer
        .send(json!({"type": "poll_vote", "poll": poll, "option": 0}))
        .await;
    expect_error(&mut viewer, "permission_denied").await;

    host.send(json!({"type": "poll_close", "poll": poll})).await;
    assert_eq!(host.recv_type("poll").await["poll"]["closed"], true);
    host.send(json!({"type": "poll_vote", "poll": poll, "option": 0}))
        .await;
    expect_error(&mut host, "conflict").await;

    let (_late, reply) = joined(&server, "p", "cay", &[]).await;
    assert_eq!(reply["polls"][0]["options"][1]["votes"], 1, "{reply}");
    assert_eq!(reply["polls"][0]["closed"], true);

    let auth = format!("Bearer {}", server.token("p", "app", &["--host"]));
    let (status, text) = server.http(
        "GET",
        "/api/rooms/p/transcript?format=txt",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
    assert!(
        text.contains("UTC] Poll by Ada: Lunch? (Pizza: 0, Sushi: 1), closed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_voter_ends_with_the_final_counts_however_the_votes_cross() {
    let server = Server::start();
    let (mut host, _) = joined(&server, "order", "ada", &["--host"]).await;
    let mut voters = Vec::new();
    for name in ["v1", "v2", "v3", "v4"] {
        voters.push(joined(&server, "order", name, &[]).await.0);
    }
    host.send(json!({"type": "poll_create", "question": "Now?", "options": ["yes", "no"]}))
        .await;
    let poll = host.recv_type("poll").await["poll"]["id"].as_u64().unwrap();
    for voter in &mut voters {
        voter.recv_type("poll").await;
    }
    // Everyone votes at once.
    for voter in &mut voters {
        voter
            .send(json!({"type": "poll_vote", "id": "v", "poll": poll, "option": 0}))
            .await;
    }
    for voter in &mut voters {
        // The reply and the others' votes, in the server's one order: the last one a voter
        // hears of carries every vote.
        let mut last = 0;
        while let Some(Some(message)) = voter.recv_within(Duration::from_millis(800)).await {
            if message["type"] == "poll" {
                last = message["poll"]["options"][0]["votes"].as_u64().unwrap();
            }
        }
        assert_eq!(last, 4, "a voter's last poll message is stale");
    }
}
