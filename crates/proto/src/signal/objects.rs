//! The objects the signaling messages carry: tracks, participants, chat messages, polls,
//! room settings, whiteboard strokes, recordings.

use serde::{Deserialize, Serialize};

/// Where a track's media comes from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    /// A camera's video: what a participant's tile and the room's stream show.
    Camera,
    /// A microphone's audio.
    Microphone,
    /// A shared screen, window or tab, which clients show in a tile of its own.
    Screen,
    /// The audio that comes with a shared screen or tab.
    ScreenAudio,
}

/// Audio or video.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    /// Audio, always a single layer.
    Audio,
    /// Video, possibly in several simulcast layers.
    Video,
}

/// What a participant may do in the room, as shown to others.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The token grants admin: may moderate and change the room's settings.
    Host,
    /// May publish but not moderate.
    Guest,
    /// May not publish: a viewer token, or a listener in an audio room.
    Viewer,
}

/// What a room is for: a meeting where everyone with the publish grant speaks and shows
/// video, or an audio room where only hosts and the listeners they promote speak.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomMode {
    /// Everyone whose token allows it publishes audio and video.
    #[default]
    Meeting,
    /// Only hosts and the listeners they promote publish; the others listen and may raise a
    /// hand.
    Audio,
}

/// How hosts set up the room; everyone in it is told.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    /// No one new may join (hosts and people already admitted still can).
    #[serde(default)]
    pub locked: bool,
    /// Newcomers wait until a host admits them.
    #[serde(default)]
    pub waiting_room: bool,
    /// A meeting or an audio room.
    #[serde(default)]
    pub mode: RoomMode,
    /// At most this many participants are in the room or wait at its door (players of
    /// its stream not counted); 0 for no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_participants: u32,
    /// Seconds the room is kept once empty, instead of the server's `empty_room_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_timeout: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A published track as announced to the room.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    /// The server-made id (`TR_…`) that requests and announcements name the track by.
    pub sid: String,
    /// Audio or video.
    pub kind: TrackKind,
    /// Where the media comes from, so a client knows where to show it.
    pub source: TrackSource,
    /// The server forwards nothing while it is muted.
    pub muted: bool,
    /// The publisher sends several layers, so each subscriber gets one that fits its size.
    pub simulcast: bool,
}

/// A participant as announced to the room.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// The server-made id (`PA_…`) of this connection of the participant; a reconnect gets
    /// a new one.
    pub sid: String,
    /// The identity from the token, the same across reconnects.
    pub identity: String,
    /// The display name.
    pub name: String,
    /// What it may do, so clients show hosts and listeners as such.
    pub role: Role,
    /// Its published tracks.
    pub tracks: Vec<TrackInfo>,
    /// The participant asks to speak (audio rooms).
    #[serde(default, skip_serializing_if = "is_false")]
    pub hand_raised: bool,
    /// How well its connection carries its media, once measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<ConnectionQuality>,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// One sending m-line of a publisher offer and the source behind it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedMid {
    /// The m-line's mid in the offer.
    pub mid: String,
    /// What the client sends on it.
    pub source: TrackSource,
    /// The track is muted from the start (a camera turned off before publishing).
    #[serde(default)]
    pub muted: bool,
}

/// How well a participant's connection carries its media, worst first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionQuality {
    /// Nothing arrived from it lately.
    Lost,
    /// Heavy loss, long delays or a video paused for bandwidth.
    Poor,
    /// Some loss or delay.
    Good,
    /// Nothing to notice.
    Excellent,
}

/// A TURN server and the time-limited credentials to use it (`RTCIceServer`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `turn:` and `turns:` URLs of one server.
    pub urls: Vec<String>,
    /// `{expiry}:{identity}`.
    pub username: String,
    /// The password for `username`.
    pub credential: String,
}

/// A participant's own connection numbers, for its network panel.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    /// Round-trip time to the server, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    /// Jitter of the audio the server receives from it, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u32>,
    /// Share of its packets lost on the way to the server, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_up: Option<f32>,
    /// Share of the server's packets lost on the way to it, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_down: Option<f32>,
    /// What it sends the server, in kbit/s.
    pub up_kbps: u32,
    /// What the server sends it, in kbit/s.
    pub down_kbps: u32,
    /// What the server estimates its downlink carries, in kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_kbps: Option<u32>,
    /// The media goes over TCP (a network that blocks UDP) rather than UDP.
    pub tcp: bool,
}

/// One simulcast layer of a published video and whether to send it (dynacast).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerActive {
    /// The layer's rid; `None` for a video without simulcast.
    pub rid: Option<String>,
    /// Send it (`true`) or pause it.
    pub active: bool,
}

/// Which track sid the server gave a publisher m-line.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MidTrack {
    /// The m-line's mid in the offer.
    pub mid: String,
    /// The sid of the track it publishes.
    pub sid: String,
}

/// What one m-line of the subscriber connection carries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedMid {
    /// The m-line's mid in the server's offer.
    pub mid: String,
    /// The sid of the track it carries.
    pub track: String,
    /// The sid of the track's publisher.
    pub participant: String,
}

