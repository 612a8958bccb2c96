//! Sign-in sessions as a browser holds them: a random secret in an HttpOnly cookie, known
//! to the database only by its SHA-256, and the CSRF token derived from it that
//! state-changing requests must also carry in a header.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The cookie holding a session's secret.
pub const COOKIE: &str = "moim_session";
/// The header state-changing requests of a signed-in browser carry the CSRF token in.
pub const CSRF_HEADER: &str = "moim-csrf";

/// A session's secret, as the cookie carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A new secret: 256 random bits.
    pub fn new() -> Secret {
        Secret(hex(&rand::random::<[u8; 32]>()))
    }

    /// The secret a cookie value holds, if it has the shape of one.
    pub fn parse(value: &str) -> Option<Secret> {
        (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Secret(value.to_ascii_lowercase()))
    }

    /// What the database knows it by.
    pub fn hash(&self) -> String {
        digest(&self.0)
    }

    /// The value of the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The CSRF token of this session: only a page that could read it from the server's
    /// answer (the server's own, same origin) can send it back.
    pub fn csrf(&self, key: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(b"csrf:");
        mac.update(self.0.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Whether `token` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, key: &[u8], token: &str) -> bool {
        let expected = self.csrf(key);
        expected.len() == token.len()
            && expected
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |d, (a, b)| d | (a ^ b))
                == 0
    }
}

/// The hex SHA-256 of a secret (sessions, invitations).
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A `Set-Cookie` value: the session's secret for `max_age` seconds (over HTTPS only when
/// `secure`), or, without a secret, one that makes the browser forget it.
pub fn set_cookie(secret: Option<&Secret>, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match secret {
        Some(secret) => format!(
            "{COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            secret.as_str()
        ),
        None => format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
    }
}

/// The session secret among a request's `Cookie` headers.
pub fn from_cookies<'a>(headers: impl Iterator<Item = &'a str>) -> Option<Secret> {
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| Secret::parse(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_read_back_from_its_cookie_and_only_its_hash_is_kept() {
        let secret = Secret::new();
        let cookie = set_cookie(Some(&secret), 60, true);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"));
        assert!(!set_cookie(Some(&secret), 60, false).contains("Secure"));
        let header = format!("theme=dark; {}", cookie.split(';').next().unwrap());
        assert_eq!(
            from_cookies([header.as_str()].into_iter()),
            Some(secret.clone())
        );
        assert_ne!(secret.hash(), secret.as_str());
        assert_eq!(secret.hash().len(), 64);
        assert_eq!(from_cookies(["moim_session=short"].into_iter()), None);
    }

    #[test]
    fn a_csrf_token_belongs_to_one_session_and_one_key() {
        let (a, b) = (Secret::new(), Secret::new());
        let token = a.csrf(b"key");
        assert!(a.csrf_matches(b"key", &token));
        assert!(!b.csrf_matches(b"key", &token));
        assert!(!a.csrf_matches(b"other", &token));
        assert!(!a.csrf_matches(b"key", ""));
    }
}
