//! CMAF, fragmented MP4 as HLS and DASH serve it: an init segment describing the tracks
//! (`ftyp`, `moov`), then fragments (`moof` + `mdat`) of samples with their times.
//!
//! A rendition's tracks are an H.264 video track ([`VideoTrack`], from its `avcC`) and an
//! AAC-LC audio track ([`AudioTrack`], from its AudioSpecificConfig), either or both, in one
//! file: video is track 1 at 90 kHz, audio the next at its sample rate. [`init_segment`]
//! writes the init segment; [`SampleRun`] gathers a track's samples and
//! [`write_fragment`] turns runs into a fragment appended to a reused buffer.

mod boxes;
mod fragment;
mod init;

pub use fragment::{RunCut, SampleRun, write_fragment};
pub use init::init_segment;

use crate::h264::Bits;
use std::fmt;

/// Video decode times count in ticks of this clock (MPEG's 90 kHz).
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// Samples of audio in one AAC-LC frame.
pub const AAC_FRAME_SAMPLES: u32 = 1024;

/// The sample rates an AudioSpecificConfig names by index (ISO 14496-3 §1.6.3.4).
const AAC_SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Why a track's description was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackError {
    /// The `avcC` record is not one (too short, not version 1, without an SPS or a PPS).
    InvalidAvcConfig,
    /// The video's width or height is zero or beyond 16 bits.
    InvalidVideoSize,
    /// The AudioSpecificConfig is too short or names a rate or channel layout it does not
    /// define.
    InvalidAudioConfig,
    /// The AudioSpecificConfig is valid but not AAC-LC (object type 2).
    NotAacLc,
}

impl fmt::Display for TrackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackError::InvalidAvcConfig => {
                "the H.264 decoder configuration (avcC) is malformed or lacks its SPS or PPS"
            }
            TrackError::InvalidVideoSize => "the video's width and height must be 1 to 65535",
            TrackError::InvalidAudioConfig => {
                "the AudioSpecificConfig is malformed or names an unknown rate or layout"
            }
            TrackError::NotAacLc => "only AAC-LC audio (object type 2) is packaged",
        })
    }
}

impl std::error::Error for TrackError {}

/// An H.264 video track: its decoder configuration and picture size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    avcc: Vec<u8>,
    width: u16,
    height: u16,
    length_size: u8,
}

impl VideoTrack {
    /// A track from its `avcC` record (ISO 14496-15 §5.3.3.1, as [`crate::h264::avc_config`]
    /// makes it or RTMP carries it) and its picture size in pixels.
    pub fn new(avcc: Vec<u8>, width: u32, height: u32) -> Result<VideoTrack, TrackError> {
        let (Ok(width), Ok(height)) = (u16::try_from(width), u16::try_from(height)) else {
            return Err(TrackError::InvalidVideoSize);
        };
        if width == 0 || height == 0 {
            return Err(TrackError::InvalidVideoSize);
        }
        let length_size = check_avcc(&avcc).ok_or(TrackError::InvalidAvcConfig)?;
        Ok(VideoTrack {
            avcc,
            width,
            height,
            length_size,
        })
    }

    /// The `avcC` record.
    pub fn avcc(&self) -> &[u8] {
        &self.avcc
    }

    /// The picture's width in pixels.
    pub fn width(&self) -> u32 {
        u32::from(self.width)
    }

    /// The picture's height in pixels.
    pub fn height(&self) -> u32 {
        u32::from(self.height)
    }

    /// How many bytes carry each NAL unit's length in a frame (1, 2 or 4).
    pub fn length_size(&self) -> usize {
        usize::from(self.length_size)
    }

    /// The RFC 6381 codec name, `avc1.PPCCLL` (profile, constraints, level).
    pub fn codec(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.avcc[1], self.avcc[2], self.avcc[3]
        )
    }

    /// Whether `frame` is a sequence of NAL units each after its length, ending exactly at
    /// the frame's end.
    pub fn is_length_prefixed(&self, mut frame: &[u8]) -> bool {
        let n = self.length_size();
        if frame.is_empty() {
            return false;
        }
        while !frame.is_empty() {
            let Some((len, rest)) = frame.split_at_checked(n) else {
                return false;
            };
            let len = len.iter().fold(0usize, |v, b| v << 8 | usize::from(*b));
            match rest.get(len..) {
                Some(after) if len > 0 => frame = after,
                _ => return false,
            }
        }
        true
    }
}

/// The NAL length size of a well-formed `avcC`: version 1, a profile, one SPS or more and
/// one PPS or more, each within the record.
fn check_avcc(avcc: &[u8]) -> Option<u8> {
    if avcc.len() < 7 || avcc[0] != 1 {
        return None;
    }
    let length_size = (avcc[4] & 3) + 1;
    if length_size == 3 {
        return None;
    }
    let mut at = 5;
    for mask in [0x1F, 0xFF] {
        let count = avcc.get(at)? & mask;
        at += 1;
        if count == 0 {
            return None;
        }
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*avcc.get(at)?, *avcc.get(at + 1)?]));
            at += 2 + len;
            if len == 0 || at > avcc.len() {
                return None;
            }
        }
    }
    Some(length_size)
}

