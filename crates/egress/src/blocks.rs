//! Reading the frames back out of a Matroska stream (what an `ffmpeg` child writes on its
//! output): each block's payload with its time, everything else skipped. Clusters and the
//! Segment may have unknown sizes; their children are read as they come.

use std::io::{self, Read};

const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1F43_B675;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const SIMPLE_BLOCK: u32 = 0xA3;
const TIMESTAMP: u32 = 0xE7;

/// The largest block read: an uncompressed 4K picture (I420) fits; a size claiming more is
/// refused rather than allocated.
pub const MAX_BLOCK_BYTES: u64 = 16 << 20;

/// Reads blocks from a Matroska stream.
pub struct BlockReader<R> {
    input: R,
    /// The open cluster's time.
    cluster: i64,
}

impl<R: Read> BlockReader<R> {
    /// A reader of the Matroska stream `input`, from its start.
    pub fn new(input: R) -> BlockReader<R> {
        BlockReader { input, cluster: 0 }
    }

    /// The next block: its time (in the stream's timestamp units, milliseconds by
    /// default), with its payload put in `payload`. `None` at the end of the stream.
    pub fn next_block(&mut self, payload: &mut Vec<u8>) -> io::Result<Option<i64>> {
        loop {
            let Some(id) = self.id()? else {
                return Ok(None);
            };
            let size = self.size()?;
            match (id, size) {
                // Masters whose children matter: go inside.
                (SEGMENT | CLUSTER | BLOCK_GROUP, _) => continue,
                (TIMESTAMP, Some(n)) if n <= 8 => {
                    let mut bytes = [0u8; 8];
                    self.input.read_exact(&mut bytes[8 - n as usize..])?;
                    self.cluster = u64::from_be_bytes(bytes) as i64;
                }
                (SIMPLE_BLOCK | BLOCK, Some(n)) => {
                    let (track_len, _) = self.vint()?;
                    let mut head = [0u8; 3];
                    self.input.read_exact(&mut head)?;
                    let relative = i64::from(i16::from_be_bytes([head[0], head[1]]));
                    let body = n
                        .checked_sub(track_len as u64 + 3)
                        .ok_or_else(|| invalid("a block shorter than its header"))?;
                    if body > MAX_BLOCK_BYTES {
                        return Err(invalid("a block larger than any picture"));
                    }
                    // Read what arrives rather than allocate what the size claims.
                    payload.clear();
                    let read = (&mut self.input).take(body).read_to_end(payload)?;
                    if read as u64 != body {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    return Ok(Some(self.cluster + relative));
                }
                (_, Some(n)) => {
                    io::copy(&mut (&mut self.input).take(n), &mut io::sink())?;
                }
                (_, None) => {
                    return Err(invalid("an element of unknown size that is not a Cluster"));
                }
            }
        }
    }

    /// An element id (its length marker kept), or `None` at a clean end.
    fn id(&mut self) -> io::Result<Option<u32>> {
        let mut first = [0u8; 1];
        if self.input.read(&mut first)? == 0 {
            return Ok(None);
        }
        let len = first[0].leading_zeros() as usize + 1;
        if len > 4 {
            return Err(invalid("an element id longer than 4 bytes"));
        }
        let mut id = u32::from(first[0]);
        for _ in 1..len {
            let mut b = [0u8; 1];
            self.input.read_exact(&mut b)?;
            id = id << 8 | u32::from(b[0]);
        }
        Ok(Some(id))
    }

    /// An element size; `None` when unknown (all value bits set).
    fn size(&mut self) -> io::Result<Option<u64>> {
        let (len, value) = self.vint()?;
        Ok((value != (1u64 << (7 * len)) - 1).then_some(value))
    }

    /// A variable-length integer: its length in bytes and its value without the marker.
    fn vint(&mut self) -> io::Result<(usize, u64)> {
        let mut first = [0u8; 1];
        self.input.read_exact(&mut first)?;
        let len = first[0].leading_zeros() as usize + 1;
        if len > 8 {
            return Err(invalid("a variable-length integer longer than 8 bytes"));
        }
        let mut value = u64::from(first[0]) & ((1u64 << (8 - len)) - 1);
        for _ in 1..len {
            let mut b = [0u8; 1];
            self.input.read_exact(&mut b)?;
            value = value << 8 | u64::from(b[0]);
        }
        Ok((len, value))
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webm::{Codec, TrackSpec, WebmWriter};

    #[test]
    fn a_block_claiming_more_than_any_picture_is_refused_not_allocated() {
        // Found by fuzz/run.sh (matroska_blocks): a SimpleBlock whose size says 25 PB.
        let input: &[u8] = &[
            0xa3, 0x01, 0x59, 0x80, 0x75, 0x80, 0x53, 0x18, 0x60, 0x59, 0x66, 0x76, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x66, 0x00,
        ];
        let mut payload = Vec::new();
        let error = BlockReader::new(input)
            .next_block(&mut payload)
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // A size within bounds but more than arrives ends the stream without a block.
        let mut short = vec![0xa3, 0x88, 0x81, 0x00, 0x00, 0x80];
        short.extend_from_slice(&[1, 2]);
        let error = BlockReader::new(&short[..])
            .next_block(&mut payload)
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let spec = TrackSpec {
            codec: Codec::Vp8,
            width: 64,
            height: 36,
            private: Vec::new(),
        };
        let (mut w, mut bytes) = WebmWriter::new(&[spec]);
        w.block(&mut bytes, 1, 0, true, &[1, 2, 3]);
        w.block(&mut bytes, 1, 40, false, &[4; 300]);
        // A new cluster, then a block before its start.
        w.block(&mut bytes, 1, 6_000, false, &[5]);
        w.block(&mut bytes, 1, 5_990, false, &[6]);
        let mut reader = BlockReader::new(&bytes[..]);
        let mut payload = Vec::new();
        let mut got = Vec::new();
        while let Some(ms) = reader.next_block(&mut payload).unwrap() {
            got.push((ms, payload.len(), payload[0]));
        }
        assert_eq!(got, [(0, 3, 1), (40, 300, 4), (6_000, 1, 5), (5_990, 1, 6)]);
    }

    #[test]
    fn a_cut_stream_is_an_error_not_a_block() {
        let spec = TrackSpec {
            codec: Codec::Opus,
            width: 0,
            height: 0,
            private: Vec::new(),
        };
        let (mut w, mut bytes) = WebmWriter::new(&[spec]);
        w.block(&mut bytes, 1, 0, true, &[7; 50]);
        bytes.truncate(bytes.len() - 10);
        let mut reader = BlockReader::new(&bytes[..]);
        assert!(reader.next_block(&mut Vec::new()).is_err());
    }
}
