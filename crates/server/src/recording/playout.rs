//! One mixing slot's jitter buffer: a track's audio packets played by their media time,
//! the way a receiver plays them. A packet is due when it would have arrived had it
//! travelled as quickly as the quickest packet of the track (arrival minus media time,
//! slowly forgetting the quickest so that a slower path is followed), plus a playout delay
//! against jitter. Each 20 ms step plays the newest packet that is due; older ones left
//! behind are dropped. A burst of packets that were held up on the way therefore plays
//! in its place on the timeline rather than pushing everything after it later, and the
//! sound keeps one offset from the picture (which lip sync places by the same quickest
//! transit) however the network or the sender stutters.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A packet plays this long after it would have arrived at the quickest.
pub const PLAYOUT_DELAY: Duration = Duration::from_millis(40);
/// Packets waiting at most; a full queue drops its oldest.
const MAX_QUEUE: usize = 10;
/// A packet this far off the track's timeline (a sender that restarted its clock)
/// starts the timeline again.
const RESYNC_US: i64 = 1_000_000;
/// How quickly a transit longer than the quickest is taken on: 1/32 of the difference
/// per packet.
const FORGET: i64 = 32;

/// A track's packets waiting to play.
#[derive(Debug)]
pub struct Playout {
    /// Packets by media time (µs) with their bytes.
    queue: VecDeque<(i64, Vec<u8>)>,
    epoch: Instant,
    /// Arrival (µs since `epoch`) minus media time (µs) of the quickest packet.
    transit: Option<i64>,
}

impl Playout {
    /// An empty buffer; `epoch` is any instant before the packets arrive.
    pub fn new(epoch: Instant) -> Playout {
        Playout {
            queue: VecDeque::with_capacity(MAX_QUEUE),
            epoch,
            transit: None,
        }
    }

    /// Forgets the queued packets and the timeline (the slot takes another track).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.transit = None;
    }

    /// Queues a packet of media time `time` (`clock_rate` ticks a second) that arrived at
    /// `arrived`.
    pub fn push(&mut self, time: u64, clock_rate: u32, arrived: Instant, data: &[u8]) {
        let media = (u128::from(time) * 1_000_000 / u128::from(clock_rate.max(1))) as i64;
        let sample = self.micros(arrived) - media;
        let transit = match self.transit {
            Some(t) if (sample - t).abs() > RESYNC_US => {
                self.queue.clear();
                sample
            }
            Some(t) if sample < t => sample,
            Some(t) => t + (sample - t) / FORGET,
            None => sample,
        };
        self.transit = Some(transit);
        if self.queue.len() >= MAX_QUEUE {
            self.queue.pop_front();
        }
        let at = self.queue.partition_point(|(m, _)| *m < media);
        if self.queue.get(at).is_some_and(|(m, _)| *m == media) {
            return;
        }
        self.queue.insert(at, (media, data.to_vec()));
    }

    /// The packet to play in the step that starts at `at`: the newest one due by then.
    pub fn play(&mut self, at: Instant) -> Option<Vec<u8>> {
        let transit = self.transit?;
        let delay = PLAYOUT_DELAY.as_micros() as i64;
        let now = self.micros(at);
        let due = self
            .queue
            .partition_point(|(media, _)| media + transit + delay <= now);
        let played = self.queue.drain(..due).next_back();
        played.map(|(_, data)| data)
    }

    fn micros(&self, t: Instant) -> i64 {
        match t.checked_duration_since(self.epoch) {
            Some(d) => d.as_micros() as i64,
            None => -(self.epoch.duration_since(t).as_micros() as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_millis(20);
    /// 20 ms of Opus in its 48 kHz clock.
    const TICKS: u64 = 960;

    /// What each of `steps` 20 ms steps from `start` plays, by packet number.
    fn played(playout: &mut Playout, start: Instant, steps: u32) -> Vec<Option<u8>> {
        (0..steps)
            .map(|i| playout.play(start + STEP * i).map(|d| d[0]))
            .collect()
    }

    #[test]
    fn packets_play_one_per_step_after_the_playout_delay() {
        let t0 = Instant::now();
        let mut p = Playout::new(t0);
        for n in 0..5u8 {
            p.push(
                7_000 + u64::from(n) * TICKS,
                48_000,
                t0 + STEP * u32::from(n),
                &[n],
            );
        }
        assert_eq!(
            played(&mut p, t0, 7),
            [None, None, Some(0), Some(1), Some(2), Some(3), Some(4)]
        );
    }

    #[test]
    fn a_burst_after_a_stall_plays_in_its_place_and_nothing_after_it_is_late() {
        let t0 = Instant::now();
        let mut p = Playout::new(t0);
        let mut out = Vec::new();
        for step in 0..16u32 {
            let at = t0 + STEP * step;
            // Packets 4 to 8 are held up and arrive together with packet 9.
            let arriving: Vec<u32> = match step {
                4..=8 => vec![],
                9 => (4..=9).collect(),
                s => vec![s],
            };
            for n in arriving {
                p.push(u64::from(n) * TICKS, 48_000, at, &[n as u8]);
            }
            out.push(p.play(at).map(|d| d[0]));
        }
        // Steps 6 to 8 would have played 4 to 6, which came too late and are dropped;
        // step 9 plays 7, due then, and from then on every packet plays in its own step,
        // two steps after it was sent, as before the stall.
        assert_eq!(out[2..6], [Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(out[6..9], [None, None, None]);
        assert_eq!(out[9..16], [7, 8, 9, 10, 11, 12, 13].map(Some));
    }

    #[test]
    fn a_slower_path_is_followed_and_a_restarted_clock_starts_again() {
        let t0 = Instant::now();
        let mut p = Playout::new(t0);
        // The path gets 30 ms slower at packet 10: its packets would all be late against
        // the old quickest, so the timeline moves to follow, and soon every step plays one.
        let mut out = Vec::new();
        for n in 0..120u32 {
            let slower = if n >= 10 { 30 } else { 0 };
            let arrived = t0 + STEP * n + Duration::from_millis(slower);
            p.push(u64::from(n) * TICKS, 48_000, arrived, &[n as u8]);
            out.push(p.play(t0 + STEP * n + Duration::from_millis(50)));
        }
        assert!(out[60..].iter().all(Option::is_some));
        // The sender starts its clock again far away: the new packets play, after the delay.
        let later = t0 + STEP * 200;
        p.push(5, 48_000, later, &[1]);
        assert_eq!(p.play(later), None);
        assert_eq!(p.play(later + PLAYOUT_DELAY).map(|d| d[0]), Some(1));
    }
}
