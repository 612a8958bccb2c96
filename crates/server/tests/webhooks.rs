//! Webhooks against a receiver in the test, written from `docs/webhooks.md`: it checks
//! each post's signature and time, and can refuse, hang or be gone, as real receivers do.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::peer::Peer;
use support::{Server, joined, leave};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver does with the next posts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mood {
    Takes,
    /// Answers `500`.
    Fails,
    /// Reads the post and never answers.
    Hangs,
}

/// One post as received.
#[derive(Debug, Clone)]
struct Post {
    event: Value,
    /// The `Moim-Event` header.
    kind: String,
    /// The `Moim-Delivery` header.
    delivery: String,
    /// Whether the signature was right and its time within five minutes.
    signed: bool,
    /// Whether it was taken (answered `204`).
    taken: bool,
}

#[derive(Default)]
struct Receiver {
    posts: Mutex<Vec<Post>>,
    /// The moods of the next posts, then `Takes`.
    moods: Mutex<Vec<Mood>>,
}

impl Receiver {
    /// Listens on a free port; its URL.
    async fn start() -> (Arc<Receiver>, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let receiver = Arc::new(Receiver::default());
        let serving = receiver.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serving.clone().answer(stream));
            }
        });
        (receiver, url)
    }

    async fn answer(self: Arc<Self>, mut stream: TcpStream) {
        let mut request = Vec::new();
        let mut buf = [0; 16384];
        let (head, body) = loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
            let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&request[..end]).into_owned();
            let length: usize = header(&head, "content-length").unwrap().parse().unwrap();
            if request.len() >= end + 4 + length {
                break (head, request[end + 4..end + 4 + length].to_vec());
            }
        };
        assert!(head.starts_with("POST /hooks HTTP/1.1"), "{head}");
        let body = String::from_utf8(body).unwrap();
        let mood = {
            let mut moods = self.moods.lock().unwrap();
            if moods.is_empty() {
                Mood::Takes
            } else {
                moods.remove(0)
            }
        };
        self.posts.lock().unwrap().push(Post {
            event: serde_json::from_str(&body).unwrap(),
            kind: header(&head, "moim-event").unwrap_or_default().to_owned(),
            delivery: header(&head, "moim-delivery")
                .unwrap_or_default()
                .to_owned(),
            signed: verify(header(&head, "moim-signature").unwrap_or_default(), &body),
            taken: mood == Mood::Takes,
        });
        let answer: &[u8] = match mood {
            Mood::Takes => b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            Mood::Fails => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Mood::Hangs => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        };
        let _ = stream.write_all(answer).await;
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// The events taken, in order.
    fn taken(&self) -> Vec<Value> {
        self.posts()
            .into_iter()
            .filter(|p| p.taken)
            .map(|p| p.event)
            .collect()
    }

    /// Waits until an event of `kind` was taken; all taken so far.
    async fn wait_for(&self, kind: &str, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let taken = self.taken();
            if taken.iter().any(|e| e["event"] == kind) {
                return taken;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} within {within:?}: {taken:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

/// The check docs/webhooks.md describes: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>" keyed with the API secret>`, `t` within five minutes.
fn verify(signature: &str, body: &str) -> bool {
    let field = |name: &str| {
        signature
            .split(',')
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
    };
    let (Some(t), Some(v1)) = (field("t"), field("v1")) else {
        return false;
    };
    let Ok(t) = t.parse::<u64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    now.abs_diff(t) < 300 && expected == v1
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_hears_a_meeting_from_start_to_end_signed_and_in_order() {
    let (receiver, url) = Receiver::start().await;
    let server = Server::start_with(&[
        ("MOIM_WEBHOOK_URLS", &url),
        ("MOIM_EMPTY_ROOM_TIMEOUT", "1"),
    ]);
    let ann = Peer::join(&server.ws_url(), &server.token("hooks", "ann", &[]), true).await;
    let (bob, _) = joined(&server, "hooks", "bob", &[]).await;
    let taken = receiver
        .wait_for("participant_joined", Duration::from_secs(10))
        .await;
    assert_eq!(taken[0]["event"], "room_started");
    assert_eq!(taken[0]["room"], "hooks");
    assert_eq!(taken[1]["participant"]["identity"], "ann");
    // Ann's two tracks, as the room was told of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver
        .taken()
        .iter()
        .filter(|e| e["event"] == "track_published")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{:#?}", receiver.taken());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let host = server.token("hooks", "api", &["--host"]);
    let (status, recording) = server.api(
        "POST",
        "/api/rooms/hooks/recordings",
        &host,
        &json!({"kind": "audio_only"}),
    );
    assert_eq!(status, 201, "{recording}");
    let id = recording["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = server.api(
        "DELETE",
        &format!("/api/rooms/hooks/recordings/{id}"),
        &host,
        &Value::Null,
    );
    assert_eq!(status, 200);
    let taken = receiver
        .wait_for("recording_finished", Duration::from_secs(10))
        .await;
    let finished = taken
        .iter()
        .find(|e| e["event"] == "recording_finished")
        .unwrap();
    assert_eq!(finished["recording"]["id"], id);
    assert_eq!(
        finished["recording"]["status"], "complete",
        "the manifest: {finished}"
    );

    let (status, broadcast) = server.api(
        "POST",
        "/api/rooms/hooks/broadcasts",
        &host,
        &json!({"source": "ann"}),
    );
    assert_eq!(status, 201, "{broadcast}");
    let id = broadcast["id"].as_str().unwrap();
    let (status, _) = server.api(
        "DELETE",
        &format!("/api/rooms/hooks/broadcasts/{id}"),
        &host,
        &Value::Null,
    );
    assert_eq!(status, 200);
    let taken = receiver
        .wait_for("broadcast_finished", Duration::from_secs(10))
        .await;
    let started = taken
        .iter()
        .find(|e| e["event"] == "broadcast_started")
        .unwrap();
    assert_eq!(
        (&started["broadcast"]["id"], &started["broadcast"]["source"]),
        (&json!(id), &json!("ann"))
    );

    ann.send(json!({"type": "leave"})).await;
    receiver
        .wait_for("participant_left", Duration::from_secs(10))
        .await;
    leave(bob).await;
    let taken = receiver
        .wait_for("room_finished", Duration::from_secs(10))
        .await;
    let kinds = kinds(&taken);
    let published: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| *k != "track_published")
        .collect();
    // Ann's tracks go as she leaves, before her.
    let expected = [
        "room_started",
        "participant_joined",
        "participant_joined",
        "recording_started",
        "recording_finished",
        "broadcast_started",
        "broadcast_finished",
        "track_unpublished",
        "track_unpublished",
        "participant_left",
        "participant_left",
        "room_finished",
    ];
    assert_eq!(published, expected, "{taken:#?}");

    let posts = receiver.posts();
    assert!(
        posts.iter().all(|p| p.signed),
        "every post signed: {posts:#?}"
    );
    assert!(
        posts
            .iter()
            .all(|p| p.kind == p.event["event"] && p.delivery == p.event["id"])
    );
    let mut ids: Vec<&str> = posts.iter().map(|p| p.delivery.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        posts.len(),
        "each event once when the receiver takes it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_and_hangs_gets_every_event_in_order_once_it_recovers() {
    let (receiver, url) = Receiver::start().await;
    *receiver.moods.lock().unwrap() = vec![Mood::Fails, Mood::Fails, Mood::Hangs];
    let server = Server::start_with(&[("MOIM_WEBHOOK_URLS", &url)]);
    let (_ann, _) = joined(&server, "patience", "ann", &[]).await;
    // The receiver is stuck; the server is not.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = Instant::now();
    let (_bob, _) = joined(&server, "patience", "bob", &[]).await;
    let (_cid, _) = joined(&server, "patience", "cid", &[]).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "joins wait for nobody"
    );

    let taken = receiver
        .wait_for("participant_joined", Duration::from_secs(30))
        .await;
    assert_eq!(taken[0]["event"], "room_started");
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.taken().len() < 4 {
        assert!(Instant::now() < deadline, "{:#?}", receiver.posts());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let taken = receiver.taken();
    let who: Vec<&str> = taken[1..]
        .iter()
        .map(|e| e["participant"]["identity"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["ann", "bob", "cid"], "in the order they came");
    // The first event was posted four times, the same event each time.
    let posts = receiver.posts();
    let first: Vec<&Post> = posts
        .iter()
        .filter(|p| p.delivery == taken[0]["id"])
        .collect();
    assert_eq!(first.len(), 4, "{posts:#?}");
    assert!(first.iter().all(|p| p.signed && p.event == taken[0]));

    let deadline = Instant::now() + Duration::from_secs(5);
    while value(
        &metrics(&server),
        "moim_webhook_events_total{outcome=\"delivered\"}",
    ) < 4
    {
        assert!(Instant::now() < deadline, "{}", metrics(&server));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        value(&metrics(&server), "moim_webhook_failed_attempts_total"),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_costs_a_bounded_queue() {
    // Connections to it are made (the kernel's backlog) and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", silent.local_addr().unwrap());
    let server =
        Server::start_with(&[("MOIM_WEBHOOK_URLS", &url), ("MOIM_WEBHOOK_RETRY_FOR", "1")]);
    let creator = server.server_token(&["--room-create"]);
    for i in 0..1100 {
        let name = format!("r{i}");
        let (status, _) = server.api("POST", "/api/rooms", &creator, &json!({ "name": name }));
        assert_eq!(status, 201);
    }
    let metrics = metrics(&server);
    let waiting = value(&metrics, "moim_webhook_queue_events");
    let dropped = value(&metrics, "moim_webhook_events_total{outcome=\"dropped\"}");
    let failed = value(&metrics, "moim_webhook_events_total{outcome=\"failed\"}");
    assert!(waiting <= 1000, "{waiting}");
    assert!(dropped >= 90, "{dropped}");
    assert_eq!(waiting + dropped + failed, 1100);
    drop(silent);
}

fn metrics(server: &Server) -> String {
    server.http("GET", "/metrics", &[], "").1
}

fn value(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name}: {metrics}"))
}
