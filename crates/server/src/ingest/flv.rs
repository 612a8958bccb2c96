//! What an encoder's RTMP video and audio messages (FLV tags) carry, turned into what a
//! WebRTC publisher sends: H.264 access units in Annex B with the parameter sets before
//! every keyframe, on a presentation clock in milliseconds. Also the FLV stream framing
//! the transcoders (`transcode.rs`) are fed and, for video, read back.

use std::io::{Cursor, Read};

use bytes::Bytes;
use moim_egress::h264;
use scuffle_flv::video::VideoData;
use scuffle_flv::video::body::VideoTagBody;
use scuffle_flv::video::body::legacy::LegacyVideoTagBody;
use scuffle_flv::video::header::VideoTagHeaderData;
use scuffle_flv::video::header::legacy::{LegacyVideoTagHeader, LegacyVideoTagHeaderAvcPacket};

/// The tag type of audio.
pub const AUDIO: u8 = 8;
/// The tag type of video.
pub const VIDEO: u8 = 9;
/// The file header's flag for a stream with audio.
pub const HAS_AUDIO: u8 = 4;
/// The file header's flag for a stream with video.
pub const HAS_VIDEO: u8 = 1;

/// The start of an FLV stream carrying `streams` ([`HAS_AUDIO`], [`HAS_VIDEO`]), with the
/// first (empty) previous-tag size.
pub fn file_header(streams: u8) -> [u8; 13] {
    [b'F', b'L', b'V', 1, streams, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// One FLV tag of `kind` at `timestamp` ms, with its trailing size.
pub fn tag(kind: u8, timestamp: u32, data: &[u8]) -> Vec<u8> {
    let size = data.len() as u32;
    let mut tag = Vec::with_capacity(data.len() + 15);
    tag.push(kind);
    tag.extend_from_slice(&size.to_be_bytes()[1..]);
    tag.extend_from_slice(&timestamp.to_be_bytes()[1..]);
    tag.push((timestamp >> 24) as u8);
    tag.extend_from_slice(&[0, 0, 0]);
    tag.extend_from_slice(data);
    tag.extend_from_slice(&(size + 11).to_be_bytes());
    tag
}

/// Reads the tags of an FLV stream (an `ffmpeg` child's output) as they come.
#[derive(Debug)]
pub struct TagReader<R> {
    input: R,
    started: bool,
}

/// The largest tag read back; anything larger ends the stream.
const MAX_TAG: usize = 16 << 20;

impl<R: Read> TagReader<R> {
    /// Reads from `input`, which starts with the file header.
    pub fn new(input: R) -> TagReader<R> {
        TagReader {
            input,
            started: false,
        }
    }

    /// The next tag: its kind, time in ms and payload; `None` at the end.
    pub fn next_tag(&mut self) -> std::io::Result<Option<(u8, u32, Vec<u8>)>> {
        if !self.started {
            let mut header = [0; 9];
            self.input.read_exact(&mut header)?;
            if &header[..3] != b"FLV" {
                return Err(std::io::Error::other("not an FLV stream"));
            }
            let skip = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
            // The rest of a longer header, then the first previous-tag size.
            let rest = u64::from(skip.saturating_sub(9)) + 4;
            std::io::copy(&mut (&mut self.input).take(rest), &mut std::io::sink())?;
            self.started = true;
        }
        let mut header = [0; 11];
        match self.input.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let size = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        if size > MAX_TAG {
            return Err(std::io::Error::other("an FLV tag of more than 16 MiB"));
        }
        let timestamp = u32::from_be_bytes([header[7], header[4], header[5], header[6]]);
        let mut data = vec![0; size];
        self.input.read_exact(&mut data)?;
        let mut previous = [0; 4];
        self.input.read_exact(&mut previous)?;
        Ok(Some((header[0] & 0x1f, timestamp, data)))
    }
}

/// An H.264 picture to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Presentation time on the encoder's clock, in milliseconds.
    pub ms: i64,
    /// A keyframe (IDR): viewers can start here.
    pub keyframe: bool,
    /// Annex B NAL units (SPS and PPS first on a keyframe).
    pub data: Vec<u8>,
}

/// Why an encoder's video is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the video is not H.264 (set the encoder to H.264/AVC; HEVC and AV1 over RTMP are not taken yet)"
    )]
    NotH264,
    #[error(
        "the video has B-frames, which WebRTC viewers cannot play (set the encoder's B-frames to 0: in OBS, Settings → Output → Streaming; with x264, bframes=0 or the baseline profile)"
    )]
    BFrames,
    #[error("the video tag is malformed: {0}")]
    Malformed(String),
}

