//! Loops the clips as a live source: 30 fps VP8 in every layer and 20 ms Opus, with RTP
//! times that keep counting across loops, and a keyframe on request (the next one in the
//! clip, as a live encoder would send one soon).

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::MediaTime;

use crate::clips::Clips;

/// Time between video frames.
pub const VIDEO_INTERVAL: Duration = Duration::from_nanos(33_333_333);
/// Time between audio packets.
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);

/// One frame to send: which layer (`None` for audio), the payload and its RTP time.
pub struct Frame<'a> {
    pub rid: Option<&'static str>,
    pub data: &'a [u8],
    pub time: MediaTime,
}

/// A looping source of video and audio frames.
pub struct Source {
    clips: Arc<Clips>,
    video_index: usize,
    video_count: u64,
    audio_count: u64,
    keyframe_wanted: bool,
    pub next_video: Instant,
    pub next_audio: Instant,
}

impl Source {
    /// A source whose first frames are due at `start`.
    pub fn new(clips: Arc<Clips>, start: Instant) -> Source {
        Source {
            clips,
            video_index: 0,
            video_count: 0,
            audio_count: 0,
            keyframe_wanted: false,
            next_video: start,
            next_audio: start,
        }
    }

    /// Makes the next frames due at `now` (when the connection comes up).
    pub fn restart_at(&mut self, now: Instant) {
        self.next_video = now;
        self.next_audio = now;
    }

    /// The next video frame (every layer) jumps to a keyframe.
    pub fn request_keyframe(&mut self) {
        self.keyframe_wanted = true;
    }

    /// Calls `send` with the current frame of every layer and advances.
    pub fn video(&mut self, mut send: impl FnMut(Frame<'_>)) {
        if std::mem::take(&mut self.keyframe_wanted) {
            self.video_index = self.clips.next_keyframe(self.video_index);
        }
        let time = MediaTime::from_90khz(self.video_count * 3000);
        for layer in &self.clips.video {
            send(Frame {
                rid: Some(layer.rid),
                data: &layer.frames[self.video_index],
                time,
            });
        }
        self.video_index = (self.video_index + 1) % self.clips.video[0].frames.len();
        self.video_count += 1;
        self.next_video += VIDEO_INTERVAL;
    }

    /// Calls `send` with the current audio packet and advances.
    pub fn audio(&mut self, mut send: impl FnMut(Frame<'_>)) {
        let packets = &self.clips.audio;
        let index = (self.audio_count % packets.len() as u64) as usize;
        send(Frame {
            rid: None,
            data: &packets[index],
            time: MediaTime::new(
                self.audio_count * 960,
                str0m::media::Frequency::FORTY_EIGHT_KHZ,
            ),
        });
        self.audio_count += 1;
        self.next_audio += AUDIO_INTERVAL;
    }
}
