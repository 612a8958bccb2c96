//! How long a room outlives its last participant: for the empty-room timeout, so someone
//! reloading the page finds the chat (and board, settings) still there; after it, or once
//! a host ended the meeting, a new meeting starts fresh.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, Signal, expect_error, joined, leave};

/// Ada says something, then everyone is gone.
async fn say_and_leave(server: &Server, room: &str) {
    let (mut ada, _) = joined(server, room, "ada", &["--host"]).await;
    ada.send(json!({"type": "chat", "text": "remember me"}))
        .await;
    ada.recv_type("chat").await;
    leave(ada).await;
}

fn chat_texts(joined: &Value) -> Vec<String> {
    // An empty history is left out of `joined`.
    joined["chat"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_room_keeps_its_chat_until_the_timeout() {
    let server = Server::start_with(&[("MOIM_EMPTY_ROOM_TIMEOUT", "2")]);
    say_and_leave(&server, "back").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (again, reply) = joined(&server, "back", "ada", &["--host"]).await;
    assert_eq!(chat_texts(&reply), ["remember me"], "{reply}");
    leave(again).await;

    // Empty for longer than the timeout: the next meeting starts fresh.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_later, reply) = joined(&server, "back", "bob", &[]).await;
    assert!(chat_texts(&reply).is_empty(), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_meeting_leaves_nothing_behind() {
    let server = Server::start_with(&[("MOIM_EMPTY_ROOM_TIMEOUT", "60")]);
    let (mut ada, _) = joined(&server, "done", "ada", &["--host"]).await;
    ada.send(json!({"type": "chat", "text": "bye"})).await;
    ada.recv_type("chat").await;
    let auth = format!("Bearer {}", server.token("done", "app", &["--host"]));
    let (status, _) = server.http("DELETE", "/api/rooms/done", &[("Authorization", &auth)], "");
    assert_eq!(status, 204);
    expect_error(&mut ada, "meeting_ended").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut next = Signal::connect(&server.ws_url()).await;
    let reply = next.join(&server.token("done", "bob", &[])).await;
    assert!(chat_texts(&reply).is_empty(), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_of_zero_drops_the_room_with_its_last_participant() {
    let server = Server::start_with(&[("MOIM_EMPTY_ROOM_TIMEOUT", "0")]);
    say_and_leave(&server, "gone").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_bob, reply) = joined(&server, "gone", "bob", &[]).await;
    assert!(chat_texts(&reply).is_empty(), "{reply}");
}
