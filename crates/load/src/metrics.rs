//! What the simulated clients measure: packets and bytes received, loss (from RTP sequence
//! numbers), jitter (RFC 3550), one-way delay from the publisher's send to the datagram's
//! arrival at the subscriber's socket (each sent frame carries its send time in its last
//! eight bytes), and the tester's own lag from that arrival to handling the datagram.
//!
//! Each client thread keeps a [`Metrics`] of its own (a shard, locked only by that thread
//! and by the once-a-second read); [`AllMetrics`] adds the shards up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Delays are kept in 1 ms buckets up to this.
const MAX_DELAY_MS: usize = 2000;
/// Bits of a send stamp that hold microseconds since the run's start (about 8.9 years); the
/// bits above hold the process's tag.
const STAMP_MICROS_BITS: u32 = 48;

/// One thread's metrics, cheap to clone.
pub type Shared = Arc<Mutex<Metrics>>;

/// The send time a frame carries in its last eight bytes: this process's tag in the top
/// bits, so that frames another load tester publishes into the same room are not timed
/// against this one's clock, and microseconds since the run's start below it.
#[derive(Debug, Clone, Copy)]
pub struct SendClock {
    epoch: Instant,
    tag: u64,
}

impl SendClock {
    /// A clock starting now, tagged with this process's id.
    pub fn new() -> SendClock {
        SendClock {
            epoch: Instant::now(),
            tag: u64::from(std::process::id() & 0xffff) << STAMP_MICROS_BITS,
        }
    }

    /// The stamp of a frame sent at `now`.
    pub fn stamp(&self, now: Instant) -> u64 {
        let micros = now.saturating_duration_since(self.epoch).as_micros() as u64;
        self.tag | (micros & ((1 << STAMP_MICROS_BITS) - 1))
    }

    /// When the frame with `stamp` was sent, if this process sent it.
    pub fn sent_at(&self, stamp: u64) -> Option<Instant> {
        (stamp >> STAMP_MICROS_BITS << STAMP_MICROS_BITS == self.tag)
            .then(|| self.epoch + Duration::from_micros(stamp & ((1 << STAMP_MICROS_BITS) - 1)))
    }
}

/// A histogram of delays in milliseconds.
#[derive(Debug, Clone)]
pub struct Delays {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Delays {
    fn default() -> Self {
        Delays {
            buckets: vec![0; MAX_DELAY_MS + 1],
            count: 0,
        }
    }
}

impl Delays {
    fn record(&mut self, delay: Duration) {
        let ms = (delay.as_millis() as usize).min(MAX_DELAY_MS);
        self.buckets[ms] += 1;
        self.count += 1;
    }

    /// The delay under which `q` (0..1) of the samples fall, in ms.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Some(ms as f64);
            }
        }
        Some(MAX_DELAY_MS as f64)
    }

    fn add(&mut self, other: &Delays) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
    }
}

/// Counters over some span of time.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub packets: u64,
    pub bytes: u64,
    /// Packets the sequence numbers say should have arrived.
    pub expected: u64,
    pub delays: Delays,
    /// From a datagram's arrival at the tester's socket to the tester handling it.
    pub lag: Delays,
    pub jitter_ms_sum: f64,
    pub jitter_samples: u64,
    pub frames_sent: u64,
    pub keyframe_requests: u64,
}

impl Window {
    /// Lost share of expected packets, 0..1.
    pub fn loss(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        (self.expected.saturating_sub(self.packets)) as f64 / self.expected as f64
    }

    /// Mean interarrival jitter, ms.
    pub fn jitter_ms(&self) -> f64 {
        if self.jitter_samples == 0 {
            0.0
        } else {
            self.jitter_ms_sum / self.jitter_samples as f64
        }
    }

    fn add(&mut self, other: &Window) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.expected += other.expected;
        self.delays.add(&other.delays);
        self.lag.add(&other.lag);
        self.jitter_ms_sum += other.jitter_ms_sum;
        self.jitter_samples += other.jitter_samples;
        self.frames_sent += other.frames_sent;
        self.keyframe_requests += other.keyframe_requests;
    }
}

