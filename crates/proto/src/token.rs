//! Access tokens: JWTs signed with HS256 that say who a participant is and what it may do.
//!
//! The claim names follow the conventions of other SFUs' tokens (`video.roomJoin`, …) so that
//! existing token tooling reads them. A token is minted with [`Claims::sign`] and checked
//! with [`Keys::verify`].

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{ApiError, ErrorCode};
use crate::names;

type HmacSha256 = Hmac<Sha256>;

/// What a token allows in its room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grants {
    /// The only room this token may enter.
    #[serde(default)]
    pub room: String,
    /// May join the room at all; [`Keys::verify`] refuses a token without it.
    #[serde(default)]
    pub room_join: bool,
    /// May publish tracks (a publisher connection, WHIP); viewers and an audio room's
    /// listeners may not.
    #[serde(default)]
    pub can_publish: bool,
    /// May receive the other participants' tracks (a subscriber connection, WHEP).
    #[serde(default)]
    pub can_subscribe: bool,
    /// May send chat and application data, draw on the whiteboard and vote in polls.
    #[serde(default)]
    pub can_publish_data: bool,
    /// Makes the participant a host: moderation, the waiting room, polls, the room's
    /// settings and the room API.
    #[serde(default)]
    pub room_admin: bool,
    /// May start and stop server recordings and download their files.
    #[serde(default)]
    pub room_record: bool,
    /// May see and manage the cluster's nodes (`/api/nodes`): a grant for the whole
    /// server, so a token with it needs no room.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub node_admin: bool,
    /// May create rooms (`POST /api/rooms`): a grant for the whole server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub room_create: bool,
    /// May list the rooms of the server (`GET /api/rooms`): a grant for the whole server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub room_list: bool,
}

/// The preset grant sets of `moim token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantPreset {
    /// Join, subscribe only.
    Viewer,
    /// Join, publish, subscribe, data.
    Guest,
    /// Everything, including admin and record.
    Host,
}

/// The grants that hold for the whole server rather than one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerGrant {
    /// `nodeAdmin`: the cluster's nodes.
    NodeAdmin,
    /// `roomCreate`: creating rooms.
    RoomCreate,
    /// `roomList`: listing rooms.
    RoomList,
}

impl ServerGrant {
    /// Whether `grants` carry it.
    pub fn granted(self, grants: &Grants) -> bool {
        match self {
            ServerGrant::NodeAdmin => grants.node_admin,
            ServerGrant::RoomCreate => grants.room_create,
            ServerGrant::RoomList => grants.room_list,
        }
    }

    /// What it allows, for the error when it is missing.
    pub fn what(self) -> &'static str {
        match self {
            ServerGrant::NodeAdmin => "managing nodes (nodeAdmin grant)",
            ServerGrant::RoomCreate => "creating rooms (roomCreate grant)",
            ServerGrant::RoomList => "listing rooms (roomList grant)",
        }
    }
}

impl Grants {
    /// The grants of `preset` for `room`.
    pub fn preset(room: &str, preset: GrantPreset) -> Grants {
        let publish = preset != GrantPreset::Viewer;
        let host = preset == GrantPreset::Host;
        Grants {
            room: room.to_owned(),
            room_join: true,
            can_publish: publish,
            can_subscribe: true,
            can_publish_data: publish,
            room_admin: host,
            room_record: host,
            ..Grants::default()
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The API key the token was signed for.
    pub iss: String,
    /// The participant's identity.
    pub sub: String,
    /// Display name; the identity when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Not before, in seconds since the Unix epoch; a minute of clock skew between the
    /// minting host and the server is allowed.
    #[serde(default)]
    pub nbf: u64,
    /// Expiry, in seconds since the Unix epoch: from then on the token is refused as
    /// expired.
    pub exp: u64,
    /// What the token allows; the claim is named `video` as in other SFUs' tokens, so their
    /// tooling reads it.
    pub video: Grants,
}

impl Claims {
    /// The display name, falling back to the identity.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.sub)
    }

    /// Checks the room name, identity and display name against [`crate::names`].
    pub fn check_names(&self) -> Result<(), ApiError> {
        names::check_room(&self.video.room)?;
        names::check_identity(&self.sub)?;
        names::check_name(self.name.as_deref().unwrap_or(""))
    }

    /// Encodes and signs the claims with `secret`.
    pub fn sign(&self, secret: &str) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(self).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(signing_input.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }
}

/// API keys and their secrets; verifies tokens.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    secrets: HashMap<String, String>,
}

