//! Accounts as people use them, on each database the server takes: the first admin added
//! on the command line, an invitation, sign-up and sign-in, the profile and its picture,
//! a password change ending the other sessions, an admin disabling a user, and all of it
//! still there after a restart. Then the guards: CSRF, a planted session, another site's
//! page, the sign-in rate limit, the same answer for unknown emails, Secure cookies.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Server;
use support::account::{Browser, moim_user};
use support::databases::Database;

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// The whole story, on `db`.
fn story(db: &Database) {
    let kind = db.kind;
    // The first admin, on the command line, the password on standard input.
    let (ok, out) = moim_user(
        &db.url,
        &[
            "add",
            "--email",
            "Admin@Example.org",
            "--admin",
            "--name",
            "Ada",
        ],
        "first admin pass\n",
    );
    assert!(ok, "{kind}: {out}");
    let (ok, out) = moim_user(
        &db.url,
        &["add", "--email", "admin@example.org"],
        "another password\n",
    );
    assert!(!ok && out.contains("exists already"), "{kind}: {out}");

    let env = [
        ("MOIM_DATABASE_URL", db.url.as_str()),
        ("MOIM_SIGNUP", "invite"),
    ];
    let mut server = Server::start_with(&env);
    let mut admin = Browser::default();
    let signed = admin.sign_in(&server, "admin@example.org", "first admin pass");
    assert_eq!(signed.status, 200, "{kind}: {:?}", signed.body);
    let cookie = signed.set_cookie.unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(signed.body["user"]["admin"], true);

    // Sign-up is by invitation: without one it is refused, with one it works once.
    let refused = Browser::default().send(
        &server,
        "POST",
        "/api/account/sign-up",
        &json!({"email": "eve@example.org", "name": "Eve", "password": "eve's password"}),
    );
    assert_eq!((refused.status, refused.code()), (403, "permission_denied"));
    let invite = admin.send(
        &server,
        "POST",
        "/api/users/invites",
        &json!({"email": "carol@example.org"}),
    );
    assert_eq!(invite.status, 201, "{kind}: {:?}", invite.body);
    let code = invite.body["code"].as_str().unwrap().to_owned();
    assert!(invite.body["link"].as_str().unwrap().ends_with(&code));
    let mut carol = Browser::default();
    let joined = carol.send(
        &server,
        "POST",
        "/api/account/sign-up",
        &json!({"name": "Carol", "password": "carol's password", "invite": code}),
    );
    assert_eq!(joined.status, 201, "{kind}: {:?}", joined.body);
    assert_eq!(joined.body["user"]["email"], "carol@example.org");
    let again = Browser::default().send(
        &server,
        "POST",
        "/api/account/sign-up",
        &json!({"name": "Mallory", "password": "mallory's password", "invite": code}),
    );
    assert_eq!((again.status, again.code()), (404, "not_found"));

    // The profile: a change needs the CSRF token.
    let mut no_token = carol.clone();
    no_token.csrf = None;
    let forged = no_token.send(&server, "PATCH", "/api/account", &json!({"name": "Hacked"}));
    assert_eq!((forged.status, forged.code()), (403, "csrf_failed"));
    let renamed = carol.send(
        &server,
        "PATCH",
        "/api/account",
        &json!({"name": "Carol C"}),
    );
    assert_eq!(renamed.body["user"]["name"], "Carol C", "{kind}");

    // The picture: PNG taken, SVG and an oversized one refused.
    let set = carol.send_bytes(&server, "PUT", "/api/account/avatar", "image/png", PNG);
    assert_eq!(set.status, 204, "{kind}: {:?}", set.body);
    let svg = carol.send_bytes(
        &server,
        "PUT",
        "/api/account/avatar",
        "image/svg+xml",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    );
    assert_eq!((svg.status, svg.code()), (415, "unsupported_type"));
    let mut huge = PNG.to_vec();
    huge.resize(1024 * 1024 + 1, 0);
    let big = carol.send_bytes(&server, "PUT", "/api/account/avatar", "image/png", &huge);
    assert_eq!((big.status, big.code()), (413, "message_too_large"));
    let carol_id = joined.body["user"]["id"].as_str().unwrap().to_owned();
    let (status, picture) =
        server.http_bytes("GET", &format!("/api/users/{carol_id}/avatar"), &[], b"");
    assert_eq!(status, 200);
    assert!(
        picture
            .to_ascii_lowercase()
            .contains("content-type: image/png")
    );
    assert!(picture.contains("IHDR"), "the picture kept is the PNG sent");

    // A password change ends carol's other sessions and keeps this browser signed in.
    let mut carols_phone = Browser::default();
    assert_eq!(
        carols_phone
            .sign_in(&server, "carol@example.org", "carol's password")
            .status,
        200
    );
    let wrong = carol.send(
        &server,
        "POST",
        "/api/account/password",
        &json!({"current": "not it at all", "new": "carol's new password"}),
    );
    assert_eq!((wrong.status, wrong.code()), (401, "wrong_credentials"));
    let changed = carol.send(
        &server,
        "POST",
        "/api/account/password",
        &json!({"current": "carol's password", "new": "carol's new password"}),
    );
    assert_eq!(changed.status, 200, "{kind}: {:?}", changed.body);
    assert_eq!(
        carol
            .send(&server, "GET", "/api/account", &Value::Null)
            .status,
        200
    );
    let ended = carols_phone.send(&server, "GET", "/api/account", &Value::Null);
    assert_eq!((ended.status, ended.code()), (401, "not_signed_in"));
    assert_eq!(
        Browser::default()
            .sign_in(&server, "carol@example.org", "carol's password")
            .status,
        401
    );

    // An admin pages through the users and disables carol: her session ends at once.
    let page = admin.send(&server, "GET", "/api/users?limit=1", &Value::Null);
    assert_eq!(
        page.body["users"][0]["email"], "admin@example.org",
        "{kind}"
    );
    assert_eq!(page.body["next"], "admin@example.org");
    let rest = admin.send(
        &server,
        "GET",
        "/api/users?limit=5&after=admin@example.org",
        &Value::Null,
    );
    assert_eq!(rest.body["users"][0]["email"], "carol@example.org");
    assert_eq!(rest.body["next"], Value::Null);
    let not_admin = carol.send(&server, "GET", "/api/users", &Value::Null);
    assert_eq!(
        (not_admin.status, not_admin.code()),
        (403, "permission_denied")
    );
    let disabled = admin.send(
        &server,
        "PATCH",
        &format!("/api/users/{carol_id}"),
        &json!({"disabled": true}),
    );
    assert_eq!(
        disabled.body["disabled"], true,
        "{kind}: {:?}",
        disabled.body
    );
    assert_eq!(
        carol
            .send(&server, "GET", "/api/account", &Value::Null)
            .status,
        401
    );
    let locked_out =
        Browser::default().sign_in(&server, "carol@example.org", "carol's new password");
    assert_eq!(
        (locked_out.status, locked_out.code()),
        (403, "permission_denied")
    );

    // A restart keeps the users, their roles and the admin's session.
    assert!(server.terminate(Duration::from_secs(10)));
    drop(server);
    let server = Server::start_with(&env);
    let me = admin.send(&server, "GET", "/api/account", &Value::Null);
    assert_eq!(me.status, 200, "{kind}: the session outlives the restart");
    let users = admin.send(&server, "GET", "/api/users", &Value::Null);
    let emails: Vec<_> = users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap(),
                u["disabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        emails,
        [("admin@example.org", false), ("carol@example.org", true)],
        "{kind}"
    );
    // The command line sees the same database.
    let (ok, out) = moim_user(
        &db.url,
        &["disable", "--email", "carol@example.org", "--enable"],
        "",
    );
    assert!(ok, "{kind}: {out}");
    let back = Browser::default().sign_in(&server, "carol@example.org", "carol's new password");
    assert_eq!(back.status, 200, "{kind}: enabled again: {:?}", back.body);
    let (ok, out) = moim_user(&db.url, &["list", "--json"], "");
    assert!(ok, "{kind}: {out}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["name"], "Carol C");
}

#[test]
fn the_account_story_holds_on_sqlite() {
    story(&Database::sqlite());
}

#[test]
fn the_account_story_holds_on_postgresql() {
    story(&Database::postgres());
}

#[test]
fn the_account_story_holds_on_mariadb() {
    story(&Database::mariadb());
}

/// A server with one user, `user@example.org`, whose password is "right password".
fn server_with_a_user(env: &[(&str, &str)]) -> (Server, Database) {
    let db = Database::sqlite();
    let (ok, out) = moim_user(
        &db.url,
        &["add", "--email", "user@example.org"],
        "right password\n",
    );
    assert!(ok, "{out}");
    let mut all = vec![("MOIM_DATABASE_URL", db.url.as_str())];
    all.extend_from_slice(env);
    (Server::start_with(&all), db)
}

#[test]
fn a_session_planted_before_sign_in_is_ended_by_it() {
    let (server, _db) = server_with_a_user(&[]);
    // The attacker signs in to its own account and plants that session in the victim's
    // browser; the victim signs in on top of it.
    let (ok, out) = moim_user(
        &_db.url,
        &["add", "--email", "mallory@example.org"],
        "mallory's password\n",
    );
    assert!(ok, "{out}");
    let mut mallory = Browser::default();
    assert_eq!(
        mallory
            .sign_in(&server, "mallory@example.org", "mallory's password")
            .status,
        200
    );
    let mut victim = mallory.clone();
    let signed = victim.sign_in(&server, "user@example.org", "right password");
    assert_eq!(signed.status, 200);
    assert_ne!(
        victim.cookie, mallory.cookie,
        "a new session for the sign-in"
    );
    let planted = mallory.send(&server, "GET", "/api/account", &Value::Null);
    assert_eq!((planted.status, planted.code()), (401, "not_signed_in"));
    assert_eq!(
        victim
            .send(&server, "GET", "/api/account", &Value::Null)
            .body["user"]["email"],
        "user@example.org"
    );
}

#[test]
fn sign_in_from_another_sites_page_is_refused() {
    let (server, _db) = server_with_a_user(&[]);
    let body = json!({"email": "user@example.org", "password": "right password"}).to_string();
    let (status, answer) = server.http(
        "POST",
        "/api/account/sign-in",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "https://evil.example"),
        ],
        &body,
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("csrf_failed") && !answer.contains("moim_session="));
    // The account routes answer no CORS preflight, so no other page may read them.
    let (_, preflight) = server.http(
        "OPTIONS",
        "/api/account",
        &[("Origin", "https://evil.example")],
        "",
    );
    assert!(
        !preflight
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{preflight}"
    );
}