/// The H.264 state of one published stream: its parameter sets and the last picture time.
#[derive(Debug, Default)]
pub struct VideoIn {
    /// `0 0 0 1 SPS 0 0 0 1 PPS …`, put before every keyframe.
    parameter_sets: Vec<u8>,
    /// Bytes of each NAL unit's length prefix (from the decoder configuration).
    length_size: usize,
    /// The AVC profile (66 baseline, 77 main, 100 high), once known.
    profile: Option<u8>,
    /// Whether the SPS says pictures come out of order (B-frames), when it says.
    reorders: Option<bool>,
    last_pts: Option<i64>,
}

impl VideoIn {
    /// The AVC profile indication of the stream's decoder configuration, once it came.
    pub fn profile(&self) -> Option<u8> {
        self.profile
    }

    /// Whether the stream's SPS says its pictures come out of presentation order
    /// (B-frames: `Some(true)`) or never do (`Some(false)`); `None` when it does not say,
    /// and the pictures' times tell.
    pub fn reorders(&self) -> Option<bool> {
        self.reorders
    }

    /// Reads one video message (FLV VIDEODATA) sent at `timestamp` ms (its decoding
    /// time); a picture when it carried one.
    pub fn tag(&mut self, timestamp: u32, data: Bytes) -> Result<Option<Picture>, Refusal> {
        let video = VideoData::demux(&mut Cursor::new(data))
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let VideoTagHeaderData::Legacy(header) = video.header.data else {
            return Err(Refusal::NotH264);
        };
        match (header, video.body) {
            (
                LegacyVideoTagHeader::AvcPacket(LegacyVideoTagHeaderAvcPacket::SequenceHeader),
                VideoTagBody::Legacy(LegacyVideoTagBody::AvcVideoPacketSeqHdr(config)),
            ) => {
                self.parameter_sets.clear();
                for set in config.sps.iter().chain(&config.pps) {
                    self.parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
                    self.parameter_sets.extend_from_slice(set);
                }
                self.length_size = usize::from(config.length_size_minus_one & 3) + 1;
                self.profile = Some(config.profile_indication);
                self.reorders = config.sps.first().and_then(|sps| h264::reorders(sps));
                Ok(None)
            }
            (
                LegacyVideoTagHeader::AvcPacket(LegacyVideoTagHeaderAvcPacket::Nalu {
                    composition_time_offset,
                }),
                VideoTagBody::Legacy(LegacyVideoTagBody::Other { data }),
            ) => self.picture(timestamp, composition_time_offset, &data),
            (LegacyVideoTagHeader::AvcPacket(_), _)
            | (LegacyVideoTagHeader::VideoCommand(_), _) => Ok(None),
            (LegacyVideoTagHeader::Other { .. }, _) => Err(Refusal::NotH264),
        }
    }