impl Keys {
    /// A key set with one key.
    pub fn single(api_key: &str, secret: &str) -> Keys {
        let mut secrets = HashMap::new();
        secrets.insert(api_key.to_owned(), secret.to_owned());
        Keys { secrets }
    }

    /// The secret of `api_key`, if known.
    pub fn secret(&self, api_key: &str) -> Option<&str> {
        self.secrets.get(api_key).map(String::as_str)
    }

    /// Checks the token's shape, algorithm, issuer, signature and lifetime at `now`
    /// (seconds since the Unix epoch), that it admits to a room and the names it carries,
    /// and returns its claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, ApiError> {
        let claims = self.verify_signed(token, now)?;
        if !claims.video.room_join || claims.video.room.is_empty() {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "The access token does not grant joining a room.",
            ));
        }
        claims
            .check_names()
            .map_err(|e| invalid(&format!("its {}", lowercase_first(&e.message))))?;
        Ok(claims)
    }

    /// Checks a token for the server-wide node API as [`Keys::verify`] checks one for a
    /// room: signed, in its lifetime, and carrying the `nodeAdmin` grant.
    pub fn verify_node_admin(&self, token: &str, now: u64) -> Result<Claims, ApiError> {
        self.verify_server_wide(token, now, ServerGrant::NodeAdmin)
    }

    /// The claims of a valid token carrying the server-wide `grant`, in no particular room.
    pub fn verify_server_wide(
        &self,
        token: &str,
        now: u64,
        grant: ServerGrant,
    ) -> Result<Claims, ApiError> {
        let claims = self.verify_signed(token, now)?;
        if !grant.granted(&claims.video) {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                format!("The access token does not allow {}.", grant.what()),
            ));
        }
        Ok(claims)
    }

    /// The claims of a token signed with a known key and within its lifetime at `now`.
    fn verify_signed(&self, token: &str, now: u64) -> Result<Claims, ApiError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("it is not a JWT of three dot-separated parts"));
        };
        let header: serde_json::Value = B64
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or_else(|| invalid("its header is not base64url JSON"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(invalid("only HS256 is accepted"));
        }
        let payload_bytes = B64
            .decode(payload)
            .map_err(|_| invalid("its payload is not base64url"))?;
        let claims: Claims = serde_json::from_slice(&payload_bytes)
            .map_err(|e| invalid(&format!("its claims are incomplete ({e})")))?;
        let secret = self
            .secret(&claims.iss)
            .ok_or_else(|| invalid(&format!("the API key \"{}\" is unknown", claims.iss)))?;
        let signature = B64
            .decode(signature)
            .map_err(|_| invalid("its signature is not base64url"))?;
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(header_and_payload(token).as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| invalid("the signature does not match the API secret"))?;
        if claims.exp <= now {
            return Err(ApiError::new(
                ErrorCode::TokenExpired,
                "The access token has expired; ask for a new one.",
            ));
        }
        if claims.nbf > now + 60 {
            return Err(invalid("it is not valid yet (nbf is in the future)"));
        }
        Ok(claims)
    }
}

/// The error for a token that is not what it claims to be, saying `why`.
fn invalid(why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        format!("The access token is invalid: {why}."),
    )
}

/// "A room name is …" → "a room name is …", to follow "its".
fn lowercase_first(sentence: &str) -> String {
    let mut chars = sentence.trim_end_matches('.').chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_lowercase().chain(chars).collect::<String>()
    })
}