#[test]
fn unknown_emails_get_the_same_answer_in_the_same_time_and_failures_are_held_back() {
    let (server, _db) = server_with_a_user(&[]);
    let attempt = |email: &str, password: &str| {
        let started = Instant::now();
        let answer = Browser::default().sign_in(&server, email, password);
        (answer, started.elapsed())
    };
    // Warm the decoy hash once.
    attempt("warm@example.org", "whatever pass");
    let (known, known_took) = attempt("user@example.org", "wrong password");
    let (unknown, unknown_took) = attempt("nobody@example.org", "wrong password");
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert_eq!(known.code(), "wrong_credentials");
    // Both checked a hash: the same class of time (a hash costs tens of milliseconds).
    let ratio = known_took.as_secs_f64() / unknown_took.as_secs_f64();
    assert!(
        (0.33..3.0).contains(&ratio),
        "{known_took:?} against {unknown_took:?}"
    );

    // Ten failures for the account: the next try waits, even with the right password,
    // and an unknown email is held back the same way.
    for _ in 0..9 {
        assert_eq!(attempt("user@example.org", "wrong password").0.status, 401);
    }
    let (held, _) = attempt("user@example.org", "right password");
    assert_eq!(
        (held.status, held.code()),
        (429, "rate_limited"),
        "{:?}",
        held.body
    );
    for _ in 0..9 {
        attempt("nobody@example.org", "wrong password");
    }
    let (held_unknown, _) = attempt("nobody@example.org", "wrong password");
    assert_eq!(held_unknown.code(), "rate_limited");
}

