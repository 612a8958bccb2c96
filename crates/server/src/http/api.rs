//! The JSON API the web app uses: server info and, in development mode, token minting.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::names;
use moim_proto::token::{Claims, GrantPreset, Grants};
use serde::{Deserialize, Serialize};

use crate::http::error::{error_response, json_body};
use crate::state::{AppState, unix_now};

/// Lifetime of tokens minted for the app in development mode.
const DEV_TOKEN_TTL_SECS: u64 = 6 * 3600;

/// What the server says of itself to anyone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// The server's version.
    version: &'static str,
    /// It runs in development mode (the app mints its own tokens).
    dev_mode: bool,
}

/// `GET /api/info`.
#[utoipa::path(
    get,
    path = "/api/info",
    operation_id = "getServerInfo",
    tag = "server",
    responses((status = 200, description = "The server's version and mode", body = ServerInfo)),
)]
pub async fn info(State(state): State<Arc<AppState>>) -> Response {
    Json(ServerInfo {
        version: env!("CARGO_PKG_VERSION"),
        dev_mode: state.config.dev_mode,
    })
    .into_response()
}

/// The body of `POST /api/dev/token`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DevTokenRequest {
    room: String,
    name: String,
    #[serde(default)]
    host: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DevTokenResponse {
    token: String,
    identity: String,
}

/// `POST /api/dev/token`: mints a token for the app, only in development mode and only
/// for the server's own pages: it answers no CORS preflight and refuses a request whose
/// `Origin` is another site, so no web page can mint tokens from a developer's server.
#[utoipa::path(
    post,
    path = "/api/dev/token",
    operation_id = "mintDevToken",
    tag = "server",
    request_body = DevTokenRequest,
    responses(
        (status = 200, description = "A token for the room, and the identity made for the name", body = DevTokenResponse),
        (status = "4XX", description = "Refused: not in development mode, another site's page, a bad room or name", body = ApiError),
    ),
)]
pub async fn dev_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<DevTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !state.config.dev_mode {
        return error_response(ApiError::new(
            ErrorCode::PermissionDenied,
            "Tokens are minted by the application in production; development mode is off.",
        ));
    }
    if !same_origin(&headers) {
        return error_response(ApiError::new(
            ErrorCode::PermissionDenied,
            "Development tokens are minted only for this server's own pages.",
        ));
    }
    let request = match json_body(body, "{room, name, host}") {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    if let Err(e) = names::check_room(&request.room) {
        return error_response(e);
    }
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 64 || names::check_name(name).is_err() {
        return error_response(ApiError::new(
            ErrorCode::MalformedMessage,
            "The name must be 1 to 64 characters.",
        ));
    }
    let identity = format!("{}-{:04x}", slug(name), rand::random::<u16>());
    let preset = if request.host {
        GrantPreset::Host
    } else {
        GrantPreset::Guest
    };
    let now = unix_now();
    let claims = Claims {
        iss: state.config.api_key.clone(),
        sub: identity.clone(),
        name: Some(name.to_owned()),
        nbf: now.saturating_sub(10),
        exp: now + DEV_TOKEN_TTL_SECS,
        video: Grants::preset(&request.room, preset),
    };
    Json(DevTokenResponse {
        token: claims.sign(&state.config.api_secret),
        identity,
    })
    .into_response()
}

/// Whether a request comes from a page of this server: no `Origin` (not a browser's
/// cross-site request), or one whose host is the request's `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_lowercase())
            } else if c == ' ' || c == '-' {
                Some('-')
            } else {
                None
            }
        })
        .take(24)
        .collect();
    if s.trim_matches('-').is_empty() {
        "guest".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_pages_mint_development_tokens() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "localhost:7880".parse().unwrap());
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(None)), "curl and the like");
        assert!(same_origin(&headers(Some("http://localhost:7880"))));
        assert!(!same_origin(&headers(Some("https://evil.example"))));
        assert!(!same_origin(&headers(Some("http://localhost:9999"))));
        assert!(!same_origin(&headers(Some("null"))));
    }

    #[test]
    fn slugs_are_identity_friendly() {
        assert_eq!(slug("Ada Lovelace"), "ada-lovelace");
        assert_eq!(slug("李"), "guest");
    }
}
