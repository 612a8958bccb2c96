//! The sending side of one subscriber m-line: which track and layer it carries, and the
//! timestamp rewriting that keeps its timeline continuous across layer and source switches.

use std::time::{Duration, Instant};

use str0m::media::MediaTime;

use crate::ids::TrackId;
use crate::packets::Numbering;

/// Height assumed until the subscriber says how large it renders the video.
pub const DEFAULT_TARGET_HEIGHT: u32 = 360;

/// A running video the allocation has no room for (beside the others) keeps its smallest
/// layer this long before it is paused: a pause takes the picture away, and an estimate
/// dips for a moment on a busy host or under a burst of other traffic.
pub const PAUSE_AFTER: Duration = Duration::from_secs(2);
/// A frame whose RTP time runs this much further ahead of the last one than its arrival
/// does restarts the outgoing timeline at its arrival ([`Slot::out_time`]).
pub const MAX_AHEAD: Duration = Duration::from_millis(500);

/// How much of its track a video subscription may have, by the subscriber's bandwidth
/// (`allocation.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cap {
    /// No estimate yet: the layer its rendered size asks for.
    #[default]
    Free,
    /// This layer of the track at most.
    Layer(usize),
    /// Nothing: the subscriber's bandwidth does not carry even the smallest layer.
    Paused,
}

/// What to do with one incoming frame for one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// Forward the frame.
    pub forward: bool,
    /// Ask the publisher for a keyframe of this layer.
    pub request_keyframe: Option<usize>,
}

/// One sending m-line of a subscriber or player session.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The track bound to this m-line, if any.
    pub track: Option<TrackId>,
    /// Negotiated with the client (a subscriber slot is not until the answer arrives).
    pub open: bool,
    /// Video waits for keyframes and switches layers; audio forwards from its first frame.
    pub is_video: bool,
    /// The height the video is shown at (by the subscriber, or in the recording), from
    /// which its layer is chosen.
    pub target_height: u32,
    /// The layer being forwarded; `None` until a keyframe (video) or first frame (audio).
    pub layer: Option<usize>,
    /// The one layer this m-line carries, by size (0 the smallest), whatever the
    /// bandwidth, if it is no larger than the rendered size asks for: set on the video
    /// m-lines of a player that offers several, such as another node's relay, which takes
    /// each layer of the video on its own m-line.
    pub pinned: Option<usize>,
    /// What the bandwidth allocation allows it.
    pub cap: Cap,
    /// The largest layer, by size (0 the smallest), the worker's overload leaves it
    /// (`overload.rs`); `None` while the worker keeps up.
    pub shed: Option<usize>,
    /// When the allocation last lowered it, which holds back the next step up.
    pub lowered: Option<Instant>,
    /// Since when the allocation has had no room for it while it was running.
    short_since: Option<Instant>,
    rebase: bool,
    /// Added to incoming RTP times (in the media clock) to make outgoing ones.
    offset: i64,
    /// The last frame sent: its outgoing and incoming RTP times and when it arrived.
    last_out: Option<(u64, u64, Instant)>,
    /// Its sequence numbers and picture ids, in packet forwarding (`packets.rs`).
    pub numbering: Numbering,
}

impl Slot {
    /// A slot of the given kind, bound to `track`.
    pub fn new(track: Option<TrackId>, is_video: bool, open: bool) -> Slot {
        Slot {
            track,
            open,
            is_video,
            target_height: DEFAULT_TARGET_HEIGHT,
            layer: None,
            pinned: None,
            cap: Cap::Free,
            shed: None,
            lowered: None,
            short_since: None,
            rebase: true,
            offset: 0,
            last_out: None,
            numbering: Numbering::new(),
        }
    }

    /// The slot of the same m-line for another track (or for none yet): a subscription
    /// of its own, whose packets go on where this one's stopped (their times, and in
    /// packet forwarding their numbers), so that a receiver that keeps one reordering
    /// buffer per m-line sees no jump.
    pub fn handed_on(&self, track: Option<TrackId>) -> Slot {
        Slot {
            offset: self.offset,
            last_out: self.last_out,
            numbering: self.numbering.clone(),
            ..Slot::new(track, self.is_video, track.is_some())
        }
    }

    /// Binds another track (or none); forwarding resumes on its next keyframe.
    pub fn rebind(&mut self, track: Option<TrackId>) {
        self.track = track;
        self.layer = None;
    }

