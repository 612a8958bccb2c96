//! Reading the frames back out of a Matroska stream (what an `ffmpeg` child writes on its
//! output): each block's payload with its time, and on request its track and whether it is
//! a keyframe; the Tracks element is kept (each track's number, codec, codec private data
//! and picture size), everything else skipped. Clusters and the Segment may have unknown
//! sizes; their children are read as they come.

use std::io::{self, Read};

const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1F43_B675;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const REFERENCE_BLOCK: u32 = 0xFB;
const SIMPLE_BLOCK: u32 = 0xA3;
const TIMESTAMP: u32 = 0xE7;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const CODEC_ID: u32 = 0x86;
const CODEC_PRIVATE: u32 = 0x63A2;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;

/// The largest block read: an uncompressed 4K picture (I420) fits; a size claiming more is
/// refused rather than allocated.
pub const MAX_BLOCK_BYTES: u64 = 16 << 20;

/// The largest Tracks element read: codec private data is small (an `avcC`, an
/// AudioSpecificConfig); a larger one is skipped like any unknown element.
const MAX_TRACKS_BYTES: u64 = 1 << 20;

/// Where a block belongs and when it plays; its payload goes in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Its track's number (as in [`Track::number`]).
    pub track: u64,
    /// Its time in the stream's timestamp units: milliseconds, the default scale (the one
    /// ffmpeg writes).
    pub time_ms: i64,
    /// Whether a decoder can start at it: a SimpleBlock flagged so (0x80), or a Block in a
    /// BlockGroup without a ReferenceBlock.
    pub keyframe: bool,
}

/// One entry of the stream's Tracks element: what a decoder (or a packager) needs to know
/// before the first block of the track.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Track {
    /// The number blocks name it by.
    pub number: u64,
    /// The Matroska codec id (`V_MPEG4/ISO/AVC`, `A_AAC`, `A_OPUS`, …).
    pub codec_id: String,
    /// The codec's private data (H.264's `avcC`, AAC's AudioSpecificConfig), empty without.
    pub codec_private: Vec<u8>,
    /// The picture's width and height in pixels, for a video track.
    pub video: Option<(u32, u32)>,
}

/// Reads blocks from a Matroska stream.
pub struct BlockReader<R> {
    input: Counted<R>,
    /// The open cluster's time.
    cluster: i64,
    /// The tracks, once the Tracks element was read.
    tracks: Option<Vec<Track>>,
    /// The BlockGroup being read whole ([`BlockReader::next_frame`]).
    group: Option<Group>,
}

/// A BlockGroup being read: where it ends, its block once read, whether it refers to
/// another block.
#[derive(Clone, Copy)]
struct Group {
    end: u64,
    block: Option<Block>,
    referenced: bool,
}

impl<R: Read> BlockReader<R> {
    /// A reader of the Matroska stream `input`, from its start.
    pub fn new(input: R) -> BlockReader<R> {
        BlockReader {
            input: Counted {
                inner: input,
                at: 0,
            },
            cluster: 0,
            tracks: None,
            group: None,
        }
    }

    /// The next block: its time (in the stream's timestamp units, milliseconds by
    /// default), with its payload put in `payload`. `None` at the end of the stream.
    pub fn next_block(&mut self, payload: &mut Vec<u8>) -> io::Result<Option<i64>> {
        Ok(self.read(payload, false)?.map(|b| b.time_ms))
    }

    /// The next block with its track and keyframe flag, its payload put in `payload`;
    /// `None` at the end of the stream. A BlockGroup is read to its end first, since its
    /// ReferenceBlock (which makes it no keyframe) may follow the Block.
    pub fn next_frame(&mut self, payload: &mut Vec<u8>) -> io::Result<Option<Block>> {
        self.read(payload, true)
    }

    /// The stream's tracks, once the Tracks element was read (it comes before the first
    /// block); `None` before, or when the stream has none that could be read.
    pub fn tracks(&self) -> Option<&[Track]> {
        self.tracks.as_deref()
    }