/// How long the participants took to join, each from its start (opening the signaling), in
/// ms; and the room as the latest `joined` showed it.
#[derive(Debug, Clone, Default)]
pub struct Joins {
    /// Until the server's `joined`.
    pub joined: Vec<f64>,
    /// Until the participant's connections (publisher, subscriber) were all up.
    pub connected: Vec<f64>,
    /// Until the first media packet arrived.
    pub first_media: Vec<f64>,
    /// The others in the room and their tracks, as the fullest `joined` listed them.
    pub room: Option<(usize, usize)>,
    /// Participants with media by the server's media worker that holds their sessions.
    pub workers: BTreeMap<usize, u64>,
}

impl Joins {
    fn add(&mut self, other: &Joins) {
        self.joined.extend_from_slice(&other.joined);
        self.connected.extend_from_slice(&other.connected);
        self.first_media.extend_from_slice(&other.first_media);
        self.room = self.room.max(other.room);
        for (worker, n) in &other.workers {
            *self.workers.entry(*worker).or_default() += n;
        }
    }
}

/// What one client thread measured.
#[derive(Debug)]
pub struct Metrics {
    clock: SendClock,
    /// Since the last [`Metrics::take_window`].
    pub current: Window,
    /// Everything since [`Metrics::start_steady`].
    pub steady: Option<Window>,
    pub subscribers_connected: u64,
    pub publishers_connected: u64,
    pub joins: Joins,
    pub failures: Vec<String>,
}

impl Metrics {
    /// The metrics of a thread whose frames carry `clock`'s stamps.
    pub fn new(clock: SendClock) -> Metrics {
        Metrics {
            clock,
            current: Window::default(),
            steady: None,
            subscribers_connected: 0,
            publishers_connected: 0,
            joins: Joins::default(),
            failures: Vec::new(),
        }
    }

    /// Registers a frame being sent now; returns the stamp to append to it.
    pub fn frame_sent(&mut self, now: Instant) -> u64 {
        self.current.frames_sent += 1;
        self.clock.stamp(now)
    }

    /// A packet that reached the tester's socket `at` was handled `lag` later; `stamp` is
    /// set on the last packet of a frame.
    pub fn packet_received(
        &mut self,
        bytes: usize,
        newly_expected: u64,
        stamp: Option<u64>,
        at: Instant,
        lag: Duration,
    ) {
        self.current.packets += 1;
        self.current.bytes += bytes as u64;
        self.current.expected += newly_expected;
        self.current.lag.record(lag);
        if let Some(sent) = stamp.and_then(|s| self.clock.sent_at(s)) {
            self.current
                .delays
                .record(at.saturating_duration_since(sent));
        }
    }

    /// An RFC 3550 jitter estimate of one stream, in ms.
    pub fn jitter_sample(&mut self, ms: f64) {
        self.current.jitter_ms_sum += ms;
        self.current.jitter_samples += 1;
    }

    /// A publisher was asked for a keyframe.
    pub fn keyframe_requested(&mut self) {
        self.current.keyframe_requests += 1;
    }

    /// Starts the steady-state totals (after the last join).
    pub fn start_steady(&mut self) {
        self.steady = Some(Window::default());
    }

    /// Returns the counters since the last call and adds them to the steady totals.
    pub fn take_window(&mut self) -> Window {
        let window = std::mem::take(&mut self.current);
        if let Some(steady) = &mut self.steady {
            steady.add(&window);
        }
        window
    }
}

/// The shards of every client thread.
pub struct AllMetrics {
    shards: Vec<Shared>,
}

/// Everything the clients measured, added up at the end of a run.
pub struct Totals {
    pub steady: Window,
    pub subscribers_connected: u64,
    pub publishers_connected: u64,
    pub joins: Joins,
    pub failures: Vec<String>,
}

impl AllMetrics {
    /// One shard per client thread, all stamping frames with one clock.
    pub fn new(threads: usize) -> AllMetrics {
        let clock = SendClock::new();
        AllMetrics {
            shards: (0..threads.max(1))
                .map(|_| Arc::new(Mutex::new(Metrics::new(clock))))
                .collect(),
        }
    }

    /// The shard of thread `thread`.
    pub fn shard(&self, thread: usize) -> Shared {
        self.shards[thread % self.shards.len()].clone()
    }

    /// The counters of every shard since the last call, added up (see
    /// [`Metrics::take_window`]), and the subscribers connected now.
    pub fn take_window(&self) -> (Window, u64) {
        let mut window = Window::default();
        let mut subscribers = 0;
        for shard in &self.shards {
            let mut m = shard.lock().unwrap();
            window.add(&m.take_window());
            subscribers += m.subscribers_connected;
        }
        (window, subscribers)
    }

