//! The signaling protocol, version 1: JSON objects over one WebSocket (`docs/protocol.md`).
//!
//! [`ClientMessage`] is what a browser or SDK sends, [`ServerMessage`] what Moim answers.
//! Both travel inside an envelope whose optional `id` lets a client match replies to requests.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

mod objects;

pub use objects::*;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame the server accepts, in bytes. An SDP answer grows by about 5 KB per
/// received track, so this leaves room for rooms of a hundred publishers.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Join {
        v: u32,
        token: String,
    },
    PublishOffer {
        sdp: String,
        tracks: Vec<PublishedMid>,
    },
    SubscribeAnswer {
        sdp: String,
    },
    Candidate {
        target: PeerTarget,
        candidate: Value,
    },
    Mute {
        track: String,
        muted: bool,
    },
    VideoSize {
        track: String,
        width: u32,
        height: u32,
    },
    /// A chat message to the room, or to the participants with the identities in `to`.
    Chat {
        text: String,
        #[serde(default)]
        to: Vec<String>,
    },
    /// An application message: any text (e.g. JSON) under an optional topic, to the room or
    /// to the identities in `to`. `reliable: false` allows loss for lower delay.
    Data {
        payload: String,
        #[serde(default)]
        topic: Option<String>,
        #[serde(default)]
        to: Vec<String>,
        #[serde(default = "reliable_by_default")]
        reliable: bool,
    },
    /// A host asks the room a question with 2 to 10 answers.
    PollCreate {
        question: String,
        options: Vec<String>,
    },
    /// A vote for answer `option` (its index) of poll `poll`; one per identity.
    PollVote {
        poll: u64,
        option: usize,
    },
    /// A host ends a poll.
    PollClose {
        poll: u64,
    },
    /// A host mutes (or, with `muted: false`, allows unmuting) another participant's track;
    /// `lock` keeps the participant from unmuting it until the host allows it.
    MuteParticipant {
        participant: String,
        track: String,
        muted: bool,
        #[serde(default)]
        lock: bool,
    },
    /// A host removes a participant; `ban` keeps its identity out of the room.
    RemoveParticipant {
        participant: String,
        #[serde(default)]
        ban: bool,
    },
    /// A host ends the meeting for everyone.
    EndMeeting,
    /// A host changes the room's settings; absent fields stay as they are.
    RoomSettings {
        #[serde(default)]
        locked: Option<bool>,
        #[serde(default)]
        waiting_room: Option<bool>,
        #[serde(default)]
        mode: Option<RoomMode>,
    },
    /// A host lets a participant in from the waiting room.
    Admit {
        participant: String,
    },
    /// A host turns a participant in the waiting room away.
    Reject {
        participant: String,
    },
    /// Raises or lowers the sender's hand.
    RaiseHand {
        raised: bool,
    },
    /// Points of one of the sender's whiteboard strokes, in the order drawn: the first
    /// message of stroke number `stroke` starts it, `done` ends it.
    BoardStroke {
        stroke: u32,
        tool: BoardTool,
        color: String,
        width: u32,
        points: Vec<i32>,
        #[serde(default)]
        done: bool,
    },
    /// Removes the sender's most recent stroke still on the board.
    BoardUndo,
    /// A host wipes the board.
    BoardClear,
    /// Where the sender points on the board; no coordinates: the pointer is gone.
    BoardPointer {
        #[serde(default)]
        x: Option<i32>,
        #[serde(default)]
        y: Option<i32>,
    },
    /// Starts a server recording of the room (record grant).
    RecordingStart {
        kind: RecordingKind,
    },
    /// Stops the room's recording (record grant).
    RecordingStop,
    /// A host lets a participant publish (`speaker: true`) or takes that away, live.
    SetSpeaker {
        participant: String,
        speaker: bool,
    },
    Leave,
    Ping,
}

fn reliable_by_default() -> bool {
    true
}

/// The `type` names [`ClientMessage`] knows, to tell unknown messages from malformed ones.
const CLIENT_TYPES: &[&str] = &[
    "join",
    "publish_offer",
    "subscribe_answer",
    "candidate",
    "mute",
    "video_size",
    "chat",
    "data",
    "poll_create",
    "poll_vote",
    "poll_close",
    "mute_participant",
    "remove_participant",
    "end_meeting",
    "room_settings",
    "admit",
    "reject",
    "raise_hand",
    "set_speaker",
    "recording_start",
    "recording_stop",
    "board_stroke",
    "board_undo",
    "board_clear",
    "board_pointer",
    "leave",
    "ping",
];

/// A client message with its optional request id.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest {
    pub id: Option<Value>,
    pub message: ClientMessage,
}

