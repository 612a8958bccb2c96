//! Frames for recording and broadcasting. A tapped track hands every frame it would
//! forward, with the sender's clock for it, to each of its taps (a recording, a broadcast)
//! through a bounded queue; a full queue drops the frame and counts it, so a slow disk or
//! encoder never stalls forwarding.
//!
//! The tap sits on the publisher's worker and picks a simulcast layer (the tallest, or
//! the one closest to the height the recording shows) the way a subscription would (switching on keyframes, asking the publisher for one when it
//! starts), so a recording begins with a keyframe and its timeline stays continuous.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use moim_proto::signal::TrackKind;
use str0m::format::Codec;
use str0m::rtp::rtcp::SenderInfo;

use crate::ids::TrackId;
use crate::relay::Frame;
use crate::router::Router;
use crate::subscription::Slot;
use crate::track::Origin;

/// The codecs a recording tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCodec {
    /// Opus audio, written to Ogg or WebM.
    Opus,
    /// VP8 video, written to WebM.
    Vp8,
    /// VP9 video, written to WebM.
    Vp9,
    /// AV1 video, written to WebM.
    Av1,
    /// H.264 video, written to Matroska and remuxed into MP4, since WebM cannot hold it.
    H264,
    /// Anything else (e.g. G.711); recordings skip it.
    Other,
}

impl From<Codec> for FrameCodec {
    fn from(codec: Codec) -> FrameCodec {
        match codec {
            Codec::Opus => FrameCodec::Opus,
            Codec::Vp8 => FrameCodec::Vp8,
            Codec::Vp9 => FrameCodec::Vp9,
            Codec::Av1 => FrameCodec::Av1,
            Codec::H264 => FrameCodec::H264,
            _ => FrameCodec::Other,
        }
    }
}

/// A target height no layer reaches: the tap follows the tallest layer.
pub const TALLEST: u32 = 1 << 20;

/// A frame handed to a recording.
#[derive(Debug, Clone)]
pub struct EgressFrame {
    /// The track it belongs to: one recording's queue carries all its tracks.
    pub track: TrackId,
    /// How it is encoded, which decides the container (or that the frame is skipped).
    pub codec: FrameCodec,
    /// Media time in the codec's clock (`clock_rate` per second), continuous across
    /// simulcast layer switches.
    pub time: u64,
    /// Ticks per second of `time` (48 000 for Opus, 90 000 for video).
    pub clock_rate: u32,
    /// When its first packet arrived.
    pub network_time: Instant,
    /// The sender's wall clock for this frame, from its latest RTCP sender report; lines
    /// up a participant's audio and video.
    pub sender_time: Option<SystemTime>,
    /// A video keyframe: a file or a decoder can start here.
    pub keyframe: bool,
    /// Shared with the subscribers' copies; never copied.
    pub data: Arc<[u8]>,
}

/// Where a tapped track's frames go.
pub type EgressSender = SyncSender<EgressFrame>;

/// What a tap feeds: a track has at most one tap of each, independent of the other (each
/// picks its own layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tap {
    /// The room's server recording.
    Recording = 0,
    /// The room's broadcast (the HLS ladder).
    Broadcast = 1,
}

/// A track's taps, one place per [`Tap`].
#[derive(Debug, Default)]
pub struct Taps([Option<EgressTap>; 2]);

impl Taps {
    /// Whether any tap takes the track's frames.
    pub fn any(&self) -> bool {
        self.0.iter().any(Option::is_some)
    }

    /// The heights the taps take the track at.
    pub fn target_heights(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().flatten().map(|t| t.slot.target_height)
    }
}

/// Frames of two layers this close together are one picture: an encoder sends every
/// layer's frame of a picture at once, and pictures are at least a frame interval apart.
const SAME_PICTURE: Duration = Duration::from_millis(10);

/// A track's link to one recording or broadcast.
#[derive(Debug)]
pub struct EgressTap {
    sink: EgressSender,
    slot: Slot,
    /// A video's latest frame, with its layer, handed over once the next one shows it
    /// is not the same picture as a switch's first keyframe (then only the keyframe goes).
    held: Option<(usize, EgressFrame)>,
}

impl EgressTap {
    /// A tap for a track of `kind`, sending to `sink` the layer closest to `height`.
    pub fn new(sink: EgressSender, track: TrackId, kind: TrackKind, height: u32) -> EgressTap {
        let mut slot = Slot::new(Some(track), kind == TrackKind::Video, true);
        slot.target_height = height;
        EgressTap {
            sink,
            slot,
            held: None,
        }
    }

    /// What goes to the recording now that `frame` of `layer` is to follow: the held
    /// frame, unless `frame` is the same picture on another layer (a switch), which
    /// replaces it. Video is held back one frame for this; audio goes at once.
    fn next(&mut self, layer: usize, frame: EgressFrame) -> Option<EgressFrame> {
        if !self.slot.is_video {
            return Some(frame);
        }
        let replaced = self.held.as_ref().is_some_and(|(held_layer, held)| {
            *held_layer != layer
                && frame
                    .network_time
                    .saturating_duration_since(held.network_time)
                    < SAME_PICTURE
        });
        let ready = self.held.replace((layer, frame)).map(|(_, f)| f);
        if replaced { None } else { ready }
    }

    /// Hands over the frame held back, as the recording of the track stops.
    fn flush(self) {
        if let Some((_, frame)) = self.held {
            let _ = self.sink.try_send(frame);
        }
    }
}

