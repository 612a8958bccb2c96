//! `moim room|participant|record|broadcast` against a running server, as an operator
//! types them: tables by default, JSON with `--json`, a one-line error and status 1 for a
//! refusal.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Server;
use support::peer::Peer;

/// Runs `moim ARGS --url <server>`: status, standard output, standard error.
fn moim(server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moim"))
        .args(args)
        .args(["--url", &format!("http://127.0.0.1:{}", server.http_port)])
        .env_remove("MOIM_CONFIG")
        .output()
        .expect("moim runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `moim ARGS` that succeeds: its output.
fn ok(server: &Server, args: &[&str]) -> String {
    let (success, out, err) = moim(server, args);
    assert!(success, "moim {args:?}: {err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_a_room_from_the_command_line() {
    let server = Server::start();
    let made = ok(
        &server,
        &[
            "room",
            "create",
            "standup",
            "--max-participants",
            "5",
            "--waiting-room",
        ],
    );
    assert!(made.starts_with("NAME"), "a table: {made}");
    assert!(
        made.contains("standup") && made.contains("0/5") && made.contains("waiting room"),
        "{made}"
    );
    let listed: Value = serde_json::from_str(&ok(&server, &["room", "list", "--json"])).unwrap();
    assert_eq!(listed["rooms"][0]["name"], "standup");

    // Ann comes in (a host, past the waiting room) and publishes.
    let ann = Peer::join(
        &server.ws_url(),
        &server.token("standup", "ann", &["--host"]),
        true,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let people = loop {
        let people = ok(&server, &["participant", "list", "standup"]);
        if people.contains("camera") && people.contains("microphone") {
            break people;
        }
        assert!(Instant::now() < deadline, "{people}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        people.lines().nth(1).unwrap().starts_with("ann "),
        "{people}"
    );

    let muted = ok(
        &server,
        &["participant", "mute", "standup", "ann", "camera"],
    );
    assert!(muted.starts_with("Muted camera (TR_"), "{muted}");
    let host = server.token("standup", "api", &["--host"]);
    let (_, one) = server.api(
        "GET",
        "/api/rooms/standup/participants/ann",
        &host,
        &Value::Null,
    );
    let camera = one["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["source"] == "camera")
        .unwrap();
    assert_eq!(camera["muted"], true, "{one}");

    let started = ok(
        &server,
        &["record", "start", "standup", "--kind", "audio_only"],
    );
    assert!(started.starts_with("Recording RC_"), "{started}");
    let listed = ok(&server, &["record", "list", "standup"]);
    assert!(
        listed.contains("audio_only") && listed.contains("recording"),
        "{listed}"
    );
    let stopped = ok(&server, &["record", "stop", "standup"]);
    assert!(stopped.contains("complete"), "{stopped}");

    let live = ok(
        &server,
        &[
            "broadcast",
            "start",
            "standup",
            "--source",
            "ann",
            "--public",
        ],
    );
    assert!(
        live.contains("ann") && live.contains("public") && live.contains("/watch/standup"),
        "{live}"
    );
    let ended = ok(&server, &["broadcast", "stop", "standup", "--json"]);
    let ended: Value = serde_json::from_str(&ended).unwrap();
    assert_eq!(ended["state"], "ended");

    assert_eq!(
        ok(&server, &["participant", "remove", "standup", "ann"]).trim(),
        "ann removed from standup."
    );
    assert_eq!(
        ok(&server, &["room", "delete", "standup"]).trim(),
        "Room standup ended."
    );
    drop(ann);
}

#[test]
fn refusals_are_one_line_and_status_1() {
    let server = Server::start();
    let (success, out, err) = moim(&server, &["room", "delete", "nowhere"]);
    assert!(!success && out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: No room \"nowhere\" runs here") && err.contains("(not_found)"),
        "{err}"
    );

    let (success, _, err) = moim(&server, &["room", "list", "--api-secret", "not-the-secret"]);
    assert!(!success && err.contains("(invalid_token)"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_moim"))
        .args(["room", "list", "--url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot reach the server at http://127.0.0.1:1"),
        "{err}"
    );
}