/// Why a frame could not be read as a [`ClientRequest`]; carries the request id when it
/// could be recovered so that the error reply can echo it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub id: Option<Value>,
    pub error: ApiError,
}

impl ClientRequest {
    /// Parses one text frame, telling oversized, malformed and unknown messages apart.
    pub fn decode(text: &str) -> Result<ClientRequest, DecodeError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError {
                id: None,
                error: ApiError::new(
                    ErrorCode::MessageTooLarge,
                    format!(
                        "The message is {} bytes; the limit is {MAX_MESSAGE_BYTES}.",
                        text.len()
                    ),
                ),
            });
        }
        let value: Value = serde_json::from_str(text).map_err(|e| DecodeError {
            id: None,
            error: ApiError::new(
                ErrorCode::MalformedMessage,
                format!("The message is not valid JSON: {e}."),
            ),
        })?;
        let Value::Object(object) = &value else {
            return Err(DecodeError {
                id: None,
                error: ApiError::new(
                    ErrorCode::MalformedMessage,
                    "The message must be a JSON object with a \"type\" field.",
                ),
            });
        };
        let id = object.get("id").cloned();
        let Some(kind) = object
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(DecodeError {
                id,
                error: ApiError::new(
                    ErrorCode::MalformedMessage,
                    "The message has no \"type\" string.",
                ),
            });
        };
        if !CLIENT_TYPES.contains(&kind.as_str()) {
            return Err(DecodeError {
                id,
                error: ApiError::new(
                    ErrorCode::UnknownMessage,
                    format!(
                        "Unknown message type \"{kind}\" for protocol version {PROTOCOL_VERSION}."
                    ),
                ),
            });
        }
        match serde_json::from_value::<ClientMessage>(value) {
            Ok(message) => Ok(ClientRequest { id, message }),
            Err(e) => Err(DecodeError {
                id,
                error: ApiError::new(
                    ErrorCode::MalformedMessage,
                    format!("The \"{kind}\" message is malformed: {e}."),
                ),
            }),
        }
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Joined {
        v: u32,
        room: String,
        participant: ParticipantInfo,
        participants: Vec<ParticipantInfo>,
        /// The room's recent chat messages, oldest first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        chat: Vec<ChatMessage>,
        /// The room's polls, oldest first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        polls: Vec<PollInfo>,
        #[serde(default)]
        settings: RoomSettings,
        /// Who is in the waiting room (sent to hosts only).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waiting: Vec<Sender>,
        /// The recording running now, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<RecordingInfo>,
        /// The whiteboard's strokes, bottom first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        board: Vec<BoardStroke>,
    },
    /// New points of a whiteboard stroke (`points` holds only the new ones; the first
    /// message of a stroke puts it on top of the board). Everyone gets these in the same
    /// order, the sender too, so every board ends up the same.
    BoardStroke {
        stroke: BoardStroke,
    },
    /// A recording started (`recording` set) or stopped (absent); also the reply to
    /// `recording_start` and `recording_stop`. `reason` says why the server stopped it
    /// by itself.
    Recording {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<RecordingInfo>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<RecordingStopReason>,
    },
    /// A stroke was taken back by its author.
    BoardRemove {
        id: String,
    },
    /// A host wiped the board.
    BoardClear,
    /// Where someone points on the board; no coordinates: the pointer is gone.
    BoardPointer {
        participant: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        x: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        y: Option<i32>,
    },
    /// The reply to `join` in a room with a waiting room: `joined` follows once a host
    /// admits you, the error `rejected` if a host turns you away.
    Waiting {
        room: String,
        participant: ParticipantInfo,
    },
    /// Who is in the waiting room now, oldest first (to hosts, whenever it changes).
    WaitingList {
        waiting: Vec<Sender>,
    },
    /// The room's settings changed.
    RoomSettings {
        settings: RoomSettings,
    },
    /// A participant's role or raised hand changed (also sent about yourself).
    ParticipantUpdated {
        participant: ParticipantInfo,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        sid: String,
        identity: String,
    },
    TrackPublished {
        participant: String,
        track: TrackInfo,
    },
    TrackUnpublished {
        participant: String,
        track: String,
    },
    TrackMuted {
        participant: String,
        track: String,
        muted: bool,
    },
    PublishAnswer {
        sdp: String,
        tracks: Vec<MidTrack>,
    },
    SubscribeOffer {
        sdp: String,
        tracks: Vec<SubscribedMid>,
    },
    Chat {
        message: ChatMessage,
    },
    /// A host muted one of your tracks (`locked`: you cannot unmute it until allowed), or
    /// allowed you to unmute it (`muted: false`).
    MutedByHost {
        track: String,
        muted: bool,
        locked: bool,
    },
    /// A poll was asked, voted in or closed (also the reply to those requests).
    Poll {
        poll: PollInfo,
    },
    /// The participants speaking now (sids), the one who started most recently first.
    ActiveSpeakers {
        speakers: Vec<String>,
    },
    /// An application message; `from` is absent when the server API sent it.
    Data {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Sender>,
        payload: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// A server message with the request id it answers, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    #[serde(flatten)]
    pub message: ServerMessage,
}

