//! Dynacast: the simulcast layers of a video taller than any receiver needs are paused at
//! the publisher (its client sets `encodings[].active`), and a video nobody receives is
//! not sent at all, which spares the publisher's uplink and the server's work.
//!
//! Every subscription needs the layer its rendered size asks for (whatever the
//! subscriber's bandwidth allows it now, so that a subscriber whose path frees up can
//! climb back), every recording or broadcast tap the layer it takes; the publisher sends
//! the tallest of those and every smaller layer, which a subscriber short of bandwidth
//! falls back to. A mirror reports its receivers' heights
//! to the track's own worker (`Relay::ReceiverHeights`), which adds up every worker's, keeps a layer
//! on for [`LAYER_HOLD`] after it was last needed, and tells the control plane when the
//! set to send changes (`MediaEvent::LayersWanted`).

use std::time::{Duration, Instant};

use moim_proto::signal::TrackKind;

use crate::event::MediaEvent;
use crate::ids::TrackId;
use crate::relay::{Relay, WorkerId};
use crate::router::Router;
use crate::track::Origin;

/// A layer stays on this long after its last receiver stopped needing it, so that a
/// receiver resizing its tile or reconnecting does not wait for the publisher.
pub const LAYER_HOLD: Duration = Duration::from_secs(3);

/// Layers beyond this many (by arrival) are never paused.
const MAX_LAYERS: usize = 8;

/// A set of a track's layers, by their index on this worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerSet(u8);

impl LayerSet {
    fn insert(&mut self, index: usize) {
        if index < MAX_LAYERS {
            self.0 |= 1 << index;
        }
    }

    /// Whether layer `index` is in the set (layers beyond the first eight always are).
    pub fn contains(self, index: usize) -> bool {
        index >= MAX_LAYERS || self.0 & (1 << index) != 0
    }
}

/// One track's dynacast state on one worker.
#[derive(Debug, Default)]
pub struct Dynacast {
    /// A mirror: the heights last reported to the track's worker.
    reported: Option<Vec<u32>>,
    /// The track's own worker: the heights each other worker's receivers show it at.
    remote: Vec<(WorkerId, Vec<u32>)>,
    /// The track's own worker: when each layer was last needed.
    needed_at: [Option<Instant>; MAX_LAYERS],
    /// When this worker first looked at the track: until then every layer counts as
    /// needed, so a new track is not paused before its receivers arrive.
    since: Option<Instant>,
    /// The layers the publisher was last told to send, and of how many layers known then
    /// (`None`: never told, so all).
    told: Option<(LayerSet, usize)>,
}

impl Dynacast {
    /// Worker `worker`'s receivers now show the track at `heights` (empty: none).
    pub fn remote_needs(&mut self, worker: WorkerId, heights: Vec<u32>) {
        self.remote.retain(|(w, _)| *w != worker);
        if !heights.is_empty() {
            self.remote.push((worker, heights));
        }
    }

    /// Forgets what worker `worker` needed (it has no receivers in the room any more).
    pub fn forget_worker(&mut self, worker: WorkerId) {
        self.remote.retain(|(w, _)| *w != worker);
    }

    /// The heights other workers' receivers show the track at.
    fn remote_heights(&self) -> impl Iterator<Item = u32> + '_ {
        self.remote.iter().flat_map(|(_, h)| h.iter().copied())
    }

    /// Takes the layers `needed` now of a track with `layers` layers; the layers to send
    /// when that differs from what the publisher was last told, or a layer first seen
    /// since must be named too (the publisher's encoder may start its tallest layer late,
    /// and a layer left unnamed keeps being sent).
    fn update(&mut self, needed: LayerSet, layers: usize, now: Instant) -> Option<LayerSet> {
        let since = *self.since.get_or_insert(now);
        let layers = layers.min(MAX_LAYERS);
        let mut send = LayerSet::default();
        let mut all = LayerSet::default();
        for i in 0..layers {
            all.insert(i);
            if needed.contains(i) {
                self.needed_at[i] = Some(now);
            }
            let last = self.needed_at[i].unwrap_or(since);
            if now.saturating_duration_since(last) < LAYER_HOLD {
                send.insert(i);
            }
        }
        if self.told.unwrap_or((all, layers)) == (send, layers) {
            return None;
        }
        self.told = Some((send, layers));
        Some(send)
    }
}

