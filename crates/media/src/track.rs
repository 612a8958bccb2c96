//! A published track: its simulcast layers and the subscriptions that receive it.

use std::time::{Duration, Instant};

use moim_proto::signal::{TrackKind, TrackSource};
use str0m::media::{Mid, Rid};

use crate::dynacast::Dynacast;
use crate::egress::Taps;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::packets::Cutter;
use crate::rate::Rate;
use crate::relay::{TrackInfo, WorkerId};
use crate::speech::Speech;
use crate::subscription::{Cap, Slot};

/// A layer that sent nothing for this long is treated as stopped by the publisher.
const LAYER_IDLE: Duration = Duration::from_millis(1500);

/// Keyframe requests to one layer closer together than this are merged into one.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

/// One simulcast layer (or the only stream of a non-simulcast track).
#[derive(Debug, Clone)]
pub struct Layer {
    /// The rid its packets carry; `None` for a track without simulcast.
    pub rid: Option<Rid>,
    /// Picture height, learnt from keyframes; until then guessed from the rid.
    pub height: u32,
    /// Whether `height` was read from a keyframe rather than guessed.
    pub height_known: bool,
    /// When its latest frame arrived, so that a layer the publisher stopped sending is not
    /// chosen.
    pub last_seen: Instant,
    /// When a keyframe was last asked for, to merge requests from many subscribers.
    pub last_keyframe_request: Option<Instant>,
    /// What it costs a subscriber.
    pub rate: Rate,
    /// Cuts its frames into packets, in packet forwarding (`packets.rs`).
    pub cutter: Cutter,
}

impl Layer {
    fn new(rid: Option<Rid>, now: Instant) -> Layer {
        Layer {
            rid,
            height: guessed_height(rid),
            height_known: false,
            last_seen: now,
            last_keyframe_request: None,
            rate: Rate::new(now),
            cutter: Cutter::default(),
        }
    }

    /// Whether the publisher still sends it.
    pub fn is_active(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) < LAYER_IDLE
    }
}

/// A height guess from the common rid names (`q`/`h`/`f`, `l`/`m`/`h`, `0`/`1`/`2`).
fn guessed_height(rid: Option<Rid>) -> u32 {
    match rid.as_deref() {
        Some("q" | "l" | "low" | "0") => 180,
        Some("h" | "m" | "mid" | "1") => 360,
        _ => 720,
    }
}

/// A subscription of one track: the subscriber session and its sending m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// The subscriber or player session.
    pub session: SessionId,
    /// The sending m-line the track is bound to.
    pub mid: Mid,
}

/// Where a track's media comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A publisher session of this worker, on this m-line.
    Local {
        /// The publisher session.
        session: SessionId,
        /// The receiving m-line the track arrives on.
        mid: Mid,
    },
    /// Another worker, which relays the frames (this track is its mirror).
    Remote(WorkerId),
}

/// A published track.
#[derive(Debug)]
pub struct Track {
    /// Its key, the same on every worker.
    pub id: TrackId,
    /// Its room.
    pub room: RoomId,
    /// Its publisher.
    pub participant: ParticipantId,
    /// Published here, or mirrored from another worker.
    pub origin: Origin,
    /// Audio or video.
    pub kind: TrackKind,
    /// What the publisher declared it to be.
    pub source: TrackSource,
    /// The publisher sends several layers.
    pub simulcast: bool,
    /// Nothing of it is forwarded or recorded while muted.
    pub muted: bool,
    /// Its layers, in the order their first frames arrived.
    pub layers: Vec<Layer>,
    /// The m-lines of this worker's sessions that receive it.
    pub subscribers: Vec<Subscriber>,
    /// Audio tracks of this worker: whether the publisher is speaking.
    pub speech: Speech,
    /// Local tracks being recorded or broadcast: where their frames go.
    pub egress: Taps,
    /// Which layers its receivers need, so the publisher pauses the others.
    pub dynacast: Dynacast,
}

impl Track {
    /// The mirror of another worker's track.
    pub fn mirror(info: TrackInfo, worker: WorkerId) -> Track {
        Track {
            id: info.id,
            room: info.room,
            participant: info.participant,
            origin: Origin::Remote(worker),
            kind: info.kind,
            source: info.source,
            simulcast: info.simulcast,
            muted: info.muted,
            layers: Vec::new(),
            subscribers: Vec::new(),
            speech: Speech::default(),
            egress: Taps::default(),
            dynacast: Dynacast::default(),
        }
    }

    /// What other workers need to mirror this track.
    pub fn info(&self) -> TrackInfo {
        TrackInfo {
            id: self.id,
            room: self.room,
            participant: self.participant,
            kind: self.kind,
            source: self.source,
            simulcast: self.simulcast,
            muted: self.muted,
        }
    }

