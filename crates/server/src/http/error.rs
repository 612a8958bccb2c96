//! Error bodies of the HTTP surface: every refusal is JSON `{code, message}` with the
//! status of its code, and a request body that is not what a route reads says so.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;

/// An error as a JSON body with the matching HTTP status.
pub fn error_response(error: ApiError) -> Response {
    let status = match error.code {
        ErrorCode::InvalidToken
        | ErrorCode::TokenExpired
        | ErrorCode::NotSignedIn
        | ErrorCode::WrongCredentials => StatusCode::UNAUTHORIZED,
        ErrorCode::CsrfFailed => StatusCode::FORBIDDEN,
        ErrorCode::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::PermissionDenied
        | ErrorCode::WrongRoom
        | ErrorCode::Banned
        | ErrorCode::RoomLocked
        | ErrorCode::RoomFull
        | ErrorCode::WaitingRoom => StatusCode::FORBIDDEN,
        ErrorCode::NotFound | ErrorCode::UnknownTrack => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::ServerBusy | ErrorCode::ClusterUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, axum::Json(error)).into_response()
}

/// The largest JSON body the API reads (WHIP/WHEP offers have their own limit).
pub const MAX_API_BODY_BYTES: usize = 64 * 1024;

/// The JSON body of an API request, or the error that says what was expected: `413` with
/// `message_too_large` beyond [`MAX_API_BODY_BYTES`], `400` with `malformed_message` when it
/// is not the `shape` (e.g. `{track, muted}`) the route reads.
pub fn json_body<T>(body: Result<Json<T>, JsonRejection>, shape: &str) -> Result<T, ApiError> {
    body.map(|Json(request)| request).map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::MessageTooLarge,
                format!("The body is over {MAX_API_BODY_BYTES} bytes."),
            )
        } else {
            ApiError::new(
                ErrorCode::MalformedMessage,
                format!("Expected JSON {shape}: {e}"),
            )
        }
    })
}