impl Router {
    /// Starts (`Some`) or stops (`None`) tap `tap` of a track published on this worker. A
    /// video's tap asks the publisher for a keyframe at once, so that its file (or tile,
    /// or ladder) starts without waiting for the next frame to notice it has none.
    pub(crate) fn set_egress(
        &mut self,
        now: Instant,
        track: TrackId,
        tap: Tap,
        sink: Option<EgressSender>,
        height: u32,
    ) {
        // A track is tapped where its frames arrive whole: on its publisher's worker, or,
        // for another node's track, on the worker the tap was sent to (the gateway hands
        // every worker its frames).
        let gateway = self.gateway.map(Origin::Remote);
        let Some(t) = self
            .tracks
            .get_mut(&track)
            .filter(|t| t.is_local() || Some(t.origin) == gateway)
        else {
            return;
        };
        let place = &mut t.egress.0[tap as usize];
        if let Some(old) = place.take() {
            old.flush();
        }
        *place = sink.map(|sink| EgressTap::new(sink, track, t.kind, height));
        self.layers_due = true;
        if place.is_some()
            && t.kind == TrackKind::Video
            && let Some(layer) = t.choose_layer(height, now)
        {
            self.pending.request_keyframe(track, layer);
        }
    }

    /// Hands a frame of a local track (or of another node's) to each of its taps.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        track_id: TrackId,
        frame: &Frame,
        sender: Option<&SenderInfo>,
    ) {
        let Some(track) = self.tracks.get_mut(&track_id) else {
            return;
        };
        if track.muted {
            return;
        }
        let layer = track.layer_index(frame.rid, now);
        for place in 0..track.egress.0.len() {
            let Some(target) = track.egress.0[place].as_ref().map(|e| e.slot.target_height) else {
                continue;
            };
            let wanted = if track.kind == TrackKind::Video {
                track.choose_layer(target, now)
            } else {
                Some(layer)
            };
            let tap = track.egress.0[place].as_mut().expect("checked above");
            let decision = tap.slot.decide(layer, wanted, frame.keyframe);
            if let Some(want) = decision.request_keyframe {
                self.pending.request_keyframe(track_id, want);
            }
            if !decision.forward {
                continue;
            }
            let time = tap.slot.out_time(frame.time, frame.network_time);
            let out = EgressFrame {
                track: track_id,
                codec: frame.params.spec().codec.into(),
                time: time.numer(),
                clock_rate: time.denom(),
                network_time: frame.network_time,
                sender_time: sender.and_then(|s| sender_time(s, frame)),
                keyframe: frame.keyframe,
                data: frame.data.clone(),
            };
            let Some(out) = tap.next(layer, out) else {
                continue;
            };
            match tap.sink.try_send(out) {
                Ok(()) => self.stats.frames_recorded += 1,
                Err(TrySendError::Full(_)) => self.stats.recording_drops += 1,
                Err(TrySendError::Disconnected(_)) => track.egress.0[place] = None,
            }
        }
    }
}

/// The sender's wall clock at `frame`, from a sender report of the same stream.
fn sender_time(report: &SenderInfo, frame: &Frame) -> Option<SystemTime> {
    let rate = frame.time.denom();
    if rate == 0 || report.rtp_time.denom() != rate {
        return None;
    }
    // RTP times wrap at 32 bits; the difference is small either way.
    let delta = (frame.time.numer() as u32).wrapping_sub(report.rtp_time.numer() as u32) as i32;
    let offset = Duration::from_secs_f64(f64::from(delta.unsigned_abs()) / rate as f64);
    if delta >= 0 {
        report.ntp_time.checked_add(offset)
    } else {
        report.ntp_time.checked_sub(offset)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;

    fn frame(at: Instant, keyframe: bool) -> EgressFrame {
        EgressFrame {
            track: TrackId(1),
            codec: FrameCodec::Vp8,
            time: 0,
            clock_rate: 90_000,
            network_time: at,
            sender_time: None,
            keyframe,
            data: Arc::from(&[0u8][..]),
        }
    }

    #[test]
    fn a_switch_hands_over_the_new_layers_keyframe_instead_of_the_same_picture() {
        let (sink, _frames) = sync_channel(8);
        let mut tap = EgressTap::new(sink, TrackId(1), TrackKind::Video, TALLEST);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(
            tap.next(1, frame(ms(0), true)).is_none(),
            "held back one frame"
        );
        let first = tap
            .next(1, frame(ms(33), false))
            .expect("the first frame goes");
        assert_eq!(first.network_time, ms(0));
        // Layer 2's keyframe of the picture that layer 1 sent 1 ms earlier.
        assert!(
            tap.next(2, frame(ms(34), true)).is_none(),
            "that picture once, not twice"
        );
        let next = tap
            .next(2, frame(ms(67), false))
            .expect("then the new layer flows");
        assert!(next.keyframe && next.network_time == ms(34));
    }

    #[test]
    fn audio_is_not_held_back() {
        let (sink, _frames) = sync_channel(8);
        let mut tap = EgressTap::new(sink, TrackId(1), TrackKind::Audio, TALLEST);
        let now = Instant::now();
        let mut audio = frame(now, true);
        audio.codec = FrameCodec::Opus;
        assert!(tap.next(0, audio).is_some());
    }
}