    /// Decides for a frame from layer `layer`, given the layer wanted now.
    pub fn decide(&mut self, layer: usize, wanted: Option<usize>, keyframe: bool) -> Decision {
        if !self.open {
            return Decision::default();
        }
        if !self.is_video {
            if self.layer.is_none() {
                self.switch_to(layer);
            }
            return Decision {
                forward: self.layer == Some(layer),
                request_keyframe: None,
            };
        }
        let Some(wanted) = wanted else {
            return Decision::default();
        };
        if layer == wanted && self.layer != Some(layer) {
            if keyframe {
                self.switch_to(layer);
                return Decision {
                    forward: true,
                    request_keyframe: None,
                };
            }
            return Decision {
                forward: false,
                request_keyframe: Some(wanted),
            };
        }
        let on_current = self.layer == Some(layer);
        // Keep the current layer flowing until the wanted one delivers a keyframe.
        Decision {
            forward: on_current,
            request_keyframe: (on_current && wanted != layer).then_some(wanted),
        }
    }

    /// The allocation's answer `cap`, except that a running video keeps layer `smallest`
    /// for [`PAUSE_AFTER`] before it is paused.
    pub fn defer_pause(&mut self, cap: Cap, smallest: usize, now: Instant) -> Cap {
        if cap != Cap::Paused || self.cap == Cap::Paused {
            self.short_since = None;
            return cap;
        }
        let since = *self.short_since.get_or_insert(now);
        if now.saturating_duration_since(since) < PAUSE_AFTER {
            Cap::Layer(smallest)
        } else {
            cap
        }
    }

    /// Takes the allocation's answer (`lowered`: a step down); `Some(paused)` when it
    /// pauses or resumes the video. A paused video resumes on a keyframe.
    pub fn allot(&mut self, cap: Cap, lowered: bool, now: Instant) -> Option<bool> {
        if lowered {
            self.lowered = Some(now);
        }
        let was_paused = self.cap == Cap::Paused;
        self.cap = cap;
        let paused = cap == Cap::Paused;
        if paused {
            self.layer = None;
        }
        (was_paused != paused).then_some(paused)
    }

    fn switch_to(&mut self, layer: usize) {
        self.layer = Some(layer);
        self.rebase = true;
    }

