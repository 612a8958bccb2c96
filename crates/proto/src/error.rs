//! Stable error codes: the part of an error a client may branch on.

use serde::{Deserialize, Serialize};

/// Why a request failed. The wire form (`snake_case`) is stable across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MalformedMessage,
    UnknownMessage,
    MessageTooLarge,
    UnsupportedVersion,
    NotJoined,
    AlreadyJoined,
    InvalidToken,
    TokenExpired,
    WrongRoom,
    PermissionDenied,
    InvalidSdp,
    UnknownTrack,
    NotFound,
    Replaced,
    Removed,
    Banned,
    MeetingEnded,
    RoomLocked,
    WaitingRoom,
    Rejected,
    ServerBusy,
    RateLimited,
    Conflict,
    StorageFull,
    Internal,
}

impl ErrorCode {
    /// The wire name of the code, e.g. `"invalid_token"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => "malformed_message",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::WrongRoom => "wrong_room",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::InvalidSdp => "invalid_sdp",
            ErrorCode::UnknownTrack => "unknown_track",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Replaced => "replaced",
            ErrorCode::Removed => "removed",
            ErrorCode::Banned => "banned",
            ErrorCode::MeetingEnded => "meeting_ended",
            ErrorCode::RoomLocked => "room_locked",
            ErrorCode::WaitingRoom => "waiting_room",
            ErrorCode::Rejected => "rejected",
            ErrorCode::ServerBusy => "server_busy",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Conflict => "conflict",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as sent to a client: a stable code and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    /// Makes an error from a code and a human sentence.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in [
            ErrorCode::MalformedMessage,
            ErrorCode::InvalidToken,
            ErrorCode::PermissionDenied,
            ErrorCode::MessageTooLarge,
            ErrorCode::RateLimited,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
