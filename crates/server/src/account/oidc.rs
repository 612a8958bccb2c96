//! Sign-in through the organisation's identity provider (OpenID Connect): the
//! authorization code flow with PKCE, a state and a nonce; the ID token checked against
//! the provider's keys (RS256), its issuer, audience, lifetime and nonce.
//!
//! Nothing is kept between the two legs: the state, nonce, PKCE verifier and where to go
//! after travel in a short-lived HttpOnly cookie signed with the API secret, so the
//! callback may reach any node. The provider's discovery document and keys are fetched
//! when first needed and again when a token names a key not seen yet.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::outbound;
use crate::state::unix_now;

/// The cookie carrying the sign-in in flight.
pub const COOKIE: &str = "moim_oidc";
/// How long a sign-in at the provider may take.
const FLIGHT_SECS: u64 = 600;
/// How long the provider's keys are trusted before they are fetched again.
const KEYS_FOR: Duration = Duration::from_secs(3600);

/// The identity provider, as configured.
#[derive(Debug)]
pub struct Oidc {
    issuer: String,
    client_id: String,
    client_secret: String,
    /// The provider's name on the sign-in button.
    pub name: String,
    key: Vec<u8>,
    known: Mutex<Option<(Provider, Instant)>>,
}

/// What the provider's discovery document and keys say.
#[derive(Debug, Clone)]
struct Provider {
    authorization_endpoint: String,
    token_endpoint: String,
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
}

#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// The sign-in in flight, as its cookie carries it.
#[derive(Debug, Serialize, Deserialize)]
struct Flight {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    exp: u64,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: u64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Oidc {
    /// The provider `config` names, if any.
    pub fn from_config(config: &Config) -> Option<Oidc> {
        let issuer = config.oidc_issuer.clone()?;
        Some(Oidc {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: config.oidc_client_id.clone().unwrap_or_default(),
            client_secret: config.oidc_client_secret.clone().unwrap_or_default(),
            name: config.oidc_name.clone(),
            key: config.api_secret.as_bytes().to_vec(),
            known: Mutex::new(None),
        })
    }

    /// Where to send the browser to sign in, and the value of the cookie for the way back.
    pub async fn begin(
        &self,
        redirect_uri: &str,
        next: &str,
    ) -> Result<(String, String), ApiError> {
        let provider = self.provider(false).await?;
        let flight = Flight {
            state: format!("{:032x}", rand::random::<u128>()),
            nonce: format!("{:032x}", rand::random::<u128>()),
            verifier: B64.encode(rand::random::<[u8; 32]>()),
            next: next.to_owned(),
            exp: unix_now() + FLIGHT_SECS,
        };
        let challenge = B64.encode(Sha256::digest(flight.verifier.as_bytes()));
        let separator = if provider.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!(
            "{}{separator}response_type=code&client_id={}&redirect_uri={}&scope=openid%20email%20profile\
             &state={}&nonce={}&code_challenge={challenge}&code_challenge_method=S256",
            provider.authorization_endpoint,
            encode(&self.client_id),
            encode(redirect_uri),
            flight.state,
            flight.nonce,
        );
        Ok((location, self.seal(&flight)))
    }

