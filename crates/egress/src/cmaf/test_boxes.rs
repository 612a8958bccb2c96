//! A small reader of ISO BMFF boxes for the tests: what the writers wrote, read back.

/// An `avcC` of High profile level 3.1 with a 4-byte NAL length.
pub const AVCC: &[u8] = &[
    1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 4, 0x67, 0x64, 0x00, 0x1F, 1, 0, 2, 0x68, 0xEE,
];

/// An AudioSpecificConfig: AAC-LC, 48 kHz, stereo.
pub const ASC: &[u8] = &[0x11, 0x90];

/// The boxes in `data`, each as its type and body; panics on a size that does not fit.
pub fn boxes(mut data: &[u8]) -> Vec<(String, &[u8])> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        assert!(
            size >= 8 && size <= data.len(),
            "box size {size} of {}",
            data.len()
        );
        let kind = String::from_utf8_lossy(&data[4..8]).into_owned();
        out.push((kind, &data[8..size]));
        data = &data[size..];
    }
    out
}

/// The body of the first box along `path` (types separated by `/`), skipping `skip`
/// bytes of each body before its children (sample entries have fields before theirs).
pub fn find<'a>(data: &'a [u8], path: &str) -> Option<&'a [u8]> {
    let mut body = data;
    for kind in path.split('/') {
        let skip = match kind {
            "stsd" => 8,
            "avc1" => 78,
            "mp4a" => 28,
            _ => 0,
        };
        body = boxes(body).into_iter().find(|(k, _)| k == kind)?.1;
        body = &body[skip.min(body.len())..];
    }
    Some(body)
}

/// All boxes of type `kind` among `data`'s children.
pub fn all<'a>(data: &'a [u8], kind: &str) -> Vec<&'a [u8]> {
    boxes(data)
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, b)| b)
        .collect()
}

/// A big-endian `u32` at `at`.
pub fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

/// A big-endian `u64` at `at`.
pub fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(data[at..at + 8].try_into().unwrap())
}

/// A big-endian `u16` at `at`.
pub fn u16_at(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(data[at..at + 2].try_into().unwrap())
}
