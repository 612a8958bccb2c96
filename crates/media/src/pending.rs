//! What a [`crate::Router`] owes after handling an input: sessions to poll, keyframe
//! requests to send, subscriber connections to renegotiate, events for the control plane
//! and relays for other workers. The drive loop works these off; everything else only adds
//! to them, through methods that keep their rules: a session is queued for polling once,
//! state events are always kept while clients' data messages are bounded.

use std::collections::VecDeque;

use crate::data::MAX_WAITING_EVENTS;
use crate::event::MediaEvent;
use crate::ids::{SessionId, TrackId};
use crate::relay::{Relay, WorkerId};
use crate::session::Session;

/// The router's outstanding work, in the order the drive loop takes it.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    dirty: Vec<SessionId>,
    keyframe_requests: Vec<(TrackId, usize)>,
    to_negotiate: Vec<SessionId>,
    events: VecDeque<MediaEvent>,
    relays: VecDeque<(WorkerId, Relay)>,
}

impl Pending {
    /// Queues `session` to be polled (once, however often it is touched before that).
    pub(crate) fn poll(&mut self, session: &mut Session) {
        if !session.dirty {
            session.dirty = true;
            self.dirty.push(session.id);
        }
    }

    /// The next session to poll.
    pub(crate) fn next_poll(&mut self) -> Option<SessionId> {
        self.dirty.pop()
    }

    /// No session waits to be polled.
    pub(crate) fn nothing_to_poll(&self) -> bool {
        self.dirty.is_empty()
    }

    /// Asks the publisher of `track` for a keyframe of `layer` (coalesced when sent).
    pub(crate) fn request_keyframe(&mut self, track: TrackId, layer: usize) {
        self.keyframe_requests.push((track, layer));
    }

    /// The next keyframe request to send.
    pub(crate) fn next_keyframe_request(&mut self) -> Option<(TrackId, usize)> {
        self.keyframe_requests.pop()
    }

    /// Queues the subscriber connection `session` for a new offer.
    pub(crate) fn renegotiate(&mut self, session: SessionId) {
        self.to_negotiate.push(session);
    }

    /// The next subscriber connection to renegotiate.
    pub(crate) fn next_renegotiation(&mut self) -> Option<SessionId> {
        self.to_negotiate.pop()
    }

    /// Tells the control plane of a change of state; never dropped (the worker holds it
    /// until the control plane takes it).
    pub(crate) fn announce(&mut self, event: MediaEvent) {
        self.events.push_back(event);
    }

    /// Whether a client's data message would find room: beyond a bound of waiting events
    /// (the control plane is behind) such messages are dropped, state changes never are.
    pub(crate) fn room_for_messages(&self) -> bool {
        self.events.len() < MAX_WAITING_EVENTS
    }

    /// The next event for the control plane.
    pub(crate) fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Events wait for the control plane.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// How many events wait for the control plane.
    pub(crate) fn events_waiting(&self) -> usize {
        self.events.len()
    }

    /// Sends `relay` to `worker`.
    pub(crate) fn relay(&mut self, worker: WorkerId, relay: Relay) {
        self.relays.push_back((worker, relay));
    }

    /// The next relay for another worker.
    pub(crate) fn next_relay(&mut self) -> Option<(WorkerId, Relay)> {
        self.relays.pop_front()
    }
}
