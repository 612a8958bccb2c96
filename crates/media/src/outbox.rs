//! A worker's messages to the other workers, over their bounded inboxes. Frames, keyframe
//! requests and handed-over datagrams may be dropped when an inbox is full (media degrades,
//! counted); what changes another worker's picture of a room (a track published or gone,
//! an interest) is never dropped: it waits here, in order, until the inbox has room.

use std::collections::VecDeque;

use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use crate::relay::{Relay, WorkerId};

/// The relays waiting for room in each worker's inbox.
#[derive(Debug)]
pub struct RelayOutbox {
    me: WorkerId,
    inboxes: Vec<Sender<(WorkerId, Relay)>>,
    /// Per worker, state relays that found its inbox full, oldest first.
    waiting: Vec<VecDeque<Relay>>,
    /// Media relays dropped because an inbox was full.
    pub dropped: u64,
}

impl RelayOutbox {
    /// An outbox of worker `me` to every worker's inbox (its own is never used).
    pub fn new(me: WorkerId, inboxes: Vec<Sender<(WorkerId, Relay)>>) -> RelayOutbox {
        let waiting = inboxes.iter().map(|_| VecDeque::new()).collect();
        RelayOutbox {
            me,
            inboxes,
            waiting,
            dropped: 0,
        }
    }

    /// Sends `relay` to worker `to`: at once if its inbox has room and nothing waits for
    /// it; else a state relay waits (behind the others) and a media relay is dropped.
    /// Returns false when a media relay was dropped.
    pub fn send(&mut self, to: WorkerId, relay: Relay) -> bool {
        let waiting = &mut self.waiting[to.0];
        if !waiting.is_empty() {
            if relay.is_state() {
                waiting.push_back(relay);
                return true;
            }
            self.dropped += 1;
            return false;
        }
        match self.inboxes[to.0].try_send((self.me, relay)) {
            Ok(()) => true,
            Err(TrySendError::Full((_, relay))) if relay.is_state() => {
                waiting.push_back(relay);
                true
            }
            Err(_) => {
                self.dropped += 1;
                false
            }
        }
    }

    /// Moves waiting relays into inboxes that have room again, in order.
    pub fn retry(&mut self) {
        for (to, waiting) in self.waiting.iter_mut().enumerate() {
            while let Some(relay) = waiting.pop_front() {
                match self.inboxes[to].try_send((self.me, relay)) {
                    Ok(()) => {}
                    Err(TrySendError::Full((_, relay))) => {
                        waiting.push_front(relay);
                        break;
                    }
                    Err(TrySendError::Closed(_)) => waiting.clear(),
                }
            }
        }
    }

    /// Whether relays wait for room (the worker should look again soon).
    pub fn has_waiting(&self) -> bool {
        self.waiting.iter().any(|w| !w.is_empty())
    }

    /// How many relays wait for room.
    pub fn waiting(&self) -> usize {
        self.waiting.iter().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::ids::{RoomId, TrackId};

    #[test]
    fn a_full_inbox_drops_media_but_keeps_state_in_order() {
        let (tx0, _rx0) = mpsc::channel(1);
        let (tx1, mut rx1) = mpsc::channel(1);
        let mut out = RelayOutbox::new(WorkerId(0), vec![tx0, tx1]);
        let to = WorkerId(1);
        let room = RoomId(7);
        let interest = |wanted| Relay::Interest {
            room,
            worker: WorkerId(0),
            wanted,
        };
        assert!(out.send(to, Relay::TrackUnpublished(TrackId(1))), "fits");
        assert!(out.send(to, interest(true)), "waits");
        assert!(!out.send(
            to,
            Relay::KeyframeRequest {
                track: TrackId(2),
                rid: None
            }
        ));
        assert!(
            out.send(to, Relay::TrackUnpublished(TrackId(3))),
            "waits behind"
        );
        assert_eq!(out.dropped, 1);
        assert!(out.has_waiting());

        let mut got = Vec::new();
        while out.has_waiting() || !rx1.is_empty() {
            if let Ok((_, relay)) = rx1.try_recv() {
                got.push(relay);
            }
            out.retry();
        }
        let names: Vec<String> = got.iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names[0].starts_with("TrackUnpublished(TrackId(1))"));
        assert!(names[1].starts_with("Interest"));
        assert!(names[2].starts_with("TrackUnpublished(TrackId(3))"));
    }
}
