//! H.264 frames as WebRTC delivers them (Annex B: NAL units after start codes) turned into
//! what Matroska and MP4 store: NAL units with 4-byte lengths, and the decoder
//! configuration (`avcC`, RFC 6184's SPS and PPS) from a keyframe.

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
}
