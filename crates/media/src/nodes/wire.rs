//! The bytes of a node link: [`NodeMessage`]s as length-prefixed records.
//!
//! A record is a `u32` length (big-endian) and a body whose first byte is its kind. A
//! frame names its codec by a small number the sender assigned in an earlier `Params`
//! record on the same link (the codec's parameters in JSON, sent once per link), so a
//! frame costs 30-odd bytes beside its data. Decoding checks every length and value: a
//! peer that sends nonsense gets an error, never a panic.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moim_proto::signal::{TrackKind, TrackSource};
use str0m::format::PayloadParams;
use str0m::media::{Frequency, MediaTime, Rid};

use crate::ids::{ParticipantId, TrackId};
use crate::relay::Frame;

/// The largest record a peer may send (a keyframe of a large picture fits many times).
pub const MAX_RECORD: usize = 4 * 1024 * 1024;
/// The most codecs one link names.
const MAX_PARAMS: usize = 64;

/// A track of one node as another learns of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTrack {
    /// Its key, the same on every node (keys of different nodes do not meet).
    pub id: TrackId,
    /// Its publisher, a participant of the node the track comes from.
    pub participant: ParticipantId,
    /// Audio or video.
    pub kind: TrackKind,
    /// What its publisher declared it to be.
    pub source: TrackSource,
    /// Its publisher sends several layers.
    pub simulcast: bool,
    /// Muted now; later changes come as [`NodeMessage::TrackMuted`].
    pub muted: bool,
}

/// What the media planes of two nodes tell each other about one room.
#[derive(Debug, Clone)]
pub enum NodeMessage {
    /// A track of the room is there (on the sending node, or on one it links to).
    TrackPublished(NodeTrack),
    /// A track the sender announced is gone.
    TrackUnpublished(TrackId),
    /// A track the sender announced was muted or unmuted.
    TrackMuted {
        /// The track.
        track: TrackId,
        /// Muted (`true`) or unmuted.
        muted: bool,
    },
    /// A frame of a track the sender announced.
    Frame {
        /// The track.
        track: TrackId,
        /// The frame.
        frame: Frame,
    },
    /// The sender's receivers need a keyframe of a track it was told of.
    KeyframeRequest {
        /// The track.
        track: TrackId,
        /// The layer; `None` for a track without simulcast.
        rid: Option<Rid>,
    },
    /// The sender's receivers show a track it was told of at these heights (dynacast;
    /// empty: none shows it).
    ReceiverHeights {
        /// The track.
        track: TrackId,
        /// The heights, each once.
        heights: Vec<u32>,
    },
    /// A message between the two nodes' control planes, which the media planes carry but
    /// do not read.
    Control(Vec<u8>),
}

/// What is wrong with bytes a peer sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// A record ends early, is longer than [`MAX_RECORD`], or has bytes left over.
    #[error("a record of the node link is cut short or too long")]
    Length,
    /// A record's kind, or a value in it, is unknown.
    #[error("a record of the node link has an unknown kind or value")]
    Value,
    /// A frame names a codec the link never described, or too many were described.
    #[error("a frame of the node link names a codec it did not describe")]
    Codec,
}

const TRACK_PUBLISHED: u8 = 1;
const TRACK_UNPUBLISHED: u8 = 2;
const TRACK_MUTED: u8 = 3;
const FRAME: u8 = 4;
const KEYFRAME_REQUEST: u8 = 5;
const RECEIVER_HEIGHTS: u8 = 6;
const PARAMS: u8 = 7;
const CONTROL: u8 = 8;

const CONTIGUOUS: u8 = 1;
const KEYFRAME: u8 = 2;

/// One direction's sending side: the codecs it described so far.
#[derive(Debug, Default)]
pub struct Encoder {
    params: Vec<PayloadParams>,
}