    fn picture(&mut self, dts: u32, cts: u32, units: &[u8]) -> Result<Option<Picture>, Refusal> {
        if self.length_size == 0 {
            // Pictures before the decoder configuration cannot be decoded.
            return Ok(None);
        }
        // The offset is a signed 24-bit number.
        let cts = ((cts << 8) as i32 >> 8) as i64;
        let pts = i64::from(dts) + cts;
        if self.last_pts.is_some_and(|last| pts < last) {
            return Err(Refusal::BFrames);
        }
        self.last_pts = Some(pts);
        let mut data = Vec::with_capacity(units.len() + self.parameter_sets.len() + 16);
        let mut keyframe = false;
        let mut has_sets = false;
        let mut rest = units;
        while rest.len() >= self.length_size {
            let len = rest[..self.length_size]
                .iter()
                .fold(0usize, |n, b| (n << 8) | usize::from(*b));
            rest = &rest[self.length_size..];
            let Some(unit) = rest.get(..len).filter(|u| !u.is_empty()) else {
                return Err(Refusal::Malformed(
                    "a NAL unit runs past the end of its tag".into(),
                ));
            };
            rest = &rest[len..];
            match unit[0] & 0x1f {
                5 => keyframe = true,
                7 | 8 => has_sets = true,
                _ => {}
            }
            data.extend_from_slice(&[0, 0, 0, 1]);
            data.extend_from_slice(unit);
        }
        if keyframe && !has_sets {
            // Once per keyframe: viewers that start here need the parameter sets.
            data.splice(0..0, self.parameter_sets.iter().copied());
        }
        Ok((!data.is_empty()).then_some(Picture {
            ms: pts,
            keyframe,
            data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AVC sequence header with one SPS and one PPS, 4-byte lengths, high profile.
    fn sequence_header() -> Bytes {
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac];
        let pps = [0x68, 0xee, 0x3c, 0x80];
        let mut tag = vec![0x17, 0, 0, 0, 0];
        tag.extend_from_slice(&[1, 0x64, 0x00, 0x1f, 0xff, 0xe1]);
        tag.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        tag.extend_from_slice(&sps);
        tag.push(1);
        tag.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        tag.extend_from_slice(&pps);
        Bytes::from(tag)
    }

    fn nalu_tag(keyframe: bool, cts: i32, units: &[&[u8]]) -> Bytes {
        let mut tag = vec![if keyframe { 0x17 } else { 0x27 }, 1];
        tag.extend_from_slice(&cts.to_be_bytes()[1..]);
        for unit in units {
            tag.extend_from_slice(&(unit.len() as u32).to_be_bytes());
            tag.extend_from_slice(unit);
        }
        Bytes::from(tag)
    }

    #[test]
    fn a_keyframe_carries_the_parameter_sets_in_annex_b() {
        let mut video = VideoIn::default();
        assert_eq!(video.tag(0, sequence_header()), Ok(None));
        assert_eq!(video.profile(), Some(100));
        let picture = video
            .tag(40, nalu_tag(true, 0, &[&[0x65, 1, 2, 3]]))
            .unwrap()
            .unwrap();
        assert!(picture.keyframe);
        assert_eq!(picture.ms, 40);
        assert_eq!(
            picture.data,
            [
                &[0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac][..],
                &[0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80],
                &[0, 0, 0, 1, 0x65, 1, 2, 3]
            ]
            .concat()
        );
        let next = video
            .tag(80, nalu_tag(false, 0, &[&[0x41, 9]]))
            .unwrap()
            .unwrap();
        assert!(!next.keyframe);
        assert_eq!(next.data, [0, 0, 0, 1, 0x41, 9]);
    }

    #[test]
    fn pictures_out_of_presentation_order_are_b_frames_and_refused() {
        let mut video = VideoIn::default();
        video.tag(0, sequence_header()).unwrap();
        video.tag(0, nalu_tag(true, 80, &[&[0x65, 1]])).unwrap();
        assert_eq!(
            video.tag(40, nalu_tag(false, 0, &[&[0x41, 1]])),
            Err(Refusal::BFrames)
        );
    }

    #[test]
    fn a_constant_composition_offset_is_not_b_frames() {
        let mut video = VideoIn::default();
        video.tag(0, sequence_header()).unwrap();
        for (i, key) in [true, false, false].into_iter().enumerate() {
            let picture = video
                .tag(40 * i as u32, nalu_tag(key, 66, &[&[0x41, 1]]))
                .unwrap()
                .unwrap();
            assert_eq!(picture.ms, 40 * i as i64 + 66);
        }
    }

    #[test]
    fn tags_written_are_read_back() {
        let mut stream = file_header(HAS_AUDIO | HAS_VIDEO).to_vec();
        stream.extend(tag(VIDEO, 0x0123_4567, &[0x17, 1]));
        stream.extend(tag(AUDIO, 40, &[0xaf, 1, 9]));
        assert_eq!(
            &stream[13..31],
            [
                9, 0, 0, 2, 0x23, 0x45, 0x67, 0x01, 0, 0, 0, 0x17, 1, 0, 0, 0, 13, 8
            ]
        );
        let mut tags = TagReader::new(&stream[..]);
        assert_eq!(
            tags.next_tag().unwrap(),
            Some((VIDEO, 0x0123_4567, vec![0x17, 1]))
        );
        assert_eq!(
            tags.next_tag().unwrap(),
            Some((AUDIO, 40, vec![0xaf, 1, 9]))
        );
        assert_eq!(tags.next_tag().unwrap(), None);
    }

    #[test]
    fn other_codecs_and_broken_tags_are_refused_without_panic() {
        let mut video = VideoIn::default();
        assert_eq!(
            video.tag(0, Bytes::from_static(&[0x12, 0, 0])),
            Err(Refusal::NotH264)
        );
        video.tag(0, sequence_header()).unwrap();
        let mut cut = nalu_tag(true, 0, &[&[0x65, 1, 2, 3]]).to_vec();
        cut.truncate(cut.len() - 2);
        assert!(matches!(
            video.tag(0, Bytes::from(cut)),
            Err(Refusal::Malformed(_))
        ));
        for len in 0..8 {
            let _ = video.tag(0, Bytes::from(vec![0x17; len]));
        }
        // Random tags and streams after a valid start: refused or read, never a panic.
        for _ in 0..5000 {
            let len = rand::random_range(0..64);
            let mut data: Vec<u8> = (0..len).map(|_| rand::random()).collect();
            if let Some(first) = data.first_mut() {
                *first = (*first & 0xf0) | 7;
            }
            let _ = video.tag(rand::random(), Bytes::from(data.clone()));
            let mut stream = file_header(HAS_VIDEO).to_vec();
            stream.extend(data);
            let mut tags = TagReader::new(&stream[..]);
            while let Ok(Some(_)) = tags.next_tag() {}
        }
    }
}
