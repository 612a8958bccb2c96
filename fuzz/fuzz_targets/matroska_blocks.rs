//! The Matroska stream a decoder child writes back (pictures for the composite): any bytes
//! give blocks, an end or an error, never a panic or an allocation of what a size claims.
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
});
