//! What recordings read off the frames the media plane hands them: a video track's
//! container description from its first keyframe, and times between senders' clocks.

use std::time::SystemTime;

use moim_egress::webm::{Codec, TrackSpec};
use moim_egress::{av1, h264, vp9};
use moim_media::track::vp8_keyframe_size;
use moim_media::{EgressFrame, FrameCodec};

/// The WebM track for a video track whose first frame (a keyframe) is `first`, and the
/// codec's name.
pub fn video_track(first: &EgressFrame) -> std::io::Result<(TrackSpec, &'static str)> {
    let (codec, name) = match first.codec {
        FrameCodec::Vp8 => (Codec::Vp8, "vp8"),
        FrameCodec::Vp9 => (Codec::Vp9, "vp9"),
        FrameCodec::Av1 => (Codec::Av1, "av1"),
        FrameCodec::H264 => (Codec::H264, "h264"),
        other => {
            return Err(std::io::Error::other(format!(
                "{other:?} video is not recorded yet"
            )));
        }
    };
    // H.264's size is left to the decoder (the ladder reads it from the SPS).
    let size = match codec {
        Codec::Vp8 => vp8_keyframe_size(&first.data),
        Codec::Vp9 => vp9::keyframe_size(&first.data),
        Codec::Av1 => av1::keyframe_size(&first.data),
        _ => None,
    };
    let (width, height) = size.unwrap_or((0, 0));
    let private = if codec == Codec::H264 {
        h264::avc_config(&first.data).ok_or_else(|| {
            std::io::Error::other("the first H.264 keyframe carries no SPS and PPS")
        })?
    } else {
        Vec::new()
    };
    let spec = TrackSpec {
        codec,
        width,
        height,
        private,
    };
    Ok((spec, name))
}

/// `a - b` in milliseconds, negative when `a` is earlier.
pub fn signed_ms(a: SystemTime, b: SystemTime) -> i64 {
    match a.duration_since(b) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}