    /// The outgoing RTP time of a frame; after a switch, the timeline continues from the
    /// last frame sent, advanced by the wall-clock time since. So does it after a frame
    /// whose time runs more than [`MAX_AHEAD`] ahead of its arrival: after an outage the
    /// stream may restart on a stale keyframe (retransmitted late), and the fresh frames
    /// behind it would otherwise be timed that far in the future, and held that long by
    /// the receiver.
    pub fn out_time(&mut self, time: MediaTime, wall: Instant) -> MediaTime {
        let clock = u64::from(time.denom());
        let input = time.numer();
        let since = |last_wall: Instant| {
            let elapsed = wall.saturating_duration_since(last_wall);
            elapsed.as_micros() as u64 * clock / 1_000_000
        };
        if let Some((_, last_in, last_wall)) = self.last_out {
            let ahead = input
                .saturating_sub(last_in)
                .saturating_sub(since(last_wall));
            if ahead > MAX_AHEAD.as_millis() as u64 * clock / 1_000 {
                self.rebase = true;
            }
        }
        if self.rebase {
            self.rebase = false;
            self.offset = match self.last_out {
                Some((last, _, last_wall)) => {
                    (last + since(last_wall).max(1)) as i64 - input as i64
                }
                None => 0,
            };
        }
        let out = (input as i64 + self.offset).max(0) as u64;
        self.last_out = Some((out, input, wall));
        MediaTime::new(out, time.frequency())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use str0m::media::Frequency;

    use super::*;

    fn video_slot() -> Slot {
        Slot::new(Some(TrackId(1)), true, true)
    }

    #[test]
    fn video_waits_for_a_keyframe_of_the_wanted_layer() {
        let mut s = video_slot();
        let d = s.decide(1, Some(1), false);
        assert!(!d.forward);
        assert_eq!(d.request_keyframe, Some(1));
        assert!(s.decide(1, Some(1), true).forward);
        assert!(s.decide(1, Some(1), false).forward);
        assert!(
            !s.decide(0, Some(1), true).forward,
            "other layers are not sent"
        );
    }

    #[test]
    fn switch_keeps_old_layer_until_new_keyframe() {
        let mut s = video_slot();
        s.decide(0, Some(0), true);
        let d = s.decide(0, Some(2), false);
        assert!(d.forward, "old layer still flows");
        assert_eq!(d.request_keyframe, Some(2));
        assert!(!s.decide(2, Some(2), false).forward);
        assert!(s.decide(2, Some(2), true).forward);
        assert_eq!(s.layer, Some(2));
        assert!(!s.decide(0, Some(2), false).forward);
    }

    #[test]
    fn a_paused_video_resumes_on_a_keyframe() {
        let mut s = video_slot();
        let now = Instant::now();
        s.decide(0, Some(0), true);
        assert_eq!(s.allot(Cap::Paused, true, now), Some(true));
        assert_eq!(s.lowered, Some(now));
        assert_eq!(s.allot(Cap::Paused, true, now), None, "still paused");
        assert_eq!(s.allot(Cap::Layer(0), false, now), Some(false));
        assert!(!s.decide(0, Some(0), false).forward);
        assert!(s.decide(0, Some(0), true).forward);
    }

    #[test]
    fn a_running_video_is_paused_only_when_it_stays_short() {
        let mut s = video_slot();
        let t0 = Instant::now();
        assert_eq!(s.defer_pause(Cap::Paused, 0, t0), Cap::Layer(0));
        let dip_over = t0 + PAUSE_AFTER / 2;
        assert_eq!(s.defer_pause(Cap::Layer(1), 0, dip_over), Cap::Layer(1));
        assert_eq!(
            s.defer_pause(Cap::Paused, 0, dip_over),
            Cap::Layer(0),
            "a new shortfall waits again"
        );
        let later = dip_over + PAUSE_AFTER;
        assert_eq!(s.defer_pause(Cap::Paused, 0, later), Cap::Paused);
        s.allot(Cap::Paused, true, later);
        assert_eq!(
            s.defer_pause(Cap::Paused, 0, later),
            Cap::Paused,
            "stays paused"
        );
    }

    #[test]
    fn closed_slot_forwards_nothing() {
        let mut s = Slot::new(Some(TrackId(1)), false, false);
        assert!(!s.decide(0, Some(0), true).forward);
    }

    #[test]
    fn audio_forwards_from_the_first_frame() {
        let mut s = Slot::new(Some(TrackId(1)), false, true);
        assert!(s.decide(0, Some(0), false).forward);
    }

    #[test]
    fn timeline_is_continuous_across_a_switch() {
        let mut s = video_slot();
        let t0 = Instant::now();
        let hz = Frequency::NINETY_KHZ;
        s.decide(0, Some(0), true);
        assert_eq!(s.out_time(MediaTime::new(1_000, hz), t0).numer(), 1_000);
        assert_eq!(
            s.out_time(MediaTime::new(4_000, hz), t0 + Duration::from_millis(33))
                .numer(),
            4_000
        );
        // Another layer with an unrelated timestamp base, 33 ms later.
        s.decide(1, Some(1), true);
        let switched = s.out_time(
            MediaTime::new(9_000_000, hz),
            t0 + Duration::from_millis(66),
        );
        assert_eq!(switched.numer(), 4_000 + 2_970);
        let next = s.out_time(
            MediaTime::new(9_003_000, hz),
            t0 + Duration::from_millis(99),
        );
        assert_eq!(next.numer(), 4_000 + 2_970 + 3_000);
    }

    #[test]
    fn a_frame_far_ahead_of_its_arrival_is_timed_by_its_arrival() {
        let mut s = video_slot();
        let t0 = Instant::now();
        let hz = Frequency::NINETY_KHZ;
        s.decide(0, Some(0), true);
        assert_eq!(s.out_time(MediaTime::new(0, hz), t0).numer(), 0);
        // A stale keyframe reopened the stream; the next frame, 100 ms later, was taken
        // 2 s after it.
        let fresh = s.out_time(MediaTime::new(180_000, hz), t0 + Duration::from_millis(100));
        assert_eq!(fresh.numer(), 9_000);
        let next = s.out_time(MediaTime::new(183_000, hz), t0 + Duration::from_millis(133));
        assert_eq!(next.numer(), 12_000, "and the timeline goes on from there");
        // A late frame (a small jump ahead, as after jitter) keeps the timeline.
        let jittery = s.out_time(
            MediaTime::new(186_000 + 9_000, hz),
            t0 + Duration::from_millis(140),
        );
        assert_eq!(jittery.numer(), 24_000);
    }
}
