//! Development mode stays the developer's: it does not listen on the network unless told
//! to, and its token endpoint answers only the server's own pages.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Server;

const BODY: &str = r#"{"room":"dev","name":"Ada","host":true}"#;

#[test]
fn the_development_token_endpoint_refuses_other_sites() {
    let server = Server::start();
    let json = ("Content-Type", "application/json");
    let (status, _) = server.http("POST", "/api/dev/token", &[json], BODY);
    assert_eq!(status, 200, "the app's own request");
    let (status, _) = server.http(
        "POST",
        "/api/dev/token",
        &[json, ("Origin", "http://localhost")],
        BODY,
    );
    assert_eq!(status, 200, "a page of this server");
    let (status, text) = server.http(
        "POST",
        "/api/dev/token",
        &[json, ("Origin", "https://evil.example")],
        BODY,
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("permission_denied"), "{text}");
    let (_, text) = server.http(
        "OPTIONS",
        "/api/dev/token",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    );
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "no CORS for other sites: {text}"
    );
}

#[test]
fn development_mode_refuses_to_listen_on_the_network() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moim"))
        .arg("serve")
        .env("MOIM_HTTP_ADDR", "0.0.0.0:0")
        .env("MOIM_UDP_ADDR", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .expect("moim runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("development mode started on 0.0.0.0");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("expose_dev_mode"), "{stderr}");
}
