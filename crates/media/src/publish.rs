//! Publisher sessions: accepting a participant's offers and turning its m-lines into tracks.

use std::time::Instant;

use moim_proto::signal::{TrackKind, TrackSource};
use str0m::change::SdpOffer;
use str0m::media::{MediaAdded, MediaKind, Mid};
use tracing::debug;

use crate::command::{DeclaredTrack, PublishAnswer};
use crate::dynacast::Dynacast;
use crate::egress::Taps;
use crate::error::MediaError;
use crate::event::{MediaEvent, PublishedTrack};
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::relay::Relay;
use crate::router::Router;
use crate::session::{Declared, SessionRole};
use crate::speech::Speech;
use crate::track::{Origin, Track};

/// Tracks one publisher connection carries at most (a camera, a microphone, a screen and
/// its audio, and room to spare); further m-lines are not forwarded, so no one can make
/// everyone else renegotiate without end.
pub const MAX_TRACKS_PER_PUBLISHER: usize = 8;

impl Router {
    /// Accepts an offer on the participant's publisher session, creating it on the first.
    pub(crate) fn publish(
        &mut self,
        now: Instant,
        room: RoomId,
        participant: ParticipantId,
        offer: &str,
        sources: Option<Vec<DeclaredTrack>>,
    ) -> Result<PublishAnswer, MediaError> {
        let offered = active_media(offer);
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let existing = self
            .participants
            .get(&participant)
            .and_then(|p| p.publisher);
        let id = match existing {
            Some(id) => id,
            None => {
                let id = self.add_session(now, room, participant, SessionRole::Publisher, true);
                self.participants.entry(participant).or_default().publisher = Some(id);
                id
            }
        };
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(MediaError::UnknownSession)?;
        let answer = match session.rtc.sdp_api().accept_offer(offer) {
            Ok(answer) => answer,
            Err(e) => {
                if existing.is_none() {
                    self.close_session(id, false);
                }
                return Err(MediaError::Negotiation(e.to_string()));
            }
        };
        let answered = answer.to_sdp_string();
        let accepted = active_media(&answered);
        if let Some((kind, mid)) = offered.iter().find(|m| !accepted.contains(m)) {
            let mut codecs: Vec<String> = Vec::new();
            for params in session.rtc.codec_config().params() {
                let codec = params.spec().codec;
                let name = codec.to_string();
                if codec.is_audio() == (*kind == "audio") && !codecs.contains(&name) {
                    codecs.push(name);
                }
            }
            let reason = format!(
                "the offer's {kind} (m-line {mid}) has no codec this server takes ({})",
                codecs.join(", ")
            );
            if existing.is_none() {
                self.close_session(id, false);
            }
            return Err(MediaError::Negotiation(reason));
        }

        let mut gone = Vec::new();
        let mut tracks = Vec::new();
        if let Some(sources) = sources {
            let declared: Vec<Mid> = session.declared.keys().copied().collect();
            for mid in declared {
                if !sources.iter().any(|d| Mid::from(d.mid.as_str()) == mid) {
                    let old = session.declared.remove(&mid).expect("listed above");
                    session.tracks_in.remove(&mid);
                    gone.push(old.track);
                }
            }
            for d in sources {
                let entry = session
                    .declared
                    .entry(Mid::from(d.mid.as_str()))
                    .or_insert_with(|| Declared {
                        track: TrackId::next(),
                        source: d.source,
                        muted: d.muted,
                    });
                // Only a track not negotiated yet takes its state from the offer: a live
                // one is muted and unmuted by `Command::Mute` (a host's lock holds).
                entry.muted = d.muted;
                tracks.push((d.mid, entry.track));
            }
        }
        self.pending.poll(session);
        for track in gone {
            self.unpublish_track(track);
        }
        let sdp = answered;
        // An offer with new ICE credentials restarted ICE (the client's network changed).
        self.note_ice_credentials(id, &sdp);
        Ok(PublishAnswer {
            session: id,
            sdp,
            tracks,
        })
    }