#[test]
fn sign_up_is_open_or_off_as_the_operator_chose() {
    let (open, _db) = server_with_a_user(&[("MOIM_SIGNUP", "open")]);
    let mut dana = Browser::default();
    let made = dana.send(
        &open,
        "POST",
        "/api/account/sign-up",
        &json!({"email": "Dana@Example.org", "name": "Dana", "password": "dana's password"}),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["user"]["email"], "dana@example.org");
    assert_eq!(
        dana.send(&open, "GET", "/api/account", &Value::Null).status,
        200
    );
    let taken = Browser::default().send(
        &open,
        "POST",
        "/api/account/sign-up",
        &json!({"email": "user@example.org", "name": "U", "password": "another password"}),
    );
    assert_eq!((taken.status, taken.code()), (409, "conflict"));
    let short = Browser::default().send(
        &open,
        "POST",
        "/api/account/sign-up",
        &json!({"email": "e@example.org", "name": "E", "password": "short"}),
    );
    assert_eq!((short.status, short.code()), (400, "malformed_message"));
    let options = Browser::default().send(&open, "GET", "/api/account/options", &Value::Null);
    assert_eq!(options.body["signup"], "open");

    let (off, _db2) = server_with_a_user(&[("MOIM_SIGNUP", "off")]);
    let refused = Browser::default().send(
        &off,
        "POST",
        "/api/account/sign-up",
        &json!({"email": "f@example.org", "name": "F", "password": "f's password"}),
    );
    assert_eq!((refused.status, refused.code()), (403, "permission_denied"));
}

