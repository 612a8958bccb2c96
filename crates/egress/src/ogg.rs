//! Opus in Ogg (RFC 7845 over RFC 3533) for audio-only recordings. Packets are gathered
//! into pages of about 200 ms; each page is complete in itself, so a file cut off between
//! pages plays up to its last page. Ogg carries no per-packet times, so a gap in the RTP
//! timeline (a muted microphone, DTX) is filled with silent frames to keep its length.

use crate::webm::{OPUS_PRE_SKIP, opus_head};

/// Packets per page (20 ms each, as browsers send them).
const PACKETS_PER_PAGE: usize = 10;
/// A 20 ms silent Opus frame (CELT, fullband, mono).
pub const SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
const SILENCE_SAMPLES: u64 = 960;

/// Writes an Ogg Opus stream packet by packet.
#[derive(Debug)]
pub struct OggOpusWriter {
    serial: u32,
    sequence: u32,
    /// Samples (48 kHz) at the end of the packets written, pre-skip included.
    granule: u64,
    /// The 48 kHz time the next packet is expected at.
    next: Option<u64>,
    pending: Vec<Vec<u8>>,
}

impl OggOpusWriter {
    /// A writer and the stream's two header pages (identification and comments).
    pub fn new(serial: u32) -> (OggOpusWriter, Vec<u8>) {
        let mut w = OggOpusWriter {
            serial,
            sequence: 0,
            granule: u64::from(OPUS_PRE_SKIP),
            next: None,
            pending: Vec::new(),
        };
        let mut out = Vec::new();
        w.page(&mut out, &[&opus_head()], 0, 0x02);
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&4u32.to_le_bytes());
        tags.extend_from_slice(b"moim");
        tags.extend_from_slice(&0u32.to_le_bytes());
        w.page(&mut out, &[&tags], 0, 0);
        (w, out)
    }

    /// Adds one Opus packet whose first sample is at `at` (48 kHz units since the start).
    /// Whole frames missing before it become silence.
    pub fn packet(&mut self, out: &mut Vec<u8>, at: u64, data: &[u8]) {
        if let Some(expected) = self.next.filter(|e| at > *e) {
            for _ in 0..(at - expected) / SILENCE_SAMPLES {
                self.push(out, SILENCE.to_vec(), SILENCE_SAMPLES);
            }
        }
        let samples = opus_samples(data).unwrap_or(SILENCE_SAMPLES);
        self.push(out, data.to_vec(), samples);
        self.next = Some(at + samples);
    }

    /// Writes the packets gathered so far as a page.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let refs: Vec<&[u8]> = pending.iter().map(Vec::as_slice).collect();
        self.page(out, &refs, self.granule, 0);
    }

    /// Ends the stream: the last page, marked as such.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            self.pending.push(SILENCE.to_vec());
            self.granule += SILENCE_SAMPLES;
        }
        let pending = std::mem::take(&mut self.pending);
        let refs: Vec<&[u8]> = pending.iter().map(Vec::as_slice).collect();
        self.page(out, &refs, self.granule, 0x04);
    }

    fn push(&mut self, out: &mut Vec<u8>, packet: Vec<u8>, samples: u64) {
        self.pending.push(packet);
        self.granule += samples;
        if self.pending.len() >= PACKETS_PER_PAGE {
            self.flush(out);
        }
    }

    fn page(&mut self, out: &mut Vec<u8>, packets: &[&[u8]], granule: u64, flags: u8) {
        let start = out.len();
        out.extend_from_slice(b"OggS");
        out.push(0);
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let lacing: Vec<u8> = packets
            .iter()
            .flat_map(|p| lacing_values(p.len()))
            .collect();
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        for p in packets {
            out.extend_from_slice(p);
        }
        let crc = crc32(&out[start..]);
        out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
        self.sequence += 1;
    }
}

/// A packet's length as Ogg lacing values: 255s and a last value below 255.
fn lacing_values(len: usize) -> impl Iterator<Item = u8> {
    std::iter::repeat_n(255u8, len / 255).chain(std::iter::once((len % 255) as u8))
}

/// Samples (48 kHz) in an Opus packet, from its TOC byte (RFC 6716 §3.1).
pub fn opus_samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame length in units of 2.5 ms.
    let frame = match config {
        0..=11 => [4, 8, 16, 24][usize::from(config & 3)],
        12..=15 => [4, 8][usize::from(config & 1)],
        _ => [1, 2, 4, 8][usize::from(config & 3)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3F),
    };
    Some(frames * frame * 120)
}

/// The CRC of Ogg pages: polynomial 0x04C11DB7, not reflected, starting at 0.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut r = (i as u32) << 24;
            let mut bit = 0;
            while bit < 8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04C1_1DB7
                } else {
                    r << 1
                };
                bit += 1;
            }
            table[i] = r;
            i += 1;
        }
        table
    };
    data.iter().fold(0u32, |crc, b| {
        (crc << 8) ^ TABLE[usize::from(((crc >> 24) as u8) ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_two_pages_starting_the_stream() {
        let (_, out) = OggOpusWriter::new(7);
        assert_eq!(&out[..4], b"OggS");
        assert_eq!(out[5], 0x02, "beginning of stream");
        let second = out[4..].windows(4).position(|w| w == b"OggS").unwrap() + 4;
        assert_eq!(&out[second + 28..second + 36], b"OpusTags");
    }

    #[test]
    fn a_gap_is_filled_with_silence_and_the_granule_counts_it() {
        let (mut w, _) = OggOpusWriter::new(1);
        let mut out = Vec::new();
        let frame = [0xFC, 0x01, 0x02]; // CELT fullband 20 ms
        w.packet(&mut out, 0, &frame);
        // One second later: 49 silent frames fill the gap.
        w.packet(&mut out, 48_000, &frame);
        w.finish(&mut out);
        let last = out.windows(4).rposition(|p| p == b"OggS").unwrap();
        let granule = u64::from_le_bytes(out[last + 6..last + 14].try_into().unwrap());
        assert_eq!(granule, u64::from(OPUS_PRE_SKIP) + 48_000 + 960);
        assert_eq!(out[last + 5], 0x04, "end of stream");
    }

    #[test]
    fn opus_frame_lengths_come_from_the_toc() {
        assert_eq!(opus_samples(&[0xFC]), Some(960), "CELT 20 ms");
        assert_eq!(
            opus_samples(&[0x19]),
            Some(2 * 2880),
            "SILK 60 ms, two frames"
        );
        assert_eq!(opus_samples(&[]), None);
    }

    #[test]
    fn the_crc_matches_the_ogg_reference() {
        // CRC-32/OGG ("123456789") = 0x89A1897F.
        assert_eq!(crc32(b"123456789"), 0x89A1_897F);
    }
}
