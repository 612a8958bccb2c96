//! What a VP9 keyframe says about its picture: its size, from the uncompressed header
//! (VP9 bitstream specification §6.2), which the ladder needs to choose its rungs.

use crate::h264::Bits;

/// The frame's `frame_sync_code`, right after a keyframe's first bits.
const SYNC_CODE: u32 = 0x49_83_42;
/// `color_space` of an RGB picture, which has no `color_range` bit.
const CS_RGB: u32 = 7;

/// The width and height of a VP9 keyframe, or `None` for other frames and what is not
/// VP9. A superframe's first frame is read.
pub fn keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut b = Bits::new(frame);
    if b.bits(2)? != 2 {
        return None; // frame_marker
    }
    let low = b.bits(1)?;
    let profile = b.bits(1)? << 1 | low;
    if profile == 3 {
        b.bits(1)?; // reserved_zero
    }
    if b.bits(1)? == 1 {
        return None; // show_existing_frame
    }
    if b.bits(1)? != 0 {
        return None; // frame_type: not a keyframe
    }
    b.bits(2)?; // show_frame, error_resilient_mode
    if b.bits(24)? != SYNC_CODE {
        return None;
    }
    // color_config
    if profile >= 2 {
        b.bits(1)?; // ten_or_twelve_bit
    }
    let color_space = b.bits(3)?;
    let odd_profile = profile == 1 || profile == 3;
    if color_space != CS_RGB {
        b.bits(1)?; // color_range
        if odd_profile {
            b.bits(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if odd_profile {
        b.bits(1)?; // reserved_zero
    }
    let width = b.bits(16)? + 1;
    let height = b.bits(16)? + 1;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first frame of a VP9 stream ffmpeg encodes at `size`.
    fn first_frame(size: &str) -> Vec<u8> {
        crate::test_ivf::first_frame(size, &["libvpx-vp9"])
    }

    #[test]
    fn a_keyframe_says_its_size() {
        assert_eq!(keyframe_size(&first_frame("640x360")), Some((640, 360)));
        assert_eq!(keyframe_size(&first_frame("1280x720")), Some((1280, 720)));
    }

    #[test]
    fn other_frames_say_nothing() {
        let mut inter = first_frame("320x180");
        inter[0] |= 0b0000_0100; // frame_type 1: not a keyframe
        assert_eq!(keyframe_size(&inter), None);
        assert_eq!(keyframe_size(&[]), None);
        assert_eq!(keyframe_size(&[0x9d, 0x01, 0x2a]), None);
        assert_eq!(keyframe_size(&[0x82, 0x49, 0x83]), None, "cut short");
    }
}