    /// The next block; with `whole_groups`, a BlockGroup's block only once the group ends.
    fn read(&mut self, payload: &mut Vec<u8>, whole_groups: bool) -> io::Result<Option<Block>> {
        loop {
            if let Some(group) = self.group
                && self.input.at >= group.end
            {
                self.group = None;
                if let Some(mut block) = group.block {
                    block.keyframe = !group.referenced;
                    return Ok(Some(block));
                }
            }
            let Some(id) = self.id()? else {
                if self.group.is_some_and(|g| g.block.is_some()) {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                return Ok(None);
            };
            let size = self.size()?;
            match (id, size) {
                (BLOCK_GROUP, Some(n)) if whole_groups => {
                    if self.group.is_some() {
                        return Err(invalid("a BlockGroup inside a BlockGroup"));
                    }
                    self.group = Some(Group {
                        end: self.input.at.saturating_add(n),
                        block: None,
                        referenced: false,
                    });
                }
                (BLOCK_GROUP, None) if whole_groups => {
                    return Err(invalid("a BlockGroup of unknown size"));
                }
                // Masters whose children matter: go inside.
                (SEGMENT | CLUSTER | BLOCK_GROUP, _) => continue,
                (TIMESTAMP, Some(n)) if n <= 8 => {
                    let mut bytes = [0u8; 8];
                    self.input.read_exact(&mut bytes[8 - n as usize..])?;
                    self.cluster = u64::from_be_bytes(bytes) as i64;
                }
                (TRACKS, Some(n)) if n <= MAX_TRACKS_BYTES => {
                    let mut body = Vec::new();
                    let read = (&mut self.input).take(n).read_to_end(&mut body)?;
                    // Cut short, the stream ends at the next read.
                    if read as u64 == n {
                        self.tracks = Some(parse_tracks(&body));
                    }
                }
                (SIMPLE_BLOCK | BLOCK, Some(n)) => {
                    let (track_len, track) = self.vint()?;
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
                    let block = Block {
                        track,
                        time_ms: self.cluster + relative,
                        // A Block is a keyframe unless its group refers to another block.
                        keyframe: id == BLOCK || head[2] & 0x80 != 0,
                    };
                    match &mut self.group {
                        Some(group) if id == BLOCK => {
                            if group.block.is_some() {
                                return Err(invalid("two Blocks in one BlockGroup"));
                            }
                            group.block = Some(block);
                        }
                        _ => return Ok(Some(block)),
                    }
                }
                (_, Some(n)) => {
                    io::copy(&mut (&mut self.input).take(n), &mut io::sink())?;
                    if id == REFERENCE_BLOCK
                        && let Some(group) = &mut self.group
                    {
                        group.referenced = true;
                    }
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

/// A reader that counts the bytes it gave, so a BlockGroup's end is known.
struct Counted<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at = self.at.saturating_add(n as u64);
        Ok(n)
    }
}

/// The track entries of a Tracks element's body; an entry that cannot be read is left out,
/// and what follows a malformed element is not read.
fn parse_tracks(body: &[u8]) -> Vec<Track> {
    children(body)
        .filter(|(id, _)| *id == TRACK_ENTRY)
        .filter_map(|(_, entry)| {
            let mut track = Track::default();
            for (id, value) in children(entry) {
                match id {
                    TRACK_NUMBER => track.number = uint(value)?,
                    CODEC_ID => track.codec_id = String::from_utf8_lossy(value).into_owned(),
                    CODEC_PRIVATE => track.codec_private = value.to_vec(),
                    VIDEO => {
                        let (mut width, mut height) = (0, 0);
                        for (id, value) in children(value) {
                            let pixels = || uint(value).and_then(|v| u32::try_from(v).ok());
                            match id {
                                PIXEL_WIDTH => width = pixels()?,
                                PIXEL_HEIGHT => height = pixels()?,
                                _ => {}
                            }
                        }
                        track.video = Some((width, height));
                    }
                    _ => {}
                }
            }
            (track.number != 0).then_some(track)
        })
        .collect()
}

/// The elements of a master element's body, as (id, body), up to the first one that does
/// not fit.
fn children(mut data: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    std::iter::from_fn(move || {
        let (id_len, _) = slice_vint(data)?;
        if id_len > 4 {
            return None;
        }
        let id = data[..id_len]
            .iter()
            .fold(0u32, |id, b| id << 8 | u32::from(*b));
        let (size_len, size) = slice_vint(&data[id_len..])?;
        let start = id_len + size_len;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let body = data.get(start..end)?;
        data = &data[end..];
        Some((id, body))
    })
}

/// A variable-length integer at the start of `data`: its length and its value.
fn slice_vint(data: &[u8]) -> Option<(usize, u64)> {
    let first = *data.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let rest = data.get(1..len)?;
    let value = rest
        .iter()
        .fold(u64::from(first) & ((1u64 << (8 - len)) - 1), |v, b| {
            v << 8 | u64::from(*b)
        });
    Some((len, value))
}

/// An unsigned integer element's value (at most 8 bytes).
fn uint(value: &[u8]) -> Option<u64> {
    (value.len() <= 8).then(|| value.iter().fold(0u64, |v, b| v << 8 | u64::from(*b)))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests;
