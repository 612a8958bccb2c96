//! The names a rendition's files go by, relative to its media playlist: `index.m3u8`,
//! `init.mp4`, `seg{msn}.m4s` and `part{msn}.{n}.m4s`. Each resource has exactly one name.

use std::fmt;

/// One file of a rendition, as named in its playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// The media playlist, `index.m3u8`.
    Playlist,
    /// The init segment, `init.mp4`.
    Init,
    /// Media segment `msn`, `seg{msn}.m4s`: the concatenation of its parts.
    Segment(u64),
    /// Part `part` (from 0) of media segment `msn`, `part{msn}.{part}.m4s`.
    Part {
        /// The media sequence number of its segment.
        msn: u64,
        /// Its index in the segment, from 0.
        part: u32,
    },
}

impl Resource {
    /// The resource a file name names, or `None` for any other name.
    pub fn parse(name: &str) -> Option<Resource> {
        match name {
            "index.m3u8" => return Some(Resource::Playlist),
            "init.mp4" => return Some(Resource::Init),
            _ => {}
        }
        let stem = name.strip_suffix(".m4s")?;
        if let Some(msn) = stem.strip_prefix("seg") {
            return Some(Resource::Segment(number(msn)?));
        }
        let (msn, part) = stem.strip_prefix("part")?.split_once('.')?;
        Some(Resource::Part {
            msn: number(msn)?,
            part: number(part)?,
        })
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Playlist => f.write_str("index.m3u8"),
            Resource::Init => f.write_str("init.mp4"),
            Resource::Segment(msn) => write!(f, "seg{msn}.m4s"),
            Resource::Part { msn, part } => write!(f, "part{msn}.{part}.m4s"),
        }
    }
}

/// A decimal number written the one way it is printed: digits only, no leading zero.
fn number<T: std::str::FromStr>(digits: &str) -> Option<T> {
    let canonical = digits == "0" || (!digits.starts_with('0') && !digits.is_empty());
    if !canonical || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_what_printed_them() {
        for r in [
            Resource::Playlist,
            Resource::Init,
            Resource::Segment(0),
            Resource::Segment(u64::MAX),
            Resource::Part { msn: 12, part: 0 },
            Resource::Part { msn: 3, part: 10 },
        ] {
            assert_eq!(Resource::parse(&r.to_string()), Some(r));
        }
    }

    #[test]
    fn other_names_are_no_resource() {
        for name in [
            "",
            "seg.m4s",
            "seg01.m4s",
            "seg+1.m4s",
            "seg-1.m4s",
            "seg1.mp4",
            "part1.m4s",
            "part1..m4s",
            "part1.2.3.m4s",
            "part1.4294967296.m4s",
            "seg18446744073709551616.m4s",
            "../init.mp4",
            "index.m3u8?x",
            "segé.m4s",
        ] {
            assert_eq!(Resource::parse(name), None, "{name}");
        }
    }
}
