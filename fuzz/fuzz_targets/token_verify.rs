//! An access token from a client (query string, `Authorization` header, `join`): any text
//! is verified or refused, never trusted by mistake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moim_proto::token::Keys;

fuzz_target!(|data: &[u8]| {
    let keys = Keys::single("devkey", "secret");
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = keys.verify(token, 1_700_000_000);
    }
});
