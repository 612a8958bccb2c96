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
    /// The first message on a socket: enters the room the token names, as the participant
    /// it names.
    Join {
        /// The protocol version the client speaks; anything but [`PROTOCOL_VERSION`] is
        /// refused, so an incompatible client fails at once rather than halfway.
        v: u32,
        /// The access token (a JWT, see [`crate::token`]).
        token: String,
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

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The reply to `join` (or, after the waiting room, an event): the participant is in
    /// the room, and this is everything it needs to show the room as it is now.
    Joined {
        /// The protocol version the server speaks.
        v: u32,
        /// The room's name.
        room: String,
        /// The joining participant itself, with its sid and role.
        participant: ParticipantInfo,
        /// Everyone else in the room, with their tracks.
        participants: Vec<ParticipantInfo>,
        /// The room's recent chat messages, oldest first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        chat: Vec<ChatMessage>,
        /// The room's polls, oldest first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        polls: Vec<PollInfo>,
        /// The room's settings.
        #[serde(default)]
        settings: RoomSettings,
        /// Who is in the waiting room (sent to hosts only).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waiting: Vec<Sender>,
        /// The recording running now, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<RecordingInfo>,
        /// The broadcast running now, if the room is live.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        broadcast: Option<Box<BroadcastInfo>>,
        /// The whiteboard's strokes, bottom first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        board: Vec<BoardStroke>,
    },
    /// New points of a whiteboard stroke (`points` holds only the new ones; the first
    /// message of a stroke puts it on top of the board). Everyone gets these in the same
    /// order, the sender too, so every board ends up the same.
    BoardStroke {
        /// The stroke, with only its new points.
        stroke: BoardStroke,
    },
    /// A recording started (`recording` set) or stopped (absent); also the reply to
    /// `recording_start` and `recording_stop`. `reason` says why the server stopped it
    /// by itself.
    Recording {
        /// The recording that runs now; absent once it stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<RecordingInfo>,
        /// Why the server stopped it without being asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<RecordingStopReason>,
    },
    /// The room went live (`broadcast` set) or stopped being live (absent); also the
    /// reply to `broadcast_start` and `broadcast_stop`, which carries `playback` for the
    /// host who asked.
    Broadcast {
        /// The broadcast that runs now; absent once it stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        broadcast: Option<BroadcastInfo>,
        /// Where to watch it (only in the reply to the host who started it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        playback: Option<BroadcastPlayback>,
        /// Why the server stopped it without being asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<BroadcastStopReason>,
    },
    /// A stroke was taken back by its author.
    BoardRemove {
        /// The stroke's id.
        id: String,
    },
    /// A host wiped the board.
    BoardClear,
    /// Where someone points on the board; no coordinates: the pointer is gone.
    BoardPointer {
        /// The sid of the participant pointing.
        participant: String,
        /// Board x coordinate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        x: Option<i32>,
        /// Board y coordinate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        y: Option<i32>,
    },
    /// The reply to `join` in a room with a waiting room: `joined` follows once a host
    /// admits you, the error `rejected` if a host turns you away.
    Waiting {
        /// The room's name.
        room: String,
        /// The waiting participant itself, with the sid hosts see in the waiting list.
        participant: ParticipantInfo,
    },
    /// Who is in the waiting room now, oldest first (to hosts, whenever it changes).
    WaitingList {
        /// The waiting participants.
        waiting: Vec<Sender>,
    },
    /// The room's settings changed.
    RoomSettings {
        /// The settings now.
        settings: RoomSettings,
    },
    /// A participant's role or raised hand changed (also sent about yourself).
    ParticipantUpdated {
        /// The participant as it is now.
        participant: ParticipantInfo,
    },
    /// Someone joined the room (or was admitted from the waiting room).
    ParticipantJoined {
        /// The newcomer.
        participant: ParticipantInfo,
    },
    /// Someone left or vanished (or was replaced by a new connection of the same identity);
    /// their tracks are gone with them.
    ParticipantLeft {
        /// The participant's sid.
        sid: String,
        /// The participant's identity, which a client may key its own state by.
        identity: String,
    },
    /// A track is available to subscribe to (sent once media arrives on it).
    TrackPublished {
        /// The publisher's sid.
        participant: String,
        /// The track.
        track: TrackInfo,
    },
    /// A track is gone.
    TrackUnpublished {
        /// The publisher's sid.
        participant: String,
        /// The track's sid.
        track: String,
    },
    /// A track was muted or unmuted, by its owner or a host.
    TrackMuted {
        /// The owner's sid.
        participant: String,
        /// The track's sid.
        track: String,
        /// Muted (`true`) or unmuted.
        muted: bool,
    },
    /// The answer to [`ClientMessage::PublishOffer`].
    PublishAnswer {
        /// The SDP answer.
        sdp: String,
        /// The track sid each sending m-line got, so the client can name its tracks in
        /// `mute` and match them in announcements.
        tracks: Vec<MidTrack>,
    },
    /// A new offer for the subscriber connection, which the server always makes: sent when
    /// tracks come or go; the client answers with [`ClientMessage::SubscribeAnswer`].
    SubscribeOffer {
        /// The SDP offer.
        sdp: String,
        /// What every active m-line carries, so the client can tell whose track arrives.
        tracks: Vec<SubscribedMid>,
    },
    /// A chat message from someone, or the reply to the client's own `chat`.
    Chat {
        /// The message as delivered, with its id and time.
        message: ChatMessage,
    },
    /// A host muted one of your tracks (`locked`: you cannot unmute it until allowed), or
    /// allowed you to unmute it (`muted: false`).
    MutedByHost {
        /// The track's sid.
        track: String,
        /// Muted by the host (`true`), or allowed to unmute.
        muted: bool,
        /// The participant may not unmute the track until a host allows it.
        locked: bool,
    },
    /// A poll was asked, voted in or closed (also the reply to those requests).
    Poll {
        /// The poll as it is now.
        poll: PollInfo,
    },
    /// The participants speaking now (sids), the one who started most recently first.
    ActiveSpeakers {
        /// Participant sids; empty when nobody speaks.
        speakers: Vec<String>,
    },
    /// An application message; `from` is absent when the server API sent it.
    Data {
        /// The sending participant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Sender>,
        /// The application's text.
        payload: String,
        /// The sender's label for the message, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// The reply to [`ClientMessage::Ping`].
    Pong,
    /// A request failed (or the connection is about to close, e.g. `replaced`, `removed`).
    Error {
        /// The stable code a client branches on.
        code: ErrorCode,
        /// A sentence for people.
        message: String,
    },
}

/// A server message with the request id it answers, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerReply {
    /// The id of the request this answers; absent on events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The message, flattened into the same JSON object as the id.
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