impl ServerReply {
    /// An unsolicited message (an event).
    pub fn event(message: ServerMessage) -> Self {
        ServerReply { id: None, message }
    }

    /// An error reply echoing the request id.
    pub fn error(id: Option<Value>, error: ApiError) -> Self {
        ServerReply {
            id,
            message: ServerMessage::Error {
                code: error.code,
                message: error.message,
            },
        }
    }

    /// The JSON text of this reply.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn join_round_trips_with_request_id() {
        let req = ClientRequest::decode(r#"{"type":"join","id":7,"v":1,"token":"abc"}"#).unwrap();
        assert_eq!(req.id, Some(json!(7)));
        assert_eq!(
            req.message,
            ClientMessage::Join {
                v: 1,
                token: "abc".into()
            }
        );
    }

    #[test]
    fn publish_offer_decodes_sources() {
        let text = json!({"type":"publish_offer","sdp":"v=0","tracks":[
            {"mid":"0","source":"microphone"},{"mid":"1","source":"camera","muted":true}]})
        .to_string();
        let ClientMessage::PublishOffer { tracks, .. } =
            ClientRequest::decode(&text).unwrap().message
        else {
            panic!("wrong variant");
        };
        assert_eq!(tracks[1].source, TrackSource::Camera);
        assert!(tracks[1].muted);
        assert!(!tracks[0].muted);
    }

    #[test]
    fn chat_and_data_decode_with_defaults() {
        let req = ClientRequest::decode(r#"{"type":"chat","text":"hi"}"#).unwrap();
        assert_eq!(
            req.message,
            ClientMessage::Chat {
                text: "hi".into(),
                to: vec![]
            }
        );
        let req = ClientRequest::decode(r#"{"type":"data","payload":"{}","to":["ada"]}"#).unwrap();
        assert_eq!(
            req.message,
            ClientMessage::Data {
                payload: "{}".into(),
                topic: None,
                to: vec!["ada".into()],
                reliable: true
            }
        );
    }

    #[test]
    fn unit_messages_decode() {
        let req = ClientRequest::decode(r#"{"type":"leave"}"#).unwrap();
        assert_eq!(req.message, ClientMessage::Leave);
    }

    #[test]
    fn not_json_is_malformed() {
        let err = ClientRequest::decode("{nope").unwrap_err();
        assert_eq!(err.error.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn non_object_is_malformed() {
        let err = ClientRequest::decode("[1,2]").unwrap_err();
        assert_eq!(err.error.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn unknown_type_is_named() {
        let err = ClientRequest::decode(r#"{"type":"teleport","id":"x"}"#).unwrap_err();
        assert_eq!(err.error.code, ErrorCode::UnknownMessage);
        assert_eq!(err.id, Some(json!("x")));
        assert!(err.error.message.contains("teleport"));
    }

    #[test]
    fn known_type_with_bad_fields_is_malformed() {
        let err = ClientRequest::decode(r#"{"type":"mute","track":5}"#).unwrap_err();
        assert_eq!(err.error.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn oversized_frame_is_refused_before_parsing() {
        let big = format!(
            r#"{{"type":"ping","pad":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        let err = ClientRequest::decode(&big).unwrap_err();
        assert_eq!(err.error.code, ErrorCode::MessageTooLarge);
    }

    #[test]
    fn large_sdp_of_a_big_meeting_is_accepted() {
        let sdp = "a=candidate:x\r\n".repeat(8 * 1024);
        let text = json!({"type": "subscribe_answer", "sdp": sdp}).to_string();
        assert!(text.len() > 100 * 1024);
        assert!(ClientRequest::decode(&text).is_ok());
    }

    #[test]
    fn replies_are_flat_objects() {
        let reply = ServerReply::error(
            Some(json!(3)),
            ApiError::new(ErrorCode::PermissionDenied, "No."),
        );
        let value: Value = serde_json::from_str(&reply.to_json()).unwrap();
        assert_eq!(
            value,
            json!({"id":3,"type":"error","code":"permission_denied","message":"No."})
        );
        let back: ServerReply = serde_json::from_value(value).unwrap();
        assert_eq!(back, reply);
    }

    #[test]
    fn events_have_no_id() {
        let text = ServerReply::event(ServerMessage::Pong).to_json();
        assert_eq!(text, r#"{"type":"pong"}"#);
    }
}