#[test]
fn cookies_are_secure_when_the_server_is_reached_over_https() {
    let (server, _db) = server_with_a_user(&[("MOIM_PUBLIC_URL", "https://meet.example.org")]);
    let signed = Browser::default().sign_in(&server, "user@example.org", "right password");
    assert!(signed.set_cookie.unwrap().ends_with("; Secure"));
}

#[test]
fn signing_out_everywhere_ends_every_session() {
    let (server, _db) = server_with_a_user(&[]);
    let mut laptop = Browser::default();
    let mut phone = Browser::default();
    laptop.sign_in(&server, "user@example.org", "right password");
    phone.sign_in(&server, "user@example.org", "right password");
    let out = phone.send(&server, "POST", "/api/account/sign-out", &Value::Null);
    assert_eq!(out.status, 204);
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(
        laptop
            .send(&server, "GET", "/api/account", &Value::Null)
            .status,
        200
    );
    phone.sign_in(&server, "user@example.org", "right password");
    let everywhere = phone.send(
        &server,
        "POST",
        "/api/account/sign-out-everywhere",
        &Value::Null,
    );
    assert_eq!(everywhere.status, 204);
    assert_eq!(
        laptop
            .send(&server, "GET", "/api/account", &Value::Null)
            .status,
        401
    );
}

#[test]
fn passwords_never_reach_the_log_even_at_debug_level() {
    let db = Database::sqlite();
    let log = std::env::temp_dir().join(format!("moim-password-log-{}", std::process::id()));
    let (ok, out) = moim_user(
        &db.url,
        &["add", "--email", "user@example.org"],
        "Secret-Horse-42\n",
    );
    assert!(ok, "{out}");
    let server = Server::start_logging(
        &[
            ("MOIM_DATABASE_URL", db.url.as_str()),
            ("MOIM_LOG", "debug"),
        ],
        Some(&log),
    );
    let mut browser = Browser::default();
    assert_eq!(
        browser
            .sign_in(&server, "user@example.org", "Secret-Horse-42")
            .status,
        200
    );
    assert_eq!(
        browser
            .sign_in(&server, "user@example.org", "Wrong-Horse-43")
            .status,
        401
    );
    browser.send(
        &server,
        "POST",
        "/api/account/password",
        &json!({"current": "Secret-Horse-42", "new": "Fresh-Horse-44"}),
    );
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(text.contains("DEBUG"), "the log was at debug level: {text}");
    for password in ["Secret-Horse-42", "Wrong-Horse-43", "Fresh-Horse-44"] {
        assert!(!text.contains(password), "{password} is in the log");
    }
}

#[test]
fn wrong_passwords_sent_all_at_once_are_held_to_the_limit() {
    let (server, _db) = server_with_a_user(&[]);
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let tries: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    Browser::default()
                        .sign_in(&server, "user@example.org", "wrong password")
                        .status
                })
            })
            .collect();
        tries.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let checked = answers.iter().filter(|s| **s == 401).count();
    let held = answers.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, held), (10, 10), "{answers:?}");
}
