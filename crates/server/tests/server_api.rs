//! The server API as an application's backend uses it: rooms made ahead with settings and
//! limits, listed a page at a time; participants listed, looked at, renamed and given or
//! denied grants live; tracks listed; rooms ended; and every refusal with its code.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::peer::Peer;
use support::{Server, Signal, expect_error, joined};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_makes_rooms_ahead_and_lists_them_a_page_at_a_time() {
    let server = Server::start();
    let creator = server.server_token(&["--room-create"]);
    let lister = server.server_token(&["--room-list"]);

    let made = json!({"name": "standup", "max_participants": 2, "waiting_room": true, "empty_timeout": 60});
    let (status, room) = server.api("POST", "/api/rooms", &creator, &made);
    assert_eq!(status, 201, "{room}");
    assert_eq!(room["name"], "standup");
    assert_eq!(room["participants"], 0);
    assert_eq!(room["settings"]["max_participants"], 2);
    assert_eq!(room["settings"]["waiting_room"], true);
    assert_eq!(room["settings"]["empty_timeout"], 60);
    // Made again: the room as it is, unchanged.
    let (status, again) = server.api("POST", "/api/rooms", &creator, &json!({"name": "standup"}));
    assert_eq!((status, &again["settings"]), (200, &room["settings"]));

    for name in ["a-room", "b-room"] {
        let (status, _) = server.api("POST", "/api/rooms", &creator, &json!({"name": name}));
        assert_eq!(status, 201);
    }
    let (status, first) = server.api("GET", "/api/rooms?limit=2", &lister, &Value::Null);
    assert_eq!(status, 200, "{first}");
    let names = |page: &Value| -> Vec<String> {
        page["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["a-room", "b-room"]);
    assert_eq!(first["next"], "b-room");
    let (_, second) = server.api(
        "GET",
        "/api/rooms?limit=2&after=b-room",
        &lister,
        &Value::Null,
    );
    assert_eq!(names(&second), ["standup"]);
    assert_eq!(second["next"], Value::Null);

    // The host who joins the room made ahead finds its settings.
    let (_, joined_reply) = joined(&server, "standup", "host", &["--host"]).await;
    assert_eq!(joined_reply["settings"]["waiting_room"], true);

    // Refusals: each its code and a sentence.
    for (method, path, token, body, status, code) in [
        ("GET", "/api/rooms", "", Value::Null, 401, "invalid_token"),
        (
            "GET",
            "/api/rooms",
            &creator,
            Value::Null,
            403,
            "permission_denied",
        ),
        (
            "POST",
            "/api/rooms",
            &lister,
            json!({"name": "x"}),
            403,
            "permission_denied",
        ),
        (
            "POST",
            "/api/rooms",
            &creator,
            json!({"name": "no spaces"}),
            400,
            "malformed_message",
        ),
        (
            "POST",
            "/api/rooms",
            &creator,
            json!({"nom": "x"}),
            400,
            "malformed_message",
        ),
        (
            "GET",
            "/api/rooms?limit=0",
            &lister,
            Value::Null,
            400,
            "malformed_message",
        ),
    ] {
        let (got, error) = server.api(method, path, token, &body);
        assert_eq!(
            (got, error["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {error}"
        );
        assert!(error["message"].as_str().unwrap().len() > 10, "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_made_ahead_that_nobody_joins_goes_after_its_empty_timeout() {
    let server = Server::start();
    let creator = server.server_token(&["--room-create"]);
    let lister = server.server_token(&["--room-list"]);
    let (status, _) = server.api(
        "POST",
        "/api/rooms",
        &creator,
        &json!({"name": "brief", "empty_timeout": 1}),
    );
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = server.api("GET", "/api/rooms", &lister, &Value::Null);
        if page["rooms"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the room stayed: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_the_next_participant_but_not_one_rejoining() {
    let server = Server::start();
    let creator = server.server_token(&["--room-create"]);
    let (status, _) = server.api(
        "POST",
        "/api/rooms",
        &creator,
        &json!({"name": "pair", "max_participants": 2}),
    );
    assert_eq!(status, 201);
    let (_ann, _) = joined(&server, "pair", "ann", &[]).await;
    let (_bob, _) = joined(&server, "pair", "bob", &[]).await;
    let mut cid = Signal::connect(&server.ws_url()).await;
    cid.send(json!({"type": "join", "v": 1, "token": server.token("pair", "cid", &[])}))
        .await;
    expect_error(&mut cid, "room_full").await;
    // Bob on a new connection takes his own place.
    let (_bob_again, _) = joined(&server, "pair", "bob", &[]).await;

    // A host raises the limit: Cid gets in.
    let host = server.token("pair", "api", &["--host"]);
    let (status, room) = server.api(
        "PATCH",
        "/api/rooms/pair",
        &host,
        &json!({"max_participants": 3}),
    );
    assert_eq!(
        (status, &room["settings"]["max_participants"]),
        (200, &json!(3)),
        "{room}"
    );
    let (_cid, _) = joined(&server, "pair", "cid", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_are_listed_changed_live_and_their_tracks_seen() {
    let server = Server::start();
    let host = server.token("team", "api", &["--host"]);
    let ann = Peer::join(&server.ws_url(), &server.token("team", "ann", &[]), true).await;
    let (mut bob, _) = joined(&server, "team", "bob", &[]).await;

    // Ann's two tracks, once the media plane announced them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let tracks = loop {
        let (status, list) = server.api("GET", "/api/rooms/team/tracks", &host, &Value::Null);
        assert_eq!(status, 200, "{list}");
        let tracks = list["tracks"].as_array().unwrap().clone();
        if tracks.len() == 2 {
            break tracks;
        }
        assert!(
            Instant::now() < deadline,
            "ann's tracks never showed: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        tracks
            .iter()
            .all(|t| t["publisher"] == "ann" && t["sid"].is_string()),
        "{tracks:?}"
    );

    let (status, room) = server.api("GET", "/api/rooms/team", &host, &Value::Null);
    assert_eq!((status, &room["participants"]), (200, &json!(2)), "{room}");
    let (status, page) = server.api(
        "GET",
        "/api/rooms/team/participants?limit=1",
        &host,
        &Value::Null,
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["participants"][0]["identity"], "ann");
    assert_eq!(page["next"], "ann");
    let (_, rest) = server.api(
        "GET",
        "/api/rooms/team/participants?after=ann",
        &host,
        &Value::Null,
    );
    assert_eq!(rest["participants"][0]["identity"], "bob");
    let (status, one) = server.api(
        "GET",
        "/api/rooms/team/participants/ann",
        &host,
        &Value::Null,
    );
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["connection"], "signaling");
    assert_eq!(one["permissions"]["can_publish"], true);
    assert_eq!(one["tracks"].as_array().unwrap().len(), 2);
    assert!(one["joined_at"].as_u64().unwrap() > 0);

    // Renamed and no longer publishing: the room hears it, and Ann's tracks go.
    let change = json!({"name": "Ann B.", "permissions": {"can_publish": false}});
    let (status, changed) = server.api("PATCH", "/api/rooms/team/participants/ann", &host, &change);
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (&changed["name"], &changed["role"]),
        (&json!("Ann B."), &json!("viewer"))
    );
    assert_eq!(changed["permissions"]["can_publish"], false);
    let updated = updated_until(&mut bob, |p| p["name"] == "Ann B.").await;
    assert_eq!(updated["role"], "viewer", "{updated}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = server.api("GET", "/api/rooms/team/tracks", &host, &Value::Null);
        if list["tracks"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "ann's tracks stayed: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Bob made a host: he is told.
    let (status, _) = server.api(
        "PATCH",
        "/api/rooms/team/participants/bob",
        &host,
        &json!({"permissions": {"room_admin": true}}),
    );
    assert_eq!(status, 200);
    updated_until(&mut bob, |p| p["identity"] == "bob" && p["role"] == "host").await;

    for (method, path, body, status, code) in [
        (
            "GET",
            "/api/rooms/team/participants/zed",
            Value::Null,
            404,
            "not_found",
        ),
        (
            "PATCH",
            "/api/rooms/team/participants/ann",
            json!({"permissions": {"can_subscribe": false}}),
            400,
            "malformed_message",
        ),
        (
            "PATCH",
            "/api/rooms/team/participants/ann",
            json!({"name": "tab\there"}),
            400,
            "malformed_message",
        ),
        (
            "GET",
            "/api/rooms/elsewhere",
            Value::Null,
            403,
            "wrong_room",
        ),
    ] {
        let (got, error) = server.api(method, path, &host, &body);
        assert_eq!(
            (got, error["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {error}"
        );
    }
    let guest = server.token("team", "guest", &[]);
    let (status, error) = server.api("GET", "/api/rooms/team/participants", &guest, &Value::Null);
    assert_eq!(
        (status, error["code"].as_str()),
        (403, Some("permission_denied"))
    );
    drop(ann);
}

/// The participant of the first `participant_updated` for which `check` holds.
async fn updated_until(signal: &mut Signal, check: impl Fn(&Value) -> bool) -> Value {
    loop {
        let updated = signal.recv_type("participant_updated").await;
        if check(&updated["participant"]) {
            return updated["participant"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_room_sends_everyone_off_and_it_is_gone() {
    let server = Server::start();
    let creator = server.server_token(&["--room-create"]);
    let host = server.token("done", "api", &["--host"]);
    // An empty room made ahead goes at once.
    server.api("POST", "/api/rooms", &creator, &json!({"name": "done"}));
    let (status, _) = server.api("DELETE", "/api/rooms/done", &host, &Value::Null);
    assert_eq!(status, 204);
    let (status, error) = server.api("GET", "/api/rooms/done", &host, &Value::Null);
    assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));

    let (mut ann, _) = joined(&server, "done", "ann", &[]).await;
    let (status, _) = server.api("DELETE", "/api/rooms/done", &host, &Value::Null);
    assert_eq!(status, 204);
    expect_error(&mut ann, "meeting_ended").await;
    let (status, _) = server.api("GET", "/api/rooms/done", &host, &Value::Null);
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_of_the_description_is_served() {
    let server = Server::start();
    let (status, doc) = server.api("GET", "/api/openapi.json", "", &Value::Null);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 25, "{paths:?}");
    for (path, item) in paths {
        // A room and names no one has: every operation answers for itself, with its
        // own refusal when it refuses (the router's 404 and 405 have no body).
        let concrete = path
            .replace("{room}", "nowhere")
            .replace("{identity}", "nobody")
            .replace("{target}", "nobody")
            .replace("{resource}", "none")
            .replace("{id}", "none")
            .replace("{file}", "none.webm");
        for method in item.as_object().unwrap().keys() {
            let (status, answer) = server.api(&method.to_uppercase(), &concrete, "", &Value::Null);
            let served = (200..300).contains(&status)
                || answer["code"].as_str().is_some_and(|c| !c.is_empty());
            assert!(served, "{method} {concrete}: {status} {answer}");
        }
    }
}
