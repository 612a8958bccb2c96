//! Packet forwarding ([`Forwarding::Packets`]): a frame is cut into RTP payloads once per
//! layer on each worker, and every subscription sends those same payloads, numbered, timed
//! and (for VP8) given picture ids of its own. With frame forwarding str0m cuts the frame
//! again for each subscriber.
//!
//! Frames still arrive whole: str0m reassembles what publishers send, asks them for what
//! was lost and puts it in order, and recording, broadcasts and other workers and nodes
//! take frames. So the publisher's side is the same in both ways; only the fan-out
//! differs, which is where the cost grows with the audience. A subscriber that loses a
//! packet asks for it again, and str0m answers from what its stream sent.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use str0m::format::Codec;
use str0m::media::Pt;
use str0m::rtp::{RedEncoder, RedundantBlock, RtpWrite, SeqNo, StreamTx, Vp8Descriptor};
use str0m::unversioned::{H264Packetizer, Packetizer};

/// How a worker sends frames on to its subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    /// Each subscriber's connection cuts the frame into packets itself (str0m's frame API):
    /// VP9 and AV1 too.
    Frames,
    /// The frame is cut once per layer and the packets are shared (str0m's RTP mode for
    /// the sending connections): Opus, VP8 and H.264.
    #[default]
    Packets,
}

/// The most a payload (with its codec's descriptor) may hold: what str0m itself leaves a
/// payload in its datagrams, the target size less SRTP's tag, rounded down to SRTP's
/// block. The RTP header and its extensions come on top, as they do in frame forwarding.
const PAYLOAD_MAX: usize = {
    const SRTP_TAG: usize = 16;
    let room = str0m::DATAGRAM_MTU_TARGET - SRTP_TAG;
    room - room % 16
};

/// The VP8 payload descriptor this cutter writes (RFC 7741): the X and I bits, then a
/// 15-bit picture id that each subscription replaces with its own.
const VP8_DESCRIPTOR: usize = 4;

/// Cuts one layer's frames into payloads.
#[derive(Debug, Default, Clone)]
pub struct Cutter {
    /// H.264 sends its parameter sets ahead of keyframes, which it keeps between frames.
    h264: H264Packetizer,
    /// Sound: this frame and the one before it, with their RTP times, for RED.
    sound: Option<(Arc<[u8]>, u64)>,
    before: Option<(Arc<[u8]>, u64)>,
    /// This sound frame as a RED payload, for subscriptions whose Opus has this payload
    /// type (the same for nearly all of them).
    red: Option<(Pt, Arc<[u8]>)>,
}

impl Cutter {
    /// Cuts a frame of `codec` at RTP time `time` into `out` (emptied first). False for a
    /// video codec this cutter does not know (packet forwarding negotiates only those it
    /// knows).
    pub fn cut(
        &mut self,
        codec: Codec,
        data: &Arc<[u8]>,
        time: u64,
        out: &mut Vec<Arc<[u8]>>,
    ) -> bool {
        out.clear();
        if codec.is_audio() {
            // A sound frame is one packet: the frame itself goes out, shared.
            out.push(data.clone());
            self.before = self.sound.replace((data.clone(), time));
            self.red = None;
            return true;
        }
        match codec {
            Codec::Vp8 => {
                for (i, chunk) in data.chunks(PAYLOAD_MAX - VP8_DESCRIPTOR).enumerate() {
                    let start = if i == 0 { 0x10 } else { 0 };
                    let descriptor = [0x80 | start, 0x80, 0x80, 0];
                    out.push(descriptor.iter().chain(chunk).copied().collect());
                }
                true
            }
            Codec::H264 => match self.h264.packetize(PAYLOAD_MAX, data) {
                Ok(packets) => {
                    out.extend(packets.into_iter().map(Arc::from));
                    true
                }
                Err(_) => false,
            },
            _ => false,
        }
    }

    /// The sound frame last cut as a RED payload (RFC 2198) whose primary block has
    /// payload type `primary`: the frame before it first, where its time offset fits.
    /// Made once per frame and shared, as the plain frame is.
    pub fn red(&mut self, primary: Pt) -> Option<Arc<[u8]>> {
        if let Some((pt, payload)) = &self.red
            && *pt == primary
        {
            return Some(payload.clone());
        }
        let (data, time) = self.sound.as_ref()?;
        let redundant: Vec<RedundantBlock> = self
            .before
            .iter()
            .map(|(before, before_time)| RedundantBlock {
                pt: *primary,
                timestamp_offset: time.saturating_sub(*before_time) as u32,
                payload: before.to_vec(),
            })
            .filter(|block| block.fits() && block.timestamp_offset > 0)
            .collect();
        let payload: Arc<[u8]> = RedEncoder::encode(*primary, data, &redundant).into();
        self.red = Some((primary, payload.clone()));
        Some(payload)
    }
}

/// One subscription's numbering of what it sends: its own sequence numbers and VP8
/// picture ids, continuous across layer and source switches whatever the publisher's are.
#[derive(Debug, Clone)]
pub struct Numbering {
    seq: u64,
    picture_id: u16,
}

impl Numbering {
    /// Starts at random points below half their range, so that the sequence numbers roll
    /// over (which SRTP counts) only after many packets.
    pub fn new() -> Numbering {
        let mut start = [0; 4];
        getrandom::fill(&mut start).expect("the operating system's random source");
        Numbering {
            seq: u64::from(u16::from_le_bytes([start[0], start[1]]) & 0x7fff),
            picture_id: u16::from_le_bytes([start[2], start[3]]) & 0x7fff,
        }
    }

