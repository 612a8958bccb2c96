//! ICE restarts: a participant whose network changed gets new ICE credentials on its
//! connections (the subscriber's in the server's next offer, the publisher's in the answer
//! to its offer). str0m picks them at random, so the demultiplexers of every worker learn
//! them; once the path is back, keyframes are asked for and the receiver's bandwidth
//! estimate starts over.

use std::time::Instant;

use moim_proto::signal::TrackKind;
use tracing::info;

use crate::ids::{ParticipantId, SessionId};
use crate::router::Router;
use crate::track::Origin;

impl Router {
    /// Restarts ICE on the participant's subscriber connection (its network changed): the
    /// next offer carries new credentials, sent at once or once the outstanding one is
    /// answered.
    pub(crate) fn restart_ice(&mut self, participant: ParticipantId) {
        let Some(id) = self.subscriber_of(participant) else {
            return;
        };
        if let Some(session) = self.sessions.get_mut(&id) {
            session.negotiation.restart_ice = true;
            self.negotiate(id);
        }
    }

    /// Registers the ICE credentials in SDP that session `id` sends (an answer or an offer)
    /// when an ICE restart changed them: str0m chose them at random, so the
    /// demultiplexers learn them instead of deriving them.
    pub(crate) fn note_ice_credentials(&mut self, id: SessionId, sdp: &str) {
        if let Some((ufrag, password)) = crate::sdp::ice_credentials(sdp)
            && self.demux.restart_session(id, ufrag, password)
            && let Some(session) = self.sessions.get_mut(&id)
        {
            info!(session = %id, role = ?session.role, "ICE restarted");
            session.ice_restarting = true;
        }
    }

    /// A session whose ICE restarted has its path back: its receivers' decoders missed
    /// pictures meanwhile, so keyframes are asked for (of the videos a subscriber receives;
    /// of every layer a publisher sends).
    pub(crate) fn ice_restarted(&mut self, now: Instant, id: SessionId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if !std::mem::take(&mut session.ice_restarting) {
            return;
        }
        info!(session = %id, "path back after the ICE restart");
        self.path_changed(now, id);
        self.request_keyframes_for(now, id);
        for track in self.tracks.values() {
            if matches!(track.origin, Origin::Local { session, .. } if session == id)
                && track.kind == TrackKind::Video
            {
                for layer in 0..track.layers.len() {
                    self.pending.request_keyframe(track.id, layer);
                }
            }
        }
    }
}