    /// Published on this worker, not a mirror.
    pub fn is_local(&self) -> bool {
        matches!(self.origin, Origin::Local { .. })
    }

    /// The index of the layer with `rid`, if it has been seen.
    pub fn find_layer(&self, rid: Option<Rid>) -> Option<usize> {
        self.layers.iter().position(|l| l.rid == rid)
    }

    /// The index of the layer with `rid`, adding it when first seen.
    pub fn layer_index(&mut self, rid: Option<Rid>, now: Instant) -> usize {
        if let Some(i) = self.find_layer(rid) {
            return i;
        }
        self.layers.push(Layer::new(rid, now));
        self.layers.len() - 1
    }

    /// Notes a frame of `bytes` on layer `index`; a VP8 keyframe tells the layer's real
    /// height.
    pub fn saw_frame(
        &mut self,
        index: usize,
        bytes: usize,
        keyframe_height: Option<u32>,
        now: Instant,
    ) {
        let layer = &mut self.layers[index];
        layer.last_seen = now;
        layer.rate.add(bytes, now);
        if let Some(h) = keyframe_height {
            layer.height = h;
            layer.height_known = true;
        }
    }

    /// The layer a subscriber rendering at `target_height` should receive: the smallest
    /// active layer at least ~90 % as tall, else the tallest active one.
    pub fn choose_layer(&self, target_height: u32, now: Instant) -> Option<usize> {
        self.fit_layer(target_height, |l| l.is_active(now))
    }

    /// The layer rendering at `target_height` asks for, whether or not the publisher sends
    /// it now (dynacast).
    pub fn layer_for_size(&self, target_height: u32) -> Option<usize> {
        self.fit_layer(target_height, |_| true)
    }

    fn fit_layer(&self, target_height: u32, usable: impl Fn(&Layer) -> bool) -> Option<usize> {
        let mut best_fit: Option<usize> = None;
        let mut tallest: Option<usize> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            if !usable(layer) {
                continue;
            }
            if tallest.is_none_or(|t| self.layers[t].height < layer.height) {
                tallest = Some(i);
            }
            let fits = layer.height * 10 >= target_height * 9;
            if fits && best_fit.is_none_or(|b| self.layers[b].height > layer.height) {
                best_fit = Some(i);
            }
        }
        best_fit.or(tallest)
    }

    /// The layer `slot` should receive: what its rendered size asks for, within what the
    /// bandwidth allocation and the worker's overload allow it; `None` while paused or
    /// before any layer arrived.
    pub fn layer_for(&self, slot: &Slot, now: Instant) -> Option<usize> {
        let layer = self.layer_within_bandwidth(slot, now)?;
        let Some(limit) = slot.shed.and_then(|rank| self.layer_by_size(rank)) else {
            return Some(layer);
        };
        let shed = self.layers[limit].height < self.layers[layer].height
            && self.layers[limit].is_active(now);
        Some(if shed { limit } else { layer })
    }

    fn layer_within_bandwidth(&self, slot: &Slot, now: Instant) -> Option<usize> {
        if let Some(rank) = slot.pinned {
            // Up to the layer its rendered size asks for: larger ones would go unused.
            let tallest = self.layer_for_size(slot.target_height)?;
            let limit = self.layers[tallest].height;
            return self
                .layer_by_size(rank)
                .filter(|&i| self.layers[i].is_active(now) && self.layers[i].height <= limit);
        }
        match slot.cap {
            Cap::Paused => None,
            Cap::Layer(cap) if self.layers.get(cap).is_some_and(|l| l.is_active(now)) => Some(cap),
            _ => self.choose_layer(slot.target_height, now),
        }
    }

    /// The `rank`-th smallest layer (ties in the order the layers arrived).
    pub fn layer_by_size(&self, rank: usize) -> Option<usize> {
        let key = |i: usize| (self.layers[i].height, i);
        (0..self.layers.len())
            .find(|&i| (0..self.layers.len()).filter(|&j| key(j) < key(i)).count() == rank)
    }

    /// Whether a keyframe request to layer `index` should go out now (merging requests
    /// from many subscribers into one); records it if so.
    pub fn take_keyframe_request(&mut self, index: usize, now: Instant) -> bool {
        let layer = &mut self.layers[index];
        if layer
            .last_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_REQUEST_INTERVAL)
        {
            return false;
        }
        layer.last_keyframe_request = Some(now);
        true
    }
}

