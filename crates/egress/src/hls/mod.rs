//! LL-HLS packaging of one rendition: frames in, CMAF parts and segments out, with the
//! media playlist that lists them (RFC 8216bis, low-latency extensions).
//!
//! A [`Segmenter`] takes H.264 access units and AAC-LC frames with their times, cuts them
//! into parts of about [`SegmenterConfig::part_target`] (at frame boundaries) and segments
//! of about [`SegmenterConfig::segment_target`] that start on keyframes, keeps a sliding
//! window of segments, and answers for its files by name ([`Resource`]): `init.mp4`,
//! `seg{msn}.m4s` (a segment's bytes are its parts' bytes back to back, so classic HLS
//! players read the same media) and `part{msn}.{n}.m4s`. It also answers whether a
//! blocking playlist request (`_HLS_msn`, `_HLS_part`) can be answered yet
//! ([`Segmenter::availability`]): the HTTP layer holds the request until it can.
//! [`multivariant_playlist`] lists a ladder's renditions. Each segment, once complete, can
//! be kept elsewhere ([`Segmenter::newest_segment`]) and played back from a
//! [`vod_playlist`].
//!
//! Sans-IO: the caller owns the clock, the files and HTTP. Times are in 90 kHz ticks
//! ([`TICKS_PER_SECOND`]), as MPEG and RTP count them (RTMP's milliseconds times 90).

mod input;
mod names;
mod playlist;
mod window;

pub use input::{AudioFrame, Error, SegmenterConfig, VideoFrame};
pub use names::Resource;
pub use playlist::{Variant, multivariant_playlist, vod_playlist};
pub use window::Availability;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cmaf::{self, AAC_FRAME_SAMPLES, RunCut, SampleRun, Tracks};
use playlist::MediaPlaylist;
use window::Window;

/// The clock of every time the segmenter takes.
pub const TICKS_PER_SECOND: i64 = 90_000;

/// The largest video frame taken (a 4K keyframe is far smaller).
pub const MAX_VIDEO_FRAME: usize = 8 << 20;
/// The largest AAC frame taken (AAC-LC needs at most 768 bytes per channel).
pub const MAX_AUDIO_FRAME: usize = 64 << 10;
/// A part reaching this many bytes or samples of a track ends before the next frame.
const MAX_PART_BYTES: usize = 16 << 20;
const MAX_PART_SAMPLES: usize = 1000;
/// A segment reaching this many bytes ends at the next part, keyframe or not.
const MAX_SEGMENT_BYTES: usize = 32 << 20;
/// A segment this many targets long ends at the next part, keyframe or not (a publisher
/// that stopped sending keyframes): the window's memory stays bounded.
const MAX_SEGMENT_TARGETS: i64 = 4;
/// With no video for this many part targets, sound alone ends parts (a stalled camera
/// leaves the sound playing); less is the interleaving of a live source.
const VIDEO_STALL_PARTS: i64 = 3;
/// How far a part may pass its target: RTMP's millisecond times wobble by one.
const PART_TOLERANCE: i64 = TICKS_PER_SECOND / 1000;
/// A frame's duration until two frames tell it (30 per second).
const DEFAULT_FRAME_TICKS: i64 = TICKS_PER_SECOND / 30;

/// A complete segment as a playlist lists it: its media sequence number, and where it
/// starts on the rendition's timeline and how long it lasts, in 90 kHz ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its media sequence number (`seg{msn}.m4s`).
    pub msn: u64,
    /// Its start on the timeline.
    pub start: i64,
    /// Its duration.
    pub duration: i64,
}

/// The video track's waiting samples and timing.
#[derive(Debug)]
struct VideoState {
    track: cmaf::VideoTrack,
    run: SampleRun,
    /// The last frame's decode time on the timeline.
    last: Option<i64>,
    /// The last interval between frames, the guess for the next frame's duration.
    interval: i64,
}

/// The audio track's waiting samples and timing.
#[derive(Debug)]
struct AudioState {
    run: SampleRun,
    rate: u32,
    /// Where the next frame is expected, in samples.
    next: Option<u64>,
}

