//! Sign-in through the organisation's identity provider (OpenID Connect), against a small
//! provider run by the test with a key it made: a new person gets an account, comes back
//! to the same one, an existing account is linked by its verified email; a token signed
//! with another key, or a callback that did not start here, signs nobody in.

mod support;

use serde_json::Value;
use support::Server;
use support::account::{Browser, moim_user};
use support::databases::Database;
use support::oidc::{IdUser, Provider};

/// A header's value in a raw answer.
fn header(answer: &str, name: &str) -> Vec<String> {
    answer
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// The value of cookie `name` among `Set-Cookie` headers.
fn set_cookie(answer: &str, name: &str) -> Option<String> {
    header(answer, "set-cookie").into_iter().find_map(|c| {
        let value = c
            .strip_prefix(&format!("{name}="))?
            .split(';')
            .next()?
            .to_owned();
        (!value.is_empty()).then_some(value)
    })
}

/// A GET of an absolute `url` on the provider: the raw answer.
fn provider_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The browser's round trip: start → provider → callback. The callback's raw answer.
fn round_trip(server: &Server, flight_from: Option<&str>) -> String {
    let (status, started) = server.http("GET", "/api/account/oidc/start?next=/r/standup", &[], "");
    assert_eq!(status, 302, "{started}");
    let flight = set_cookie(&started, "moim_oidc").expect("the flight's cookie");
    let to_provider = &header(&started, "location")[0];
    let at_provider = provider_get(to_provider);
    let back = &header(&at_provider, "location")[0];
    let path = &back[back.find("/api/account/oidc/callback").unwrap()..];
    let cookie = format!("moim_oidc={}", flight_from.unwrap_or(&flight));
    let (status, answer) = server.http("GET", path, &[("Cookie", &cookie)], "");
    assert_eq!(status, 302, "{answer}");
    answer
}

fn signed_in_user(server: &Server, callback: &str) -> Value {
    let session = set_cookie(callback, "moim_session").expect("a session");
    let mut browser = Browser {
        cookie: Some(session),
        csrf: None,
    };
    let me = browser.send(server, "GET", "/api/account", &Value::Null);
    assert_eq!(me.status, 200, "{:?}", me.body);
    me.body["user"].clone()
}

#[test]
fn people_sign_in_through_the_identity_provider_and_forgeries_do_not() {
    let provider = Provider::start("moim-client", "client-secret");
    let db = Database::sqlite();
    let (ok, out) = moim_user(
        &db.url,
        &["add", "--email", "bob@example.org"],
        "bob's password\n",
    );
    assert!(ok, "{out}");
    let server = Server::start_with(&[
        ("MOIM_DATABASE_URL", db.url.as_str()),
        ("MOIM_OIDC_ISSUER", provider.issuer.as_str()),
        ("MOIM_OIDC_CLIENT_ID", "moim-client"),
        ("MOIM_OIDC_CLIENT_SECRET", "client-secret"),
        ("MOIM_OIDC_NAME", "Example SSO"),
    ]);
    let options = Browser::default().send(&server, "GET", "/api/account/options", &Value::Null);
    assert_eq!(options.body["oidc"], "Example SSO");

    // Someone new: an account is made, and the browser goes where the sign-in started.
    let alice = IdUser {
        sub: "alice-1".into(),
        email: "Alice@Example.org".into(),
        email_verified: true,
        name: "Alice".into(),
    };
    provider.sign_in_as(alice.clone());
    let callback = round_trip(&server, None);
    assert_eq!(header(&callback, "location"), ["/r/standup"]);
    let first = signed_in_user(&server, &callback);
    assert_eq!(
        (&first["email"], &first["name"]),
        (&"alice@example.org".into(), &"Alice".into())
    );
    // The flight's cookie is forgotten.
    assert!(
        header(&callback, "set-cookie")
            .iter()
            .any(|c| c.starts_with("moim_oidc=;"))
    );
    // Back again: the same account.
    let again = signed_in_user(&server, &round_trip(&server, None));
    assert_eq!(again["id"], first["id"]);

    // An existing account, its email verified by the provider: linked, not doubled.
    provider.sign_in_as(IdUser {
        sub: "bob-7".into(),
        email: "bob@example.org".into(),
        email_verified: true,
        name: "Bobby".into(),
    });
    let bob = signed_in_user(&server, &round_trip(&server, None));
    assert_eq!(
        (&bob["email"], &bob["name"]),
        (&"bob@example.org".into(), &"bob".into())
    );

    // An email the provider has not verified makes no account.
    provider.sign_in_as(IdUser {
        sub: "mallory-3".into(),
        email: "ceo@example.org".into(),
        email_verified: false,
        name: "CEO".into(),
    });
    let unverified = round_trip(&server, None);
    assert!(
        header(&unverified, "location")[0].contains("verified"),
        "{unverified}"
    );
    assert!(set_cookie(&unverified, "moim_session").is_none());

    // An ID token signed with a key the provider does not publish signs nobody in.
    provider.sign_in_as(alice);
    provider.forge(true);
    let forged = round_trip(&server, None);
    let location = &header(&forged, "location")[0];
    assert!(location.starts_with("/account?error="), "{location}");
    assert!(location.contains("signature"), "{location}");
    assert!(set_cookie(&forged, "moim_session").is_none());
    provider.forge(false);

    // A callback carrying another sign-in's cookie (its state) is refused.
    let (_, other_start) = server.http("GET", "/api/account/oidc/start", &[], "");
    let other_flight = set_cookie(&other_start, "moim_oidc").unwrap();
    let crossed = round_trip(&server, Some(&other_flight));
    assert!(
        header(&crossed, "location")[0].contains("did%20not%20start%20here"),
        "{crossed}"
    );
    assert!(set_cookie(&crossed, "moim_session").is_none());
}

#[test]
fn without_an_identity_provider_its_routes_say_so() {
    let server = Server::start();
    let (status, answer) = server.http("GET", "/api/account/oidc/start", &[], "");
    assert_eq!(status, 404, "{answer}");
    assert!(answer.contains("oidc_issuer"));
}
