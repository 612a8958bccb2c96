//! The SDP offer of a WHIP/WHEP request or a signaling `offer`: checked before anything is
//! done with it, any text gives an answer or an error.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;

static CRYPTO: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    CRYPTO.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
    if let Ok(offer) = std::str::from_utf8(data) {
        let _ = moim_media::sdp::check_offer(offer);
    }
});
