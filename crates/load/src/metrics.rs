//! What the simulated clients measure, shared by all of them: packets and bytes received,
//! loss (from RTP sequence numbers), jitter (RFC 3550), and one-way delay from the
//! publisher's send to the subscriber's receive, matched by a serial number each sent frame
//! carries in its last eight bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Delays are kept in 1 ms buckets up to this.
const MAX_DELAY_MS: usize = 2000;
/// Send times older than this are forgotten (their frames are lost or very late).
const SEND_TIME_HORIZON: Duration = Duration::from_secs(5);

/// Shared, cheap to clone.
pub type Shared = Arc<Mutex<Metrics>>;

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
    /// The others in the room and their tracks, as the latest `joined` listed them.
    pub room: Option<(usize, usize)>,
    /// Participants with media by the server's media worker that holds their sessions.
    pub workers: BTreeMap<usize, u64>,
}

/// All measurements.
#[derive(Debug, Default)]
pub struct Metrics {
    next_serial: u64,
    send_times: HashMap<u64, Instant>,
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
    /// A new shared set. Its serials start at a number of this process's own, so that
    /// frames another load tester publishes into the same room are not timed against this
    /// one's send times.
    pub fn shared() -> Shared {
        Arc::new(Mutex::new(Metrics {
            next_serial: u64::from(std::process::id()) << 32,
            ..Metrics::default()
        }))
    }

    /// Registers a frame being sent now; returns the serial to append to it.
    pub fn frame_sent(&mut self, now: Instant) -> u64 {
        self.next_serial += 1;
        if self.send_times.len() > 200_000 {
            self.send_times
                .retain(|_, t| now.saturating_duration_since(*t) < SEND_TIME_HORIZON);
        }
        self.send_times.insert(self.next_serial, now);
        self.current.frames_sent += 1;
        self.next_serial
    }

    /// A packet arrived; `serial` is set on the last packet of a frame.
    pub fn packet_received(
        &mut self,
        bytes: usize,
        newly_expected: u64,
        serial: Option<u64>,
        at: Instant,
    ) {
        self.current.packets += 1;
        self.current.bytes += bytes as u64;
        self.current.expected += newly_expected;
        if let Some(sent) = serial.and_then(|s| self.send_times.get(&s)) {
            self.current
                .delays
                .record(at.saturating_duration_since(*sent));
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
        let mut m = Metrics::default();
        let t0 = Instant::now();
        for i in 0..100 {
            let serial = m.frame_sent(t0);
            m.packet_received(100, 1, Some(serial), t0 + Duration::from_millis(i));
        }
        let w = m.take_window();
        assert_eq!(w.delays.quantile(0.5), Some(49.0));
        assert_eq!(w.delays.quantile(0.99), Some(98.0));
    }
}