    /// The identity the provider vouches for, from the callback's `code` and `state` and
    /// the cookie set by [`Oidc::begin`]; and where to go next.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        state: &str,
        cookie: Option<&str>,
    ) -> Result<(Identity, String), ApiError> {
        let flight = cookie
            .and_then(|c| self.open(c))
            .filter(|f| f.exp > unix_now() && f.state == state)
            .ok_or_else(|| refused("the sign-in expired or did not start here; try again"))?;
        let provider = self.provider(false).await?;
        let form = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&client_secret={}&code_verifier={}",
            encode(code),
            encode(redirect_uri),
            encode(&self.client_id),
            encode(&self.client_secret),
            encode(&flight.verifier),
        );
        let (origin, path) = outbound::split_url(&provider.token_endpoint).map_err(unreachable)?;
        let reply = outbound::request(
            &origin,
            "POST",
            &path,
            "Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n",
            &form,
        )
        .await
        .map_err(unreachable)?;
        if reply.status != 200 {
            tracing::warn!(
                status = reply.status,
                "the identity provider refused the code"
            );
            return Err(refused("the identity provider refused the sign-in"));
        }
        let token: serde_json::Value = serde_json::from_str(&reply.body)
            .map_err(|_| refused("the identity provider's answer is not JSON"))?;
        let id_token = token["id_token"]
            .as_str()
            .ok_or_else(|| refused("the identity provider sent no ID token"))?;
        let claims = self.verify(id_token, &provider).await?;
        if claims.nonce.as_deref() != Some(flight.nonce.as_str()) {
            return Err(refused("the ID token is not for this sign-in (nonce)"));
        }
        Ok((
            Identity {
                subject: claims.sub,
                email: claims.email,
                email_verified: claims.email_verified.unwrap_or(false),
                name: claims.name.or(claims.preferred_username),
            },
            flight.next,
        ))
    }

    /// The ID token's claims, once its signature, issuer, audience and lifetime check out.
    async fn verify(&self, token: &str, provider: &Provider) -> Result<IdClaims, ApiError> {
        let mut parts = token.split('.');
        let (Some(head), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refused("the ID token is not a JWT"));
        };
        let header: serde_json::Value = decode_json(head)?;
        if header["alg"] != "RS256" {
            return Err(refused("the ID token is not signed with RS256"));
        }
        let kid = header["kid"].as_str();
        let signature = B64
            .decode(signature)
            .map_err(|_| refused("bad signature encoding"))?;
        let signed = &token[..head.len() + 1 + body.len()];
        let mut key = find_key(&provider.keys, kid).cloned();
        if key.is_none() {
            // A key rotated in since the keys were fetched.
            let fresh = self.provider(true).await?;
            key = find_key(&fresh.keys, kid).cloned();
        }
        let key = key.ok_or_else(|| refused("the ID token's key is not the provider's"))?;
        let n = B64.decode(&key.n).map_err(|_| refused("bad key"))?;
        let e = B64.decode(&key.e).map_err(|_| refused("bad key"))?;
        RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
            .map_err(|_| refused("the ID token's signature does not verify"))?;
        let claims: IdClaims = decode_json(body)?;
        if claims.iss.trim_end_matches('/') != self.issuer {
            return Err(refused("the ID token is from another issuer"));
        }
        let for_us = match &claims.aud {
            Audience::One(aud) => *aud == self.client_id,
            Audience::Many(auds) => auds.contains(&self.client_id),
        };
        if !for_us {
            return Err(refused("the ID token is for another client"));
        }
        if claims.exp + 60 < unix_now() {
            return Err(refused("the ID token expired"));
        }
        Ok(claims)
    }

    /// The provider's endpoints and keys: known ones, or fetched (again with `refresh`).
    async fn provider(&self, refresh: bool) -> Result<Provider, ApiError> {
        if !refresh
            && let Some((provider, at)) = &*self.known.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < KEYS_FOR
        {
            return Ok(provider.clone());
        }
        let discovery: Discovery =
            get_json(&format!("{}/.well-known/openid-configuration", self.issuer)).await?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(refused(
                "the provider's discovery document names another issuer",
            ));
        }
        let keys: JwkSet = get_json(&discovery.jwks_uri).await?;
        let provider = Provider {
            authorization_endpoint: discovery.authorization_endpoint,
            token_endpoint: discovery.token_endpoint,
            keys: keys.keys.into_iter().filter(|k| k.kty == "RSA").collect(),
        };
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((provider.clone(), Instant::now()));
        Ok(provider)
    }

    /// The cookie value of a sign-in in flight: its JSON and an HMAC of it.
    fn seal(&self, flight: &Flight) -> String {
        let payload = B64.encode(serde_json::to_vec(flight).expect("a flight serializes"));
        let mac = self.mac(&payload).finalize().into_bytes();
        format!("{payload}.{}", B64.encode(mac))
    }

    /// The sign-in in flight a cookie value carries, if the server made it.
    fn open(&self, cookie: &str) -> Option<Flight> {
        let (payload, mac) = cookie.split_once('.')?;
        // Compared in constant time.
        self.mac(payload)
            .verify_slice(&B64.decode(mac).ok()?)
            .ok()?;
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }

    /// The HMAC of a cookie's payload, keyed by the API secret.
    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"oidc:");
        mac.update(payload.as_bytes());
        mac
    }
}

fn find_key<'a>(keys: &'a [Jwk], kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let (origin, path) = outbound::split_url(url).map_err(unreachable)?;
    let reply = outbound::request(&origin, "GET", &path, "Accept: application/json\r\n", "")
        .await
        .map_err(unreachable)?;
    if reply.status != 200 {
        return Err(unreachable(anyhow::anyhow!(
            "{url} answered {}",
            reply.status
        )));
    }
    serde_json::from_str(&reply.body).map_err(|e| unreachable(anyhow::anyhow!("{url}: {e}")))
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, ApiError> {
    let bytes = B64
        .decode(part)
        .map_err(|_| refused("the ID token is not a JWT"))?;
    serde_json::from_slice(&bytes).map_err(|_| refused("the ID token's claims are not JSON"))
}

/// Percent-encodes a query or form value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn refused(why: &str) -> ApiError {
    tracing::info!("sign-in through the identity provider refused: {why}");
    ApiError::new(
        ErrorCode::PermissionDenied,
        format!("Sign-in through the identity provider failed: {why}."),
    )
}

fn unreachable(e: anyhow::Error) -> ApiError {
    tracing::warn!("the identity provider cannot be reached: {e:#}");
    ApiError::new(
        ErrorCode::ServerBusy,
        "The identity provider cannot be reached now; try again in a moment.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc() -> Oidc {
        let config = Config {
            oidc_issuer: Some("http://idp.example".into()),
            oidc_client_id: Some("moim".into()),
            ..Config::default()
        };
        Oidc::from_config(&config).unwrap()
    }

    #[test]
    fn the_flight_cookie_opens_only_as_sealed() {
        let oidc = oidc();
        let flight = Flight {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/account".into(),
            exp: 1,
        };
        let sealed = oidc.seal(&flight);
        assert_eq!(oidc.open(&sealed).unwrap().next, "/account");
        let (payload, mac) = sealed.split_once('.').unwrap();
        let forged = B64
            .encode(br#"{"state":"s","nonce":"n","verifier":"v","next":"https://evil","exp":1}"#);
        assert!(oidc.open(&format!("{forged}.{mac}")).is_none());
        assert!(oidc.open(payload).is_none());
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("http://a/b?c=d e"), "http%3A%2F%2Fa%2Fb%3Fc%3Dd%20e");
        assert_eq!(encode("A-z_0.~"), "A-z_0.~");
    }
}
