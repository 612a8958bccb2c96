//! The control plane's picture of rooms and participants, and how to reach each one.
//!
//! Rooms exist while someone is in them or waits to be admitted, and for the empty-room
//! timeout after the last one left (so a page reload or a short outage keeps the chat,
//! the board and the settings); a meeting a host ended goes at once. Every change that others must hear about
//! (join, leave, tracks) is broadcast from here, so the announcements and the state never
//! disagree. The lock around [`Rooms`] is never held across an await.

pub mod admission;
pub mod board;
pub mod chat;
pub mod lobby;
pub mod media_events;
pub mod moderation;
pub mod outbox;
pub mod participant;
pub mod polls;
pub mod rooms;
pub mod roster;
pub mod snapshot;
pub mod stream;

pub use rooms::{Entry, Joined, Rooms};

use std::time::Instant;

use moim_media::{Command, ParticipantId, RoomId, TrackId};

use crate::media::Media;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{
    ConnectionQuality, ParticipantInfo, RoomSettings, ServerMessage, TrackKind,
};

use crate::broadcast::live::Broadcast;
use crate::recording::slot::RecordingSlot;
use crate::room::board::Board;
use crate::room::chat::ChatLog;
use crate::room::lobby::Lobby;
use crate::room::participant::Participant;
use crate::room::polls::Polls;
use crate::room::roster::Roster;
use crate::room::stream::RoomStream;
use crate::state::{media_error, unix_millis};

/// The error for a room that does not run (rooms exist while someone is in them, and
/// for their empty timeout after).
pub fn no_one_in(room: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("No room \"{room}\" runs here: nobody is in it, and it was not made."),
    )
}

/// A room: who is in it and at its door, and what they share. Each part has one owner
/// type that keeps its rules ([`Roster`], [`Lobby`], [`ChatLog`], [`Polls`], [`Board`],
/// [`RecordingSlot`], [`RoomStream`]); callers ask the room for them.
#[derive(Debug)]
pub struct Room {
    id: RoomId,
    roster: Roster,
    lobby: Lobby,
    chat: ChatLog,
    polls: Polls,
    board: Board,
    recording: RecordingSlot,
    /// The broadcast running, if the room is live.
    broadcast: Option<Broadcast>,
    /// Whom the room's stream (WHEP) shows.
    stream: RoomStream,
    /// When the last one left; the room goes once the empty-room timeout has passed.
    emptied_at: Option<Instant>,
    /// A host ended the meeting: the room goes as soon as it is empty.
    ended: bool,
    /// Its lasting state ([`snapshot`]) may have changed since it was last taken.
    changed: bool,
    /// It runs on another node of the cluster: this one holds only its players and the
    /// relay that feeds them (`cluster/relay`), and neither hosts nor snapshots it.
    mirror: bool,
    /// When it was made here, in milliseconds since the Unix epoch.
    created_at: u64,
}

impl Room {
    fn new() -> Room {
        Room {
            id: RoomId::next(),
            roster: Roster::default(),
            lobby: Lobby::default(),
            chat: ChatLog::default(),
            polls: Polls::default(),
            board: Board::default(),
            recording: RecordingSlot::default(),
            broadcast: None,
            stream: RoomStream::default(),
            emptied_at: None,
            ended: false,
            changed: false,
            mirror: false,
            created_at: unix_millis(),
        }
    }

