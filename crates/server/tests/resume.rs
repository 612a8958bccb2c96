//! A client whose signaling socket is lost (its network changed) takes its session up on a
//! new socket with `resume`: nobody sees it leave, and no message to it is lost. A socket
//! closed on purpose ends the session at once, and a session that cannot be resumed says
//! so.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, Signal, expect_error, joined};

/// Reads messages until one of `kind` and then until the socket is quiet for half a
/// second; returns how many were read.
async fn count_until(signal: &mut Signal, kind: &str) -> u64 {
    let mut count = 0;
    let mut seen = false;
    loop {
        let wait = if seen { 500 } else { 10_000 };
        match signal.recv_within(Duration::from_millis(wait)).await {
            Some(Some(msg)) => {
                count += 1;
                seen |= msg["type"] == kind;
            }
            Some(None) => panic!("closed before {kind}"),
            None if seen => return count,
            None => panic!("no {kind} within 10 s"),
        }
    }
}

/// Whether `signal` receives a message of `kind` within `within`.
async fn hears(signal: &mut Signal, kind: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
        match signal.recv_within(left).await {
            Some(Some(msg)) if msg["type"] == kind => return true,
            Some(Some(_)) => {}
            _ => return false,
        }
    }
    false
}

fn resume(sid: &str, key: &str, received: u64) -> Value {
    json!({"type": "resume", "v": 1, "participant": sid, "key": key, "received": received, "id": "resume"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_socket_resumes_on_a_new_one_and_nothing_is_missed() {
    let server = Server::start();
    let (mut ada, _) = joined(&server, "resume", "ada", &[]).await;
    let (mut grace, hello) = joined(&server, "resume", "grace", &[]).await;
    let sid = hello["participant"]["sid"].as_str().unwrap().to_owned();
    let key = hello["resume"].as_str().expect("a resume key").to_owned();
    ada.recv_type("participant_joined").await;

    ada.send(json!({"type": "chat", "text": "before"})).await;
    let mut received = count_until(&mut grace, "chat").await;
    grace.send(json!({"type": "chat", "text": "one"})).await;
    received += count_until(&mut grace, "chat").await;
    // Her network changes: the socket is gone without a closing handshake.
    drop(grace);
    ada.send(json!({"type": "chat", "text": "while away"}))
        .await;
    assert!(
        !hears(&mut ada, "participant_left", Duration::from_secs(2)).await,
        "nobody sees Grace leave"
    );

    let mut grace = Signal::connect(&server.ws_url()).await;
    grace.send(resume(&sid, &key, received)).await;
    let reply = grace.recv().await.expect("a reply to resume");
    assert_eq!(reply["type"], "resumed", "{reply}");
    assert_eq!(reply["id"], "resume");
    assert_eq!(reply["received"], 1, "the server got Grace's one message");
    let missed = grace.recv_type("chat").await;
    assert_eq!(missed["message"]["text"], "while away", "{missed}");

    grace.send(json!({"type": "chat", "text": "back"})).await;
    let chat = ada.recv_type("chat").await;
    assert_eq!(chat["message"]["text"], "back");
    assert_eq!(
        chat["message"]["from"]["sid"],
        sid.as_str(),
        "the same participant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_cannot_be_resumed_is_refused_with_cannot_resume() {
    let server = Server::start();
    let (mut ada, _) = joined(&server, "gone", "ada", &[]).await;
    let (grace, hello) = joined(&server, "gone", "grace", &[]).await;
    let sid = hello["participant"]["sid"].as_str().unwrap().to_owned();
    let key = hello["resume"].as_str().unwrap().to_owned();
    drop(grace);

    for (sid, key, received) in [
        (sid.as_str(), "0123456789abcdef0123456789abcdef", 0),
        ("PA_999999", key.as_str(), 0),
        ("not a sid", key.as_str(), 0),
        // More than the server ever sent.
        (sid.as_str(), key.as_str(), 1_000_000),
    ] {
        let mut signal = Signal::connect(&server.ws_url()).await;
        signal.send(resume(sid, key, received)).await;
        expect_error(&mut signal, "cannot_resume").await;
    }
    assert!(
        !hears(&mut ada, "participant_left", Duration::from_millis(500)).await,
        "failed resumes leave the session as it was"
    );

    // A socket closed on purpose ends the session at once: no resuming it.
    let (mut lin, hello) = joined(&server, "gone", "lin", &[]).await;
    lin.send(json!({"type": "leave"})).await;
    assert!(lin.recv_closed().await);
    assert!(hears(&mut ada, "participant_left", Duration::from_secs(5)).await);
    let mut signal = Signal::connect(&server.ws_url()).await;
    let (sid, key) = (&hello["participant"]["sid"], &hello["resume"]);
    signal
        .send(resume(sid.as_str().unwrap(), key.as_str().unwrap(), 0))
        .await;
    expect_error(&mut signal, "cannot_resume").await;
}
