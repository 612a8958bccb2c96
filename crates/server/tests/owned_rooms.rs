//! Rooms people own: made in the app with a stable link and the settings a meeting in it
//! starts with; the owner and its co-hosts come in through the link as hosts, others as
//! guests (with the access code, and only when guests are let in); all of it kept across
//! a restart.

mod support;

use serde_json::{Value, json};
use support::Server;
use support::account::{Browser, claims, moim_user};
use support::databases::Database;

fn signed_in(server: &Server, email: &str) -> Browser {
    let mut browser = Browser::default();
    let answer = browser.sign_in(server, email, "a good password");
    assert_eq!(answer.status, 200, "{email}: {:?}", answer.body);
    browser
}

#[test]
fn an_owners_room_lets_hosts_in_as_hosts_and_guests_in_with_its_code_on_sqlite() {
    owners_room(&Database::sqlite());
}

#[test]
fn an_owners_room_lets_hosts_in_as_hosts_and_guests_in_with_its_code_on_postgresql() {
    owners_room(&Database::postgres());
}

#[test]
fn an_owners_room_lets_hosts_in_as_hosts_and_guests_in_with_its_code_on_mariadb() {
    owners_room(&Database::mariadb());
}

fn owners_room(db: &Database) {
    for email in [
        "owner@example.org",
        "cohost@example.org",
        "other@example.org",
    ] {
        let (ok, out) = moim_user(&db.url, &["add", "--email", email], "a good password\n");
        assert!(ok, "{out}");
    }
    let env = [("MOIM_DATABASE_URL", db.url.as_str())];
    let server = Server::start_with(&env);
    let mut owner = signed_in(&server, "owner@example.org");
    let mut cohost = signed_in(&server, "cohost@example.org");
    let mut other = signed_in(&server, "other@example.org");

    let settings = json!({"waiting_room": true, "access_code": "4321", "recorders": "hosts"});
    let made = owner.send(
        &server,
        "POST",
        "/api/account/rooms",
        &json!({"name": "team-standup", "settings": settings, "hosts": ["CoHost@example.org"]}),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["link"], "/r/team-standup");
    assert_eq!(made.body["hosts"], json!(["cohost@example.org"]));
    let taken = other.send(
        &server,
        "POST",
        "/api/account/rooms",
        &json!({"name": "team-standup"}),
    );
    assert_eq!((taken.status, taken.code()), (409, "conflict"));
    // A meeting an application runs under a name: that name is not taken.
    let app = server.server_token(&["--room-create"]);
    let (status, _) = server.api("POST", "/api/rooms", &app, &json!({"name": "app-room"}));
    assert_eq!(status, 201);
    let in_use = other.send(
        &server,
        "POST",
        "/api/account/rooms",
        &json!({"name": "app-room"}),
    );
    assert_eq!((in_use.status, in_use.code()), (409, "conflict"));
    let no_such_host = owner.send(
        &server,
        "POST",
        "/api/account/rooms",
        &json!({"hosts": ["stranger@example.org"]}),
    );
    assert_eq!(
        (no_such_host.status, no_such_host.code()),
        (404, "not_found")
    );
    let unnamed = other.send(&server, "POST", "/api/account/rooms", &Value::Null);
    assert_eq!(unnamed.status, 400, "a body is needed: {:?}", unnamed.body);
    let unnamed = other.send(&server, "POST", "/api/account/rooms", &json!({}));
    assert_eq!(unnamed.status, 201, "{:?}", unnamed.body);
    assert!(
        unnamed.body["name"].as_str().unwrap().len() > 8,
        "a name is made"
    );

    // "My rooms": the owner's and the co-host's, not the other's.
    let mine = owner.send(&server, "GET", "/api/account/rooms", &Value::Null);
    assert_eq!(mine.body["rooms"][0]["name"], "team-standup");
    assert_eq!(mine.body["rooms"][0]["owner"], true);
    assert_eq!(mine.body["rooms"][0]["participants"], 0);
    let cohosted = cohost.send(&server, "GET", "/api/account/rooms", &Value::Null);
    assert_eq!(cohosted.body["rooms"][0]["owner"], false);
    let others = other.send(&server, "GET", "/api/account/rooms", &Value::Null);
    assert_eq!(
        others.body["rooms"].as_array().unwrap().len(),
        1,
        "only its own"
    );

    // The door tells each what joining asks.
    let mut guest = Browser::default();
    let door = guest.send(&server, "GET", "/api/join/team-standup", &Value::Null);
    assert_eq!(
        (
            &door.body["host"],
            &door.body["access_code"],
            &door.body["waiting_room"]
        ),
        (&json!(false), &json!(true), &json!(true))
    );
    let door = owner.send(&server, "GET", "/api/join/team-standup", &Value::Null);
    assert_eq!(
        (&door.body["host"], &door.body["access_code"]),
        (&json!(true), &json!(false))
    );

    // A guest needs the code; then it gets a guest's token.
    let no_code = join(&server, &mut guest, json!({"name": "Gus"}));
    assert_eq!((no_code.status, no_code.code()), (403, "permission_denied"));
    let wrong = join(
        &server,
        &mut guest,
        json!({"name": "Gus", "access_code": "1111"}),
    );
    assert_eq!(wrong.body["message"], "The access code is wrong.");
    let guest_grant = join(
        &server,
        &mut guest,
        json!({"name": "Gus", "access_code": "4321"}),
    );
    assert_eq!(guest_grant.status, 200, "{:?}", guest_grant.body);
    let guest_claims = claims(guest_grant.body["token"].as_str().unwrap());
    assert_eq!(guest_claims["name"], "Gus");
    assert_eq!(guest_claims["video"]["room"], "team-standup");
    assert_eq!(guest_claims["video"]["roomAdmin"], false, "{guest_claims}");
    assert_eq!(guest_claims["video"]["canPublish"], true);

    // The owner and the co-host are hosts, without the code; hosts record here.
    let owner_grant = join(&server, &mut owner, json!({}));
    let owner_claims = claims(owner_grant.body["token"].as_str().unwrap());
    assert_eq!(owner_grant.body["host"], true);
    assert_eq!(owner_claims["name"], "owner");
    assert_eq!(owner_claims["video"]["roomAdmin"], true);
    assert_eq!(owner_claims["video"]["roomRecord"], true);
    let cohost_claims = claims(
        join(&server, &mut cohost, json!({"name": "Co"})).body["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(cohost_claims["video"]["roomRecord"], true);
    // Another user is a guest like anyone, code and all.
    assert_eq!(
        join(&server, &mut other, json!({"access_code": "4321"})).body["host"],
        false
    );

    // The meeting started with the room's settings.
    let token = owner_grant.body["token"].as_str().unwrap();
    let (status, live) = server.api("GET", "/api/rooms/team-standup", token, &Value::Null);
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["settings"]["waiting_room"], true);

    // Only the owner changes the room; without guests, a guest is asked to sign in.
    let refused = cohost.send(
        &server,
        "PATCH",
        "/api/account/rooms/team-standup",
        &json!({"settings": {"guests": false}}),
    );
    assert_eq!((refused.status, refused.code()), (403, "permission_denied"));
    let members_only = owner.send(
        &server,
        "PATCH",
        "/api/account/rooms/team-standup",
        &json!({"settings": {"guests": false, "recorders": "owner"}}),
    );
    assert_eq!(
        members_only.body["settings"]["guests"], false,
        "{:?}",
        members_only.body
    );
    let turned_away = join(&server, &mut Browser::default(), json!({"name": "Gus"}));
    assert_eq!(
        (turned_away.status, turned_away.code()),
        (401, "not_signed_in")
    );
    let cohost_claims = claims(
        join(&server, &mut cohost, json!({})).body["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        cohost_claims["video"]["roomRecord"], false,
        "the owner alone records"
    );
    assert_eq!(cohost_claims["video"]["roomAdmin"], true);

    // A host bans the other user; the ban outlives the restart.
    let (status, answer) = server.api(
        "PATCH",
        "/api/rooms/team-standup",
        token,
        &json!({"waiting_room": false}),
    );
    assert_eq!(status, 200, "{answer}");
    let other_grant = join(&server, &mut other, json!({}));
    let other_id = other_grant.body["identity"].as_str().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let banned_socket = runtime.block_on(async {
        let mut signal = support::Signal::connect(&server.ws_url()).await;
        let reply = signal.join(&token_of(&other_grant)).await;
        assert_eq!(reply["type"], "joined", "{reply}");
        signal
    });
    let (status, answer) = server.api(
        "DELETE",
        &format!("/api/rooms/team-standup/participants/{other_id}?ban=true"),
        token,
        &Value::Null,
    );
    assert_eq!(status, 204, "{answer}");
    drop(banned_socket);
    // The ban reaches the store on a task of its own.
    std::thread::sleep(std::time::Duration::from_millis(300));

    // A restart keeps the room, its settings and co-hosts, and the ban.
    drop(server);
    let server = Server::start_with(&env);
    let kept = owner.send(&server, "GET", "/api/account/rooms", &Value::Null);
    let room = &kept.body["rooms"][0];
    assert_eq!(room["name"], "team-standup", "{:?}", kept.body);
    assert_eq!(room["settings"]["guests"], false);
    assert_eq!(room["hosts"], json!(["cohost@example.org"]));
    let again = join(&server, &mut other, json!({}));
    let refused = runtime.block_on(async {
        let mut signal = support::Signal::connect(&server.ws_url()).await;
        signal.join(&token_of(&again)).await
    });
    assert_eq!(refused["code"], "banned", "{refused}");

    let gone = owner.send(
        &server,
        "DELETE",
        "/api/account/rooms/team-standup",
        &Value::Null,
    );
    assert_eq!(gone.status, 204);
    let door = Browser::default().send(&server, "GET", "/api/join/team-standup", &Value::Null);
    assert_eq!((door.status, door.code()), (404, "not_found"));
}

/// The token of a join's answer.
fn token_of(answer: &support::account::Answer) -> String {
    answer.body["token"].as_str().unwrap().to_owned()
}

/// Asks the door of `team-standup` for a token.
fn join(server: &Server, browser: &mut Browser, body: Value) -> support::account::Answer {
    browser.send(server, "POST", "/api/join/team-standup", &body)
}