    /// When it was made on this node, in milliseconds since the Unix epoch.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// Refuses a newcomer with `identity` while the room holds its `max_participants`
    /// (in it or waiting); one rejoining under an identity already counted takes its own
    /// place. Hidden players of its stream are not counted.
    pub fn check_room_for(&self, identity: &str) -> Result<(), ApiError> {
        let max = self.lobby.settings().max_participants as usize;
        if max == 0 {
            return Ok(());
        }
        let present = self
            .roster
            .iter()
            .chain(self.lobby.waiting())
            .filter(|p| !p.hidden && p.identity != identity)
            .count();
        if present >= max {
            return Err(ApiError::new(
                ErrorCode::RoomFull,
                format!("The room is full: it takes at most {max} participants."),
            ));
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.roster.is_empty() && self.lobby.no_one_waiting()
    }

    /// Whether the room runs on another node and this one only mirrors it.
    pub fn is_mirror(&self) -> bool {
        self.mirror
    }

    /// The media plane's id of this room.
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// Who is in the room.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Who is in the room, mutably (participants are added and removed by [`Rooms`]).
    pub fn roster_mut(&mut self) -> &mut Roster {
        &mut self.roster
    }

    /// The room's door: settings, the waiting room, speakers of an audio room.
    pub fn lobby(&self) -> &Lobby {
        &self.lobby
    }

    /// The room's door, mutably.
    pub fn lobby_mut(&mut self) -> &mut Lobby {
        self.changed = true;
        &mut self.lobby
    }

    /// The room's settings now.
    pub fn settings(&self) -> RoomSettings {
        self.lobby.settings()
    }

    /// The room's chat.
    pub fn chat(&self) -> &ChatLog {
        &self.chat
    }

    /// The room's chat, mutably.
    pub fn chat_mut(&mut self) -> &mut ChatLog {
        self.changed = true;
        &mut self.chat
    }

    /// The room's polls.
    pub fn polls(&self) -> &Polls {
        &self.polls
    }

    /// The room's server recording.
    pub fn recording(&self) -> &RecordingSlot {
        &self.recording
    }

    /// The room's server recording, mutably.
    pub fn recording_mut(&mut self) -> &mut RecordingSlot {
        self.changed = true;
        &mut self.recording
    }

    /// The room's broadcast, if it is live.
    pub fn broadcast_running(&self) -> Option<&Broadcast> {
        self.broadcast.as_ref()
    }

    /// The room's broadcast place, mutably: a broadcast is started and stopped here.
    pub fn broadcast_mut(&mut self) -> &mut Option<Broadcast> {
        &mut self.broadcast
    }

    /// Taps a newly published track of `participant` if the room's broadcast shows it.
    pub fn tap_for_broadcast(
        &mut self,
        media: &Media,
        participant: ParticipantId,
        track: TrackId,
        kind: TrackKind,
    ) {
        if let (Some(broadcast), Some(p)) = (&mut self.broadcast, self.roster.get(participant)) {
            broadcast.track_published(media, p, track, kind);
        }
    }

    /// A participant with the room's board, to check its grants while drawing.
    pub fn member_and_board(
        &mut self,
        id: ParticipantId,
    ) -> Option<(&mut Participant, &mut Board)> {
        self.changed = true;
        Some((self.roster.get_mut(id)?, &mut self.board))
    }

    /// A participant with the room's polls, to check its grants while voting.
    pub fn member_and_polls(&mut self, id: ParticipantId) -> Option<(&Participant, &mut Polls)> {
        self.changed = true;
        Some((self.roster.get(id)?, &mut self.polls))
    }

    /// A participant with the room's recording, which notes its tracks.
    pub fn member_and_recording(
        &mut self,
        id: ParticipantId,
    ) -> Option<(&mut Participant, &mut RecordingSlot)> {
        Some((self.roster.get_mut(id)?, &mut self.recording))
    }

    /// A host ended the meeting: the room goes as soon as it is empty.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Applies the room's mode to what `id` may publish: in an audio room only hosts and
    /// promoted speakers publish; in a meeting, what its token allows. Returns whether it
    /// could publish before and can now, with the participant as announced.
    pub fn regrant(&mut self, id: ParticipantId) -> Option<(bool, bool, ParticipantInfo)> {
        let p = self.roster.get_mut(id)?;
        let could = p.grants.can_publish;
        p.grants.can_publish = self.lobby.lets_publish(&p.identity, &p.token_grants);
        Some((could, p.grants.can_publish, p.info()))
    }

    /// Tells the hosts who is waiting now.
    pub fn tell_hosts_waiting(&self) {
        self.roster.tell_hosts(ServerMessage::WaitingList {
            waiting: self.lobby.waiting_list(),
        });
    }

    /// Sends `message` to every participant but `except`.
    pub fn broadcast(&self, except: Option<ParticipantId>, message: ServerMessage) {
        self.roster.broadcast(except, message);
    }

    /// Tells of a change in a participant's connection quality (see [`Roster::tell_quality`]).
    pub fn tell_quality(&self, participant: ParticipantId, quality: ConnectionQuality) {
        self.roster.tell_quality(participant, quality);
    }

    /// Mutes or unmutes a track: the media plane stops or resumes forwarding it and the
    /// room hears of it. A track the media plane has not announced yet starts in that state.
    /// Nothing changes when the media plane cannot take the command (overloaded).
    pub fn set_track_muted(
        &mut self,
        media: &Media,
        participant: ParticipantId,
        track: TrackId,
        muted: bool,
    ) -> Result<(), ApiError> {
        media
            .send(Command::Mute {
                participant,
                track,
                muted,
            })
            .map_err(media_error)?;
        let Some(p) = self.roster.get_mut(participant) else {
            return Ok(());
        };
        if let Some(wanted) = p.unannounced.get_mut(&track) {
            *wanted = muted;
            return Ok(());
        }
        let sid = track.to_string();
        if let Some(info) = p.tracks.iter_mut().find(|t| t.sid == sid) {
            info.muted = muted;
        }
        self.broadcast(
            None,
            ServerMessage::TrackMuted {
                participant: participant.to_string(),
                track: sid,
                muted,
            },
        );
        self.refresh_stream(media);
        Ok(())
    }

    /// Chooses whom the room's stream shows again, and tells the media plane's players
    /// when that changed (a choice the media plane could not take is tried again on the
    /// next change).
    pub fn refresh_stream(&mut self, media: &Media) {
        let broadcast = self
            .broadcast
            .as_ref()
            .and_then(|b| self.roster.find_identity(&b.info.source))
            .map(|p| p.id);
        if let Some(featured) =
            self.stream
                .choose(self.roster.by_id(), self.roster.speakers(), broadcast)
            && self.feature(media, featured)
        {
            self.stream.set(featured);
        }
    }

    /// Tells the media plane whom the room's stream shows (a new player needs to know).
    pub fn announce_stream(&self, media: &Media) {
        self.feature(media, self.stream.featured());
    }

    /// Tells the players of the room whom to show; false when the media plane did not take it.
    fn feature(&self, media: &Media, participant: Option<ParticipantId>) -> bool {
        let command = Command::Feature {
            room: self.id,
            participant,
        };
        media
            .send(command)
            .inspect_err(
                |e| tracing::warn!(room = %self.id, "could not tell players whom to show: {e}"),
            )
            .is_ok()
    }

    /// Notes that `track` of `participant` started or stopped carrying speech, and tells
    /// the room when that changes who is speaking.
    pub fn set_speaking(
        &mut self,
        media: &Media,
        participant: ParticipantId,
        track: TrackId,
        speaking: bool,
    ) {
        if !self.roster.note_speaking(participant, track, speaking) {
            return;
        }
        self.broadcast(
            None,
            ServerMessage::ActiveSpeakers {
                speakers: self
                    .roster
                    .speakers()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
        );
        self.refresh_stream(media);
    }
}
