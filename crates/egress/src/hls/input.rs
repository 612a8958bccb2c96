//! What a segmenter takes: its configuration, the frames, and why it refuses either.

use std::fmt;
use std::time::Duration;

/// How a rendition is cut and how much of it the playlist keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// A part's target duration (`PART-TARGET`); parts end at the last frame that keeps
    /// them within it. Best a whole number of frame intervals (200 ms at 25, 30, 50, 60 fps).
    pub part_target: Duration,
    /// A segment's target duration; a segment ends at the first keyframe from about this
    /// long (half a part earlier) after its start.
    pub segment_target: Duration,
    /// How many complete segments the playlist lists.
    pub window: usize,
}

impl Default for SegmenterConfig {
    fn default() -> SegmenterConfig {
        SegmenterConfig {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(2),
            window: 6,
        }
    }
}

/// An H.264 access unit.
#[derive(Debug, Clone, Copy)]
pub struct VideoFrame<'a> {
    /// Its decode time, in 90 kHz ticks.
    pub dts: i64,
    /// Its presentation time minus its decode time, in 90 kHz ticks (0 without B-frames).
    pub composition_offset: i32,
    /// Whether a decoder can start at it (an IDR picture).
    pub keyframe: bool,
    /// Its NAL units, each after its length (as the track's `avcC` says, see
    /// [`crate::h264::length_prefixed`]).
    pub data: &'a [u8],
}

/// A raw AAC-LC frame (no ADTS header): 1024 samples.
#[derive(Debug, Clone, Copy)]
pub struct AudioFrame<'a> {
    /// Its presentation time, in 90 kHz ticks.
    pub pts: i64,
    /// The frame.
    pub data: &'a [u8],
}

/// Why the segmenter refused a configuration or a frame; it stays usable after a refused
/// frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The rendition has neither video nor audio.
    NoTracks,
    /// A target or the window is out of range (the sentence says which).
    InvalidConfig(&'static str),
    /// A frame of a kind the rendition does not carry.
    NoSuchTrack,
    /// An empty frame, or one larger than [`MAX_VIDEO_FRAME`](super::MAX_VIDEO_FRAME) or
    /// [`MAX_AUDIO_FRAME`](super::MAX_AUDIO_FRAME).
    FrameSize,
    /// A video frame whose NAL unit lengths do not add up to its size.
    NotLengthPrefixed,
    /// A frame not later than its track's previous one, or beyond the timeline's range.
    TimeWentBack,
    /// The open segment is full (a flood of frames without a keyframe).
    SegmentFull,
    /// The stream has ended ([`Segmenter::finish`](super::Segmenter::finish)).
    Ended,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoTracks => f.write_str("a rendition needs a video or an audio track"),
            Error::InvalidConfig(what) => write!(f, "invalid segmenter configuration: {what}"),
            Error::NoSuchTrack => f.write_str("a frame for a track the rendition does not have"),
            Error::FrameSize => f.write_str("a frame that is empty or too large"),
            Error::NotLengthPrefixed => {
                f.write_str("a video frame that is not length-prefixed NAL units")
            }
            Error::TimeWentBack => {
                f.write_str("a frame not later than the previous one of its track")
            }
            Error::SegmentFull => f.write_str("too many bytes in one segment, frame dropped"),
            Error::Ended => f.write_str("the stream has ended"),
        }
    }
}

impl std::error::Error for Error {}