    /// A receiving m-line was negotiated: it becomes a track everyone else subscribes to.
    pub(crate) fn publisher_media_added(&mut self, id: SessionId, added: MediaAdded) {
        if !added.direction.is_receiving() {
            return;
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.tracks_in.contains_key(&added.mid) {
            return;
        }
        if session.tracks_in.len() >= MAX_TRACKS_PER_PUBLISHER {
            debug!(session = %id, "more than {MAX_TRACKS_PER_PUBLISHER} tracks; m-line {} not forwarded", added.mid);
            return;
        }
        let kind = match added.kind {
            MediaKind::Audio => TrackKind::Audio,
            MediaKind::Video => TrackKind::Video,
        };
        let default_source = match kind {
            TrackKind::Audio => TrackSource::Microphone,
            TrackKind::Video => TrackSource::Camera,
        };
        let declared = *session
            .declared
            .entry(added.mid)
            .or_insert_with(|| Declared {
                track: TrackId::next(),
                source: default_source,
                muted: false,
            });
        let (track_id, source, muted) = (declared.track, declared.source, declared.muted);
        session.tracks_in.insert(added.mid, track_id);
        let (room, participant) = (session.room, session.participant);
        let track = Track {
            id: track_id,
            room,
            participant,
            origin: Origin::Local {
                session: id,
                mid: added.mid,
            },
            kind,
            source,
            simulcast: added.simulcast.is_some(),
            muted,
            layers: Vec::new(),
            subscribers: Vec::new(),
            speech: Speech::default(),
            egress: Taps::default(),
            dynacast: Dynacast::default(),
        };
        self.pending.announce(MediaEvent::TrackPublished {
            room,
            participant,
            track: PublishedTrack {
                id: track_id,
                kind,
                source,
                simulcast: track.simulcast,
                muted,
            },
        });
        let info = track.info();
        self.tell_room(room, || Relay::TrackPublished(info));
        self.add_track(track);
    }

    /// Makes a track (this worker's or another's mirror) known to the room: offered to
    /// its subscribers, followed by its players.
    pub(crate) fn add_track(&mut self, track: Track) {
        let (track_id, room, participant) = (track.id, track.room, track.participant);
        self.tracks.insert(track_id, track);
        self.participants
            .entry(participant)
            .or_default()
            .tracks
            .push(track_id);
        let room_media = self.rooms.entry(room).or_default();
        room_media.tracks.push(track_id);
        let subscribers = room_media.subscribers.clone();
        for sub in subscribers {
            self.offer_track(sub, track_id);
        }
        self.rebind_players(room);
    }

    /// Removes a track: its subscribers stop receiving it and players follow someone else.
    pub(crate) fn unpublish_track(&mut self, track_id: TrackId) {
        let Some(track) = self.tracks.remove(&track_id) else {
            return;
        };
        if track.is_local() {
            self.pending.announce(MediaEvent::TrackUnpublished {
                room: track.room,
                participant: track.participant,
                track: track_id,
            });
            self.tell_room(track.room, || Relay::TrackUnpublished(track_id));
        }
        if let Some(p) = self.participants.get_mut(&track.participant) {
            p.tracks.retain(|t| *t != track_id);
        }
        if let Some(room) = self.rooms.get_mut(&track.room) {
            room.tracks.retain(|t| *t != track_id);
            for sub in &room.subscribers {
                if let Some(session) = self.sessions.get_mut(sub) {
                    session.negotiation.to_open.retain(|t| *t != track_id);
                }
            }
        }
        for sub in &track.subscribers {
            self.retract_slot(sub.session, sub.mid);
        }
        self.rebind_players(track.room);
        self.forget_empty_room(track.room);
        self.forget_empty_participant(track.participant);
    }
}

/// The audio and video m-lines of `sdp` that are not rejected (port 0), as kind and mid.
fn active_media(sdp: &str) -> Vec<(&str, &str)> {
    let mut media = Vec::new();
    let mut current = None;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            let mut fields = m.split(' ');
            let kind = fields.next().unwrap_or_default();
            let active = fields.next().is_some_and(|port| port != "0");
            current = (active && matches!(kind, "audio" | "video")).then_some(kind);
        } else if let (Some(kind), Some(mid)) = (current, line.strip_prefix("a=mid:")) {
            media.push((kind, mid.trim()));
        }
    }
    media
}
