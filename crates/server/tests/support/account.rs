//! A browser's side of accounts: a cookie jar of one session and its CSRF token, making
//! requests the way the server's pages make them.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::Server;

/// One browser: the session cookie it holds and the CSRF token it was told.
#[derive(Debug, Default, Clone)]
pub struct Browser {
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

/// An answer: the status, its `Set-Cookie` (if any) and its JSON body (`Null` if none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub set_cookie: Option<String>,
    pub body: Value,
}

impl Answer {
    /// The error code of a refusal.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

impl Browser {
    /// Sends a request with the cookie and CSRF token held, keeping what the answer sets.
    pub fn send(&mut self, server: &Server, method: &str, path: &str, body: &Value) -> Answer {
        let json = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.send_bytes(server, method, path, "application/json", &json)
    }

    /// [`Browser::send`] with a body of any type.
    pub fn send_bytes(
        &mut self,
        server: &Server,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Answer {
        let cookie = self.cookie.as_ref().map(|c| format!("moim_session={c}"));
        let mut headers = Vec::new();
        if !body.is_empty() {
            headers.push(("Content-Type", content_type));
        }
        if let Some(cookie) = &cookie {
            headers.push(("Cookie", cookie.as_str()));
        }
        if let Some(csrf) = &self.csrf {
            headers.push(("Moim-CSRF", csrf.as_str()));
        }
        let (status, text) = server.http_bytes(method, path, &headers, body);
        let set_cookie = text
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            })
            .map(|(_, v)| v.trim().to_owned());
        let body_text = &text[text.find("\r\n\r\n").map_or(text.len(), |i| i + 4)..];
        let body: Value = serde_json::from_str(body_text).unwrap_or(Value::Null);
        if let Some(set) = &set_cookie {
            let value = set
                .strip_prefix("moim_session=")
                .and_then(|v| v.split(';').next())
                .unwrap_or_default();
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        if let Some(csrf) = body["csrf"].as_str() {
            self.csrf = Some(csrf.to_owned());
        }
        Answer {
            status,
            set_cookie,
            body,
        }
    }

    /// Signs in; the answer.
    pub fn sign_in(&mut self, server: &Server, email: &str, password: &str) -> Answer {
        self.send(
            server,
            "POST",
            "/api/account/sign-in",
            &serde_json::json!({ "email": email, "password": password }),
        )
    }
}

/// Runs `moim user ARGS` on the database `url`, with `stdin` as its input: status and
/// output.
pub fn moim_user(url: &str, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moim"))
        .arg("user")
        .args(args)
        .env_remove("MOIM_CONFIG")
        .env("MOIM_DATABASE_URL", url)
        .env("MOIM_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("moim user runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The claims of a token, read without checking it.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64_decode(payload)).unwrap()
}

/// Base64url without padding, decoded.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits = bits << 6 | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
