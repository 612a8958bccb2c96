//! The objects the signaling messages carry: tracks, participants, chat messages, polls,
//! room settings, whiteboard strokes, recordings.

use serde::{Deserialize, Serialize};

/// Where a track's media comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Camera,
    Microphone,
    Screen,
    ScreenAudio,
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Audio,
    Video,
}

/// What a participant may do in the room, as shown to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Host,
    Guest,
    Viewer,
}

/// What a room is for: a meeting where everyone with the publish grant speaks and shows
/// video, or an audio room where only hosts and the listeners they promote speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomMode {
    #[default]
    Meeting,
    Audio,
}

/// How hosts set up the room; everyone in it is told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    /// No one new may join (hosts and people already admitted still can).
    #[serde(default)]
    pub locked: bool,
    /// Newcomers wait until a host admits them.
    #[serde(default)]
    pub waiting_room: bool,
    #[serde(default)]
    pub mode: RoomMode,
}

/// A published track as announced to the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub sid: String,
    pub kind: TrackKind,
    pub source: TrackSource,
    pub muted: bool,
    pub simulcast: bool,
}

/// A participant as announced to the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub sid: String,
    pub identity: String,
    pub name: String,
    pub role: Role,
    pub tracks: Vec<TrackInfo>,
    /// The participant asks to speak (audio rooms).
    #[serde(default, skip_serializing_if = "is_false")]
    pub hand_raised: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// One sending m-line of a publisher offer and the source behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedMid {
    pub mid: String,
    pub source: TrackSource,
    #[serde(default)]
    pub muted: bool,
}

/// Which track sid the server gave a publisher m-line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MidTrack {
    pub mid: String,
    pub sid: String,
}

/// What one m-line of the subscriber connection carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedMid {
    pub mid: String,
    pub track: String,
    pub participant: String,
}

/// Who sent a chat or data message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub sid: String,
    pub identity: String,
    pub name: String,
}

/// A chat message as the room keeps and delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Increasing within the room.
    pub id: u64,
    /// Milliseconds since the Unix epoch, by the server's clock.
    pub ts: u64,
    pub from: Sender,
    pub text: String,
    /// For a direct message, the identities it went to (empty: the whole room).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

/// One answer of a poll and its votes so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollOption {
    pub text: String,
    pub votes: u32,
}

/// A poll as the room keeps and announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInfo {
    /// Increasing within the room.
    pub id: u64,
    /// When it was asked, milliseconds since the Unix epoch.
    pub ts: u64,
    pub from: Sender,
    pub question: String,
    pub options: Vec<PollOption>,
    /// No more votes are taken.
    pub closed: bool,
}

/// What a whiteboard stroke draws with: ink, or the board's background colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardTool {
    Pen,
    Eraser,
}

/// A whiteboard stroke as the room keeps it; points are board coordinates
/// (`x0, y0, x1, y1, …` on a 1600 × 900 board).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardStroke {
    /// `{participant sid}.{stroke number}`, unique within the room.
    pub id: String,
    /// The identity that drew it.
    pub by: String,
    pub tool: BoardTool,
    /// `#rrggbb`.
    pub color: String,
    pub width: u32,
    pub points: Vec<i32>,
    /// The pen was lifted: no more points come.
    pub done: bool,
}

/// What a server recording captures.
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
}

/// A recording running in a room, as everyone in it is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingInfo {
    pub id: String,
    pub kind: RecordingKind,
    /// When it started, milliseconds since the Unix epoch.
    pub started_at: u64,
}

/// Why the server stopped a recording nobody asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStopReason {
    /// It reached the server's `recording_max_duration`.
    MaxDuration,
    /// The recordings folder reached its quota, or its disk is nearly full.
    StorageFull,
}

/// Which of the two peer connections a candidate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerTarget {
    Publisher,
    Subscriber,
}
