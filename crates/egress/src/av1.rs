//! What an AV1 keyframe says about its picture: its size, from the sequence header OBU
//! that a keyframe carries (AV1 bitstream specification §5.5), which the ladder needs to
//! choose its rungs. Frames are in the low-overhead format, each OBU with its size, as
//! the RTP depacketizer and IVF files give them.

use crate::h264::Bits;

/// `obu_type` of a sequence header.
const OBU_SEQUENCE_HEADER: u8 = 1;

/// The largest picture size a keyframe's sequence header allows (its maximum frame width
/// and height): what encoders set to the size they encode. `None` for frames without a
/// sequence header and what is not AV1.
pub fn keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut rest = frame;
    while let Some((&header, after)) = rest.split_first() {
        if header & 0x80 != 0 {
            return None; // obu_forbidden_bit
        }
        let obu_type = header >> 3 & 0x0f;
        let extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let after = if extension { after.get(1..)? } else { after };
        let (size, after) = if has_size {
            leb128(after)?
        } else {
            (after.len(), after)
        };
        let payload = after.get(..size)?;
        if obu_type == OBU_SEQUENCE_HEADER {
            return sequence_header_size(payload);
        }
        rest = &after[size..];
    }
    None
}

/// A `leb128()` size and what follows it.
fn leb128(data: &[u8]) -> Option<(usize, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in data.iter().take(8).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, &data[i + 1..]));
        }
    }
    None
}

/// The maximum frame size of a `sequence_header_obu()` (§5.5.1).
fn sequence_header_size(payload: &[u8]) -> Option<(u32, u32)> {
    let mut b = Bits::new(payload);
    b.bits(3)?; // seq_profile
    b.bits(1)?; // still_picture
    let reduced = b.bits(1)? == 1;
    if reduced {
        b.bits(5)?; // seq_level_idx[0]
    } else {
        let timing_info = b.bits(1)? == 1;
        let mut decoder_model_info = false;
        let mut buffer_delay_bits = 0;
        if timing_info {
            b.bits(32)?; // num_units_in_display_tick
            b.bits(32)?; // time_scale
            if b.bits(1)? == 1 {
                uvlc(&mut b)?; // num_ticks_per_picture_minus_1
            }
            decoder_model_info = b.bits(1)? == 1;
            if decoder_model_info {
                buffer_delay_bits = b.bits(5)? as usize + 1;
                b.bits(32)?; // num_units_in_decoding_tick
                b.bits(10)?; // buffer_removal_time_length_minus_1, frame_presentation_…
            }
        }
        let initial_display_delay = b.bits(1)? == 1;
        let operating_points = b.bits(5)? + 1;
        for _ in 0..operating_points {
            b.bits(12)?; // operating_point_idc
            if b.bits(5)? > 7 {
                b.bits(1)?; // seq_tier
            }
            if decoder_model_info && b.bits(1)? == 1 {
                b.bits(buffer_delay_bits)?; // decoder_buffer_delay
                b.bits(buffer_delay_bits)?; // encoder_buffer_delay
                b.bits(1)?; // low_delay_mode_flag
            }
            if initial_display_delay && b.bits(1)? == 1 {
                b.bits(4)?; // initial_display_delay_minus_1
            }
        }
    }
    let width_bits = b.bits(4)? as usize + 1;
    let height_bits = b.bits(4)? as usize + 1;
    let width = b.bits(width_bits)?.checked_add(1)?;
    let height = b.bits(height_bits)?.checked_add(1)?;
    Some((width, height))
}

/// A `uvlc()` code (§4.10.3).
fn uvlc(b: &mut Bits) -> Option<u32> {
    let mut zeros = 0;
    while b.bits(1)? == 0 {
        zeros += 1;
        if zeros >= 32 {
            return Some(u32::MAX);
        }
    }
    let rest = b.bits(zeros)?;
    Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first frame of an AV1 stream ffmpeg encodes at `size`.
    fn first_frame(size: &str) -> Vec<u8> {
        crate::test_ivf::first_frame(
            size,
            &["libaom-av1", "-cpu-used", "8", "-usage", "realtime"],
        )
    }

    #[test]
    fn a_keyframe_says_its_size() {
        assert_eq!(keyframe_size(&first_frame("640x360")), Some((640, 360)));
        assert_eq!(keyframe_size(&first_frame("1280x720")), Some((1280, 720)));
    }

    #[test]
    fn frames_without_a_sequence_header_say_nothing() {
        let frame = first_frame("320x180");
        // Only its temporal delimiter (an OBU of type 2 with size 0).
        assert_eq!(keyframe_size(&frame[..2]), None);
        assert_eq!(keyframe_size(&[]), None);
        assert_eq!(keyframe_size(&[0x0a, 0x0b, 0x00]), None, "cut short");
        assert_eq!(
            keyframe_size(&[0x0a, 0xff, 0xff]),
            None,
            "a size past the end"
        );
    }
}
