//! Live streams for viewers outside the meeting (`docs/broadcast.md`). A broadcast takes
//! the frames of one source (a participant's camera and microphone, an RTMP encoder) from
//! the media plane, the way a recording does, through a bounded queue that never stalls
//! forwarding.
//!
//! - [`ladder`]: the LL-HLS quality ladder: one `ffmpeg` child decodes the source once and
//!   encodes every rung (480p, 720p, 1080p at or below the source) with keyframes at the
//!   same times, and each rung is packaged by its own `hls::Segmenter`; the HTTP side
//!   reads playlists and files from [`ladder::Renditions`].

pub mod ladder;
