//! What a browser or SDK sends: [`ClientMessage`] in its envelope ([`ClientRequest`]), and
//! how a frame is decoded into one, with the error a client is told when it cannot be.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::error::{ApiError, ErrorCode};

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message on a socket: enters the room the token names, as the participant
    /// it names.
    Join {
        /// The protocol version the client speaks; anything but [`PROTOCOL_VERSION`] is
        /// refused, so an incompatible client fails at once rather than halfway.
        v: u32,
        /// The access token (a JWT, see [`crate::token`]).
        token: String,
    },
    /// The first message on a new socket of a client whose socket was lost: takes up the
    /// participant's signaling where it broke off (see `resumed`), within the grace period
    /// the server keeps a lost participant.
    Resume {
        /// The protocol version the client speaks.
        v: u32,
        /// The participant's sid.
        participant: String,
        /// The `resume` key from `joined`.
        key: String,
        /// How many messages the client received since `joined`.
        received: u64,
    },
    /// An offer for the publisher connection, which the client always makes; it carries the
    /// participant's own tracks to the server.
    PublishOffer {
        /// The SDP offer.
        sdp: String,
        /// The source of every sending m-line; a track whose m-line is no longer listed is
        /// unpublished.
        tracks: Vec<PublishedMid>,
    },
    /// The answer to the server's latest [`ServerMessage::SubscribeOffer`].
    SubscribeAnswer {
        /// The SDP answer.
        sdp: String,
    },
    /// Restart ICE on the subscriber connection (the client's network changed): a
    /// [`ServerMessage::SubscribeOffer`] with new ICE credentials follows. The publisher
    /// connection restarts with a `publish_offer` made with `iceRestart`.
    RestartIce,
    /// A trickled client candidate; the server is ICE-lite and learns candidates from the
    /// connectivity checks, so this is optional.
    Candidate {
        /// Which of the two peer connections it belongs to.
        target: PeerTarget,
        /// The browser's `RTCIceCandidateInit`, as it is.
        candidate: Value,
    },
    /// The participant muted or unmuted one of its own tracks; while muted the server
    /// forwards nothing from it.
    Mute {
        /// The track's sid.
        track: String,
        /// Muted (`true`) or unmuted.
        muted: bool,
    },
    /// The size at which the client shows a remote video, from which the server picks the
    /// simulcast layer it sends.
    VideoSize {
        /// The video track's sid.
        track: String,
        /// Rendered width in pixels; `0` with a height of `0` means not shown.
        width: u32,
        /// Rendered height in pixels.
        height: u32,
    },
    /// A chat message to the room, or to the participants with the identities in `to`.
    Chat {
        /// The message, 1 to 4,000 characters.
        text: String,
        /// The identities of a direct message's recipients; empty for the whole room.
        #[serde(default)]
        to: Vec<String>,
    },
    /// An application message: any text (e.g. JSON) under an optional topic, to the room or
    /// to the identities in `to`. `reliable: false` allows loss for lower delay.
    Data {
        /// The application's text, at most 15 KiB.
        payload: String,
        /// A label the application chooses, so receivers can tell kinds of messages apart.
        #[serde(default)]
        topic: Option<String>,
        /// The identities of the recipients; empty for the whole room.
        #[serde(default)]
        to: Vec<String>,
        /// `false` lets the message go on the lossy data channel and be dropped when that
        /// is full.
        #[serde(default = "reliable_by_default")]
        reliable: bool,
    },
    /// A host asks the room a question with 2 to 10 answers.
    PollCreate {
        /// The question, at most 500 characters.
        question: String,
        /// The answers to choose from, at most 200 characters each.
        options: Vec<String>,
    },
    /// A vote for answer `option` (its index) of poll `poll`; one per identity.
    PollVote {
        /// The poll's id.
        poll: u64,
        /// The index of the chosen answer.
        option: usize,
    },
    /// A host ends a poll.
    PollClose {
        /// The poll's id.
        poll: u64,
    },
    /// A host mutes (or, with `muted: false`, allows unmuting) another participant's track;
    /// `lock` keeps the participant from unmuting it until the host allows it.
    MuteParticipant {
        /// The sid of the participant whose track it is.
        participant: String,
        /// The track's sid.
        track: String,
        /// Mute it (`true`), or lift a lock so its owner may unmute (`false`).
        muted: bool,
        /// Keep the owner from unmuting until a host allows it.
        #[serde(default)]
        lock: bool,
    },
    /// A host removes a participant; `ban` keeps its identity out of the room.
    RemoveParticipant {
        /// The participant's sid.
        participant: String,
        /// Refuse the identity's later joins too.
        #[serde(default)]
        ban: bool,
    },
    /// A host ends the meeting for everyone.
    EndMeeting,
    /// A host changes the room's settings; absent fields stay as they are.
    RoomSettings {
        /// Lock or unlock the room to newcomers.
        #[serde(default)]
        locked: Option<bool>,
        /// Turn the waiting room on or off (off admits everyone waiting).
        #[serde(default)]
        waiting_room: Option<bool>,
        /// Switch between a meeting and an audio room.
        #[serde(default)]
        mode: Option<RoomMode>,
    },
    /// A host lets a participant in from the waiting room.
    Admit {
        /// The waiting participant's sid, from [`ServerMessage::WaitingList`].
        participant: String,
    },
    /// A host turns a participant in the waiting room away.
    Reject {
        /// The waiting participant's sid, from [`ServerMessage::WaitingList`].
        participant: String,
    },
    /// Raises or lowers the sender's hand.
    RaiseHand {
        /// Raised (`true`) or lowered.
        raised: bool,
    },
    /// Points of one of the sender's whiteboard strokes, in the order drawn: the first
    /// message of stroke number `stroke` starts it, `done` ends it.
    BoardStroke {
        /// The sender's own number for the stroke, which ties its messages together.
        stroke: u32,
        /// Ink or eraser.
        tool: BoardTool,
        /// `#rrggbb`.
        color: String,
        /// Line width in board units, 1 to 64.
        width: u32,
        /// The new points, `x0, y0, x1, y1, …` in board coordinates.
        points: Vec<i32>,
        /// The pen was lifted: this is the stroke's last message.
        #[serde(default)]
        done: bool,
    },
    /// Removes the sender's most recent stroke still on the board.
    BoardUndo,
    /// A host wipes the board.
    BoardClear,
    /// Where the sender points on the board; no coordinates: the pointer is gone.
    BoardPointer {
        /// Board x coordinate.
        #[serde(default)]
        x: Option<i32>,
        /// Board y coordinate.
        #[serde(default)]
        y: Option<i32>,
    },
    /// Starts a server recording of the room (record grant).
    RecordingStart {
        /// What the recording captures.
        kind: RecordingKind,
    },
    /// Stops the room's recording (record grant).
    RecordingStop,
    /// Makes the room live: a broadcast of participant `source`'s camera and microphone
    /// over LL-HLS (record grant). The reply is a `broadcast` message with the playback
    /// URLs.
    BroadcastStart {
        /// The identity of the participant shown; it need not have joined yet.
        source: String,
        /// Anyone may watch; else only through the signed URLs hosts are given.
        #[serde(default)]
        public: bool,
    },
    /// Stops the room's broadcast (record grant).
    BroadcastStop,
    /// A host lets a participant publish (`speaker: true`) or takes that away, live.
    SetSpeaker {
        /// The participant's sid.
        participant: String,
        /// Promote to speaker (`true`) or make a listener again.
        speaker: bool,
    },
    /// The participant leaves and the server closes the socket: the room hears of it at once,
    /// not after a timeout.
    Leave,
    /// Answered by [`ServerMessage::Pong`], so a client notices a socket that went silent
    /// and reconnects.
    Ping,
}

fn reliable_by_default() -> bool {
    true
}

/// The `type` names [`ClientMessage`] knows, to tell unknown messages from malformed ones.
const CLIENT_TYPES: &[&str] = &[
    "join",
    "resume",
    "publish_offer",
    "subscribe_answer",
    "candidate",
    "restart_ice",
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
    "broadcast_start",
    "broadcast_stop",
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
    /// The client's id for the request (any JSON value), echoed in the reply.
    pub id: Option<Value>,
    /// What the client asks.
    pub message: ClientMessage,
}

/// Why a frame could not be read as a [`ClientRequest`]; carries the request id when it
/// could be recovered so that the error reply can echo it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The request id, when the frame was a JSON object that had one.
    pub id: Option<Value>,
    /// What was wrong: too large, malformed or unknown.
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
