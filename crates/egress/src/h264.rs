//! H.264 frames as WebRTC delivers them (Annex B: NAL units after start codes) turned into
//! what Matroska and MP4 store: NAL units with 4-byte lengths, and the decoder
//! configuration (`avcC`, RFC 6184's SPS and PPS) from a keyframe; and the picture size
//! a keyframe's SPS declares, which a transcoder needs before it starts.

/// The NAL units of an Annex B frame, without their start codes.
pub fn nal_units(frame: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = frame;
    std::iter::from_fn(move || {
        let start = find_start(rest)?;
        let body = &rest[start..];
        let end = find_code(body).unwrap_or(body.len());
        rest = &body[end..];
        let nal = &body[..end];
        // A 4-byte start code leaves a trailing zero on the unit before it.
        Some(nal.strip_suffix(&[0]).unwrap_or(nal))
    })
    .filter(|nal| !nal.is_empty())
}

/// Where the data after the first start code begins.
fn find_start(data: &[u8]) -> Option<usize> {
    find_code(data).map(|i| i + 3)
}

/// The index of the first `00 00 01`.
fn find_code(data: &[u8]) -> Option<usize> {
    data.windows(3).position(|w| w == [0, 0, 1])
}

/// Appends `frame`'s NAL units, each after its length in 4 bytes.
pub fn length_prefixed(frame: &[u8], out: &mut Vec<u8>) {
    for nal in nal_units(frame) {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
}

/// The `avcC` record (ISO 14496-15) from a frame carrying an SPS and a PPS (a keyframe).
pub fn avc_config(frame: &[u8]) -> Option<Vec<u8>> {
    let sps = nal_units(frame).find(|n| n[0] & 0x1F == 7)?;
    let pps = nal_units(frame).find(|n| n[0] & 0x1F == 8)?;
    if sps.len() < 4 {
        return None;
    }
    let mut c = vec![1, sps[1], sps[2], sps[3], 0xFF, 0xE1];
    c.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    c.extend_from_slice(sps);
    c.push(1);
    c.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    c.extend_from_slice(pps);
    Some(c)
}

/// The picture size (width, height, after cropping) the SPS of an Annex B frame (a
/// keyframe) declares; `None` without an SPS or when it cannot be read.
pub fn picture_size(frame: &[u8]) -> Option<(u32, u32)> {
    let sps = nal_units(frame).find(|n| n[0] & 0x1F == 7)?;
    read_sps(sps)?.size
}

/// Whether a stream whose SPS NAL unit (its header byte first) is `sps` may send pictures
/// out of presentation order (B-frames): `Some(false)` for the Baseline profile or a
/// stream that says it reorders none (`max_num_reorder_frames` 0), `Some(true)` for one
/// that says it does, `None` when the SPS does not say.
pub fn reorders(sps: &[u8]) -> Option<bool> {
    let sps = read_sps(sps)?;
    if sps.profile == 66 {
        return Some(false);
    }
    sps.max_num_reorder_frames.map(|n| n > 0)
}

/// What Moim reads in an SPS.
struct Sps {
    profile: u32,
    /// Width and height after cropping.
    size: Option<(u32, u32)>,
    /// From the VUI's bitstream restriction, when it has one.
    max_num_reorder_frames: Option<u32>,
}

/// Reads an SPS NAL unit (its header byte first): H.264 §7.3.2.1.1, the frame cropping
/// of §7.4.2.1.1 and the VUI of §E.1.1.
fn read_sps(sps: &[u8]) -> Option<Sps> {
    // The emulation prevention bytes (00 00 03) go before the bits are read.
    let mut rbsp = Vec::with_capacity(sps.len());
    let mut zeros = 0;
    for &b in sps.get(1..)? {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut r = Bits::new(&rbsp);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bits(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            for i in 0..if chroma_format == 3 { 12 } else { 8 } {
                if r.bits(1)? == 1 {
                    r.skip_scaling_list(if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bits(1)?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            for _ in 0..r.ue()? {
                r.se()?; // offset_for_ref_frame
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bits(1)?);
    if frame_mbs_only == 0 {
        r.bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.bits(1)?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bits(1)? == 1 {
        left = u64::from(r.ue()?);
        right = u64::from(r.ue()?);
        top = u64::from(r.ue()?);
        bottom = u64::from(r.ue()?);
    }
    // Cropping counts in chroma samples (luma ones without chroma), and in field pairs.
    let (crop_x, crop_y) = match chroma_format {
        0 | 3 => (1, 1),
        2 => (2, 1),
        _ => (2, 2),
    };
    let crop_y = crop_y * (2 - frame_mbs_only);
    let size = (|| {
        let width = (width_mbs * 16).checked_sub(crop_x * (left + right))?;
        let height =
            (height_units * 16 * (2 - frame_mbs_only)).checked_sub(crop_y * (top + bottom))?;
        let (width, height) = (u32::try_from(width).ok()?, u32::try_from(height).ok()?);
        (width > 0 && height > 0).then_some((width, height))
    })();
    let max_num_reorder_frames = match r.bits(1) {
        Some(1) => vui_reorder_frames(&mut r),
        _ => None,
    };
    Some(Sps {
        profile,
        size,
        max_num_reorder_frames,
    })
}

/// The `max_num_reorder_frames` of `vui_parameters()` (§E.1.1), when it has a bitstream
/// restriction.
fn vui_reorder_frames(r: &mut Bits) -> Option<u32> {
    if r.bits(1)? == 1 && r.bits(8)? == 255 {
        r.bits(32)?; // sar_width, sar_height
    }
    if r.bits(1)? == 1 {
        r.bits(1)?; // overscan_appropriate_flag
    }
    if r.bits(1)? == 1 {
        r.bits(4)?; // video_format, video_full_range_flag
        if r.bits(1)? == 1 {
            r.bits(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
        }
    }
    if r.bits(1)? == 1 {
        r.ue()?; // chroma_sample_loc_type_top_field
        r.ue()?; // chroma_sample_loc_type_bottom_field
    }
    if r.bits(1)? == 1 {
        r.bits(32)?; // num_units_in_tick
        r.bits(32)?; // time_scale
        r.bits(1)?; // fixed_frame_rate_flag
    }
    let nal_hrd = r.bits(1)? == 1;
    if nal_hrd {
        skip_hrd(r)?;
    }
    let vcl_hrd = r.bits(1)? == 1;
    if vcl_hrd {
        skip_hrd(r)?;
    }
    if nal_hrd || vcl_hrd {
        r.bits(1)?; // low_delay_hrd_flag
    }
    r.bits(1)?; // pic_struct_present_flag
    if r.bits(1)? == 0 {
        return None; // bitstream_restriction_flag
    }
    r.bits(1)?; // motion_vectors_over_pic_boundaries_flag
    for _ in 0..4 {
        r.ue()?; // max_bytes_per_pic_denom … log2_max_mv_length_vertical
    }
    r.ue() // max_num_reorder_frames
}

/// Skips `hrd_parameters()` (§E.1.2).
fn skip_hrd(r: &mut Bits) -> Option<()> {
    let cpb_count = r.ue()?.min(31) + 1;
    r.bits(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..cpb_count {
        r.ue()?; // bit_rate_value_minus1
        r.ue()?; // cpb_size_value_minus1
        r.bits(1)?; // cbr_flag
    }
    r.bits(20)?; // four delay and offset lengths
    Some(())
}

/// A reader of big-endian bit fields and Exp-Golomb codes (an RBSP, an
/// AudioSpecificConfig).
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    /// Reads `data` from its first bit.
    pub(crate) fn new(data: &'a [u8]) -> Bits<'a> {
        Bits { data, at: 0 }
    }

    /// The next `n` bits (at most 32), or `None` past the end.
    pub(crate) fn bits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.at / 8)?;
            v = v << 1 | u32::from(byte >> (7 - self.at % 8) & 1);
            self.at += 1;
        }
        Some(v)
    }

    /// An unsigned Exp-Golomb code (at most 32 bits of value).
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// A signed Exp-Golomb code.
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }

    /// Skips a scaling list of `size` entries (§7.3.2.1.1.1).
    fn skip_scaling_list(&mut self, size: usize) -> Option<()> {
        let (mut last, mut next) = (8i64, 8i64);
        for _ in 0..size {
            if next != 0 {
                next = (last + self.se()? + 256) % 256;
            }
            if next != 0 {
                last = next;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1F, 0xAA, // SPS
        0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80, // PPS
        0, 0, 1, 0x65, 0x88, 0x84, // IDR slice after a 3-byte start code
    ];

    #[test]
    fn nal_units_lose_their_start_codes() {
        let units: Vec<&[u8]> = nal_units(FRAME).collect();
        assert_eq!(units, [&FRAME[4..9], &FRAME[13..17], &FRAME[20..]]);
        let mut out = Vec::new();
        length_prefixed(FRAME, &mut out);
        assert_eq!(&out[..9], &[0, 0, 0, 5, 0x67, 0x42, 0xC0, 0x1F, 0xAA]);
    }

    #[test]
    fn the_decoder_configuration_holds_sps_and_pps() {
        let c = avc_config(FRAME).unwrap();
        assert_eq!(&c[..6], &[1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1]);
        assert_eq!(&c[6..8], &[0, 5]);
        assert_eq!(c[13], 1, "one PPS");
        assert_eq!(avc_config(&FRAME[17..]), None, "no parameter sets");
    }

    /// SPS NAL units libx264 wrote.
    const SPS_1080P_HIGH: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
    ];
    const SPS_720P_BASELINE: &[u8] = &[
        0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x24, 0x80,
    ];
    const SPS_360P_MAIN: &[u8] = &[
        0x67, 0x4d, 0x40, 0x1e, 0xec, 0xa0, 0x50, 0x17, 0xfc, 0xb8, 0x08, 0x80, 0x00, 0x00, 0x03,
        0x00, 0x80, 0x00, 0x00, 0x1e, 0x07, 0x8b, 0x16, 0xcb,
    ];
    const SPS_1080P_422: &[u8] = &[
        0x67, 0x7a, 0x00, 0x28, 0xbc, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe2, 0x70, 0x11, 0x00, 0x00,
        0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x18, 0x31, 0x96,
    ];

    #[test]
    fn the_picture_size_comes_from_the_sps_after_cropping() {
        let annex_b = |sps: &[u8]| [&[0, 0, 0, 1][..], sps, &FRAME[13..]].concat();
        assert_eq!(picture_size(&annex_b(SPS_1080P_HIGH)), Some((1920, 1080)));
        assert_eq!(picture_size(&annex_b(SPS_720P_BASELINE)), Some((1280, 720)));
        assert_eq!(picture_size(&annex_b(SPS_360P_MAIN)), Some((640, 360)));
        assert_eq!(picture_size(&annex_b(SPS_1080P_422)), Some((1920, 1080)));
        assert_eq!(picture_size(FRAME), None, "an SPS cut short");
        assert_eq!(picture_size(&FRAME[17..]), None, "no SPS");
        // Any cut or change of a real SPS gives a size or nothing, never a panic.
        for end in 0..SPS_1080P_HIGH.len() {
            let _ = reorders(&SPS_1080P_HIGH[..end]);
        }
        for i in 1..SPS_1080P_HIGH.len() {
            for byte in [0x00, 0xff, 0x03, 0x80] {
                let mut sps = SPS_1080P_HIGH.to_vec();
                sps[i] = byte;
                let _ = reorders(&sps);
            }
        }
        let zeros = [0x67, 0x64, 0, 0x28, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(read_sps(&zeros).and_then(|s| s.size), None);
    }

    /// The SPS of an H.264 stream ffmpeg's libx264 encodes with `options`.
    fn x264_sps(options: &[&str]) -> Vec<u8> {
        let out = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x180:rate=30",
            ])
            .args(["-frames:v", "1", "-c:v", "libx264"])
            .args(options)
            .args(["-f", "h264", "-"])
            .output()
            .expect("ffmpeg runs");
        let sps = nal_units(&out.stdout).find(|n| n[0] & 0x1F == 7);
        sps.expect("an SPS").to_vec()
    }

    #[test]
    fn the_sps_says_whether_pictures_come_out_of_order() {
        assert_eq!(reorders(&x264_sps(&["-bf", "3"])), Some(true));
        assert_eq!(reorders(&x264_sps(&["-bf", "0"])), Some(false));
        assert_eq!(reorders(&x264_sps(&["-tune", "zerolatency"])), Some(false));
        assert_eq!(
            reorders(&x264_sps(&["-profile:v", "baseline"])),
            Some(false)
        );
        assert_eq!(reorders(SPS_720P_BASELINE), Some(false));
        assert_eq!(reorders(&[0x67]), None);
    }
}
