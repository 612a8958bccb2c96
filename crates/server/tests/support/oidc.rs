//! A small OpenID Connect provider for the tests: discovery, an authorization endpoint
//! that signs in whoever the test says at once, a token endpoint checking the client's
//! secret and PKCE, and its key (RS256, made in the test) in a JWKS. One thread, one
//! request per connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Who the provider signs in next.
#[derive(Debug, Clone)]
pub struct IdUser {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

struct Inner {
    user: IdUser,
    /// Codes handed out: the nonce and PKCE challenge of each.
    codes: HashMap<String, (String, String)>,
    /// Signs with a key that is not in the JWKS.
    forge: bool,
}

/// A running provider.
pub struct Provider {
    pub issuer: String,
    inner: Arc<Mutex<Inner>>,
}

impl Provider {
    /// Starts a provider for one client.
    pub fn start(client_id: &str, client_secret: &str) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let inner = Arc::new(Mutex::new(Inner {
            user: IdUser {
                sub: "nobody".into(),
                email: "nobody@example.org".into(),
                email_verified: true,
                name: "Nobody".into(),
            },
            codes: HashMap::new(),
            forge: false,
        }));
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let other = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let serving = Served {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            inner: inner.clone(),
            key,
            other,
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serving.answer(stream);
            }
        });
        Provider { issuer, inner }
    }

    /// Signs in `user` next.
    pub fn sign_in_as(&self, user: IdUser) {
        self.inner.lock().unwrap().user = user;
    }

    /// Signs ID tokens with a key the JWKS does not have (`true`), or its own.
    pub fn forge(&self, on: bool) {
        self.inner.lock().unwrap().forge = on;
    }
}

struct Served {
    issuer: String,
    client_id: String,
    client_secret: String,
    inner: Arc<Mutex<Inner>>,
    key: RsaKeyPair,
    other: RsaKeyPair,
}

impl Served {
    fn answer(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let target = line.split(' ').nth(1).unwrap_or("/").to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let (status, headers, text) = match path {
            "/.well-known/openid-configuration" => json_answer(json!({
                "issuer": self.issuer,
                "authorization_endpoint": format!("{}/authorize", self.issuer),
                "token_endpoint": format!("{}/token", self.issuer),
                "jwks_uri": format!("{}/jwks", self.issuer),
            })),
            "/jwks" => {
                let (n, e) = modulus_and_exponent(self.key.public_key().as_ref());
                json_answer(json!({"keys": [{
                    "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                    "n": B64.encode(n), "e": B64.encode(e),
                }]}))
            }
            "/authorize" => self.authorize(&form(query)),
            "/token" => self.token(&form(&String::from_utf8_lossy(&body))),
            _ => (404, String::new(), String::new()),
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        let _ = stream.write_all(response.as_bytes());
    }

    fn authorize(&self, query: &HashMap<String, String>) -> (u16, String, String) {
        if query.get("client_id") != Some(&self.client_id)
            || query.get("code_challenge_method").map(String::as_str) != Some("S256")
        {
            return (400, String::new(), "bad request".into());
        }
        let code = format!("{:032x}", rand::random::<u128>());
        self.inner.lock().unwrap().codes.insert(
            code.clone(),
            (query["nonce"].clone(), query["code_challenge"].clone()),
        );
        let location = format!(
            "{}?code={code}&state={}",
            query["redirect_uri"], query["state"]
        );
        (302, format!("Location: {location}\r\n"), String::new())
    }

    fn token(&self, form: &HashMap<String, String>) -> (u16, String, String) {
        let mut inner = self.inner.lock().unwrap();
        let Some((nonce, challenge)) = inner.codes.remove(&form["code"]) else {
            return (400, String::new(), r#"{"error":"invalid_grant"}"#.into());
        };
        let pkce = B64.encode(Sha256::digest(form["code_verifier"].as_bytes()));
        if form.get("client_secret") != Some(&self.client_secret) || pkce != challenge {
            return (401, String::new(), r#"{"error":"invalid_client"}"#.into());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let user = &inner.user;
        let claims = json!({
            "iss": self.issuer, "sub": user.sub, "aud": self.client_id,
            "iat": now, "exp": now + 300, "nonce": nonce,
            "email": user.email, "email_verified": user.email_verified, "name": user.name,
        });
        let key = if inner.forge { &self.other } else { &self.key };
        let signed = format!(
            "{}.{}",
            B64.encode(json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}).to_string()),
            B64.encode(claims.to_string())
        );
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .unwrap();
        json_answer(json!({
            "access_token": "unused", "token_type": "Bearer",
            "id_token": format!("{signed}.{}", B64.encode(signature)),
        }))
    }
}

/// The modulus and exponent of a DER `RSAPublicKey` (RFC 8017): a sequence of two
/// integers, without their leading zero bytes.
fn modulus_and_exponent(der: &[u8]) -> (&[u8], &[u8]) {
    /// The contents of the element at `at`, and where the next one starts.
    fn element(der: &[u8], at: usize) -> (&[u8], usize) {
        let first = der[at + 1];
        let (len, start) = if first < 0x80 {
            (usize::from(first), at + 2)
        } else {
            let octets = usize::from(first & 0x7f);
            let len = der[at + 2..at + 2 + octets]
                .iter()
                .fold(0, |n, b| n << 8 | usize::from(*b));
            (len, at + 2 + octets)
        };
        (&der[start..start + len], start + len)
    }
    let (sequence, _) = element(der, 0);
    let (n, next) = element(sequence, 0);
    let (e, _) = element(sequence, next);
    (strip(n), strip(e))
}

fn strip(integer: &[u8]) -> &[u8] {
    let zeros = integer.iter().take_while(|b| **b == 0).count();
    &integer[zeros..]
}

fn json_answer(body: Value) -> (u16, String, String) {
    (
        200,
        "Content-Type: application/json\r\n".into(),
        body.to_string(),
    )
}

/// A query or form, decoded.
fn form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}