    fn next_seq(&mut self) -> SeqNo {
        self.seq += 1;
        self.seq.into()
    }

    fn next_picture(&mut self) -> u16 {
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        self.picture_id
    }
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering::new()
    }
}

/// One frame, cut, as a subscription sends it.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The payloads, in order.
    pub payloads: &'a [Arc<[u8]>],
    /// The subscriber's payload type for the codec.
    pub pt: Pt,
    /// The subscription's RTP time for the frame.
    pub time: u32,
    /// When the frame arrived, for the sender reports.
    pub wallclock: Instant,
    /// Video: the last packet is marked, and lost ones can be asked for again.
    pub video: bool,
    /// VP8: each frame gets the subscription's next picture id.
    pub vp8: bool,
}

/// Writes a cut frame to a subscription's stream.
pub fn send(stream: &mut StreamTx, numbering: &mut Numbering, frame: Outgoing) {
    let patch = if frame.vp8 {
        // Every payload of the frame has the same descriptor layout, so one patch fits all.
        let Some(first) = frame.payloads.first() else {
            return;
        };
        let Ok(descriptor) = Vp8Descriptor::parse(first) else {
            return;
        };
        descriptor
            .patch()
            .picture_id(numbering.next_picture())
            .build()
            .ok()
    } else {
        None
    };
    let last = frame.payloads.len().saturating_sub(1);
    for (i, payload) in frame.payloads.iter().enumerate() {
        let mut write = RtpWrite::new(
            frame.pt,
            numbering.next_seq(),
            frame.time,
            frame.wallclock,
            payload.clone(),
        )
        .marker(frame.video && i == last)
        .nackable(frame.video);
        if let Some(patch) = patch {
            write = write.vp8_patch(patch);
        }
        stream.write_rtp(write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Arc<[u8]> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn a_vp8_frame_is_cut_into_payloads_that_fit_and_put_back_together_give_it_whole() {
        let data = frame(3000);
        let mut out = Vec::new();
        assert!(Cutter::default().cut(Codec::Vp8, &data, 0, &mut out));
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|p| p.len() <= PAYLOAD_MAX));
        let mut whole = Vec::new();
        for (i, payload) in out.iter().enumerate() {
            let descriptor = Vp8Descriptor::parse(payload).unwrap();
            assert_eq!(
                descriptor.starts_keyframe(payload),
                i == 0 && data[0] & 1 == 0
            );
            assert_eq!(payload[0] & 0x10 != 0, i == 0, "S bit on the first only");
            whole.extend_from_slice(&payload[VP8_DESCRIPTOR..]);
        }
        assert_eq!(&whole[..], &data[..]);
    }

    #[test]
    fn a_sound_frame_goes_out_as_it_came_without_a_copy() {
        let data = frame(120);
        let mut out = Vec::new();
        assert!(Cutter::default().cut(Codec::Opus, &data, 0, &mut out));
        assert_eq!(out.len(), 1);
        assert!(Arc::ptr_eq(&out[0], &data));
    }

    #[test]
    fn an_h264_frame_is_cut_by_its_units_and_codecs_it_does_not_know_are_refused() {
        let mut data = vec![0, 0, 0, 1, 0x65];
        data.extend(std::iter::repeat_n(7, 2500));
        let data: Arc<[u8]> = data.into();
        let mut out = Vec::new();
        assert!(Cutter::default().cut(Codec::H264, &data, 0, &mut out));
        assert!(out.len() >= 3, "{} payloads", out.len());
        assert!(out.iter().all(|p| p.len() <= PAYLOAD_MAX));
        assert!(!Cutter::default().cut(Codec::Vp9, &data, 0, &mut out));
        assert!(!Cutter::default().cut(Codec::Av1, &data, 0, &mut out));
    }

    #[test]
    fn a_red_payload_carries_the_frame_before_and_is_made_once_per_frame() {
        let mut cutter = Cutter::default();
        let mut out = Vec::new();
        let (first, second) = (frame(60), frame(70));
        cutter.cut(Codec::Opus, &first, 960, &mut out);
        let alone = cutter.red(Pt::from(111)).unwrap();
        let blocks = str0m::rtp::RedDecoder::decode(&alone).unwrap();
        assert_eq!(blocks.len(), 1, "nothing before the first frame");
        cutter.cut(Codec::Opus, &second, 1920, &mut out);
        let red = cutter.red(Pt::from(111)).unwrap();
        assert!(Arc::ptr_eq(&red, &cutter.red(Pt::from(111)).unwrap()));
        let blocks = str0m::rtp::RedDecoder::decode(&red).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            (blocks[0].timestamp_offset, blocks[0].payload),
            (960, &first[..])
        );
        assert!(blocks[1].is_primary);
        assert_eq!((blocks[1].pt, blocks[1].payload), (111, &second[..]));
        assert!(!Arc::ptr_eq(&red, &cutter.red(Pt::from(109)).unwrap()));
    }

    #[test]
    fn numbering_starts_low_and_picture_ids_wrap_at_fifteen_bits() {
        let mut numbering = Numbering::new();
        assert!(numbering.seq < 0x8000 && numbering.picture_id < 0x8000);
        let first = *numbering.next_seq();
        assert_eq!(*numbering.next_seq(), first + 1);
        numbering.picture_id = 0x7fff;
        assert_eq!(numbering.next_picture(), 0);
    }
}
