//! What changes about a track while it flows: muted or not (here and on the other workers,
//! which mirror it), and the height each subscriber shows it at (which picks its layer).

use std::time::Instant;

use tracing::debug;

use crate::event::MediaEvent;
use crate::ids::{ParticipantId, TrackId};
use crate::relay::Relay;
use crate::router::Router;

impl Router {
    /// Mutes or unmutes a track of `participant`; one its publisher declared and that is
    /// not negotiated yet starts in that state.
    pub(crate) fn mute(&mut self, participant: ParticipantId, track: TrackId, muted: bool) {
        let publisher = self
            .participants
            .get(&participant)
            .and_then(|p| p.publisher);
        if let Some(declared) = publisher
            .and_then(|id| self.sessions.get_mut(&id))
            .and_then(|s| s.declared.values_mut().find(|d| d.track == track))
        {
            declared.muted = muted;
        }
        self.mute_track(track, muted);
    }

    /// Stops or resumes forwarding a track (this worker's, whose mirrors on the other workers
    /// follow, or a mirror of another's). A muted track stops counting as speech at once,
    /// and players stop showing it.
    pub(crate) fn mute_track(&mut self, track: TrackId, muted: bool) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        if t.muted == muted {
            return;
        }
        t.muted = muted;
        let room = t.room;
        let local = t.is_local();
        if muted && local && t.speech.silence() {
            self.pending.announce(MediaEvent::Speaking {
                participant: t.participant,
                track,
                speaking: false,
            });
        }
        if !muted {
            // Subscribers restart on a keyframe.
            for sub in &t.subscribers {
                if let Some(slot) = self
                    .sessions
                    .get_mut(&sub.session)
                    .and_then(|s| s.slots.get_mut(&sub.mid))
                {
                    slot.rebind(Some(track));
                }
            }
        }
        // The other workers' mirrors follow, in order after the track's publication.
        if local {
            self.tell_room(room, || Relay::TrackMuted { track, muted });
        }
        self.rebind_players(room);
    }

    /// Sets the height `participant` shows `track` at: its subscription picks the layer
    /// closest to it, within the bandwidth shared out again at once.
    pub(crate) fn video_size(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        track: TrackId,
        height: u32,
    ) {
        let Some(id) = self.subscriber_of(participant) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        for slot in session.slots.values_mut() {
            if slot.track == Some(track) {
                debug!(%participant, %track, height, "rendered size");
                slot.target_height = height.max(1);
            }
        }
        self.allocate(now, id);
        self.layers_due = true;
    }
}