/// The picture width and height of a VP8 keyframe (RFC 6386 §9.1), or `None` for other
/// frames.
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let dimension = |lo: u8, hi: u8| u32::from(u16::from_le_bytes([lo, hi]) & 0x3fff);
    Some((dimension(frame[6], frame[7]), dimension(frame[8], frame[9])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(now: Instant) -> Track {
        Track {
            id: TrackId(1),
            room: RoomId(1),
            participant: ParticipantId(1),
            origin: Origin::Local {
                session: SessionId(1),
                mid: Mid::from("1"),
            },
            kind: TrackKind::Video,
            source: TrackSource::Camera,
            simulcast: true,
            muted: false,
            layers: Vec::new(),
            subscribers: Vec::new(),
            speech: Default::default(),
            egress: Taps::default(),
            dynacast: Dynacast::default(),
        }
        .with_layers(now)
    }

    impl Track {
        fn with_layers(mut self, now: Instant) -> Track {
            for rid in ["q", "h", "f"] {
                self.layer_index(Some(Rid::from(rid)), now);
            }
            self
        }
    }

    #[test]
    fn layer_follows_rendered_height() {
        let now = Instant::now();
        let t = track(now);
        let rid = |i: Option<usize>| i.and_then(|i| t.layers[i].rid);
        assert_eq!(rid(t.choose_layer(120, now)), Some(Rid::from("q")));
        assert_eq!(rid(t.choose_layer(180, now)), Some(Rid::from("q")));
        assert_eq!(rid(t.choose_layer(300, now)), Some(Rid::from("h")));
        assert_eq!(rid(t.choose_layer(700, now)), Some(Rid::from("f")));
        assert_eq!(rid(t.choose_layer(2000, now)), Some(Rid::from("f")));
    }

    #[test]
    fn learnt_heights_replace_guesses() {
        let now = Instant::now();
        let mut t = track(now);
        t.saw_frame(2, 1000, Some(480), now);
        t.saw_frame(1, 1000, Some(240), now);
        t.saw_frame(0, 1000, Some(120), now);
        assert_eq!(t.choose_layer(360, now), Some(2));
        assert_eq!(t.choose_layer(240, now), Some(1));
    }

    #[test]
    fn idle_layers_are_skipped() {
        let start = Instant::now();
        let mut t = track(start);
        let later = start + Duration::from_secs(3);
        t.saw_frame(0, 1000, None, later);
        t.saw_frame(1, 1000, None, later);
        assert_eq!(
            t.choose_layer(720, later),
            Some(1),
            "f stopped, h is tallest"
        );
        assert_eq!(
            track(start).choose_layer(720, later),
            None,
            "nothing active, nothing chosen"
        );
    }

    #[test]
    fn a_pinned_slot_takes_its_layer_by_size_whatever_it_renders_at() {
        let start = Instant::now();
        let mut t = Track {
            layers: Vec::new(),
            ..track(start)
        };
        // Layers arrive out of order: f first, then q, then h.
        for rid in ["f", "q", "h"] {
            t.layer_index(Some(Rid::from(rid)), start);
        }
        let mut slot = Slot::new(Some(t.id), true, true);
        slot.target_height = 720;
        let rid = |i: Option<usize>| i.and_then(|i| t.layers[i].rid);
        for (rank, expected) in [(0, "q"), (1, "h"), (2, "f")] {
            slot.pinned = Some(rank);
            assert_eq!(rid(t.layer_for(&slot, start)), Some(Rid::from(expected)));
        }
        slot.pinned = Some(3);
        assert_eq!(t.layer_for(&slot, start), None, "no fourth layer");
        // Nothing larger than its rendered size asks for.
        slot.target_height = 360;
        slot.pinned = Some(2);
        assert_eq!(t.layer_for(&slot, start), None);
        slot.pinned = Some(1);
        assert_eq!(rid(t.layer_for(&slot, start)), Some(Rid::from("h")));
        slot.target_height = 720;
        // A layer the publisher stopped sending leaves its m-line without media.
        let later = start + Duration::from_secs(3);
        t.saw_frame(1, 1000, None, later);
        slot.pinned = Some(2);
        assert_eq!(t.layer_for(&slot, later), None);
        slot.pinned = Some(0);
        assert_eq!(t.layer_for(&slot, later), Some(1));
    }

    #[test]
    fn keyframe_requests_are_coalesced() {
        let now = Instant::now();
        let mut t = track(now);
        assert!(t.take_keyframe_request(1, now));
        assert!(!t.take_keyframe_request(1, now + Duration::from_millis(100)));
        assert!(t.take_keyframe_request(0, now), "other layers are separate");
        assert!(t.take_keyframe_request(1, now + KEYFRAME_REQUEST_INTERVAL));
    }

    #[test]
    fn vp8_keyframe_header_gives_height() {
        let mut kf = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        assert_eq!(vp8_keyframe_size(&kf).map(|(_, h)| h), Some(480));
        kf[0] |= 1;
        assert_eq!(vp8_keyframe_size(&kf), None, "interframe");
        assert_eq!(vp8_keyframe_size(&[0; 4]), None);
    }
}