impl Router {
    /// Works out again which layers of every video track are needed; reports a mirror's
    /// needs to the track's worker and a local track's changes to the control plane.
    pub(crate) fn update_layers_wanted(&mut self, now: Instant) {
        let ids: Vec<TrackId> = self
            .tracks
            .values()
            .filter(|t| t.kind == TrackKind::Video && !t.muted)
            .map(|t| t.id)
            .collect();
        for id in ids {
            let mut heights = self.heights_here(id);
            let Some(track) = self.tracks.get_mut(&id) else {
                continue;
            };
            match track.origin {
                // A mirror may not know the layers (no frames while all are paused):
                // the track's worker maps the heights to its layers.
                Origin::Remote(worker) => {
                    heights.sort_unstable();
                    heights.dedup();
                    if track.dynacast.reported.as_ref() != Some(&heights) {
                        track.dynacast.reported = Some(heights.clone());
                        self.pending.relay(
                            worker,
                            Relay::ReceiverHeights {
                                track: id,
                                worker: self.worker,
                                heights,
                            },
                        );
                    }
                }
                Origin::Local { .. } => {
                    if track.layers.is_empty() {
                        continue;
                    }
                    // The tallest layer asked for and every smaller one: a subscriber
                    // whose bandwidth is short falls back to a smaller layer, which must
                    // be there to fall back to.
                    let all = heights
                        .iter()
                        .copied()
                        .chain(track.dynacast.remote_heights());
                    let tallest = all
                        .filter_map(|h| track.layer_for_size(h))
                        .map(|i| track.layers[i].height)
                        .max();
                    let mut needed = LayerSet::default();
                    for (i, layer) in track.layers.iter().enumerate() {
                        if tallest.is_some_and(|t| layer.height <= t) {
                            needed.insert(i);
                        }
                    }
                    let layers = track.layers.len();
                    if let Some(send) = track.dynacast.update(needed, layers, now) {
                        let wanted = track
                            .layers
                            .iter()
                            .enumerate()
                            .map(|(i, l)| (l.rid, send.contains(i)))
                            .collect();
                        self.pending.announce(MediaEvent::LayersWanted {
                            participant: track.participant,
                            track: id,
                            layers: wanted,
                        });
                    }
                }
            }
        }
    }

    /// The heights this worker's subscriptions and taps show `track` at.
    fn heights_here(&self, track: TrackId) -> Vec<u32> {
        let Some(t) = self.tracks.get(&track) else {
            return Vec::new();
        };
        let slots = t.subscribers.iter().filter_map(|sub| {
            self.sessions
                .get(&sub.session)
                .and_then(|s| s.slots.get(&sub.mid))
                .filter(|s| s.open && s.track == Some(track))
        });
        slots
            .map(|s| s.target_height)
            .chain(t.egress.target_heights())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(indices: &[usize]) -> LayerSet {
        let mut s = LayerSet::default();
        for &i in indices {
            s.insert(i);
        }
        s
    }

    #[test]
    fn a_new_track_keeps_every_layer_until_the_hold_has_passed() {
        let mut d = Dynacast::default();
        let t0 = Instant::now();
        assert_eq!(
            d.update(set(&[]), 3, t0),
            None,
            "all on, as the publisher starts"
        );
        assert_eq!(d.update(set(&[]), 3, t0 + LAYER_HOLD / 2), None);
        assert_eq!(
            d.update(set(&[]), 3, t0 + LAYER_HOLD),
            Some(set(&[])),
            "nobody watches"
        );
        assert_eq!(
            d.update(set(&[1]), 3, t0 + LAYER_HOLD * 2),
            Some(set(&[1])),
            "at once"
        );
    }

    #[test]
    fn a_layer_no_longer_needed_is_paused_after_the_hold() {
        let mut d = Dynacast::default();
        let t0 = Instant::now();
        d.update(set(&[0, 1, 2]), 3, t0);
        assert_eq!(d.update(set(&[0]), 3, t0 + LAYER_HOLD / 2), None);
        assert_eq!(d.update(set(&[0]), 3, t0 + LAYER_HOLD), Some(set(&[0])));
        assert_eq!(
            d.update(set(&[0]), 3, t0 + LAYER_HOLD * 2),
            None,
            "told once"
        );
    }

    #[test]
    fn a_layer_that_starts_late_is_named_too() {
        let mut d = Dynacast::default();
        let t0 = Instant::now();
        assert_eq!(d.update(set(&[]), 2, t0), None);
        assert_eq!(d.update(set(&[]), 2, t0 + LAYER_HOLD), Some(set(&[])));
        // The tallest layer's first frame arrives after the publisher was told.
        assert_eq!(
            d.update(set(&[]), 3, t0 + LAYER_HOLD * 2),
            Some(set(&[])),
            "told again, naming it"
        );
        assert_eq!(d.update(set(&[]), 3, t0 + LAYER_HOLD * 3), None);
    }

    #[test]
    fn other_workers_heights_count_until_forgotten() {
        let mut d = Dynacast::default();
        d.remote_needs(WorkerId(1), vec![180, 720]);
        d.remote_needs(WorkerId(2), vec![360]);
        let mut heights: Vec<u32> = d.remote_heights().collect();
        heights.sort_unstable();
        assert_eq!(heights, [180, 360, 720]);
        d.forget_worker(WorkerId(1));
        d.remote_needs(WorkerId(2), Vec::new());
        assert_eq!(d.remote_heights().count(), 0);
    }
}
