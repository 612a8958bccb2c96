//! A WebM (Matroska) writer for recordings. The header comes first, then one SimpleBlock
//! per frame in clusters of unknown size, so the file plays up to its last complete block
//! however the writing stops. The header holds a Void element where the duration goes;
//! at a graceful end, [`WebmWriter::duration_patch`] gives the Duration element to write
//! over it (a file cut off earlier simply has no duration, as a live stream would).

use crate::ebml;

const EBML: u32 = 0x1A45_DFA3;
const EBML_VERSION: u32 = 0x4286;
const EBML_READ_VERSION: u32 = 0x42F7;
const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
const DOC_TYPE: u32 = 0x4282;
const DOC_TYPE_VERSION: u32 = 0x4287;
const DOC_TYPE_READ_VERSION: u32 = 0x4285;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const VOID: u32 = 0xEC;
const MUXING_APP: u32 = 0x4D80;
const WRITING_APP: u32 = 0x5741;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_UID: u32 = 0x73C5;
const TRACK_TYPE: u32 = 0x83;
const FLAG_LACING: u32 = 0x9C;
const CODEC_ID: u32 = 0x86;
const CODEC_PRIVATE: u32 = 0x63A2;
const CODEC_DELAY: u32 = 0x56AA;
const SEEK_PRE_ROLL: u32 = 0x56BB;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const COLOUR_SPACE: u32 = 0x2E_B524;
const AUDIO: u32 = 0xE1;
const SAMPLING_FREQUENCY: u32 = 0xB5;
const CHANNELS: u32 = 0x9F;
const CLUSTER: u32 = 0x1F43_B675;
const TIMESTAMP: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;

/// Opus pre-skip in samples at 48 kHz (what browsers' encoders use).
pub const OPUS_PRE_SKIP: u16 = 312;
/// A cluster is closed after this long, so block times stay small.
const CLUSTER_MS: i64 = 5_000;

/// What a track of the file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// VP8 (`V_VP8`).
    Vp8,
    /// VP9 (`V_VP9`).
    Vp9,
    /// AV1 (`V_AV1`).
    Av1,
    /// Frames length-prefixed ([`crate::h264`]); needs the `avcC` as codec private data;
    /// makes the file Matroska rather than WebM.
    H264,
    /// 48 kHz stereo, as WebRTC negotiates it.
    Opus,
    /// Uncompressed pictures, planar YUV 4:2:0 (I420) of the track's width and height:
    /// what Moim hands an encoder; makes the file Matroska rather than WebM.
    RawI420,
}

impl Codec {
    fn id(self) -> &'static str {
        match self {
            Codec::Vp8 => "V_VP8",
            Codec::Vp9 => "V_VP9",
            Codec::Av1 => "V_AV1",
            Codec::H264 => "V_MPEG4/ISO/AVC",
            Codec::Opus => "A_OPUS",
            Codec::RawI420 => "V_UNCOMPRESSED",
        }
    }

    /// Whether it is a video codec.
    pub fn is_video(self) -> bool {
        self != Codec::Opus
    }
}

/// One track of the file: its codec and, for video, its picture size (0 leaves it to
/// the decoder) and any codec private data (H.264's `avcC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSpec {
    /// What the track carries.
    pub codec: Codec,
    /// The picture's width in pixels (video; 0 leaves it to the decoder).
    pub width: u32,
    /// The picture's height in pixels (video; 0 leaves it to the decoder).
    pub height: u32,
    /// The codec's private data (H.264's `avcC`; empty for the others).
    pub private: Vec<u8>,
}

/// Writes a WebM file frame by frame; tracks are numbered from 1 in the order given.
#[derive(Debug)]
pub struct WebmWriter {
    /// Where the Void element that the Duration replaces sits in the file.
    duration_offset: u64,
    /// The open cluster's start time, in milliseconds.
    cluster: Option<i64>,
}

impl WebmWriter {
    /// A writer and the file's header (EBML header, Segment start, Info, Tracks).
    pub fn new(tracks: &[TrackSpec]) -> (WebmWriter, Vec<u8>) {
        let mut out = Vec::new();
        ebml::master(&mut out, EBML, |b| {
            ebml::uint(b, EBML_VERSION, 1);
            ebml::uint(b, EBML_READ_VERSION, 1);
            ebml::uint(b, EBML_MAX_ID_LENGTH, 4);
            ebml::uint(b, EBML_MAX_SIZE_LENGTH, 8);
            let webm = !tracks
                .iter()
                .any(|t| matches!(t.codec, Codec::H264 | Codec::RawI420));
            ebml::bytes(b, DOC_TYPE, if webm { b"webm" } else { b"matroska" });
            ebml::uint(b, DOC_TYPE_VERSION, 4);
            ebml::uint(b, DOC_TYPE_READ_VERSION, 2);
        });
        ebml::id(&mut out, SEGMENT);
        out.extend_from_slice(&ebml::UNKNOWN_SIZE);
        let mut info = Vec::new();
        ebml::uint(&mut info, TIMESTAMP_SCALE, 1_000_000);
        ebml::bytes(&mut info, MUXING_APP, b"moim");
        ebml::bytes(&mut info, WRITING_APP, b"moim");
        // The duration is unknown until the end: a Void of the Duration element's size
        // (11 bytes) keeps its place.
        let duration_at = info.len();
        ebml::bytes(&mut info, VOID, &[0; 9]);
        ebml::id(&mut out, INFO);
        ebml::size(&mut out, info.len() as u64);
        let duration_offset = (out.len() + duration_at) as u64;
        out.extend_from_slice(&info);
        ebml::master(&mut out, TRACKS, |b| {
            for (i, track) in tracks.iter().enumerate() {
                ebml::master(b, TRACK_ENTRY, |t| track_entry(t, i as u64 + 1, track));
            }
        });
        (
            WebmWriter {
                duration_offset,
                cluster: None,
            },
            out,
        )
    }

