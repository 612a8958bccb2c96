//! [`RouterStats`]: what a router forwarded and dropped, and what it holds now, summed
//! over the workers for `/metrics`.

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
    }
}
