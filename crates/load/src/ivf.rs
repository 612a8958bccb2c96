//! Reads IVF files (the simple VP8 container libvpx and ffmpeg write): a 32-byte header,
//! then frames of `size: u32, pts: u64, data`.

use anyhow::{Context, bail};

/// The frames of an IVF file, in order.
pub fn frames(bytes: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    if bytes.len() < 32 || &bytes[0..4] != b"DKIF" {
        bail!("not an IVF file");
    }
    let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let mut at = header_len;
    let mut frames = Vec::new();
    while at + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let data = bytes
            .get(at + 12..at + 12 + size)
            .context("IVF frame runs past the end of the file")?;
        frames.push(data.to_vec());
        at += 12 + size;
    }
    Ok(frames)
}

/// Whether a VP8 frame is a keyframe (RFC 6386 §9.1: bit 0 of the frame tag is 0).
pub fn is_vp8_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 1 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_frames_after_the_header() {
        let mut file = b"DKIF\0\0\x20\0VP80".to_vec();
        file.resize(32, 0);
        for frame in [&[0x10u8, 1, 2][..], &[0x11, 9]] {
            file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            file.extend_from_slice(&0u64.to_le_bytes());
            file.extend_from_slice(frame);
        }
        let frames = frames(&file).unwrap();
        assert_eq!(frames, vec![vec![0x10, 1, 2], vec![0x11, 9]]);
        assert!(is_vp8_keyframe(&frames[0]) && !is_vp8_keyframe(&frames[1]));
    }

    #[test]
    fn refuses_other_files() {
        assert!(frames(b"RIFF....").is_err());
    }
}
