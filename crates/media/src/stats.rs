//! [`RouterStats`]: what a router forwarded and dropped, and what it holds now, summed
//! over the workers for `/metrics`; [`Delays`], histograms of how long media waited.

use std::time::Duration;

/// Upper bounds of the [`Delays`] buckets, in microseconds; a last bucket holds the rest.
pub const DELAY_BOUNDS_US: [u64; 9] = [
    250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
];

/// A histogram of durations in the buckets of [`DELAY_BOUNDS_US`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    /// Counts in each bucket of [`DELAY_BOUNDS_US`], and over the last bound.
    pub buckets: [u64; DELAY_BOUNDS_US.len() + 1],
    /// The sum of the durations, in microseconds.
    pub sum_us: u64,
}

impl Delays {
    /// Counts one duration.
    pub fn record(&mut self, spent: Duration) {
        let us = u64::try_from(spent.as_micros()).unwrap_or(u64::MAX);
        let bucket = DELAY_BOUNDS_US.partition_point(|bound| *bound < us);
        self.buckets[bucket] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

impl std::ops::AddAssign for Delays {
    fn add_assign(&mut self, other: Delays) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }
}

/// Counters of what the router forwarded and dropped, and what it holds now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RouterStats {
    /// Open sessions (peer connections).
    pub sessions: u64,
    /// Tracks published on this worker (mirrors of other workers' tracks not counted).
    pub tracks: u64,
    /// Tracks of other workers this worker mirrors (it fans them out to its sessions).
    pub mirrored_tracks: u64,
    /// Datagrams handed to the router.
    pub datagrams_received: u64,
    /// Datagrams from addresses no session claims.
    pub unroutable_datagrams: u64,
    /// Datagrams a session refused (malformed, wrong state).
    pub rejected_datagrams: u64,
    /// Frames forwarded to subscribers.
    pub frames_forwarded: u64,
    /// Datagrams handed to the worker that owns their session.
    pub datagrams_handed_over: u64,
    /// Frames handed to recordings.
    pub frames_recorded: u64,
    /// Frames a recording's full queue did not take.
    pub recording_drops: u64,
    /// Reliable data-channel messages sent on signaling instead (the channel was full).
    pub data_to_signaling: u64,
    /// Lossy data-channel messages dropped (the channel was full).
    pub data_dropped: u64,
    /// Clients' data-channel messages dropped because the control plane was behind.
    pub events_dropped: u64,
    /// How long frames spent in the server before they were written to a subscriber: from
    /// the arrival of their first packet (on whichever worker or node received it) to the
    /// write, so the wait for the frame's last packet, the hand-over between workers or
    /// nodes and the forwarding itself; the pacer's wait after the write is not in it.
    pub hops: Delays,
    /// Video frames not forwarded because the worker was behind (`overload.rs`).
    pub frames_shed: u64,
    /// How much load the worker sheds now, 0 (none) to `overload::MAX_LEVEL`; the highest
    /// of the workers when summed.
    pub overload_level: u64,
}

impl std::ops::AddAssign for RouterStats {
    fn add_assign(&mut self, other: RouterStats) {
        self.sessions += other.sessions;
        self.tracks += other.tracks;
        self.mirrored_tracks += other.mirrored_tracks;
        self.datagrams_received += other.datagrams_received;
        self.unroutable_datagrams += other.unroutable_datagrams;
        self.rejected_datagrams += other.rejected_datagrams;
        self.frames_forwarded += other.frames_forwarded;
        self.datagrams_handed_over += other.datagrams_handed_over;
        self.frames_recorded += other.frames_recorded;
        self.recording_drops += other.recording_drops;
        self.data_to_signaling += other.data_to_signaling;
        self.data_dropped += other.data_dropped;
        self.events_dropped += other.events_dropped;
        self.hops += other.hops;
        self.frames_shed += other.frames_shed;
        self.overload_level = self.overload_level.max(other.overload_level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_goes_to_the_first_bucket_whose_bound_holds_it() {
        let mut hops = Delays::default();
        for us in [0, 250, 251, 999, 1_000, 100_000, 100_001, 5_000_000] {
            hops.record(Duration::from_micros(us));
        }
        assert_eq!(hops.buckets, [2, 1, 2, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(hops.count(), 8);
        assert_eq!(hops.sum_us, 5_202_501);
    }
}
