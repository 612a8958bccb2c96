//! Typed keys of the media plane. Their `Display` form is the wire sid (`PA_…`, `TR_…`).

use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// A key no other key of this type in this process has, nor (but by a chance
            /// of one in two billion) in another process: see [`first_key`].
            pub fn next() -> Self {
                static NEXT: LazyLock<AtomicU64> = LazyLock::new(|| AtomicU64::new(first_key()));
                $name(NEXT.fetch_add(1, Ordering::Relaxed))
            }

            /// Parses the wire form made by `Display`.
            pub fn parse(s: &str) -> Option<Self> {
                let hex = s.strip_prefix($prefix)?;
                u64::from_str_radix(hex, 16).ok().map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{:06x}", $prefix, self.0)
            }
        }
    };
}

/// Where a process's keys of a type start: at a random multiple of 2³², so that the sids
/// of the nodes of a cluster, and of one node before and after a restart, do not meet (a
/// client that moves to another node keeps the sids it knew of the old one).
fn first_key() -> u64 {
    let base = getrandom::u32().unwrap_or(0) & 0x7fff_ffff;
    (u64::from(base) << 32) | 1
}

id_type!(
    /// A room, as the media plane knows it.
    RoomId,
    "RM_"
);
id_type!(
    /// A participant; the control plane makes these.
    ParticipantId,
    "PA_"
);
id_type!(
    /// One WebRTC peer connection terminated by the SFU.
    SessionId,
    "SE_"
);
id_type!(
    /// A published track; the media plane makes these when media is negotiated.
    TrackId,
    "TR_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips() {
        let t = TrackId(0xabc);
        assert_eq!(t.to_string(), "TR_000abc");
        assert_eq!(TrackId::parse("TR_000abc"), Some(t));
        assert_eq!(TrackId::parse("PA_000abc"), None);
        assert_eq!(TrackId::parse("TR_zz"), None);
    }

    #[test]
    fn next_ids_differ_and_processes_start_apart() {
        assert_ne!(ParticipantId::next(), ParticipantId::next());
        let starts: std::collections::HashSet<u64> = (0..8).map(|_| first_key()).collect();
        assert!(starts.len() > 1, "random starts: {starts:?}");
        assert!(starts.iter().all(|s| s & 0xffff_ffff == 1));
    }
}
