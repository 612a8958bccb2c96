//! Stable error codes: the part of an error a client may branch on.

use serde::{Deserialize, Serialize};

/// Why a request failed. The wire form (`snake_case`) is stable across versions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object of a known shape, or a value in it breaks its rule
    /// (an empty chat text, a room name with a slash).
    MalformedMessage,
    /// The `type` is not one this protocol version knows; told apart from a malformed
    /// message so that a newer client learns it talks to an older server.
    UnknownMessage,
    /// The frame, or a part with its own limit (chat text, data payload, stroke points), is
    /// too large; the connection stays open.
    MessageTooLarge,
    /// `join` asked for a protocol version other than
    /// [`PROTOCOL_VERSION`](crate::signal::PROTOCOL_VERSION).
    UnsupportedVersion,
    /// A request other than `join` or `ping` came before the participant joined the room,
    /// or while it waits in the waiting room.
    NotJoined,
    /// A second `join` on a socket that already carries a participant.
    AlreadyJoined,
    /// `resume` found nothing to resume: the participant is gone (its grace period passed,
    /// it was removed, or the server restarted), the key is wrong, or the client missed
    /// more than the server keeps. The client joins afresh.
    CannotResume,
    /// The access token is not a well-formed JWT of a known API key, its signature does not
    /// verify, or it names a room or identity the server cannot use.
    InvalidToken,
    /// The access token's lifetime is over; separate from an invalid token so that a client
    /// knows to fetch a new one rather than give up.
    TokenExpired,
    /// The token is for another room than the one in the URL (WHIP, WHEP, the room API).
    WrongRoom,
    /// The token's grants, or the room (an audio room's listener, a host's mute lock), do
    /// not allow the request.
    PermissionDenied,
    /// An offer or answer (or a WHIP/WHEP body) could not be parsed or negotiated: the
    /// client's SDP is at fault, so sending it again will not help.
    InvalidSdp,
    /// The track sid is not one of the participant's own (`mute`) or names no track at all
    /// (`video_size`).
    UnknownTrack,
    /// What the request names is not there: a participant, a poll, a stroke to undo, a
    /// recording, a WHIP/WHEP session.
    NotFound,
    /// The same identity joined the room on another connection, which takes this one's
    /// place; this is how a client reconnects.
    Replaced,
    /// A host removed the participant from the meeting; the connection closes.
    Removed,
    /// A host removed the participant with a ban, or its identity is banned from the room
    /// and may not join again.
    Banned,
    /// A host ended the meeting for everyone; the connection closes.
    MeetingEnded,
    /// A host locked the room: only hosts and participants admitted before may join.
    RoomLocked,
    /// The room has as many participants as its `max_participants` setting allows.
    RoomFull,
    /// The room has a waiting room and a WHIP or WHEP client cannot wait in it, so a host
    /// must admit the identity first.
    WaitingRoom,
    /// A host turned the participant away from the waiting room; the connection closes.
    Rejected,
    /// The media plane cannot take the request now (its queue is full or it stopped);
    /// trying again later may succeed.
    ServerBusy,
    /// Too many messages of one kind in a short time; that one was not carried out.
    RateLimited,
    /// The request contradicts the room's state: a second vote, a closed poll, a full
    /// board, a recording already running.
    Conflict,
    /// No room for another recording: the recordings folder used its quota or the disk is
    /// nearly full.
    StorageFull,
    /// The cluster's coordination store (Redis) cannot be reached, so no node can take a
    /// room that is not running yet; rooms already running carry on. Trying again later
    /// may succeed.
    ClusterUnavailable,
    /// The request needs a signed-in user and carries no live session (none, expired,
    /// signed out, or its user disabled).
    NotSignedIn,
    /// Sign-in with an email and password that do not match an account; the same answer
    /// whether or not the email has one.
    WrongCredentials,
    /// A signed-in browser's state-changing request came without its session's CSRF token
    /// (or with another), so it may not come from the server's own pages.
    CsrfFailed,
    /// An upload is not of a type the route takes (a profile picture that is not PNG,
    /// JPEG or WebP).
    UnsupportedType,
    /// A bug in the server, which logged it; the request itself may have been fine.
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
            ErrorCode::CannotResume => "cannot_resume",
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
            ErrorCode::RoomFull => "room_full",
            ErrorCode::WaitingRoom => "waiting_room",
            ErrorCode::Rejected => "rejected",
            ErrorCode::ServerBusy => "server_busy",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Conflict => "conflict",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::ClusterUnavailable => "cluster_unavailable",
            ErrorCode::NotSignedIn => "not_signed_in",
            ErrorCode::WrongCredentials => "wrong_credentials",
            ErrorCode::CsrfFailed => "csrf_failed",
            ErrorCode::UnsupportedType => "unsupported_type",
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// What a client branches on; stable across versions.
    pub code: ErrorCode,
    /// A sentence for people saying what went wrong and, where it helps, what to do; its
    /// wording may change.
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
            ErrorCode::ClusterUnavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
