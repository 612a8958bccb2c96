//! Who is in a room and who of them is speaking. Participants are added and removed only
//! by [`super::Rooms`] (which also knows which room each one is in); a participant that
//! leaves stops speaking with it, so the active-speaker list never names someone gone.

use std::collections::HashMap;
use std::sync::Arc;

use moim_media::{ParticipantId, TrackId};
use moim_proto::signal::{ConnectionQuality, ParticipantInfo, ServerMessage, ServerReply};

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

    /// Tells of a change in `of`'s connection quality. Everyone hears of a participant who
    /// may publish; one who may not (a livestream's viewer) is shown to nobody but the hosts,
    /// so only they and the viewer hear of it. Told to everyone, the audience of a worker
    /// that sheds load would each get a message per viewer at once: at 800 viewers, 640,000
    /// messages that filled every signaling queue and cut everyone off, the publisher too.
    pub fn tell_quality(&self, of: ParticipantId, quality: ConnectionQuality) {
        let Some(subject) = self.participants.get(&of) else {
            return;
        };
        let message = ServerMessage::ConnectionQuality {
            participant: of.to_string(),
            quality,
        };
        let text: Arc<str> = ServerReply::event(message).to_json().into();
        let everyone = subject.grants.can_publish;
        for p in self.participants.values() {
            if everyone || p.id == of || p.grants.room_admin {
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

#[cfg(test)]
mod tests {
    use moim_proto::token::{GrantPreset, Grants};
    use tokio::sync::mpsc;

    use super::*;
    use crate::room::outbox::Outbox;

    /// A participant with `preset`'s grants and the queue its messages land in.
    fn person(
        roster: &mut Roster,
        preset: GrantPreset,
    ) -> (ParticipantId, mpsc::Receiver<Arc<str>>) {
        let (tx, rx) = mpsc::channel(8);
        let link = Link::Socket(Outbox::new(tx, Default::default()));
        let grants = Grants::preset("r", preset);
        let p = Participant::new(format!("{preset:?}"), "Name".into(), grants, link, false);
        let id = p.id;
        roster.insert(p);
        (id, rx)
    }

    fn heard(rx: &mut mpsc::Receiver<Arc<str>>) -> bool {
        rx.try_recv()
            .is_ok_and(|m| m.contains("connection_quality"))
    }

    #[test]
    fn a_viewers_quality_reaches_it_and_the_hosts_and_a_publishers_reaches_everyone() {
        let mut roster = Roster::default();
        let (_, mut host) = person(&mut roster, GrantPreset::Host);
        let (speaker, mut speaker_rx) = person(&mut roster, GrantPreset::Guest);
        let (viewer, mut viewer_rx) = person(&mut roster, GrantPreset::Viewer);
        let (_, mut other_viewer) = person(&mut roster, GrantPreset::Viewer);

        roster.tell_quality(viewer, ConnectionQuality::Poor);
        assert!(heard(&mut viewer_rx), "the viewer itself");
        assert!(heard(&mut host), "the host");
        assert!(!heard(&mut speaker_rx), "not the speaker");
        assert!(!heard(&mut other_viewer), "not another viewer");

        roster.tell_quality(speaker, ConnectionQuality::Poor);
        for rx in [
            &mut host,
            &mut speaker_rx,
            &mut viewer_rx,
            &mut other_viewer,
        ] {
            assert!(heard(rx));
        }
    }
}
