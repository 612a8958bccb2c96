//! A signaling frame from a client: any text is decoded into a request or a stable error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moim_proto::signal::ClientRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClientRequest::decode(text);
    }
});
