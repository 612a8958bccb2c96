//! The room's door: its settings (lock, waiting room, mode), who was already let in, who
//! waits for a host, and whom hosts made speakers of an audio room. Every way into a room
//! asks [`Lobby::check`], so signaling, WHIP, WHEP and RTMP meet the same rules.

use std::collections::HashSet;

use moim_media::ParticipantId;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{RoomMode, RoomSettings, Sender};
use moim_proto::token::Grants;

use crate::room::participant::Participant;

/// What the room's gate says to a newcomer it does not refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Straight in.
    Open,
    /// The room has a waiting room: a host decides.
    Waiting,
}

/// A change of settings; absent fields stay as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct SettingsChange {
    pub locked: Option<bool>,
    pub waiting_room: Option<bool>,
    pub mode: Option<RoomMode>,
    pub max_participants: Option<u32>,
    pub empty_timeout: Option<u32>,
}

/// Who may come in and who may speak.
#[derive(Debug, Default)]
pub struct Lobby {
    settings: RoomSettings,
    /// Identities that were let in: they rejoin a locked room or one with a waiting room
    /// (e.g. after a lost connection) without asking again.
    admitted: HashSet<String>,
    /// Identities a host made speakers of this audio room.
    promoted: HashSet<String>,
    /// Newcomers waiting for a host, oldest first; not announced to the room.
    waiting: Vec<Participant>,
}

impl Lobby {
    /// A lobby as a snapshot left it: its settings, the identities admitted and made
    /// speakers; nobody waits.
    pub(super) fn from_parts(
        settings: RoomSettings,
        admitted: Vec<String>,
        promoted: Vec<String>,
    ) -> Lobby {
        Lobby {
            settings,
            admitted: admitted.into_iter().collect(),
            promoted: promoted.into_iter().collect(),
            waiting: Vec::new(),
        }
    }

    /// The identities admitted and made speakers, for a snapshot.
    pub(super) fn parts(&self) -> (Vec<String>, Vec<String>) {
        (
            self.admitted.iter().cloned().collect(),
            self.promoted.iter().cloned().collect(),
        )
    }

    /// The room's settings now.
    pub fn settings(&self) -> RoomSettings {
        self.settings
    }

    /// Applies a change of settings and returns the settings it gives.
    pub fn change(&mut self, change: SettingsChange) -> RoomSettings {
        let s = &mut self.settings;
        s.locked = change.locked.unwrap_or(s.locked);
        s.waiting_room = change.waiting_room.unwrap_or(s.waiting_room);
        s.mode = change.mode.unwrap_or(s.mode);
        s.max_participants = change.max_participants.unwrap_or(s.max_participants);
        s.empty_timeout = change.empty_timeout.or(s.empty_timeout);
        *s
    }

    /// The room's own rules for a newcomer (bans are the node's, checked before): hosts
    /// and identities already admitted pass; the lock refuses; a waiting room holds.
    pub fn check(&self, identity: &str, admin: bool) -> Result<Gate, ApiError> {
        if admin || self.admitted.contains(identity) {
            return Ok(Gate::Open);
        }
        if self.settings.locked {
            return Err(ApiError::new(
                ErrorCode::RoomLocked,
                "The meeting is locked; a host has to unlock it before anyone new can join.",
            ));
        }
        Ok(if self.settings.waiting_room {
            Gate::Waiting
        } else {
            Gate::Open
        })
    }

    /// Notes that `identity` was let in (it passes the lock and the waiting room later).
    pub(super) fn admit(&mut self, identity: &str) {
        if !self.admitted.contains(identity) {
            self.admitted.insert(identity.to_owned());
        }
    }

    /// Whether `identity`, with the grants of its token, may publish here now: in a
    /// meeting as its token says; in an audio room if it is a host or a speaker a host
    /// chose.
    pub fn lets_publish(&self, identity: &str, token: &Grants) -> bool {
        match self.settings.mode {
            RoomMode::Meeting => token.can_publish,
            RoomMode::Audio => token.room_admin || self.promoted.contains(identity),
        }
    }

    /// Makes `identity` a speaker of the audio room, or a listener again.
    pub fn set_speaker(&mut self, identity: &str, speaker: bool) {
        if speaker {
            self.promoted.insert(identity.to_owned());
        } else {
            self.promoted.remove(identity);
        }
    }

    /// Puts a newcomer in the waiting room, in place of one waiting with its identity.
    pub(super) fn wait(&mut self, participant: Participant) {
        self.waiting.retain(|w| w.identity != participant.identity);
        self.waiting.push(participant);
    }

    /// Takes `id` out of the waiting room.
    pub(super) fn take_waiting(&mut self, id: ParticipantId) -> Option<Participant> {
        let index = self.waiting.iter().position(|w| w.id == id)?;
        Some(self.waiting.remove(index))
    }

    /// Those waiting, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = &Participant> {
        self.waiting.iter()
    }

    /// The ids of those waiting, oldest first.
    pub fn waiting_ids(&self) -> Vec<ParticipantId> {
        self.waiting.iter().map(|w| w.id).collect()
    }

    /// The waiting room as hosts see it.
    pub fn waiting_list(&self) -> Vec<Sender> {
        self.waiting.iter().map(Participant::sender).collect()
    }

    /// No one is waiting.
    pub fn no_one_waiting(&self) -> bool {
        self.waiting.is_empty()
    }
}
