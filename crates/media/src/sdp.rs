//! Checking an offer before anything is done with it (a WHIP or WHEP request replaces the
//! session of the same identity, so its offer must be known to be good first), and reading
//! the ICE credentials out of the SDP a session sends.

use std::time::Instant;

use str0m::Rtc;
use str0m::change::SdpOffer;

use crate::error::MediaError;

/// Parses `offer` and negotiates it with a throwaway peer connection; `Ok` means a
/// session would accept it.
pub fn check_offer(offer: &str) -> Result<(), MediaError> {
    let offer =
        SdpOffer::from_sdp_string(offer).map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
    let mut rtc = Rtc::builder().set_ice_lite(true).build(Instant::now());
    rtc.sdp_api()
        .accept_offer(offer)
        .map(|_| ())
        .map_err(|e| MediaError::Negotiation(e.to_string()))
}

/// The `a=ice-ufrag` and `a=ice-pwd` of an SDP (the first of each: a session's m-lines
/// are bundled and share them).
pub fn ice_credentials(sdp: &str) -> Option<(&str, &str)> {
    let value = |name: &str| {
        sdp.lines()
            .find_map(|l| l.trim_end().strip_prefix(name))
            .map(str::trim)
    };
    Some((value("a=ice-ufrag:")?, value("a=ice-pwd:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_sdp_is_refused() {
        str0m::crypto::from_feature_flags().install_process_default();
        for bad in ["this is not sdp", "", "v=0\r\n", "\u{0}\u{1}\u{2}"] {
            assert!(check_offer(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credentials_are_read_from_the_first_media_section() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:01ab\r\na=ice-pwd:secret0123456789abcdef\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:01ab\r\n";
        assert_eq!(
            ice_credentials(sdp),
            Some(("01ab", "secret0123456789abcdef"))
        );
        assert_eq!(ice_credentials("v=0\r\n"), None);
    }
}
