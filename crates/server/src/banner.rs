//! What `moim serve` tells the person who started it in development mode: links to click.

use std::net::SocketAddr;

/// Words for meeting names that are easy to read aloud.
const ADJECTIVES: [&str; 16] = [
    "amber", "bold", "brisk", "calm", "gentle", "golden", "happy", "jolly", "lively", "lucky",
    "merry", "quiet", "silver", "sunny", "swift", "vivid",
];
const NOUNS: [&str; 16] = [
    "badger", "cedar", "comet", "falcon", "garden", "harbor", "heron", "lantern", "maple",
    "meadow", "otter", "pebble", "river", "summit", "valley", "willow",
];

/// The banner printed at start in development mode: a meeting to start as its host, the
/// link to invite others to it, and the start page, at the address the server listens on
/// (`localhost` for loopback and all interfaces), `https://` when it serves TLS.
pub fn development(addr: SocketAddr, tls: bool) -> String {
    let room = meeting_name(rand::random());
    let port = addr.port();
    let scheme = if tls { "https" } else { "http" };
    let base = match addr.ip() {
        ip if ip.is_loopback() || ip.is_unspecified() => format!("{scheme}://localhost:{port}"),
        ip => format!("{scheme}://{}", SocketAddr::new(ip, port)),
    };
    format!(
        "\n  Moim is running in development mode (API key \"devkey\", secret \"secret\").\n\n  \
         Start a meeting:  {base}/r/{room}?host=1\n  \
         Invite others:    {base}/r/{room}\n  \
         Start page:       {base}/\n"
    )
}

/// A meeting name such as `swift-otter-42` from 32 random bits.
pub fn meeting_name(bits: u32) -> String {
    let adjective = ADJECTIVES[(bits & 0xf) as usize];
    let noun = NOUNS[((bits >> 4) & 0xf) as usize];
    format!("{adjective}-{noun}-{}", (bits >> 8) % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moim_proto::names::check_room;

    #[test]
    fn meeting_names_are_valid_room_names() {
        for bits in [0, 1, 0xff, 0x1234_5678, u32::MAX] {
            let name = meeting_name(bits);
            assert!(check_room(&name).is_ok(), "{name}");
        }
        assert_eq!(meeting_name(0x0000_2a10), "amber-cedar-42");
    }

    #[test]
    fn the_banner_links_a_meeting_and_its_invitation() {
        let text = development("127.0.0.1:7880".parse().unwrap(), false);
        assert!(text.contains("http://localhost:7880/r/"), "{text}");
        assert!(text.contains("?host=1"), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour codes");
        let exposed = development("10.99.1.1:7880".parse().unwrap(), false);
        assert!(exposed.contains("http://10.99.1.1:7880/r/"), "{exposed}");
        let secure = development("127.0.0.1:7880".parse().unwrap(), true);
        assert!(secure.contains("https://localhost:7880/r/"), "{secure}");
    }
}
