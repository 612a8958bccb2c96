//! What a webhook receiver is told: one JSON object per event, with the room it happened
//! in and what it is about.

use moim_proto::signal::{BroadcastInfo, ParticipantInfo, RecordingInfo, TrackInfo};
use serde::Serialize;

use crate::state::unix_millis;

/// The kinds of event, by their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    RoomStarted,
    RoomFinished,
    ParticipantJoined,
    ParticipantLeft,
    TrackPublished,
    TrackUnpublished,
    RecordingStarted,
    RecordingFinished,
    BroadcastStarted,
    BroadcastFinished,
}

impl EventKind {
    /// The wire name, e.g. `room_started`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RoomStarted => "room_started",
            EventKind::RoomFinished => "room_finished",
            EventKind::ParticipantJoined => "participant_joined",
            EventKind::ParticipantLeft => "participant_left",
            EventKind::TrackPublished => "track_published",
            EventKind::TrackUnpublished => "track_unpublished",
            EventKind::RecordingStarted => "recording_started",
            EventKind::RecordingFinished => "recording_finished",
            EventKind::BroadcastStarted => "broadcast_started",
            EventKind::BroadcastFinished => "broadcast_finished",
        }
    }
}

/// A recording as an event tells of it: started, or finished with its manifest (as
/// written next to its files, `recording/manifest.rs`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RecordingDetails {
    Started(RecordingInfo),
    Finished(serde_json::Value),
}

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unique (`EV_…`); the same on every attempt, so a receiver can drop a repeat.
    pub id: String,
    pub event: EventKind,
    /// When it happened, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// The room's name.
    pub room: String,
    /// Who joined or left, or whose track it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant: Option<ParticipantInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<BroadcastInfo>,
}

impl Event {
    /// An event of `kind` in `room`, happening now, about nothing more yet.
    pub fn new(kind: EventKind, room: &str) -> Event {
        Event {
            id: format!("EV_{:016x}", rand::random::<u64>()),
            event: kind,
            created_at: unix_millis(),
            room: room.to_owned(),
            participant: None,
            track: None,
            recording: None,
            broadcast: None,
        }
    }

    /// About `participant`.
    pub fn participant(mut self, participant: ParticipantInfo) -> Event {
        self.participant = Some(participant);
        self
    }

    /// About `track`.
    pub fn track(mut self, track: TrackInfo) -> Event {
        self.track = Some(track);
        self
    }

    /// About a recording.
    pub fn recording(mut self, recording: RecordingDetails) -> Event {
        self.recording = Some(recording);
        self
    }

    /// About a broadcast.
    pub fn broadcast(mut self, broadcast: BroadcastInfo) -> Event {
        self.broadcast = Some(broadcast);
        self
    }
}
