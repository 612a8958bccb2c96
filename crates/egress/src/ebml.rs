//! EBML, the binary format under Matroska and WebM: every element is an id, a size and a
//! body. These helpers append elements to a byte buffer.

/// The size of a master element whose end is not known when it is written (a live
/// Segment or Cluster): it ends where an element of its parent's level begins.
pub const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Appends an element id (ids carry their own length marker, written as is).
pub fn id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends a size as a variable-length integer of the fewest bytes.
pub fn size(out: &mut Vec<u8>, size: u64) {
    // n bytes carry 7n bits; the value with all those bits set means "unknown".
    let mut n = 1;
    while n < 8 && size >= (1u64 << (7 * n)) - 1 {
        n += 1;
    }
    let marked = size | (1u64 << (7 * n));
    out.extend_from_slice(&marked.to_be_bytes()[8 - n..]);
}

/// An unsigned integer element.
pub fn uint(out: &mut Vec<u8>, element: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    id(out, element);
    size(out, (8 - skip) as u64);
    out.extend_from_slice(&bytes[skip..]);
}

/// A 64-bit float element.
pub fn float(out: &mut Vec<u8>, element: u32, value: f64) {
    id(out, element);
    size(out, 8);
    out.extend_from_slice(&value.to_be_bytes());
}

/// A string or binary element.
pub fn bytes(out: &mut Vec<u8>, element: u32, value: &[u8]) {
    id(out, element);
    size(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// A master element whose children `body` writes.
pub fn master(out: &mut Vec<u8>, element: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    id(out, element);
    size(out, inner.len() as u64);
    out.extend_from_slice(&inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_fewest_bytes_and_avoid_the_unknown_marker() {
        let enc = |n| {
            let mut v = Vec::new();
            size(&mut v, n);
            v
        };
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(126), [0xFE]);
        assert_eq!(enc(127), [0x40, 0x7F], "0xFF would read as unknown");
        assert_eq!(enc(300), [0x41, 0x2C]);
    }

    #[test]
    fn elements_are_id_size_body() {
        let mut v = Vec::new();
        uint(&mut v, 0xD7, 1);
        assert_eq!(v, [0xD7, 0x81, 0x01]);
        let mut v = Vec::new();
        master(&mut v, 0x1A45DFA3, |b| uint(b, 0x4286, 1));
        assert_eq!(v, [0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0x86, 0x81, 0x01]);
    }
}
