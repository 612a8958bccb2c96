//! Time-limited TURN credentials in the form coturn's `use-auth-secret` accepts (the
//! "TURN REST API" of draft-uberti-behave-turn-rest): the username is
//! `{expiry unix time}:{identity}` and the password is the base64 HMAC-SHA1 of the
//! username under a secret the server shares with whoever mints them. Nothing is stored:
//! any node, or an external coturn, holding the secret can check them.

use base64::Engine;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// The secret TURN credentials are signed with (coturn's `static-auth-secret`).
#[derive(Clone)]
pub struct TurnSecret(Vec<u8>);

impl std::fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurnSecret(..)")
    }
}

/// A username and password for a TURN server, as `RTCIceServer` takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `{expiry}:{identity}`.
    pub username: String,
    /// The base64 HMAC-SHA1 of the username.
    pub credential: String,
}

impl TurnSecret {
    /// A secret from its bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> TurnSecret {
        TurnSecret(secret.into())
    }

    /// Credentials for `identity` valid until `expires` (unix seconds).
    pub fn mint(&self, identity: &str, expires: u64) -> Credentials {
        let username = format!("{expires}:{identity}");
        let credential = self.password(&username);
        Credentials {
            username,
            credential,
        }
    }

    fn password(&self, username: &str) -> String {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(username.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// The long-term key (RFC 8489 §9.2.2: MD5 of `username:realm:password`) of a
    /// username that has not expired at `now` (unix seconds), or `None`.
    pub fn key(&self, username: &str, realm: &str, now: u64) -> Option<[u8; 16]> {
        let expiry = username.split(':').next()?;
        if expiry.parse::<u64>().ok()? <= now {
            return None;
        }
        Some(long_term_key(username, realm, &self.password(username)))
    }
}

/// The long-term credential key (RFC 8489 §9.2.2): MD5 of `username:realm:password`,
/// which MESSAGE-INTEGRITY is keyed with.
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(format!("{username}:{realm}:{password}"));
    md5.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_coturn_use_auth_secret() {
        // As computed by Python: base64(hmac.new(secret, username, sha1).digest()).
        let secret = TurnSecret::new("north");
        let c = secret.mint("ada", 1_800_000_000);
        assert_eq!(c.username, "1800000000:ada");
        assert_eq!(c.credential, "RgrCQ8LW/vH5U93IENfd8YxpOx0=");
    }

    #[test]
    fn an_expired_or_malformed_username_has_no_key() {
        let secret = TurnSecret::new("north");
        let c = secret.mint("ada", 1000);
        assert!(secret.key(&c.username, "moim", 999).is_some());
        assert!(secret.key(&c.username, "moim", 1000).is_none());
        assert!(secret.key("ada", "moim", 0).is_none());
    }
}
