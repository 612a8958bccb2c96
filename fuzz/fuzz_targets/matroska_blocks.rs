//! The Matroska stream an ffmpeg child writes back (the composite's pictures, the HLS
//! ladder's rungs): any bytes give blocks, an end or an error, never a panic or an
//! allocation of what a size claims, read either way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moim_egress::blocks::BlockReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = BlockReader::new(data);
    let mut payload = Vec::new();
    for _ in 0..10_000 {
        match reader.next_block(&mut payload) {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let mut reader = BlockReader::new(data);
    for _ in 0..10_000 {
        match reader.next_frame(&mut payload) {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let _ = reader.tracks();
});