/// An AAC-LC audio track: its AudioSpecificConfig and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    config: Vec<u8>,
    sample_rate: u32,
    channels: u16,
}

impl AudioTrack {
    /// A track from its AudioSpecificConfig (ISO 14496-3 §1.6.2.1), as RTMP's AAC sequence
    /// header carries it; only AAC-LC with a channel configuration of 1 to 7.
    pub fn new(config: Vec<u8>) -> Result<AudioTrack, TrackError> {
        let mut bits = Bits::new(&config);
        let mut object = bits.bits(5).ok_or(TrackError::InvalidAudioConfig)?;
        if object == 31 {
            object = 32 + bits.bits(6).ok_or(TrackError::InvalidAudioConfig)?;
        }
        let index = bits.bits(4).ok_or(TrackError::InvalidAudioConfig)?;
        let sample_rate = match index {
            15 => bits.bits(24).ok_or(TrackError::InvalidAudioConfig)?,
            i => *AAC_SAMPLE_RATES
                .get(i as usize)
                .ok_or(TrackError::InvalidAudioConfig)?,
        };
        let channels = match bits.bits(4).ok_or(TrackError::InvalidAudioConfig)? {
            c @ 1..=6 => c as u16,
            7 => 8,
            _ => return Err(TrackError::InvalidAudioConfig),
        };
        // An explicit rate beyond the table's range is no AAC-LC stream.
        if !(1..=96_000).contains(&sample_rate) {
            return Err(TrackError::InvalidAudioConfig);
        }
        if object != 2 {
            return Err(TrackError::NotAacLc);
        }
        Ok(AudioTrack {
            config,
            sample_rate,
            channels,
        })
    }

    /// The AudioSpecificConfig.
    pub fn config(&self) -> &[u8] {
        &self.config
    }

    /// Samples per second (also the track's timescale).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// How many channels it carries.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The RFC 6381 codec name: `mp4a.40.2`.
    pub fn codec(&self) -> &'static str {
        "mp4a.40.2"
    }
}

/// The tracks of one rendition: video, audio or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracks {
    /// The H.264 track (track 1 when present).
    pub video: Option<VideoTrack>,
    /// The AAC-LC track (track 2, or 1 without video).
    pub audio: Option<AudioTrack>,
}

impl Tracks {
    /// The video track's id in the file.
    pub const VIDEO_ID: u32 = 1;

    /// The audio track's id in the file.
    pub fn audio_id(&self) -> u32 {
        if self.video.is_some() { 2 } else { 1 }
    }

    /// The `CODECS` attribute of an HLS variant: each track's codec name, comma-separated.
    pub fn codecs(&self) -> String {
        let video = self.video.as_ref().map(VideoTrack::codec);
        let audio = self.audio.as_ref().map(|a| a.codec().to_owned());
        video.into_iter().chain(audio).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
pub(crate) mod test_boxes;

#[cfg(test)]
mod tests {
    use super::test_boxes::AVCC;
    use super::*;

    #[test]
    fn the_codec_names_come_from_the_configurations() {
        let video = VideoTrack::new(AVCC.to_vec(), 1280, 720).unwrap();
        assert_eq!(video.codec(), "avc1.64001f");
        // AAC-LC, 48 kHz (index 3), stereo.
        let audio = AudioTrack::new(vec![0x11, 0x90]).unwrap();
        assert_eq!((audio.sample_rate(), audio.channels()), (48_000, 2));
        let tracks = Tracks {
            video: Some(video),
            audio: Some(audio),
        };
        assert_eq!(tracks.codecs(), "avc1.64001f,mp4a.40.2");
        assert_eq!(tracks.audio_id(), 2);
    }

    #[test]
    fn malformed_configurations_are_refused() {
        assert_eq!(
            VideoTrack::new(AVCC[..10].to_vec(), 64, 64),
            Err(TrackError::InvalidAvcConfig)
        );
        assert_eq!(
            VideoTrack::new(AVCC.to_vec(), 0, 64),
            Err(TrackError::InvalidVideoSize)
        );
        let mut no_pps = AVCC[..12].to_vec();
        no_pps.push(0);
        assert_eq!(
            VideoTrack::new(no_pps, 64, 64),
            Err(TrackError::InvalidAvcConfig)
        );
        assert_eq!(
            AudioTrack::new(vec![0x11]),
            Err(TrackError::InvalidAudioConfig)
        );
        // HE-AAC (object type 5).
        assert_eq!(AudioTrack::new(vec![0x29, 0x90]), Err(TrackError::NotAacLc));
        // Index 13 is reserved.
        assert_eq!(
            AudioTrack::new(vec![0x16, 0x90]),
            Err(TrackError::InvalidAudioConfig)
        );
    }

    #[test]
    fn frames_must_be_length_prefixed_to_their_end() {
        let video = VideoTrack::new(AVCC.to_vec(), 64, 64).unwrap();
        assert!(video.is_length_prefixed(&[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41]));
        assert!(!video.is_length_prefixed(&[0, 0, 0, 3, 0x65, 1]));
        assert!(!video.is_length_prefixed(&[0, 0, 0, 1, 0x65, 0]));
        assert!(!video.is_length_prefixed(&[0, 0, 0, 0]));
        assert!(!video.is_length_prefixed(&[]));
    }
}
