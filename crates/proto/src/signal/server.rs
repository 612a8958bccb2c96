//! What Moim sends: [`ServerMessage`], and [`ServerReply`], the envelope that ties an
//! answer to its request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::error::{ApiError, ErrorCode};

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
        /// TURN servers with credentials for this participant, as `RTCPeerConnection`'s
        /// `iceServers` takes them: the way in for a network that blocks Moim's media ports.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
        /// The key that resumes this participant's signaling on a new socket after the
        /// socket was lost (`resume`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// The reply to `join` when the room is hosted on another node of the cluster: the
    /// client joins again there, with the same token, on a socket to `url`.
    Moved {
        /// The room asked for.
        room: String,
        /// The signaling WebSocket URL of the node hosting the room.
        url: String,
    },
    /// The node the participant is on is going away: the client joins again, as a new
    /// participant, at the server's own URL (which places the room on another node),
    /// without trying to resume here. The socket closes after this.
    Reconnect {
        /// Why.
        reason: ReconnectReason,
    },
    /// The reply to `resume`: the participant's signaling goes on over this socket. The
    /// messages the client missed follow; it sends again those of its own after the
    /// first `received`.
    Resumed {
        /// How many of the client's messages since it joined the server received.
        received: u64,
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
    /// A participant's connection quality changed (yours too).
    ConnectionQuality {
        /// The participant's sid.
        participant: String,
        /// How well its connection carries its media now.
        quality: ConnectionQuality,
    },
    /// Your own connection's numbers, every two seconds.
    NetworkStats {
        /// The numbers.
        stats: NetworkStats,
    },
    /// Which layers of one of this participant's videos to send: the tallest one someone
    /// receives and every smaller one (dynacast). A video no one receives has every layer
    /// paused.
    PublishLayers {
        /// The track's sid.
        track: String,
        /// The layers the server has seen.
        layers: Vec<LayerActive>,
    },
    /// A video this participant receives was paused because its connection does not
    /// carry even the video's smallest layer now, or resumed because it does again.
    SubscriptionPaused {
        /// The publisher's sid.
        participant: String,
        /// The track's sid.
        track: String,
        /// Paused (`true`) or resumed.
        paused: bool,
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
