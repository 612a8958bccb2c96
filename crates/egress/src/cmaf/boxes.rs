//! ISO BMFF boxes: a 32-bit size, a four-character type, a body. These helpers append boxes
//! to a byte buffer and patch the size in once the body is written, so nesting costs no
//! buffer of its own.

/// Appends a box of type `kind` whose body `body` writes.
pub fn plain(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    patch_size(out, start);
}

/// Appends a full box (a plain box whose body starts with a version and 24 bits of flags).
pub fn full(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    plain(out, kind, |b| {
        b.push(version);
        b.extend_from_slice(&flags.to_be_bytes()[1..]);
        body(b);
    });
}

/// Writes the size of the box that starts at `start` and ends at the buffer's end.
fn patch_size(out: &mut [u8], start: usize) {
    // Boxes here hold headers and at most one part's samples, far below 4 GiB: the callers
    // bound what goes in (`crate::hls` refuses frames and parts beyond its limits).
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Appends a big-endian `u16`.
pub fn u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian `u32`.
pub fn u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian `u64`.
pub fn u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `n` zero bytes.
pub fn zeros(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, 0);
}

/// The unity transformation matrix of `mvhd` and `tkhd` (16.16 and 2.30 fixed point).
pub fn unity_matrix(out: &mut Vec<u8>) {
    for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_carry_their_sizes() {
        let mut out = Vec::new();
        plain(&mut out, b"moov", |b| {
            full(b, b"mvhd", 1, 0x0002_0001, |b| u16(b, 7))
        });
        assert_eq!(
            out,
            [
                0, 0, 0, 22, b'm', b'o', b'o', b'v', // outer
                0, 0, 0, 14, b'm', b'v', b'h', b'd', 1, 2, 0, 1, 0, 7
            ]
        );
    }
}
