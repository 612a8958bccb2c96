//! Media containers, written incrementally: recordings, so that a file cut off at any
//! point (a crash, `kill -9`) still plays up to its last complete frame, and live streams,
//! packaged for LL-HLS as they arrive.
//!
//! Every writer is sans-IO: it turns frames into the bytes to append to a file (or to serve),
//! and a graceful end into small patches (the duration) or a last page. The caller owns the
//! file, the clock, HTTP and the batching of writes.
//!
//! - [`webm::WebmWriter`]: VP8/VP9/AV1 video and Opus audio in WebM (H.264 in Matroska),
//!   one SimpleBlock per frame in clusters of unknown size, the duration patched into the
//!   header at the end.
//! - [`h264`]: H.264 from Annex B into length-prefixed units and its `avcC`, for Matroska
//!   (the server remuxes those files into MP4 with ffmpeg) and CMAF.
//! - [`blocks::BlockReader`]: the other way, frames with their times, tracks and keyframe
//!   flags out of a Matroska stream (an ffmpeg child's output), and its tracks' description.
//! - [`vp9::keyframe_size`], [`av1::keyframe_size`]: a VP9 or AV1 keyframe's picture size.
//! - [`ogg::OggOpusWriter`]: Opus in Ogg (RFC 7845); gaps in the timeline are filled with
//!   silent frames so that a muted stretch keeps its length.
//! - [`cmaf`]: fragmented MP4 (CMAF) of H.264 and AAC-LC: the init segment, and fragments
//!   of samples taken from reused buffers.
//! - [`hls::Segmenter`]: one LL-HLS rendition: parts and keyframe-aligned segments in a
//!   sliding window, the media playlist, the files by name and the answers blocking
//!   playlist requests wait for; [`hls::multivariant_playlist`] lists a ladder.

#![deny(missing_docs)]

pub mod av1;
pub mod blocks;
pub mod cmaf;
pub mod ebml;
pub mod h264;
pub mod hls;
pub mod ogg;
#[cfg(test)]
mod test_ivf;
pub mod vp9;
pub mod webm;