impl Encoder {
    /// Appends `message` to `out` as records (a `Params` record first when a frame's
    /// codec is new on this link); false when the message cannot be sent (a link that
    /// carries more than 64 codecs).
    pub fn encode(&mut self, message: &NodeMessage, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match message {
            NodeMessage::TrackPublished(track) => {
                out.push(TRACK_PUBLISHED);
                out.extend_from_slice(&track.id.0.to_be_bytes());
                out.extend_from_slice(&track.participant.0.to_be_bytes());
                out.push(kind_byte(track.kind));
                out.push(source_byte(track.source));
                out.push(u8::from(track.simulcast) | u8::from(track.muted) << 1);
            }
            NodeMessage::TrackUnpublished(track) => {
                out.push(TRACK_UNPUBLISHED);
                out.extend_from_slice(&track.0.to_be_bytes());
            }
            NodeMessage::TrackMuted { track, muted } => {
                out.push(TRACK_MUTED);
                out.extend_from_slice(&track.0.to_be_bytes());
                out.push(u8::from(*muted));
            }
            NodeMessage::Frame { track, frame } => {
                let Some(codec) = self.codec(&frame.params, out, start) else {
                    out.truncate(start);
                    return false;
                };
                let start = out.len();
                out.extend_from_slice(&[0; 4]);
                out.push(FRAME);
                out.extend_from_slice(&track.0.to_be_bytes());
                put_rid(out, frame.rid);
                out.push(codec);
                out.extend_from_slice(&frame.time.numer().to_be_bytes());
                out.extend_from_slice(&frame.time.denom().to_be_bytes());
                let age = frame.network_time.elapsed().as_micros();
                out.extend_from_slice(&u32::try_from(age).unwrap_or(u32::MAX).to_be_bytes());
                let flags = if frame.contiguous { CONTIGUOUS } else { 0 }
                    | if frame.keyframe { KEYFRAME } else { 0 };
                out.push(flags);
                out.extend_from_slice(&frame.data);
                seal_length(out, start);
                return true;
            }
            NodeMessage::KeyframeRequest { track, rid } => {
                out.push(KEYFRAME_REQUEST);
                out.extend_from_slice(&track.0.to_be_bytes());
                put_rid(out, *rid);
            }
            NodeMessage::ReceiverHeights { track, heights } => {
                out.push(RECEIVER_HEIGHTS);
                out.extend_from_slice(&track.0.to_be_bytes());
                for height in heights.iter().take(255) {
                    out.extend_from_slice(&height.to_be_bytes());
                }
            }
            NodeMessage::Control(bytes) => {
                out.push(CONTROL);
                out.extend_from_slice(bytes);
            }
        }
        seal_length(out, start);
        true
    }

    /// The number of `params` on this link; describes it first (at `start`, where the
    /// frame's record was to begin) when it is new.
    fn codec(&mut self, params: &PayloadParams, out: &mut Vec<u8>, start: usize) -> Option<u8> {
        if let Some(i) = self.params.iter().position(|p| p == params) {
            out.truncate(start);
            return u8::try_from(i).ok();
        }
        if self.params.len() >= MAX_PARAMS {
            return None;
        }
        let json = serde_json::to_vec(params).ok()?;
        out.truncate(start);
        out.extend_from_slice(&[0; 4]);
        out.push(PARAMS);
        let i = self.params.len() as u8;
        out.push(i);
        out.extend_from_slice(&json);
        seal_length(out, start);
        self.params.push(*params);
        Some(i)
    }
}

/// One direction's receiving side: the codecs the peer described so far.
#[derive(Debug, Default)]
pub struct Decoder {
    params: Vec<PayloadParams>,
}

impl Decoder {
    /// Reads every whole record at the start of `bytes`, handing each message to
    /// `message`; how many bytes were read (the rest is an unfinished record).
    pub fn decode(
        &mut self,
        bytes: &[u8],
        mut message: impl FnMut(NodeMessage),
    ) -> Result<usize, WireError> {
        let mut at = 0;
        while let Some(length) = bytes.get(at..at + 4) {
            let length = u32::from_be_bytes(length.try_into().map_err(|_| WireError::Length)?);
            let length = length as usize;
            if length > MAX_RECORD {
                return Err(WireError::Length);
            }
            let Some(body) = bytes.get(at + 4..at + 4 + length) else {
                break;
            };
            if let Some(m) = self.record(body)? {
                message(m);
            }
            at += 4 + length;
        }
        Ok(at)
    }

