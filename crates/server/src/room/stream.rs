//! The room's stream: the one participant who stands for the whole room where only one
//! picture can be shown, which is what `POST /whep/{room}` plays.
//!
//! The participant the room broadcasts comes first while it is in the room, camera muted
//! or not, so that the room's stream is what its broadcast shows (another node's relay
//! plays it to the watch page's viewers there);
//! then an ingest publisher (a WHIP encoder), since a room with one is a live stream; else
//! the person speaking; else whoever was shown while their camera stays on;
//! else the latest to join with a camera on. Apart from the broadcast's participant, only
//! someone with a camera (or screen) that is not muted is shown; a muted track is never
//! played.

use std::collections::HashMap;

use moim_media::ParticipantId;
use moim_proto::signal::TrackKind;

use crate::room::participant::{Link, Participant};

/// Whom the room's stream shows now.
#[derive(Debug, Default)]
pub struct RoomStream {
    featured: Option<ParticipantId>,
}

impl RoomStream {
    /// The participant shown now, if anyone.
    pub fn featured(&self) -> Option<ParticipantId> {
        self.featured
    }

    /// Chooses again from the room's participants, its speakers (the most recent to
    /// start first) and the participant its broadcast shows; returns the new choice when
    /// it differs from the one shown, which stays until [`RoomStream::set`] (once the
    /// players were told).
    pub fn choose(
        &self,
        participants: &HashMap<ParticipantId, Participant>,
        speakers: &[ParticipantId],
        broadcast: Option<ParticipantId>,
    ) -> Option<Option<ParticipantId>> {
        let shown = |id: &ParticipantId| participants.get(id).is_some_and(has_picture);
        let ingest = |p: &&Participant| matches!(p.link, Link::Http { .. }) && has_picture(p);
        let current = self.featured.filter(|id| shown(id));
        let present = |id: &ParticipantId| participants.get(id).is_some_and(|p| !p.hidden);
        let choice = if let Some(broadcast) = broadcast.filter(present) {
            Some(broadcast)
        } else if participants.values().any(|p| ingest(&p)) {
            current
                .filter(|id| participants.get(id).is_some_and(|p| ingest(&p)))
                .or_else(|| latest(participants.values().filter(ingest)))
        } else {
            speakers
                .iter()
                .copied()
                .find(|id| shown(id))
                .or(current)
                .or_else(|| latest(participants.values().filter(|p| has_picture(p))))
        };
        (choice != self.featured).then_some(choice)
    }

    /// Makes `featured` the one shown.
    pub fn set(&mut self, featured: Option<ParticipantId>) {
        self.featured = featured;
    }
}

/// Someone others can see: announced, with a video track that is not muted.
fn has_picture(p: &Participant) -> bool {
    !p.hidden
        && p.tracks
            .iter()
            .any(|t| t.kind == TrackKind::Video && !t.muted)
}

/// The most recent to join of `candidates` (ids grow with every join).
fn latest<'a>(candidates: impl Iterator<Item = &'a Participant>) -> Option<ParticipantId> {
    candidates.map(|p| p.id).max()
}

#[cfg(test)]
mod tests {
    use moim_proto::signal::{TrackInfo, TrackSource};
    use moim_proto::token::{GrantPreset, Grants};

    use super::*;

    fn person(link: Link, camera: Option<bool>) -> Participant {
        let grants = Grants::preset("r", GrantPreset::Guest);
        let mut p = Participant::new("id".into(), "Name".into(), grants, link, false);
        if let Some(muted) = camera {
            p.tracks.push(TrackInfo {
                sid: "TR_1".into(),
                kind: TrackKind::Video,
                source: TrackSource::Camera,
                muted,
                simulcast: false,
            });
        }
        p
    }

    fn socket() -> Link {
        let (outbox, _) = tokio::sync::mpsc::channel(1);
        Link::Socket(crate::room::outbox::Outbox::new(outbox, Default::default()))
    }

    fn whip() -> Link {
        Link::Http {
            resource: "r".into(),
        }
    }

    /// Chooses and shows the choice, as the room does once its players were told.
    fn pick(
        stream: &mut RoomStream,
        people: &HashMap<ParticipantId, Participant>,
        speakers: &[ParticipantId],
    ) -> Option<Option<ParticipantId>> {
        let choice = stream.choose(people, speakers, None);
        if let Some(featured) = choice {
            stream.set(featured);
        }
        choice
    }

    fn room(people: Vec<Participant>) -> (HashMap<ParticipantId, Participant>, Vec<ParticipantId>) {
        let ids = people.iter().map(|p| p.id).collect();
        (people.into_iter().map(|p| (p.id, p)).collect(), ids)
    }

    #[test]
    fn a_muted_camera_is_never_shown() {
        let (people, ids) = room(vec![
            person(socket(), Some(false)),
            person(socket(), Some(true)),
        ]);
        let mut stream = RoomStream::default();
        assert_eq!(pick(&mut stream, &people, &[ids[1]]), Some(Some(ids[0])));
        assert_eq!(pick(&mut stream, &people, &[ids[1]]), None, "no change");
    }

    #[test]
    fn an_ingest_publisher_comes_before_the_speaker() {
        let (people, ids) = room(vec![
            person(whip(), Some(false)),
            person(socket(), Some(false)),
            person(socket(), None),
        ]);
        let mut stream = RoomStream::default();
        assert_eq!(pick(&mut stream, &people, &[ids[1]]), Some(Some(ids[0])));
    }

    #[test]
    fn the_speaker_is_shown_and_stays_until_someone_else_speaks() {
        let (people, ids) = room(vec![
            person(socket(), Some(false)),
            person(socket(), Some(false)),
        ]);
        let mut stream = RoomStream::default();
        assert_eq!(
            pick(&mut stream, &people, &[]),
            Some(Some(ids[1])),
            "the latest to join"
        );
        assert_eq!(pick(&mut stream, &people, &[ids[0]]), Some(Some(ids[0])));
        assert_eq!(pick(&mut stream, &people, &[]), None, "kept after speaking");
        assert_eq!(pick(&mut stream, &people, &[ids[1]]), Some(Some(ids[1])));
    }

    #[test]
    fn nobody_with_a_picture_leaves_the_stream_empty() {
        let (people, ids) = room(vec![person(socket(), None), person(socket(), Some(true))]);
        let mut stream = RoomStream::default();
        assert_eq!(pick(&mut stream, &people, &ids), None);
        assert_eq!(stream.featured(), None);
    }

    #[test]
    fn the_participant_broadcast_comes_first() {
        let (people, ids) = room(vec![
            person(socket(), Some(false)),
            person(whip(), Some(false)),
            person(socket(), Some(false)),
        ]);
        let mut stream = RoomStream::default();
        let choice = stream.choose(&people, &[ids[2]], Some(ids[0]));
        assert_eq!(choice, Some(Some(ids[0])));
        stream.set(Some(ids[0]));
        assert_eq!(
            stream.choose(&people, &[], None),
            Some(Some(ids[1])),
            "the ingest once the broadcast ends"
        );
        // Its camera muted, it stays what the broadcast (and so the stream) shows.
        let (muted, ids) = room(vec![
            person(socket(), Some(true)),
            person(whip(), Some(false)),
        ]);
        let stream = RoomStream::default();
        assert_eq!(stream.choose(&muted, &[], Some(ids[0])), Some(Some(ids[0])));
    }
}
