//! Bearer tokens on HTTP requests (WHIP, WHEP, the room API): the token must be valid,
//! for the room in the path, and carry the grant the request needs.

use axum::http::{HeaderMap, header};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::Claims;

use crate::state::AppState;

/// The grant a request needs.
#[derive(Debug, Clone, Copy)]
pub enum Needs {
    Publish,
    Subscribe,
    /// Managing the room (the host's admin grant).
    Admin,
    /// Starting, stopping, listing and downloading recordings (record or admin grant).
    Record,
}

/// Checks the bearer token, that it is for `room` and that it has the grant needed.
pub fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    room: &str,
    needs: Needs,
) -> Result<Claims, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidToken,
                "Send the access token as \"Authorization: Bearer <token>\".",
            )
        })?;
    let claims = state.verify(token.trim())?;
    if claims.video.room != room {
        return Err(ApiError::new(
            ErrorCode::WrongRoom,
            format!(
                "The access token is for room \"{}\", not \"{room}\".",
                claims.video.room
            ),
        ));
    }
    let (granted, what) = match needs {
        Needs::Publish => (claims.video.can_publish, "publishing"),
        Needs::Subscribe => (claims.video.can_subscribe, "subscribing"),
        Needs::Admin => (claims.video.room_admin, "managing the room (admin grant)"),
        Needs::Record => (
            claims.video.room_record || claims.video.room_admin,
            "recordings (record or admin grant)",
        ),
    };
    if !granted {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!("The access token does not allow {what}."),
        ));
    }
    Ok(claims)
}
