//! Reads the Opus packets out of an Ogg Opus file (RFC 7845), skipping the two header
//! packets.

use anyhow::{Context, bail};

/// The audio packets of an Ogg Opus file, in order.
pub fn opus_packets(bytes: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let page = bytes.get(at..).context("truncated Ogg page")?;
        if page.len() < 27 || &page[0..4] != b"OggS" {
            bail!("not an Ogg page at byte {at}");
        }
        let segments = page[26] as usize;
        let table = page
            .get(27..27 + segments)
            .context("truncated segment table")?;
        let mut data_at = 27 + segments;
        for &len in table {
            let len = len as usize;
            let data = page
                .get(data_at..data_at + len)
                .context("truncated Ogg segment")?;
            current.extend_from_slice(data);
            data_at += len;
            if len < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
        at += data_at;
    }
    if packets.len() < 2 || !packets[0].starts_with(b"OpusHead") {
        bail!("not an Ogg Opus stream");
    }
    Ok(packets.split_off(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(packets: &[&[u8]]) -> Vec<u8> {
        let mut table = Vec::new();
        let mut data = Vec::new();
        for p in packets {
            let mut left = p.len();
            while left >= 255 {
                table.push(255u8);
                left -= 255;
            }
            table.push(left as u8);
            data.extend_from_slice(p);
        }
        let mut page = b"OggS".to_vec();
        page.resize(26, 0);
        page.push(table.len() as u8);
        page.extend_from_slice(&table);
        page.extend_from_slice(&data);
        page
    }

    #[test]
    fn packets_follow_the_headers_and_span_segments() {
        let long = vec![7u8; 300];
        let mut file = page(&[b"OpusHead....", b"OpusTags...."]);
        file.extend(page(&[&[1, 2, 3], &long]));
        let packets = opus_packets(&file).unwrap();
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[0], vec![1, 2, 3]);
        assert_eq!(packets[1].len(), 300);
    }

    #[test]
    fn refuses_non_opus() {
        assert!(opus_packets(&page(&[b"vorbis", b"x"])).is_err());
    }
}