/// Packages one rendition for LL-HLS; see the module's documentation.
#[derive(Debug)]
pub struct Segmenter {
    tracks: Tracks,
    init: Vec<u8>,
    part_target: i64,
    segment_target: i64,
    /// How many parts past the last a blocking request may ask for.
    advance_parts: usize,
    video: Option<VideoState>,
    audio: Option<AudioState>,
    /// The first frame's time and the wall clock then (Unix milliseconds).
    anchor: Option<i64>,
    first_frame_unix_ms: i64,
    /// The time of the timeline's zero: the first keyframe's decode time (or the first
    /// audio frame's time, without video). Sound is placed on the same axis, so with
    /// B-frames both start at the first picture's composition offset, in sync.
    origin: Option<i64>,
    /// Where the open part starts on the timeline.
    part_start: i64,
    window: Window,
    /// The last fragment's sequence number.
    sequence: u32,
    ended: bool,
}

impl Segmenter {
    /// A segmenter of a rendition with `tracks`, whose first frame (the first one pushed,
    /// of either track) was captured at `first_frame_wall_clock`.
    pub fn new(
        tracks: Tracks,
        config: SegmenterConfig,
        first_frame_wall_clock: SystemTime,
    ) -> Result<Segmenter, Error> {
        if tracks.video.is_none() && tracks.audio.is_none() {
            return Err(Error::NoTracks);
        }
        let part_target = ticks(config.part_target);
        let segment_target = ticks(config.segment_target);
        if !(TICKS_PER_SECOND / 100..=TICKS_PER_SECOND * 5).contains(&part_target) {
            return Err(Error::InvalidConfig("the part target must be 10 ms to 5 s"));
        }
        if !(part_target..=TICKS_PER_SECOND * 60).contains(&segment_target) {
            return Err(Error::InvalidConfig(
                "the segment target must be from the part target to 60 s",
            ));
        }
        if !(1..=1000).contains(&config.window) {
            return Err(Error::InvalidConfig(
                "the window must hold 1 to 1000 segments",
            ));
        }
        let mut init = Vec::new();
        cmaf::init_segment(&tracks, &mut init);
        let video = tracks.video.clone().map(|track| VideoState {
            track,
            run: SampleRun::new(Tracks::VIDEO_ID),
            last: None,
            interval: DEFAULT_FRAME_TICKS,
        });
        let audio = tracks.audio.as_ref().map(|a| AudioState {
            run: SampleRun::new(tracks.audio_id()),
            rate: a.sample_rate(),
            next: None,
        });
        // RFC 8216bis: three parts ahead for part targets of a second or more, else
        // three seconds' worth.
        let advance_parts = if part_target < TICKS_PER_SECOND {
            (3 * TICKS_PER_SECOND / part_target) as usize
        } else {
            3
        };
        let first_frame_unix_ms = match first_frame_wall_clock.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Ok(Segmenter {
            tracks,
            init,
            part_target,
            segment_target,
            advance_parts,
            video,
            audio,
            anchor: None,
            first_frame_unix_ms,
            origin: None,
            part_start: 0,
            window: Window::new(config.window),
            sequence: 0,
            ended: false,
        })
    }

    /// The rendition's tracks.
    pub fn tracks(&self) -> &Tracks {
        &self.tracks
    }