fn header_and_payload(token: &str) -> &str {
    let end = token.rfind('.').unwrap_or(token.len());
    &token[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn claims(preset: GrantPreset) -> Claims {
        Claims {
            iss: "devkey".into(),
            sub: "alice".into(),
            name: Some("Alice".into()),
            nbf: NOW - 10,
            exp: NOW + 3600,
            video: Grants::preset("standup", preset),
        }
    }

    fn keys() -> Keys {
        Keys::single("devkey", "secret")
    }

    #[test]
    fn signed_token_verifies_with_its_claims() {
        let c = claims(GrantPreset::Guest);
        let verified = keys().verify(&c.sign("secret"), NOW).unwrap();
        assert_eq!(verified, c);
        assert!(verified.video.can_publish && !verified.video.room_admin);
    }

    #[test]
    fn only_a_node_admin_token_opens_the_node_api_and_it_joins_no_room() {
        let mut c = claims(GrantPreset::Host);
        c.video = Grants {
            node_admin: true,
            ..Grants::default()
        };
        let token = c.sign("secret");
        assert_eq!(keys().verify_node_admin(&token, NOW).unwrap(), c);
        let err = keys().verify(&token, NOW).unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied);
        let host = claims(GrantPreset::Host).sign("secret");
        let err = keys().verify_node_admin(&host, NOW).unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied);
        let forged = keys().verify_node_admin(&c.sign("other"), NOW).unwrap_err();
        assert_eq!(forged.code, ErrorCode::InvalidToken);
    }

    #[test]
    fn presets_grant_what_they_say() {
        let viewer = Grants::preset("r", GrantPreset::Viewer);
        assert!(viewer.room_join && viewer.can_subscribe);
        assert!(!viewer.can_publish && !viewer.can_publish_data && !viewer.room_admin);
        let host = Grants::preset("r", GrantPreset::Host);
        assert!(host.can_publish && host.room_admin && host.room_record);
    }

    #[test]
    fn wrong_secret_is_invalid() {
        let err = keys()
            .verify(&claims(GrantPreset::Guest).sign("other"), NOW)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidToken);
        assert!(err.message.contains("signature"));
    }

    #[test]
    fn tampered_payload_is_invalid() {
        let token = claims(GrantPreset::Viewer).sign("secret");
        let mut forged = claims(GrantPreset::Host);
        forged.video.room_admin = true;
        let forged_payload = forged.sign("secret");
        let mixed = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap(),
            forged_payload.split('.').nth(1).unwrap(),
            token.split('.').nth(2).unwrap()
        );
        assert_eq!(
            keys().verify(&mixed, NOW).unwrap_err().code,
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn expired_token_is_refused() {
        let mut c = claims(GrantPreset::Guest);
        c.exp = NOW - 1;
        let err = keys().verify(&c.sign("secret"), NOW).unwrap_err();
        assert_eq!(err.code, ErrorCode::TokenExpired);
    }

    #[test]
    fn garbage_is_invalid() {
        for bad in ["", "abc", "a.b.c", "a.b.c.d", "e30.e30.e30"] {
            assert_eq!(
                keys().verify(bad, NOW).unwrap_err().code,
                ErrorCode::InvalidToken,
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_api_key_is_invalid() {
        let mut c = claims(GrantPreset::Guest);
        c.iss = "stranger".into();
        let err = keys().verify(&c.sign("secret"), NOW).unwrap_err();
        assert!(err.message.contains("stranger"));
    }

    #[test]
    fn alg_none_is_refused() {
        let c = claims(GrantPreset::Host);
        let payload = B64.encode(serde_json::to_vec(&c).unwrap());
        let token = format!("{}.{payload}.", B64.encode(br#"{"alg":"none"}"#));
        assert_eq!(
            keys().verify(&token, NOW).unwrap_err().code,
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn token_without_join_grant_is_denied() {
        let mut c = claims(GrantPreset::Guest);
        c.video.room_join = false;
        assert_eq!(
            keys().verify(&c.sign("secret"), NOW).unwrap_err().code,
            ErrorCode::PermissionDenied
        );
    }

    #[test]
    fn a_token_naming_a_room_or_identity_the_server_cannot_use_is_invalid() {
        for change in [
            |c: &mut Claims| c.video.room = "a/b".into(),
            |c: &mut Claims| c.video.room = "r".repeat(10_000),
            |c: &mut Claims| c.sub = "ada\r\nX-Injected: 1".into(),
            |c: &mut Claims| c.name = Some("n".repeat(100_000)),
        ] {
            let mut c = claims(GrantPreset::Guest);
            change(&mut c);
            let err = keys().verify(&c.sign("secret"), NOW).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidToken, "{err}");
        }
    }
}
