//! Player sessions (WHEP): a client's receive-only offer carries one followed participant's
//! audio and video (one named participant, or whoever the room's stream features),
//! switching when that changes; a muted track is never played. A player that offers
//! several video m-lines (another node's relay) gets the video's simulcast layers on
//! them, one each, the smallest on the first, up to the layer a player is shown (360
//! lines).

use std::time::Instant;

use moim_proto::signal::{TrackKind, TrackSource};
use str0m::change::SdpOffer;
use str0m::media::{MediaAdded, MediaKind};

use crate::command::{Follow, PlayAnswer};
use crate::error::MediaError;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::router::Router;
use crate::session::{SessionRole, prepare_video_send};
use crate::subscription::Slot;
use crate::track::Subscriber;

impl Router {
    /// Accepts a player's offer.
    pub(crate) fn play(
        &mut self,
        now: Instant,
        room: RoomId,
        participant: ParticipantId,
        follow: Follow,
        offer: &str,
        paced: bool,
    ) -> Result<PlayAnswer, MediaError> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let id = self.add_session(now, room, participant, SessionRole::Player, paced);
        let session = self.sessions.get_mut(&id).expect("just added");
        let answer = match session.rtc.sdp_api().accept_offer(offer) {
            Ok(answer) => answer,
            Err(e) => {
                self.close_session(id, false);
                return Err(MediaError::Negotiation(e.to_string()));
            }
        };
        self.pending.poll(session);
        self.participants.entry(participant).or_default().player = Some(id);
        self.rooms.entry(room).or_default().players.push(id);
        self.announce_interest(room);
        self.follows.insert(id, follow);
        Ok(PlayAnswer {
            session: id,
            sdp: answer.to_sdp_string(),
        })
    }

    /// A sending m-line of a player was negotiated: it becomes a slot for the followed
    /// participant's media of that kind.
    pub(crate) fn player_media_added(&mut self, id: SessionId, added: MediaAdded) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if !added.direction.is_sending() {
            return;
        }
        let video = added.kind == MediaKind::Video;
        let mut slot = Slot::new(None, video, true);
        if video {
            prepare_video_send(&mut session.rtc, added.mid);
            // m-lines are added in the offer's order: this one carries the next layer.
            let before = session.slots.values().filter(|s| s.is_video).count();
            slot.pinned = (before > 0).then_some(before);
            if let Some(first) = session
                .slots
                .values_mut()
                .find(|s| s.is_video && s.pinned.is_none())
            {
                first.pinned = Some(0);
            }
        }
        session.slots.insert(added.mid, slot);
        let room = session.room;
        self.rebind_players(room);
    }

    /// Points every player of the room at its followed participant's current tracks.
    pub(crate) fn rebind_players(&mut self, room: RoomId) {
        let Some(room_media) = self.rooms.get(&room) else {
            return;
        };
        let featured = room_media.featured;
        for player in room_media.players.clone() {
            let target = match self.follows.get(&player) {
                Some(Follow::Participant(p)) => Some(*p),
                Some(Follow::Room) => featured,
                None => None,
            };
            let audio = target.and_then(|p| self.pick_track(p, TrackKind::Audio));
            let video = target.and_then(|p| self.pick_track(p, TrackKind::Video));
            let Some(session) = self.sessions.get_mut(&player) else {
                continue;
            };
            for (mid, slot) in session.slots.iter_mut() {
                let wanted = if slot.is_video { video } else { audio };
                if slot.track == wanted {
                    continue;
                }
                if let Some(old) = slot.track.and_then(|t| self.tracks.get_mut(&t)) {
                    old.subscribers
                        .retain(|s| !(s.session == player && s.mid == *mid));
                }
                slot.rebind(wanted);
                if let Some(new) = wanted.and_then(|t| self.tracks.get_mut(&t)) {
                    new.subscribers.push(Subscriber {
                        session: player,
                        mid: *mid,
                    });
                    self.layers_due = true;
                }
            }
        }
    }

    /// The participant's unmuted track of `kind` a player shows: camera before screen,
    /// microphone before screen audio.
    fn pick_track(&self, participant: ParticipantId, kind: TrackKind) -> Option<TrackId> {
        let tracks = &self.participants.get(&participant)?.tracks;
        let preferred = match kind {
            TrackKind::Audio => TrackSource::Microphone,
            TrackKind::Video => TrackSource::Camera,
        };
        let of_kind = || {
            tracks
                .iter()
                .filter_map(|t| self.tracks.get(t))
                .filter(move |t| t.kind == kind && !t.muted)
        };
        of_kind()
            .find(|t| t.source == preferred)
            .or_else(|| of_kind().next())
            .map(|t| t.id)
    }
}
