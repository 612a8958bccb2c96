//! The recordings library: an owned room's recordings listed for its owner and co-hosts
//! (not for others), their files served, renamed, deleted with their files; the
//! operator's per-user quota refusing a new recording, and retention removing old ones.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::account::{Browser, moim_user};
use support::databases::Database;
use support::{Server, start_recording, stop_recording};

/// A server on `db` with users `owner` and `other`, the owner signed in with a room
/// `studio`.
fn setup(db: &Database, env: &[(&str, &str)]) -> (Server, Browser, Browser) {
    for email in ["owner@example.org", "other@example.org"] {
        let (ok, out) = moim_user(&db.url, &["add", "--email", email], "a good password\n");
        assert!(ok, "{out}");
    }
    let mut all = vec![("MOIM_DATABASE_URL", db.url.as_str())];
    all.extend_from_slice(env);
    let server = Server::start_with(&all);
    let mut owner = Browser::default();
    let mut other = Browser::default();
    assert_eq!(
        owner
            .sign_in(&server, "owner@example.org", "a good password")
            .status,
        200
    );
    assert_eq!(
        other
            .sign_in(&server, "other@example.org", "a good password")
            .status,
        200
    );
    let made = owner.send(
        &server,
        "POST",
        "/api/account/rooms",
        &json!({"name": "studio"}),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    // The meeting runs (the owner's join starts it with the room's settings).
    let joined = owner.send(&server, "POST", "/api/join/studio", &json!({}));
    assert_eq!(joined.status, 200, "{:?}", joined.body);
    (server, owner, other)
}

#[test]
fn an_owner_lists_plays_renames_and_deletes_its_rooms_recordings_and_no_one_else_can_on_sqlite() {
    library(&Database::sqlite());
}

#[test]
fn an_owner_lists_plays_renames_and_deletes_its_rooms_recordings_and_no_one_else_can_on_postgresql()
{
    library(&Database::postgres());
}

#[test]
fn an_owner_lists_plays_renames_and_deletes_its_rooms_recordings_and_no_one_else_can_on_mariadb() {
    library(&Database::mariadb());
}

fn library(db: &Database) {
    let (server, mut owner, mut other) = setup(db, &[]);
    let (auth, id) = start_recording(&server, "studio", "track");
    let manifest = stop_recording(&server, "studio", &auth, &id);
    assert_eq!(manifest["status"], "complete", "{manifest}");

    let library = owner.send(
        &server,
        "GET",
        "/api/account/rooms/studio/recordings",
        &Value::Null,
    );
    assert_eq!(library.status, 200, "{:?}", library.body);
    let entry = &library.body["recordings"][0];
    assert_eq!(
        (&entry["id"], &entry["status"]),
        (&json!(id), &json!("complete"))
    );
    assert!(entry["bytes"].as_i64().unwrap() > 0, "{entry}");

    // Its files: the owner gets them, another user is refused.
    let path = format!("/api/account/recordings/{id}/manifest.json");
    let file = owner.send(&server, "GET", &path, &Value::Null);
    assert_eq!((file.status, &file.body["id"]), (200, &json!(id)));
    let refused = other.send(&server, "GET", &path, &Value::Null);
    assert_eq!((refused.status, refused.code()), (403, "permission_denied"));
    let refused = other.send(
        &server,
        "GET",
        "/api/account/rooms/studio/recordings",
        &Value::Null,
    );
    assert_eq!(refused.status, 403);
    let escape = owner.send(
        &server,
        "GET",
        &format!("/api/account/recordings/{id}/..%2F..%2Fx"),
        &Value::Null,
    );
    assert_eq!(escape.status, 404);

    let renamed = owner.send(
        &server,
        "PATCH",
        &format!("/api/account/recordings/{id}"),
        &json!({"title": "Monday's show"}),
    );
    assert_eq!(renamed.status, 204, "{:?}", renamed.body);
    let by_other = other.send(
        &server,
        "DELETE",
        &format!("/api/account/recordings/{id}"),
        &Value::Null,
    );
    assert_eq!(by_other.status, 403);
    let library = owner.send(
        &server,
        "GET",
        "/api/account/rooms/studio/recordings",
        &Value::Null,
    );
    assert_eq!(library.body["recordings"][0]["title"], "Monday's show");

    let folder = server.recordings.join("studio").join(&id);
    assert!(folder.exists());
    let kept = owner.send(&server, "DELETE", "/api/account/rooms/studio", &Value::Null);
    assert_eq!(
        (kept.status, kept.code()),
        (409, "conflict"),
        "recordings first"
    );
    let deleted = owner.send(
        &server,
        "DELETE",
        &format!("/api/account/recordings/{id}"),
        &Value::Null,
    );
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert!(!folder.exists(), "the files are gone");
    let library = owner.send(
        &server,
        "GET",
        "/api/account/rooms/studio/recordings",
        &Value::Null,
    );
    assert_eq!(library.body["recordings"], json!([]));
    let forgotten = owner.send(&server, "DELETE", "/api/account/rooms/studio", &Value::Null);
    assert_eq!(forgotten.status, 204, "{:?}", forgotten.body);
}

#[test]
fn a_full_quota_refuses_the_next_recording_and_old_recordings_expire() {
    let db = Database::sqlite();
    let (server, mut owner, _) = setup(&db, &[("MOIM_RECORDINGS_USER_QUOTA_MB", "1")]);
    let (auth, id) = start_recording(&server, "studio", "track");
    // A recording that grew past the owner's quota of 1 MiB.
    let folder = server.recordings.join("studio").join(&id);
    std::fs::write(folder.join("padding.bin"), vec![0u8; 1 << 21]).unwrap();
    stop_recording(&server, "studio", &auth, &id);
    // The index hears of the end from the recording's own thread, without a listing.
    std::thread::sleep(Duration::from_millis(300));
    let (status, refused) = server.api(
        "POST",
        "/api/rooms/studio/recordings",
        auth.trim_start_matches("Bearer "),
        &json!({"kind": "track"}),
    );
    assert_eq!(
        (status, &refused["code"]),
        (507, &json!("storage_full")),
        "{refused}"
    );
    let library = owner.send(
        &server,
        "GET",
        "/api/account/rooms/studio/recordings",
        &Value::Null,
    );
    assert!(
        library.body["recordings"][0]["bytes"].as_i64().unwrap() >= 1 << 21,
        "{:?}",
        library.body
    );

    // A recording two days old, on a server that keeps them one day: gone at start-up.
    let old = server.recordings.join("studio").join("RC_old");
    std::fs::create_dir_all(&old).unwrap();
    let two_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 2 * 24 * 3600 * 1000;
    let manifest = json!({"id": "RC_old", "room": "studio", "kind": "track", "status": "complete",
        "started_at": two_days_ago, "ended_at": two_days_ago + 1000, "participants": [], "tracks": []});
    std::fs::write(old.join("manifest.json"), manifest.to_string()).unwrap();
    let library = owner.send(
        &server,
        "GET",
        "/api/account/rooms/studio/recordings",
        &Value::Null,
    );
    assert_eq!(
        library.body["recordings"].as_array().unwrap().len(),
        2,
        "indexed from disk"
    );
    let recordings = server.recordings.clone();
    drop(server);
    let server = Server::start_with(&[
        ("MOIM_DATABASE_URL", db.url.as_str()),
        ("MOIM_RECORDINGS_DIR", recordings.to_str().unwrap()),
        ("MOIM_RECORDINGS_RETENTION_DAYS", "1"),
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while old.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old recording was not removed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(folder.exists(), "the recent one stays");
    let library = owner.send(
        &server,
        "GET",
        "/api/account/rooms/studio/recordings",
        &Value::Null,
    );
    assert_eq!(library.body["recordings"].as_array().unwrap().len(), 1);
}

#[test]
fn a_room_that_keeps_chats_finds_each_meetings_chat_in_its_library() {
    let db = Database::sqlite();
    let (server, mut owner, mut other) = setup(&db, &[("MOIM_EMPTY_ROOM_TIMEOUT", "0")]);
    let keeps = owner.send(
        &server,
        "PATCH",
        "/api/account/rooms/studio",
        &json!({"settings": {"keep_chat": true}}),
    );
    assert_eq!(
        keeps.body["settings"]["keep_chat"], true,
        "{:?}",
        keeps.body
    );
    let quiet = owner.send(
        &server,
        "POST",
        "/api/account/rooms",
        &json!({"name": "quiet"}),
    );
    assert_eq!(quiet.status, 201);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for room in ["studio", "quiet"] {
        let grant = owner.send(&server, "POST", &format!("/api/join/{room}"), &json!({}));
        let token = grant.body["token"].as_str().unwrap().to_owned();
        runtime.block_on(async {
            let mut signal = support::Signal::connect(&server.ws_url()).await;
            assert_eq!(signal.join(&token).await["type"], "joined");
            signal
                .send(json!({"type": "chat", "id": 1, "text": format!("hello {room}")}))
                .await;
            signal.recv_type("chat").await;
            // The last one leaves: the meeting ends.
            support::leave(signal).await;
        });
    }
    let library = |browser: &mut Browser, room: &str| {
        browser.send(
            &server,
            "GET",
            &format!("/api/account/rooms/{room}/recordings"),
            &Value::Null,
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let chats = loop {
        let chats = library(&mut owner, "studio").body["chats"].clone();
        if chats.as_array().is_some_and(|c| !c.is_empty()) {
            break chats;
        }
        assert!(std::time::Instant::now() < deadline, "no chat was kept");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(chats.as_array().unwrap().len(), 1);
    let id = chats[0]["id"].as_str().unwrap();
    let (status, text) = server.http(
        "GET",
        &format!("/api/account/chats/{id}"),
        &[(
            "Cookie",
            &format!("moim_session={}", owner.cookie.as_ref().unwrap()),
        )],
        "",
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("owner: hello studio"), "{text}");
    let refused = other.send(
        &server,
        "GET",
        &format!("/api/account/chats/{id}"),
        &Value::Null,
    );
    assert_eq!(refused.status, 403);
    // The room that does not keep chats has none.
    assert_eq!(library(&mut owner, "quiet").body["chats"], json!([]));
    let gone = owner.send(
        &server,
        "DELETE",
        &format!("/api/account/chats/{id}"),
        &Value::Null,
    );
    assert_eq!(gone.status, 204);
    assert_eq!(library(&mut owner, "studio").body["chats"], json!([]));
}

#[test]
fn an_owned_rooms_broadcast_is_kept_in_its_library_once_it_ended() {
    let _turn = support::broadcast::turn();
    let db = Database::sqlite();
    let (server, mut owner, mut other) = setup(&db, &[]);
    let (mut encoder, auth) = support::broadcast::encoder_in(&server, "studio", "640x360");
    let (status, broadcast) = support::broadcast::start(
        &server,
        "studio",
        &auth,
        &json!({"source": "studio", "public": true}),
    );
    assert_eq!(status, 201, "{broadcast}");
    let id = broadcast["id"].as_str().unwrap().to_owned();
    let (status, _, multivariant) = support::broadcast::get(&server, "/hls/studio/index.m3u8");
    assert_eq!(status, 200, "{multivariant}");
    let rung = support::broadcast::lowest_rung(&multivariant, "studio");
    support::broadcast::wait_for_segment(&server, &rung, 2);
    let (status, answer) = server.http(
        "DELETE",
        &format!("/api/rooms/studio/broadcasts/{id}"),
        &[("Authorization", &auth)],
        "",
    );
    assert!(status < 300, "{answer}");
    let _ = encoder.kill();
    let _ = encoder.wait();

    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let entry = loop {
        let library = owner.send(
            &server,
            "GET",
            "/api/account/rooms/studio/recordings",
            &Value::Null,
        );
        let found = library.body["recordings"]
            .as_array()
            .and_then(|r| r.iter().find(|e| e["id"] == json!(id)).cloned());
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the broadcast never reached the library: {:?}",
            library.body
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(entry["kind"], "broadcast", "{entry}");
    assert_eq!(entry["files"][0]["file"], "broadcast.mp4");
    assert!(
        entry["files"][0]["duration_ms"].as_u64().unwrap() >= 2000,
        "{entry}"
    );
    let path = format!("/api/account/recordings/{id}/broadcast.mp4");
    let cookie = format!("moim_session={}", owner.cookie.as_ref().unwrap());
    let (status, file) = server.http_bytes("GET", &path, &[("Cookie", &cookie)], b"");
    assert_eq!(status, 200);
    assert!(
        file.contains("video/mp4") && file.contains("ftyp"),
        "a fragmented MP4"
    );
    assert_eq!(other.send(&server, "GET", &path, &Value::Null).status, 403);
}
