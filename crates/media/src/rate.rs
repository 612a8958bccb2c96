//! How many bits a second one layer of a track carries, measured as its frames arrive,
//! so that the bandwidth allocation knows what each layer costs a subscriber.

use std::time::{Duration, Instant};

/// Bytes are summed over windows this long; a window's rate is averaged into the last.
const WINDOW: Duration = Duration::from_millis(500);
/// What one RTP packet adds to its payload on the wire: IP, UDP, RTP with its header
/// extensions, the SRTP tag.
const PACKET_OVERHEAD: usize = 60;
/// Payload bytes in one RTP packet at most (the packetizer's MTU, less headers).
const PACKET_PAYLOAD: usize = 1100;

/// A layer's bitrate.
#[derive(Debug, Clone)]
pub struct Rate {
    window_start: Instant,
    bytes: usize,
    bps: Option<u64>,
}

impl Rate {
    /// A meter whose first window starts `now`.
    pub fn new(now: Instant) -> Rate {
        Rate {
            window_start: now,
            bytes: 0,
            bps: None,
        }
    }

    /// Counts a frame of `payload` bytes, as the packets that carry it.
    pub fn add(&mut self, payload: usize, now: Instant) {
        self.roll(now);
        let packets = payload.div_ceil(PACKET_PAYLOAD).max(1);
        self.bytes += payload + packets * PACKET_OVERHEAD;
    }

    /// Bits a second over the last windows; `None` until one window has passed.
    pub fn bps(&self) -> Option<u64> {
        self.bps
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < WINDOW {
            return;
        }
        let sample = self.bytes as u64 * 8 * 1_000_000 / elapsed.as_micros().max(1) as u64;
        // Half the last: a keyframe's burst moves it, but not all the way.
        self.bps = Some(match self.bps {
            Some(bps) => (bps + sample) / 2,
            None => sample,
        });
        self.bytes = 0;
        self.window_start = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_layer_measures_its_payload_and_headers() {
        let t0 = Instant::now();
        let mut rate = Rate::new(t0);
        assert_eq!(rate.bps(), None);
        // 30 frames a second of 1000 bytes: 30 × (1000 + 60) × 8 = 254 400 bits a second.
        for i in 0..=60u32 {
            rate.add(1000, t0 + Duration::from_millis(u64::from(i) * 1000 / 30));
        }
        let bps = rate.bps().expect("measured");
        assert!((240_000..=270_000).contains(&bps), "{bps}");
    }
}
