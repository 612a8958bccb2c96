//! The JSON API the web app uses: server info and, in development mode, token minting.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::{Claims, GrantPreset, Grants};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::error_response;
use crate::state::{AppState, unix_now};

/// Lifetime of tokens minted for the app in development mode.
const DEV_TOKEN_TTL_SECS: u64 = 6 * 3600;

/// `GET /api/info`.
pub async fn info(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "devMode": state.config.dev_mode,
    }))
    .into_response()
}

/// The body of `POST /api/dev/token`.
#[derive(Debug, Deserialize)]
pub struct DevTokenRequest {
    room: String,
    name: String,
    #[serde(default)]
    host: bool,
}

#[derive(Debug, Serialize)]
struct DevTokenResponse {
    token: String,
    identity: String,
}

/// `POST /api/dev/token`: mints a token for the app, only in development mode.
pub async fn dev_token(
    State(state): State<Arc<AppState>>,
    body: Result<Json<DevTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !state.config.dev_mode {
        return error_response(ApiError::new(
            ErrorCode::PermissionDenied,
            "Tokens are minted by the application in production; development mode is off.",
        ));
    }
    let Json(request) = match body {
        Ok(body) => body,
        Err(e) => {
            return error_response(ApiError::new(
                ErrorCode::MalformedMessage,
                format!("Expected JSON {{room, name, host}}: {e}"),
            ));
        }
    };
    if let Err(e) = check_room_name(&request.room) {
        return error_response(e);
    }
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
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

/// Room names are what fits in a URL path segment unescaped.
pub fn check_room_name(room: &str) -> Result<(), ApiError> {
    let ok = !room.is_empty()
        && room.len() <= 64
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::MalformedMessage,
            "A room name is 1 to 64 letters, digits, '-', '_' or '.'.",
        ))
    }
}

fn slug(name: &str) -> String {
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
    fn room_names_are_url_safe() {
        assert!(check_room_name("daily-standup_2.0").is_ok());
        for bad in ["", "a b", "ä", "x/y", &"a".repeat(65)] {
            assert!(check_room_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_are_identity_friendly() {
        assert_eq!(slug("Ada Lovelace"), "ada-lovelace");
        assert_eq!(slug("李"), "guest");
    }
}