    fn record(&mut self, body: &[u8]) -> Result<Option<NodeMessage>, WireError> {
        let mut r = Reader(body);
        let message = match r.u8()? {
            TRACK_PUBLISHED => {
                let id = TrackId(r.u64()?);
                let participant = ParticipantId(r.u64()?);
                let kind = kind_of(r.u8()?)?;
                let source = source_of(r.u8()?)?;
                let flags = r.u8()?;
                NodeMessage::TrackPublished(NodeTrack {
                    id,
                    participant,
                    kind,
                    source,
                    simulcast: flags & 1 != 0,
                    muted: flags & 2 != 0,
                })
            }
            TRACK_UNPUBLISHED => NodeMessage::TrackUnpublished(TrackId(r.u64()?)),
            TRACK_MUTED => NodeMessage::TrackMuted {
                track: TrackId(r.u64()?),
                muted: r.u8()? != 0,
            },
            FRAME => {
                let track = TrackId(r.u64()?);
                let rid = r.rid()?;
                let params = *self.params.get(r.u8()? as usize).ok_or(WireError::Codec)?;
                let numer = r.u64()?;
                let denom = NonZeroU32::new(r.u32()?).ok_or(WireError::Value)?;
                let age = Duration::from_micros(u64::from(r.u32()?));
                let flags = r.u8()?;
                let now = Instant::now();
                let frame = Frame {
                    rid,
                    params,
                    time: MediaTime::new(numer, Frequency::from_nonzero(denom)),
                    network_time: now.checked_sub(age).unwrap_or(now),
                    contiguous: flags & CONTIGUOUS != 0,
                    keyframe: flags & KEYFRAME != 0,
                    data: Arc::from(r.rest()),
                };
                return Ok(Some(NodeMessage::Frame { track, frame }));
            }
            KEYFRAME_REQUEST => NodeMessage::KeyframeRequest {
                track: TrackId(r.u64()?),
                rid: r.rid()?,
            },
            RECEIVER_HEIGHTS => {
                let track = TrackId(r.u64()?);
                let rest = r.rest();
                if rest.len() % 4 != 0 {
                    return Err(WireError::Length);
                }
                let heights = rest
                    .chunks_exact(4)
                    .map(|h| u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
                    .collect();
                return Ok(Some(NodeMessage::ReceiverHeights { track, heights }));
            }
            CONTROL => return Ok(Some(NodeMessage::Control(r.rest().to_vec()))),
            PARAMS => {
                let i = r.u8()? as usize;
                if i != self.params.len() || i >= MAX_PARAMS {
                    return Err(WireError::Codec);
                }
                let params = serde_json::from_slice(r.rest()).map_err(|_| WireError::Codec)?;
                self.params.push(params);
                return Ok(None);
            }
            _ => return Err(WireError::Value),
        };
        if !r.0.is_empty() {
            return Err(WireError::Length);
        }
        Ok(Some(message))
    }
}

/// Writes the length of the record that starts at `start` into its first four bytes.
fn seal_length(out: &mut [u8], start: usize) {
    let length = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&length.to_be_bytes());
}

fn put_rid(out: &mut Vec<u8>, rid: Option<Rid>) {
    let rid = rid.as_deref().map_or(&[][..], str::as_bytes);
    out.push(rid.len() as u8);
    out.extend_from_slice(rid);
}

fn kind_byte(kind: TrackKind) -> u8 {
    match kind {
        TrackKind::Audio => 0,
        TrackKind::Video => 1,
    }
}

fn kind_of(byte: u8) -> Result<TrackKind, WireError> {
    match byte {
        0 => Ok(TrackKind::Audio),
        1 => Ok(TrackKind::Video),
        _ => Err(WireError::Value),
    }
}

fn source_byte(source: TrackSource) -> u8 {
    match source {
        TrackSource::Camera => 0,
        TrackSource::Microphone => 1,
        TrackSource::Screen => 2,
        TrackSource::ScreenAudio => 3,
    }
}

fn source_of(byte: u8) -> Result<TrackSource, WireError> {
    match byte {
        0 => Ok(TrackSource::Camera),
        1 => Ok(TrackSource::Microphone),
        2 => Ok(TrackSource::Screen),
        3 => Ok(TrackSource::ScreenAudio),
        _ => Err(WireError::Value),
    }
}

/// Reads a record's fields in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Length);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }

    fn rid(&mut self) -> Result<Option<Rid>, WireError> {
        let n = self.u8()? as usize;
        if n > 8 {
            return Err(WireError::Value);
        }
        let rid = std::str::from_utf8(self.take(n)?).map_err(|_| WireError::Value)?;
        Ok((!rid.is_empty()).then(|| Rid::from(rid)))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
