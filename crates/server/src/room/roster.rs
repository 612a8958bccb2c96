//! Who is in a room and who of them is speaking. Participants are added and removed only
//! by [`super::Rooms`] (which also knows which room each one is in); a participant that
//! leaves stops speaking with it, so the active-speaker list never names someone gone.

use std::collections::HashMap;
use std::sync::Arc;

use moim_media::{ParticipantId, TrackId};
use moim_proto::signal::{ParticipantInfo, ServerMessage, ServerReply};

use crate::room::participant::{Link, Participant};

/// The participants of one room (not those waiting to be let in) and its active speakers.
#[derive(Debug, Default)]
pub struct Roster {
    participants: HashMap<ParticipantId, Participant>,
    /// Participants speaking now, the one who started most recently first.
    speakers: Vec<ParticipantId>,
}

impl Roster {
    /// A participant of the room.
    pub fn get(&self, id: ParticipantId) -> Option<&Participant> {
        self.participants.get(&id)
    }

    /// A participant of the room, mutably.
    pub fn get_mut(&mut self, id: ParticipantId) -> Option<&mut Participant> {
        self.participants.get_mut(&id)
    }

    /// Whether `id` is in the room.
    pub fn contains(&self, id: ParticipantId) -> bool {
        self.participants.contains_key(&id)
    }

    /// Everyone in the room, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Participant> {
        self.participants.values()
    }

    /// Everyone in the room by id, to read.
    pub fn by_id(&self) -> &HashMap<ParticipantId, Participant> {
        &self.participants
    }

    /// The ids of everyone in the room.
    pub fn ids(&self) -> Vec<ParticipantId> {
        self.participants.keys().copied().collect()
    }

    /// No one is in the room.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// The participant with `identity`, if present.
    pub fn find_identity(&self, identity: &str) -> Option<&Participant> {
        self.participants.values().find(|p| p.identity == identity)
    }

    /// The participant behind a WHIP/WHEP resource id.
    pub fn find_resource(&self, resource: &str) -> Option<ParticipantId> {
        self.participants
            .values()
            .find(|p| matches!(&p.link, Link::Http { resource: r } if r == resource))
            .map(|p| p.id)
    }

    /// Adds a participant (its identity is not in the room: [`Roster::remove`] the one it
    /// replaces first).
    pub(super) fn insert(&mut self, participant: Participant) {
        self.participants.insert(participant.id, participant);
    }

    /// Takes a participant out of the room; it stops speaking.
    pub(super) fn remove(&mut self, id: ParticipantId) -> Option<Participant> {
        self.speakers.retain(|s| *s != id);
        self.participants.remove(&id)
    }

    /// Sends `message` to every participant but `except`.
    pub fn broadcast(&self, except: Option<ParticipantId>, message: ServerMessage) {
        let text: Arc<str> = ServerReply::event(message).to_json().into();
        for p in self.participants.values() {
            if Some(p.id) != except {
                p.send(&text);
            }
        }
    }

    /// Sends `message` to the hosts of the room.
    pub fn tell_hosts(&self, message: ServerMessage) {
        let text: Arc<str> = ServerReply::event(message).to_json().into();
        for p in self.participants.values().filter(|p| p.grants.room_admin) {
            p.send(&text);
        }
    }

    /// The visible participants other than `except`, in a stable order.
    pub fn snapshot(&self, except: ParticipantId) -> Vec<ParticipantInfo> {
        let mut list: Vec<_> = self
            .participants
            .values()
            .filter(|p| p.id != except && !p.hidden)
            .map(Participant::info)
            .collect();
        list.sort_by(|a, b| a.sid.cmp(&b.sid));
        list
    }

    /// Participants speaking now, the one who started most recently first.
    pub fn speakers(&self) -> &[ParticipantId] {
        &self.speakers
    }

    /// Notes that `track` of `participant` started or stopped carrying speech; true when
    /// that changed whether the participant speaks (the room is to hear of it).
    pub fn note_speaking(
        &mut self,
        participant: ParticipantId,
        track: TrackId,
        speaking: bool,
    ) -> bool {
        let Some(p) = self.participants.get_mut(&participant) else {
            return false;
        };
        let was = !p.speaking.is_empty();
        p.speaking.retain(|t| *t != track);
        if speaking {
            p.speaking.push(track);
        }
        let is = !p.speaking.is_empty();
        if was == is {
            return false;
        }
        self.speakers.retain(|s| *s != participant);
        if is {
            self.speakers.insert(0, participant);
        }
        true
    }
}