/// Who sent a chat or data message.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The participant's sid.
    pub sid: String,
    /// The participant's identity, which direct messages are addressed to.
    pub identity: String,
    /// The display name at the time of sending.
    pub name: String,
}

/// A chat message as the room keeps and delivers it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Increasing within the room.
    pub id: u64,
    /// Milliseconds since the Unix epoch, by the server's clock.
    pub ts: u64,
    /// Who wrote it.
    pub from: Sender,
    /// The message.
    pub text: String,
    /// For a direct message, the identities it went to (empty: the whole room).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

/// One answer of a poll and its votes so far.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollOption {
    /// The answer.
    pub text: String,
    /// How many identities chose it.
    pub votes: u32,
}

/// A poll as the room keeps and announces it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInfo {
    /// Increasing within the room.
    pub id: u64,
    /// When it was asked, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The host who asked.
    pub from: Sender,
    /// The question.
    pub question: String,
    /// The answers, in the order asked; votes name them by index.
    pub options: Vec<PollOption>,
    /// No more votes are taken.
    pub closed: bool,
}

/// What a whiteboard stroke draws with: ink, or the board's background colour.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardTool {
    /// Draws in the stroke's colour.
    Pen,
    /// Paints the board's white: a stroke like any other, so undo and the board's order
    /// treat it the same way.
    Eraser,
}

/// A whiteboard stroke as the room keeps it; points are board coordinates
/// (`x0, y0, x1, y1, …` on a 1600 × 900 board).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardStroke {
    /// `{participant sid}.{stroke number}`, unique within the room.
    pub id: String,
    /// The identity that drew it.
    pub by: String,
    /// Ink or eraser.
    pub tool: BoardTool,
    /// `#rrggbb`.
    pub color: String,
    /// Line width in board units.
    pub width: u32,
    /// `x0, y0, x1, y1, …`; in a message, only the points new since the last.
    pub points: Vec<i32>,
    /// The pen was lifted: no more points come.
    pub done: bool,
}

/// What a server recording captures.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingKind {
    /// Each published track to its own file, without transcoding.
    Track,
    /// Each participant's audio and video together in one file, in sync.
    Participant,
    /// The room's audio mixed into one Opus file.
    AudioOnly,
    /// The whole meeting in one file: every video in a grid and the mixed audio.
    Composite,
    /// A broadcast's watch-back (its top rung), kept in an owned room's library once the
    /// broadcast ended; never started as a recording.
    Broadcast,
}

/// A recording running in a room, as everyone in it is told.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// The server-made id (`RC_…`), which names its folder and its API routes.
    pub id: String,
    /// What it captures.
    pub kind: RecordingKind,
    /// When it started, milliseconds since the Unix epoch.
    pub started_at: u64,
}

/// Why the server stopped a recording nobody asked to stop.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStopReason {
    /// It reached the server's `recording_max_duration`.
    MaxDuration,
    /// The recordings folder reached its quota, or its disk is nearly full.
    StorageFull,
}

/// Where a broadcast goes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastOutput {
    /// LL-HLS with a quality ladder at `/hls/{room}/…`.
    Hls,
    /// Restreamed to an RTMP server (the ladder's top rung, H.264 and AAC).
    Rtmp,
}

/// A broadcast running in a room (it is live), as everyone in it is told.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastInfo {
    /// The server-made id (`BC_…`), which names its API route and its HLS files.
    pub id: String,
    /// The identity of the participant whose camera and microphone it shows.
    pub source: String,
    /// Where it goes.
    pub outputs: Vec<BroadcastOutput>,
    /// Anyone may watch it; else only through the signed URLs hosts are given.
    pub public: bool,
    /// When it started, milliseconds since the Unix epoch.
    pub started_at: u64,
}

/// Why the server stopped a broadcast nobody asked to stop.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastStopReason {
    /// Its source left (or stopped publishing) and did not come back within the grace
    /// period.
    SourceGone,
}

/// Why the server asks a client to join again elsewhere.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectReason {
    /// The node is draining (shutting down, or an operator asked it to): the room goes on
    /// on another node of the cluster.
    Draining,
}

/// Where to watch a broadcast: paths on the server (prefix them with its origin).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastPlayback {
    /// The multivariant LL-HLS playlist; for a private broadcast a signed URL that works
    /// until `expires_at`.
    pub hls: String,
    /// When `hls` stops working, seconds since the Unix epoch (private broadcasts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The watch page (`/watch/{room}`, with `?key=` for a private broadcast).
    pub watch: String,
    /// The WHEP endpoint that plays the source with sub-second delay; none for the
    /// composite grid, which plays over HLS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whep: Option<String>,
}

/// Which of the two peer connections a candidate belongs to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerTarget {
    /// The connection carrying the participant's own tracks to the server.
    Publisher,
    /// The connection carrying the others' tracks to the participant.
    Subscriber,
}