    /// Takes a video frame. Frames before the first keyframe are skipped; one that ends
    /// the open part (or segment) publishes it first.
    pub fn push_video(&mut self, frame: &VideoFrame) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Ended);
        }
        let Some(video) = &self.video else {
            return Err(Error::NoSuchTrack);
        };
        if frame.data.is_empty() || frame.data.len() > MAX_VIDEO_FRAME {
            return Err(Error::FrameSize);
        }
        if !video.track.is_length_prefixed(frame.data) {
            return Err(Error::NotLengthPrefixed);
        }
        let Some(t) = self.place(frame.dts, frame.keyframe)? else {
            return Ok(());
        };
        let Some(video) = &self.video else {
            return Err(Error::NoSuchTrack);
        };
        if t < 0 || video.last.is_some_and(|last| t <= last) {
            return Err(Error::TimeWentBack);
        }
        let interval = video.last.map_or(video.interval, |last| t - last);
        // A frame from before the open part's start (late behind the sound that ended the
        // parts while video was missing) joins it.
        let waiting = !video.run.is_empty() || self.audio_waiting_before(t);
        if waiting && t > self.part_start {
            let elapsed = t - self.window.open().start;
            let new_segment = (frame.keyframe
                && elapsed >= self.segment_target - self.part_target / 2)
                || self.segment_over(elapsed, frame.data.len());
            let full = t + interval - self.part_start > self.part_target + PART_TOLERANCE
                || video.run.len() >= MAX_PART_SAMPLES
                || video.run.bytes() + frame.data.len() > MAX_PART_BYTES;
            if new_segment || full {
                self.cut(t, Some(t), new_segment);
            }
        }
        self.check_segment_room(frame.data.len())?;
        let Some(video) = &mut self.video else {
            return Err(Error::NoSuchTrack);
        };
        if !video.run.push(
            t as u64,
            frame.composition_offset,
            frame.keyframe,
            frame.data,
        ) {
            return Err(Error::FrameSize);
        }
        video.last = Some(t);
        video.interval = interval;
        Ok(())
    }

    /// Takes an AAC-LC frame. Without video it drives the cuts as keyframes would; with
    /// video, frames before the first keyframe are skipped and each frame goes to the part
    /// its time falls in.
    pub fn push_audio(&mut self, frame: &AudioFrame) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Ended);
        }
        if self.audio.is_none() {
            return Err(Error::NoSuchTrack);
        }
        if frame.data.is_empty() || frame.data.len() > MAX_AUDIO_FRAME {
            return Err(Error::FrameSize);
        }
        let Some(t) = self.place(frame.pts, self.video.is_none())? else {
            return Ok(());
        };
        let Some(audio) = &self.audio else {
            return Err(Error::NoSuchTrack);
        };
        if t < 0 {
            // Sound from before the first keyframe: the timeline starts there.
            return Ok(());
        }
        let frame_samples = u64::from(AAC_FRAME_SAMPLES);
        let mut samples = (t as u128 * u128::from(audio.rate) / TICKS_PER_SECOND as u128) as u64;
        if let Some(expected) = audio.next {
            // Times rounded to milliseconds wobble: within half a frame of where the
            // previous frame ends, the frame follows it exactly.
            if samples + frame_samples / 2 < expected {
                return Err(Error::TimeWentBack);
            }
            if samples <= expected + frame_samples / 2 {
                samples = expected;
            }
        }
        let at = samples_to_ticks(samples, audio.rate);
        let frame_ticks = samples_to_ticks(frame_samples, audio.rate);
        match &self.video {
            None if !audio.run.is_empty() => {
                let elapsed = at - self.window.open().start;
                let new_segment = elapsed >= self.segment_target - self.part_target / 2
                    || self.segment_over(elapsed, frame.data.len());
                let full = at + frame_ticks - self.part_start > self.part_target + PART_TOLERANCE
                    || audio.run.len() >= MAX_PART_SAMPLES;
                if new_segment || full {
                    self.cut(at, None, new_segment);
                }
            }
            Some(video) => {
                let video_end = video.last.map_or(0, |last| last + video.interval);
                if at - video_end >= VIDEO_STALL_PARTS * self.part_target {
                    self.cut_without_video(at, frame.data.len());
                }
            }
            None => {}
        }
        self.check_segment_room(frame.data.len())?;
        let Some(audio) = &mut self.audio else {
            return Err(Error::NoSuchTrack);
        };
        if !audio.run.push(samples, 0, true, frame.data) {
            return Err(Error::FrameSize);
        }
        audio.next = Some(samples + frame_samples);
        Ok(())
    }

    /// Ends the stream: publishes what waits as a last part and segment; the playlist gets
    /// `EXT-X-ENDLIST`, and further frames are refused.
    pub fn finish(&mut self) {
        if self.ended {
            return;
        }
        let video_end = self.video.as_ref().and_then(|v| {
            let last = v.last?;
            (!v.run.is_empty()).then_some(last + v.interval)
        });
        let audio_end = self.audio.as_ref().and_then(|a| {
            let last = a.run.decode_time(a.run.len().checked_sub(1)?)?;
            Some(samples_to_ticks(
                last + u64::from(AAC_FRAME_SAMPLES),
                a.rate,
            ))
        });
        match video_end.max(audio_end) {
            Some(end) => {
                self.cut(end, None, true);
            }
            None => self.window.close_segment(self.part_start),
        }
        self.ended = true;
    }

    /// Whether [`Segmenter::finish`] ended the stream.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The init segment (`init.mp4`).
    pub fn init(&self) -> &[u8] {
        &self.init
    }

    /// The bytes of a resource: the init segment, a complete segment still kept, or a part
    /// of one (or of the open segment); `None` for the playlist and what is not there.
    pub fn get(&self, resource: Resource) -> Option<&[u8]> {
        match resource {
            Resource::Init => Some(&self.init),
            Resource::Segment(msn) => self.window.segment(msn),
            Resource::Part { msn, part } => self.window.part(msn, part),
            Resource::Playlist => None,
        }
    }

    /// The bytes of the file called `name` (see [`Resource`]), if it is one and is there.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.get(Resource::parse(name)?)
    }

    /// Whether the playlist can answer a request for segment `msn` complete (without
    /// `part`) or for its part `part` (`_HLS_msn`, `_HLS_part`); also when the part a
    /// preload hint named may be served. After the end, everything is ready.
    pub fn availability(&self, msn: u64, part: Option<u32>) -> Availability {
        if self.ended {
            return Availability::Ready;
        }
        self.window.availability(msn, part, self.advance_parts)
    }

    /// The part being filled: the one the playlist's preload hint names. It moves on each
    /// time a part is published, so a server holding blocking requests knows when to look
    /// at them again.
    pub fn next_part(&self) -> Resource {
        let open = self.window.open();
        Resource::Part {
            msn: open.msn,
            part: u32::try_from(open.parts.len()).unwrap_or(u32::MAX),
        }
    }

    /// The newest complete segment and its bytes: each time a segment completes, this
    /// is it (for keeping segments longer than the playlist's window).
    pub fn newest_segment(&self) -> Option<(SegmentInfo, &[u8])> {
        let segment = self.window.newest_complete()?;
        let info = SegmentInfo {
            msn: segment.msn,
            start: segment.start,
            duration: segment.duration(),
        };
        Some((info, &segment.bytes[..]))
    }

    /// The wall-clock time (Unix milliseconds) of the timeline's zero, once the first
    /// frame placed it.
    pub fn wall_clock_at_zero(&self) -> Option<i64> {
        self.anchor.zip(self.origin).map(|(anchor, origin)| {
            self.first_frame_unix_ms
                .saturating_add((origin.saturating_sub(anchor)) / (TICKS_PER_SECOND / 1000))
        })
    }

    /// Appends the media playlist's text to `out`.
    pub fn write_playlist(&self, out: &mut String) {
        MediaPlaylist {
            window: &self.window,
            segment_target: self.segment_target,
            part_target: self.part_target,
            wall_clock_at_zero: self.wall_clock_at_zero(),
            ended: self.ended,
        }
        .write(out);
    }

    /// The media playlist's text.
    pub fn playlist(&self) -> String {
        let mut out = String::new();
        self.write_playlist(&mut out);
        out
    }

    /// Where a frame at `time` falls on the timeline; a frame that `can_start` it starts
    /// it when nothing has. `None` for frames before the start.
    fn place(&mut self, time: i64, can_start: bool) -> Result<Option<i64>, Error> {
        self.anchor.get_or_insert(time);
        let origin = match self.origin {
            Some(origin) => origin,
            None if can_start => {
                self.part_start = 0;
                self.window.set_open_start(0);
                *self.origin.insert(time)
            }
            None => return Ok(None),
        };
        time.checked_sub(origin)
            .filter(|t| *t < i64::MAX / 4)
            .map(Some)
            .ok_or(Error::TimeWentBack)
    }

    /// Whether audio frames from before `t` wait for a part.
    fn audio_waiting_before(&self, t: i64) -> bool {
        self.audio.as_ref().is_some_and(|a| {
            a.run
                .decode_time(0)
                .is_some_and(|first| samples_to_ticks(first, a.rate) < t)
        })
    }

    /// Whether the open segment must end at the next part whatever starts it: too long
    /// (`elapsed` ticks) or too large with `incoming` more bytes.
    fn segment_over(&self, elapsed: i64, incoming: usize) -> bool {
        let waiting = self.video.as_ref().map_or(0, |v| v.run.bytes())
            + self.audio.as_ref().map_or(0, |a| a.run.bytes());
        elapsed >= MAX_SEGMENT_TARGETS * self.segment_target
            || self.window.open().bytes.len() + waiting + incoming > MAX_SEGMENT_BYTES / 2
    }

    /// Refuses a frame the open segment has no room for.
    fn check_segment_room(&self, incoming: usize) -> Result<(), Error> {
        let waiting = self.video.as_ref().map_or(0, |v| v.run.bytes())
            + self.audio.as_ref().map_or(0, |a| a.run.bytes());
        if self.window.open().bytes.len() + waiting + incoming > MAX_SEGMENT_BYTES {
            return Err(Error::SegmentFull);
        }
        Ok(())
    }

    /// With video missing for a while (a stalled camera), sound alone ends parts, each one
    /// target long, until the part open holds less than a target before `at`.
    fn cut_without_video(&mut self, at: i64, incoming: usize) {
        while at - self.part_start >= self.part_target {
            let boundary = self.part_start + self.part_target;
            let over = self.segment_over(boundary - self.window.open().start, incoming);
            if !self.cut(boundary, None, over) {
                // No sound before the boundary either: one part spans the silence.
                self.cut(at, None, over);
                return;
            }
        }
    }

    /// Publishes the open part, ending at `at` on the timeline: every waiting video frame
    /// (the last lasting until `video_next`, else its predecessor's interval) and the audio
    /// frames before `at`. With `new_segment`, the next part starts a new segment. False
    /// when nothing waited (no part).
    fn cut(&mut self, at: i64, video_next: Option<i64>, new_segment: bool) -> bool {
        // Every part lasts: whatever waits, the timeline moves forward.
        let at = at.max(self.part_start + 1);
        let video = self.video.as_mut().map(|v| {
            let end = match (video_next, v.last) {
                (Some(next), _) => next,
                (None, Some(last)) => last + v.interval,
                (None, None) => at,
            };
            RunCut {
                count: v.run.len(),
                end: end.max(0) as u64,
                run: &mut v.run,
            }
        });
        let audio = self.audio.as_mut().map(|a| {
            let before =
                (at.max(0) as u128 * u128::from(a.rate)).div_ceil(TICKS_PER_SECOND as u128);
            let count = a.run.count_before(before as u64);
            let end = count
                .checked_sub(1)
                .and_then(|last| a.run.decode_time(last))
                .map_or(0, |t| t + u64::from(AAC_FRAME_SAMPLES));
            RunCut {
                count,
                end,
                run: &mut a.run,
            }
        });
        let independent = video
            .as_ref()
            .is_none_or(|v| v.run.starts_with_sync() == Some(true));
        let taken = video.as_ref().map_or(0, |c| c.count) + audio.as_ref().map_or(0, |c| c.count);
        if taken > 0 {
            self.sequence = self.sequence.checked_add(1).unwrap_or(1);
            let bytes = self.window.open_bytes();
            let start = bytes.len();
            match (video, audio) {
                (Some(v), Some(a)) => {
                    cmaf::write_fragment(bytes, self.sequence, start == 0, &mut [v, a])
                }
                (Some(c), None) | (None, Some(c)) => {
                    cmaf::write_fragment(bytes, self.sequence, start == 0, &mut [c])
                }
                (None, None) => {}
            }
            let end = bytes.len();
            self.window
                .add_part(start..end, at - self.part_start, independent);
            self.part_start = at;
        }
        if new_segment {
            self.window.close_segment(self.part_start);
        }
        taken > 0
    }
}

/// A duration in 90 kHz ticks.
fn ticks(d: Duration) -> i64 {
    i64::try_from(d.as_nanos() * TICKS_PER_SECOND as u128 / 1_000_000_000).unwrap_or(i64::MAX)
}

/// `samples` at `rate` per second, in 90 kHz ticks.
fn samples_to_ticks(samples: u64, rate: u32) -> i64 {
    let ticks = u128::from(samples) * TICKS_PER_SECOND as u128 / u128::from(rate.max(1));
    i64::try_from(ticks).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
