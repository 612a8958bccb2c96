//! Who may watch a broadcast over HLS. A public broadcast is at `/hls/{room}/index.m3u8`
//! for anyone; a private one only under a key in the path,
//! `/hls/{room}/{key}/index.m3u8`, where the key is `{expires}-{mac}`: the Unix time it
//! stops working and an HMAC-SHA256 (with the API secret) of the room, the broadcast and
//! that time. One URL per rung then serves every viewer, and a CDN caches it as any other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a private broadcast's playback URL works: a day, so that a long stream can be
/// watched to its end; hosts get a fresh one whenever they list the broadcasts.
pub const KEY_LIFETIME_SECONDS: u64 = 24 * 3600;

/// Bytes of the MAC kept in a key (as hex, twice as many characters): 128 bits.
const MAC_BYTES: usize = 16;

/// The key that opens broadcast `broadcast` of `room` until `expires` (Unix seconds).
pub fn key(secret: &str, room: &str, broadcast: &str, expires: u64) -> String {
    let mac = mac(secret, room, broadcast, expires)
        .finalize()
        .into_bytes();
    let mut key = format!("{expires}-");
    for b in &mac[..MAC_BYTES] {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// Whether `key` opens broadcast `broadcast` of `room` at `now` (Unix seconds).
pub fn opens(secret: &str, room: &str, broadcast: &str, key: &str, now: u64) -> bool {
    let Some((expires, tag)) = key.split_once('-') else {
        return false;
    };
    let Ok(expires) = expires.parse::<u64>() else {
        return false;
    };
    if expires < now || tag.len() != 2 * MAC_BYTES {
        return false;
    }
    let Some(tag) = hex(tag) else {
        return false;
    };
    mac(secret, room, broadcast, expires)
        .verify_truncated_left(&tag)
        .is_ok()
}

fn mac(secret: &str, room: &str, broadcast: &str, expires: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    // Each field ends in a byte no room name or id holds, so no two triples sign alike.
    for field in [room.as_bytes(), b"\n", broadcast.as_bytes(), b"\n"] {
        mac.update(field);
    }
    mac.update(expires.to_string().as_bytes());
    mac
}

/// Lowercase hex digits to bytes.
fn hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(*pair.get(1)?)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_opens_its_broadcast_until_it_expires() {
        let k = key("secret", "demo", "BC_1", 1_000);
        assert!(opens("secret", "demo", "BC_1", &k, 999));
        assert!(opens("secret", "demo", "BC_1", &k, 1_000));
        assert!(!opens("secret", "demo", "BC_1", &k, 1_001), "expired");
    }

    #[test]
    fn a_key_opens_nothing_else() {
        let k = key("secret", "demo", "BC_1", 1_000);
        assert!(
            !opens("other", "demo", "BC_1", &k, 0),
            "another server's secret"
        );
        assert!(!opens("secret", "demo2", "BC_1", &k, 0), "another room");
        assert!(!opens("secret", "demo", "BC_2", &k, 0), "another broadcast");
        let later = k.replacen("1000-", "2000-", 1);
        assert!(
            !opens("secret", "demo", "BC_1", &later, 0),
            "a moved expiry"
        );
        for bad in [
            "",
            "-",
            "1000",
            "1000-",
            "x-00",
            "1000-zz",
            &k[..k.len() - 1],
        ] {
            assert!(!opens("secret", "demo", "BC_1", bad, 0), "{bad:?}");
        }
    }
}
