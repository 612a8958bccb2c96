//! Subscriber sessions: the server offers every other participant's tracks and keeps the
//! offer current as tracks come and go. The first offer is made at once, with the data
//! channels (or, for a participant without the data grant, an inactive audio m-line), so
//! the connection is up before the first track arrives.

use std::time::Instant;

use moim_proto::signal::TrackKind;
use str0m::Rtc;
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind, Mid};
use tracing::debug;

use crate::data::offer_channels;
use crate::error::MediaError;
use crate::event::MediaEvent;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::packets::Forwarding;
use crate::router::Router;
use crate::session::{SessionRole, prepare_video_send};
use crate::subscription::Slot;
use crate::track::Subscriber;

impl Router {
    /// Opens the participant's subscriber session and offers it the room's tracks, with
    /// data channels if it may send `data`.
    pub(crate) fn subscribe(
        &mut self,
        now: Instant,
        room: RoomId,
        participant: ParticipantId,
        data: bool,
    ) {
        if self
            .participants
            .get(&participant)
            .is_some_and(|p| p.subscriber.is_some())
        {
            return;
        }
        let id = self.add_session(now, room, participant, SessionRole::Subscriber, true);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.negotiation.data = data;
        }
        self.participants.entry(participant).or_default().subscriber = Some(id);
        let room_media = self.rooms.entry(room).or_default();
        room_media.subscribers.push(id);
        let tracks = room_media.tracks.clone();
        self.pending.renegotiate(id);
        for track in tracks {
            self.offer_track(id, track);
        }
        self.announce_interest(room);
    }

    /// Queues `track` for the subscriber session `id` unless it is its own.
    pub(crate) fn offer_track(&mut self, id: SessionId, track: TrackId) {
        let Some(publisher) = self.tracks.get(&track).map(|t| t.participant) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.participant == publisher {
            return;
        }
        session.negotiation.to_open.push(track);
        self.pending.renegotiate(id);
    }

    /// The track on `mid` of session `id` is gone: a subscriber frees the m-line for the
    /// next track of its kind, a player waits for another source.
    pub(crate) fn retract_slot(&mut self, id: SessionId, mid: Mid) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(slot) = session.slots.get_mut(&mid) else {
            return;
        };
        slot.rebind(None);
        if session.role == SessionRole::Subscriber {
            slot.open = false;
            session.negotiation.to_free.push(mid);
            self.pending.renegotiate(id);
        }
    }

    /// Sends a new offer if changes are queued and no offer is outstanding.
    pub(crate) fn negotiate(&mut self, id: SessionId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let n = &mut session.negotiation;
        let changes =
            !n.to_open.is_empty() || !n.to_free.is_empty() || !n.anchored || n.restart_ice;
        if n.pending.is_some() || !changes {
            return;
        }
        // Each track takes a free m-line of its kind if there is one, else a new one.
        let mut reused = Vec::new();
        let mut added = Vec::new();
        for track_id in n.to_open.drain(..) {
            let Some(track) = self.tracks.get(&track_id) else {
                continue;
            };
            if n.opening.iter().any(|(_, t)| *t == track_id)
                || session.slots.values().any(|s| s.track == Some(track_id))
                || reused.iter().any(|(_, t, _)| *t == track_id)
                || added.iter().any(|(t, _)| *t == track_id)
            {
                continue;
            }
            let video = track.kind == TrackKind::Video;
            let free_of_kind =
                |mid: &Mid| session.slots.get(mid).is_some_and(|s| s.is_video == video);
            match n.free.iter().position(free_of_kind) {
                Some(i) => reused.push((n.free.swap_remove(i), track_id, video)),
                None => added.push((track_id, video)),
            }
        }
        // In packet forwarding a freed m-line lost its send stream; it gets a new one (new
        // SSRCs, which the offer announces), numbered on from the old one's packets.
        if self.forwarding == Forwarding::Packets {
            let mut direct = session.rtc.direct_api();
            for (mid, _, video) in &reused {
                let ssrc = direct.new_ssrc();
                let rtx = video.then(|| direct.new_ssrc());
                direct.declare_stream_tx(ssrc, rtx, *mid, None);
            }
        }
        let mut api = session.rtc.sdp_api();
        if std::mem::take(&mut n.restart_ice) {
            api.ice_restart(true);
        }
        if !n.anchored {
            // From the first offer on, something that is not a track: the connection comes
            // up before any track exists and stays up (bundled) when every track m-line is
            // stopped. An inactive m-line carries nothing and is never bound to a track.
            if n.data {
                offer_channels(&mut api);
            } else {
                api.add_media(MediaKind::Audio, Direction::Inactive, None, None, None);
            }
            n.anchored = true;
        }
        // The client binds a freed m-line to its next track by the offer's `tracks`.
        for (mid, track_id, _) in reused {
            api.set_direction(mid, Direction::SendOnly);
            n.opening.push((mid, track_id));
        }
        for (track_id, video) in added {
            let Some(track) = self.tracks.get(&track_id) else {
                continue;
            };
            let kind = if video {
                MediaKind::Video
            } else {
                MediaKind::Audio
            };
            let mid = api.add_media(
                kind,
                Direction::SendOnly,
                Some(track.participant.to_string()),
                Some(track_id.to_string()),
                None,
            );
            n.opening.push((mid, track_id));
        }
        for mid in n.to_free.drain(..) {
            api.set_direction(mid, Direction::Inactive);
            n.freeing.push(mid);
        }
        let Some((offer, pending)) = api.apply() else {
            return;
        };
        n.pending = Some(pending);
        let mut tracks = Vec::new();
        let open = session
            .slots
            .iter()
            .filter(|(mid, _)| !n.freeing.contains(mid))
            .filter_map(|(mid, slot)| Some((*mid, slot.track?)));
        for (mid, track_id) in open.chain(n.opening.iter().copied()) {
            if let Some(track) = self.tracks.get(&track_id) {
                tracks.push((mid.to_string(), track_id, track.participant));
            }
        }
        let sdp = offer.to_sdp_string();
        self.pending.announce(MediaEvent::SubscriberOffer {
            participant: session.participant,
            sdp: sdp.clone(),
            tracks,
        });
        self.pending.poll(session);
        self.note_ice_credentials(id, &sdp);
    }

    /// Applies the client's answer to the outstanding subscriber offer.
    pub(crate) fn subscribe_answer(
        &mut self,
        participant: ParticipantId,
        answer: &str,
    ) -> Result<(), MediaError> {
        let id = self
            .participants
            .get(&participant)
            .and_then(|p| p.subscriber)
            .ok_or(MediaError::UnknownSession)?;
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(MediaError::UnknownSession)?;
        let answer = SdpAnswer::from_sdp_string(answer)
            .map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let pending = session
            .negotiation
            .pending
            .take()
            .ok_or(MediaError::NoPendingOffer)?;
        session
            .rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| MediaError::Negotiation(e.to_string()))?;
        let n = &mut session.negotiation;
        for mid in n.freeing.drain(..) {
            if self.forwarding == Forwarding::Packets {
                forget_stream(&mut session.rtc, mid);
            }
            if let Some(slot) = session.slots.get_mut(&mid) {
                *slot = slot.handed_on(None);
                n.free.push(mid);
            }
        }
        for (mid, track_id) in n.opening.drain(..) {
            let track = self.tracks.get_mut(&track_id);
            let bound = track.as_ref().map(|_| track_id);
            let slot = match session.slots.get(&mid) {
                Some(freed) => freed.handed_on(bound),
                None => {
                    let video = session.rtc.media(mid).is_some_and(|m| m.kind().is_video());
                    Slot::new(bound, video, bound.is_some())
                }
            };
            let video = slot.is_video;
            if video {
                prepare_video_send(&mut session.rtc, mid);
            }
            let slot = session.slots.entry(mid).insert_entry(slot).into_mut();
            match track {
                Some(track) => {
                    if video {
                        // Joining an overloaded worker sheds as its last joiner would.
                        slot.shed = self.overload.layer_limit(id.0 as usize);
                    }
                    track.subscribers.push(Subscriber { session: id, mid });
                    self.layers_due = true;
                }
                None => {
                    debug!(session = %id, "track {track_id} left during negotiation");
                    n.to_free.push(mid);
                }
            }
        }
        self.pending.poll(session);
        self.pending.renegotiate(id);
        Ok(())
    }
}

/// Forgets the send stream of the freed m-line `mid`: str0m would otherwise go on sending
/// reports for it and visiting it for every packet the connection sends while the m-line
/// waits for its next track. Only in packet forwarding, where the server numbers the
/// packets: in frame forwarding str0m does, and a new stream would start its numbers
/// over, so the m-line keeps its stream.
fn forget_stream(rtc: &mut Rtc, mid: Mid) {
    let mut api = rtc.direct_api();
    if let Some(ssrc) = api.stream_tx_by_mid(mid, None).map(|s| s.ssrc()) {
        api.remove_stream_tx(ssrc);
    }
}