    /// Starts the steady-state totals in every shard.
    pub fn start_steady(&self) {
        for shard in &self.shards {
            shard.lock().unwrap().start_steady();
        }
    }

    /// The totals of every shard.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            steady: Window::default(),
            subscribers_connected: 0,
            publishers_connected: 0,
            joins: Joins::default(),
            failures: Vec::new(),
        };
        for shard in &self.shards {
            let m = shard.lock().unwrap();
            if let Some(steady) = &m.steady {
                totals.steady.add(steady);
            }
            totals.subscribers_connected += m.subscribers_connected;
            totals.publishers_connected += m.publishers_connected;
            totals.joins.add(&m.joins);
            totals.failures.extend_from_slice(&m.failures);
        }
        totals
    }
}

/// Receive statistics of one RTP stream (one SSRC).
#[derive(Debug, Default)]
pub struct StreamReceive {
    highest: Option<u64>,
    transit: Option<f64>,
    jitter: f64,
}

impl StreamReceive {
    /// Notes packet `seq` with RTP time `rtp` (in `clock` Hz) arriving at `arrival` seconds;
    /// returns how many more packets are now expected.
    pub fn on_packet(&mut self, seq: u64, rtp: u64, clock: f64, arrival: f64) -> u64 {
        let newly_expected = match self.highest {
            None => 1,
            Some(h) if seq > h => seq - h,
            Some(_) => 0,
        };
        if newly_expected > 0 {
            self.highest = Some(seq);
        }
        let transit = arrival - rtp as f64 / clock;
        if let Some(previous) = self.transit {
            let d = (transit - previous).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
        newly_expected
    }

    /// The jitter estimate, ms.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_counts_sequence_gaps() {
        let mut s = StreamReceive::default();
        let mut w = Window::default();
        for seq in [10, 11, 13, 14, 12] {
            w.expected += s.on_packet(seq, seq * 3000, 90_000.0, seq as f64 / 30.0);
            w.packets += 1;
        }
        assert_eq!(w.expected, 5);
        assert_eq!(w.loss(), 0.0);
        w.expected += s.on_packet(20, 0, 90_000.0, 1.0);
        w.packets += 1;
        assert_eq!(w.expected, 11);
        assert!((w.loss() - 5.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn steady_pacing_has_no_jitter() {
        let mut s = StreamReceive::default();
        for i in 0..100u64 {
            s.on_packet(i, i * 3000, 90_000.0, i as f64 / 30.0);
        }
        assert!(s.jitter_ms() < 0.001);
    }

    #[test]
    fn delay_quantiles() {
        let mut m = Metrics::new(SendClock::new());
        let t0 = Instant::now();
        for i in 0..100 {
            let stamp = m.frame_sent(t0);
            let at = t0 + Duration::from_millis(i);
            m.packet_received(100, 1, Some(stamp), at, Duration::from_millis(i / 10));
        }
        let w = m.take_window();
        assert_eq!(w.delays.quantile(0.5), Some(49.0));
        assert_eq!(w.delays.quantile(0.99), Some(98.0));
        assert_eq!(w.lag.quantile(0.99), Some(9.0));
    }

    #[test]
    fn stamps_of_another_process_are_not_timed() {
        let clock = SendClock::new();
        let later = Instant::now() + Duration::from_millis(1500);
        let stamp = clock.stamp(later);
        let sent = clock.sent_at(stamp).expect("our own stamp");
        assert!(sent.saturating_duration_since(later) < Duration::from_micros(1));
        assert!(later.saturating_duration_since(sent) < Duration::from_micros(1));
        let other = stamp ^ (1 << 60);
        assert_eq!(clock.sent_at(other), None);
    }

    #[test]
    fn shards_add_up() {
        let all = AllMetrics::new(3);
        all.start_steady();
        for thread in 0..3 {
            let shard = all.shard(thread);
            let mut m = shard.lock().unwrap();
            m.subscribers_connected += 1;
            m.joins.room = Some((thread, 2));
            m.packet_received(100, 1, None, Instant::now(), Duration::ZERO);
        }
        let (window, subscribers) = all.take_window();
        assert_eq!((window.packets, subscribers), (3, 3));
        let totals = all.totals();
        assert_eq!(totals.steady.packets, 3);
        assert_eq!(totals.joins.room, Some((2, 2)));
    }
}
