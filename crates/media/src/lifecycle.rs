//! A session's life in the router: made (`add_session`: an ICE-lite `Rtc` with the
//! worker's candidates), its str0m events routed by its role (`handle_session_event`), and
//! closed (what it published unpublished, what it received let go, and the participant's
//! and room's bookkeeping forgotten once empty). `router.rs` polls it in between.

use std::time::Instant;

use str0m::bwe::BweKind;
use str0m::net::TcpType;
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Rtc};
use tracing::{debug, info};

use crate::bandwidth::INITIAL_ESTIMATE;
use crate::demux::worker_ufrag;
use crate::event::MediaEvent;
use crate::ids::{ParticipantId, RoomId, SessionId};
use crate::packets::Forwarding;
use crate::quality::STATS_INTERVAL;
use crate::router::{ParticipantMedia, RoomMedia, Router};
use crate::session::{Session, SessionRole};

/// Video packets a session keeps for retransmission: about 2 s of a 720p layer, far more
/// than a NACK round trip needs (str0m's default of 1000 held ~1.5 MiB per subscriber).
pub(crate) const SEND_BUFFER_VIDEO: usize = 300;
impl Router {
    /// Builds an ICE-lite `Rtc` with the shared host candidate and registers a session for
    /// it. `paced`: what it sends is fitted to its estimated bandwidth (when estimation is
    /// on; a relay between nodes of a cluster is not paced).
    pub(crate) fn add_session(
        &mut self,
        now: Instant,
        room: RoomId,
        participant: ParticipantId,
        role: SessionRole,
        paced: bool,
    ) -> SessionId {
        let mut credentials = IceCreds::new();
        credentials.ufrag = worker_ufrag(self.worker, &credentials.ufrag);
        credentials.pass = self.demux.password(&credentials.ufrag);
        let ufrag = credentials.ufrag.clone();
        let mut config = Rtc::builder()
            .set_ice_lite(true)
            .set_send_buffer_video(SEND_BUFFER_VIDEO)
            .set_stats_interval((role != SessionRole::Player).then_some(STATS_INTERVAL))
            // A lost sound frame comes back with the next packet (docs/networks.md,
            // "Lossy networks").
            .enable_opus(true, self.audio_red)
            .set_local_ice_credentials(credentials);
        if role != SessionRole::Publisher && paced && self.estimate_bandwidth {
            config = config.enable_bwe(Some(INITIAL_ESTIMATE));
        }
        if self.forwarding == Forwarding::Packets {
            // Only the codecs `packets.rs` cuts are taken from publishers; the sending
            // sessions write packets instead of frames.
            config = config
                .enable_vp9(false)
                .enable_av1(false)
                .enable_h265(false)
                .enable_h266(false)
                .set_rtp_mode(role != SessionRole::Publisher);
        }
        let mut rtc = config.build(now);
        let candidate = Candidate::host(self.candidate, "udp").expect("a valid host address");
        rtc.add_local_candidate(candidate);
        if let Some(tcp) = self.tcp_candidate {
            let candidate = Candidate::builder()
                .tcp()
                .host(tcp)
                .tcptype(TcpType::Passive)
                .build()
                .expect("a valid host address");
            rtc.add_local_candidate(candidate);
        }
        let session = Session::new(room, participant, role, rtc, now);
        let id = session.id;
        self.demux.add_session(id, ufrag);
        self.sessions.insert(id, session);
        self.timers.arm_sweep(now);
        id
    }

    /// Acts on what str0m reported for session `id`.
    pub(crate) fn handle_session_event(&mut self, now: Instant, id: SessionId, event: Event) {
        let Some(role) = self.sessions.get(&id).map(|s| s.role) else {
            return;
        };
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                if let Some(session) = self.sessions.get_mut(&id) {
                    info!(session = %id, "ICE disconnected; closing");
                    session.rtc.disconnect();
                    self.close_soon(id);
                }
            }
            Event::Connected => {
                debug!(session = %id, "connected");
                self.request_keyframes_for(now, id);
            }
            Event::IceConnectionStateChange(
                IceConnectionState::Connected | IceConnectionState::Completed,
            ) => self.ice_restarted(now, id),
            Event::MediaAdded(added) => match role {
                SessionRole::Publisher => self.publisher_media_added(id, added),
                SessionRole::Player => self.player_media_added(id, added),
                SessionRole::Subscriber => {}
            },
            Event::MediaData(data) => self.forward(now, id, data),
            Event::ChannelOpen(channel, label) => self.channel_opened(id, channel, &label),
            Event::ChannelData(data) => self.channel_data(now, id, data),
            Event::ChannelClose(channel) => self.channel_closed(id, channel),
            Event::KeyframeRequest(request) => self.subscriber_wants_keyframe(now, id, request),
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                self.estimated(now, id, estimate.as_u64())
            }
            Event::PeerStats(stats) => {
                if let Some(loss) = stats.egress_loss_fraction {
                    self.lost_on_the_way(now, id, loss);
                }
                self.peer_stats(id, &stats)
            }
            Event::MediaIngressStats(stats) => self.ingress_stats(id, &stats),
            _ => {}
        }
    }

    /// Closes a session: unpublishes what it published, unsubscribes what it received.
    pub(crate) fn close_session(&mut self, id: SessionId, report: bool) {
        let Some(mut session) = self.sessions.remove(&id) else {
            return;
        };
        session.rtc.disconnect();
        self.demux.remove_session(id);
        self.follows.remove(&id);
        for track in session.tracks_in.values() {
            self.unpublish_track(*track);
        }
        for (mid, slot) in &session.slots {
            if let Some(track) = slot.track.and_then(|t| self.tracks.get_mut(&t)) {
                track
                    .subscribers
                    .retain(|s| !(s.session == id && s.mid == *mid));
            }
        }
        if let Some(room) = self.rooms.get_mut(&session.room) {
            room.subscribers.retain(|s| *s != id);
            room.players.retain(|s| *s != id);
        }
        self.announce_interest(session.room);
        if let Some(p) = self.participants.get_mut(&session.participant) {
            for slot in [&mut p.publisher, &mut p.subscriber, &mut p.player] {
                if *slot == Some(id) {
                    *slot = None;
                }
            }
        }
        self.forget_empty_room(session.room);
        self.forget_empty_participant(session.participant);
        if report {
            self.pending.announce(MediaEvent::SessionClosed {
                participant: session.participant,
                session: id,
            });
        }
    }

    /// Closes every session of `participant` on this worker.
    pub(crate) fn remove_participant(&mut self, participant: ParticipantId) {
        let Some(p) = self.participants.remove(&participant) else {
            return;
        };
        for id in [p.publisher, p.subscriber, p.player].into_iter().flatten() {
            self.close_session(id, false);
        }
    }

    /// Closes the publisher session of `participant`.
    pub(crate) fn unpublish(&mut self, participant: ParticipantId) {
        let publisher = self
            .participants
            .get_mut(&participant)
            .and_then(|p| p.publisher.take());
        if let Some(id) = publisher {
            self.close_session(id, false);
        }
    }

    /// Forgets a room that has nothing left on this worker.
    pub(crate) fn forget_empty_room(&mut self, room: RoomId) {
        if self.rooms.get(&room).is_some_and(RoomMedia::is_unused) {
            self.rooms.remove(&room);
        }
    }

    /// Forgets a participant that has nothing left on this worker.
    pub(crate) fn forget_empty_participant(&mut self, participant: ParticipantId) {
        if self
            .participants
            .get(&participant)
            .is_some_and(ParticipantMedia::is_empty)
        {
            self.participants.remove(&participant);
        }
    }
}