    /// Appends one frame of track `track` (from 1) at `ms` milliseconds since the start
    /// (never earlier than the previous frame's cluster allows: at most 32 s back).
    pub fn block(&mut self, out: &mut Vec<u8>, track: u64, ms: i64, keyframe: bool, data: &[u8]) {
        let start = match self.cluster {
            Some(start) if ms >= start && ms - start < CLUSTER_MS => start,
            Some(start) if ms < start && start - ms <= i64::from(i16::MAX) => start,
            _ => {
                ebml::id(out, CLUSTER);
                out.extend_from_slice(&ebml::UNKNOWN_SIZE);
                ebml::uint(out, TIMESTAMP, ms.max(0) as u64);
                self.cluster = Some(ms.max(0));
                ms.max(0)
            }
        };
        let relative = (ms - start) as i16;
        ebml::id(out, SIMPLE_BLOCK);
        ebml::size(out, 4 + data.len() as u64);
        out.push(0x80 | track as u8);
        out.extend_from_slice(&relative.to_be_bytes());
        out.push(if keyframe { 0x80 } else { 0 });
        out.extend_from_slice(data);
    }

    /// Where to write, and what, to record a duration of `ms` milliseconds in the header.
    pub fn duration_patch(&self, ms: f64) -> (u64, Vec<u8>) {
        let mut element = Vec::with_capacity(11);
        ebml::float(&mut element, DURATION, ms);
        (self.duration_offset, element)
    }
}

fn track_entry(t: &mut Vec<u8>, number: u64, track: &TrackSpec) {
    ebml::uint(t, TRACK_NUMBER, number);
    ebml::uint(t, TRACK_UID, number);
    ebml::uint(t, TRACK_TYPE, if track.codec.is_video() { 1 } else { 2 });
    ebml::uint(t, FLAG_LACING, 0);
    ebml::bytes(t, CODEC_ID, track.codec.id().as_bytes());
    if track.codec.is_video() {
        if !track.private.is_empty() {
            ebml::bytes(t, CODEC_PRIVATE, &track.private);
        }
        ebml::master(t, VIDEO, |v| {
            ebml::uint(v, PIXEL_WIDTH, u64::from(track.width));
            ebml::uint(v, PIXEL_HEIGHT, u64::from(track.height));
            if track.codec == Codec::RawI420 {
                ebml::bytes(v, COLOUR_SPACE, b"I420");
            }
        });
    } else {
        ebml::bytes(t, CODEC_PRIVATE, &opus_head());
        // Pre-skip as nanoseconds, and the pre-roll Opus needs after a seek (80 ms).
        ebml::uint(
            t,
            CODEC_DELAY,
            u64::from(OPUS_PRE_SKIP) * 1_000_000_000 / 48_000,
        );
        ebml::uint(t, SEEK_PRE_ROLL, 80_000_000);
        ebml::master(t, AUDIO, |a| {
            ebml::float(a, SAMPLING_FREQUENCY, 48_000.0);
            ebml::uint(a, CHANNELS, 2);
        });
    }
}

/// The Opus identification header (RFC 7845 §5.1): stereo, 48 kHz, no gain, family 0.
pub fn opus_head() -> [u8; 19] {
    let mut head = [0u8; 19];
    head[..8].copy_from_slice(b"OpusHead");
    head[8] = 1;
    head[9] = 2;
    head[10..12].copy_from_slice(&OPUS_PRE_SKIP.to_le_bytes());
    head[12..16].copy_from_slice(&48_000u32.to_le_bytes());
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_open_a_cluster_then_carry_relative_times() {
        let spec = TrackSpec {
            codec: Codec::Opus,
            width: 0,
            height: 0,
            private: Vec::new(),
        };
        let (mut w, header) = WebmWriter::new(&[spec]);
        assert_eq!(&header[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        let mut out = Vec::new();
        w.block(&mut out, 1, 100, true, &[1, 2, 3]);
        assert_eq!(&out[..4], &[0x1F, 0x43, 0xB6, 0x75], "a cluster first");
        let before = out.len();
        w.block(&mut out, 1, 120, true, &[4]);
        // SimpleBlock id, size 5, track 1, +20 ms, keyframe flag, payload.
        assert_eq!(&out[before..], &[0xA3, 0x85, 0x81, 0x00, 0x14, 0x80, 4]);
        let again = out.len();
        w.block(&mut out, 1, 100 + CLUSTER_MS, true, &[5]);
        assert_eq!(
            &out[again..again + 4],
            &[0x1F, 0x43, 0xB6, 0x75],
            "a new cluster"
        );
    }

    #[test]
    fn the_duration_patch_lands_on_the_placeholder() {
        let spec = TrackSpec {
            codec: Codec::Vp8,
            width: 640,
            height: 360,
            private: Vec::new(),
        };
        let (w, header) = WebmWriter::new(&[spec]);
        let (at, bytes) = w.duration_patch(1234.0);
        let at = at as usize;
        assert_eq!(&header[at..at + 2], &[0xEC, 0x89], "a Void of 9 bytes");
        assert_eq!(bytes.len(), 11, "as long as the Void");
        assert_eq!(&bytes[..3], &[0x44, 0x89, 0x88], "Duration id, size 8");
        assert_eq!(&bytes[3..], &1234f64.to_be_bytes());
    }
}
