//! Shedding load when a worker falls behind. A worker that cannot keep up loses nothing
//! but queues: datagrams wait in its socket, and the delay of everything it forwards grows
//! by as much (past a full core, seconds). Live media is worth nothing that late, so the
//! worker watches how long datagrams waited in its socket and, while a queue stands there
//! (the least wait of a [`WINDOW`] stays above [`TARGET`], as CoDel judges a queue), sheds
//! load one level at a time, at most one level every [`STEP`]:
//!
//! 1. half of the subscribers' videos go down to their middle layer (fewer packets to
//!    write: a 720p frame is about six, a 360p one two);
//! 2. all of them do;
//! 3. all go down to their smallest layer;
//! 4. video frames that waited longer than [`STALE`] are not forwarded (each subscription
//!    then waits for the next keyframe); audio is never dropped.
//!
//! From level [`REFUSING`] on, the worker takes no new participant (`placement.rs`):
//! everyone it has would pay for them.
//!
//! Once no queue has stood for [`RECOVER`], it gives back one level, and so on. Layers
//! change on keyframes, as for bandwidth; the affected subscribers' connection quality
//! shows it, and `/metrics` has the level and the frames dropped.

use std::time::{Duration, Instant};

use crate::router::Router;

/// The span over which the least wait in the socket is taken.
const WINDOW: Duration = Duration::from_millis(200);
/// A least wait above this means a standing queue.
const TARGET: Duration = Duration::from_millis(20);
/// Time a level has to take effect (its layer switches wait for keyframes) before the
/// next.
const STEP: Duration = Duration::from_secs(1);
/// Time without a standing queue before a level is given back.
const RECOVER: Duration = Duration::from_secs(10);
/// At the last level, video frames older than this are dropped.
pub const STALE: Duration = Duration::from_millis(100);
/// The last level.
pub const MAX_LEVEL: u8 = 4;
/// From this level on (every video already lowered, and still behind) the worker takes no
/// new participant.
pub const REFUSING: u8 = 2;

/// A worker's overload state, fed with the waits of the datagrams it reads.
#[derive(Debug, Clone)]
pub struct Overload {
    level: u8,
    /// The current window: when it started and the least wait seen in it.
    window: Option<(Instant, Duration)>,
    /// The wait of the latest read: how far behind the worker is now.
    behind: Duration,
    changed_at: Option<Instant>,
    /// Since when no window had a standing queue.
    calm_since: Option<Instant>,
}

impl Default for Overload {
    fn default() -> Self {
        Overload {
            level: 0,
            window: None,
            behind: Duration::ZERO,
            changed_at: None,
            calm_since: None,
        }
    }
}

impl Overload {
    /// The level now: 0 sheds nothing.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// How long the latest datagrams read had waited in the socket.
    pub fn behind(&self) -> Duration {
        self.behind
    }

    /// The datagrams of a read at `now` waited at least `least`; the new level if it
    /// changes.
    pub fn waited(&mut self, now: Instant, least: Duration) -> Option<u8> {
        self.behind = least;
        let (start, seen) = *self.window.get_or_insert((now, least));
        let seen = seen.min(least);
        if now.saturating_duration_since(start) < WINDOW {
            self.window = Some((start, seen));
            return None;
        }
        self.window = None;
        let settled = |since: Option<Instant>, hold: Duration| {
            since.is_none_or(|t| now.saturating_duration_since(t) >= hold)
        };
        if seen > TARGET {
            self.calm_since = None;
            if self.level < MAX_LEVEL && settled(self.changed_at, STEP) {
                return Some(self.change(now, self.level + 1));
            }
            return None;
        }
        let calm_since = *self.calm_since.get_or_insert(start);
        if self.level > 0 && settled(Some(calm_since), RECOVER) && settled(self.changed_at, RECOVER)
        {
            self.calm_since = Some(now);
            return Some(self.change(now, self.level - 1));
        }
        None
    }

    fn change(&mut self, now: Instant, level: u8) -> u8 {
        self.level = level;
        self.changed_at = Some(now);
        level
    }

    /// The largest layer, by size (0 the smallest), that the `index`-th subscriber
    /// session may receive at this level; `None` for no limit.
    pub fn layer_limit(&self, index: usize) -> Option<usize> {
        match self.level {
            0 => None,
            1 => index.is_multiple_of(2).then_some(1),
            2 => Some(1),
            _ => Some(0),
        }
    }

    /// Whether a video frame that has been in the server for `age` is dropped.
    pub fn drops(&self, age: Duration) -> bool {
        self.level >= MAX_LEVEL && age + self.behind > STALE
    }
}

impl Router {
    /// The datagrams this worker just read had waited at least `least` in its socket.
    pub fn socket_waited(&mut self, now: Instant, least: Duration) {
        let Some(level) = self.overload.waited(now, least) else {
            return;
        };
        tracing::warn!(
            worker = self.worker.0,
            level,
            waited_ms = least.as_millis() as u64,
            "a media worker is behind and sheds load, or has caught up and gives it back"
        );
        let mut index = 0;
        for session in self.sessions.values_mut() {
            let mut receives_video = false;
            for slot in session.slots.values_mut().filter(|s| s.is_video) {
                slot.shed = self.overload.layer_limit(index);
                receives_video = true;
            }
            index += usize::from(receives_video);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds a read every 10 ms for `span`, each with `wait`; the levels it changed to.
    fn feed(o: &mut Overload, at: &mut Instant, span: Duration, wait: Duration) -> Vec<u8> {
        let end = *at + span;
        let mut levels = Vec::new();
        while *at < end {
            *at += ms(10);
            levels.extend(o.waited(*at, wait));
        }
        levels
    }

    #[test]
    fn a_standing_queue_sheds_a_level_a_second_and_calm_gives_them_back() {
        let mut o = Overload::default();
        let mut at = Instant::now();
        assert!(feed(&mut o, &mut at, Duration::from_secs(5), ms(2)).is_empty());
        assert_eq!(
            feed(&mut o, &mut at, Duration::from_secs(6), ms(300)),
            [1, 2, 3, 4]
        );
        assert!(o.drops(ms(90)), "300 ms behind");
        assert!(feed(&mut o, &mut at, Duration::from_secs(9), ms(1)).is_empty());
        assert!(!o.drops(ms(90)), "caught up");
        assert!(o.drops(ms(150)));
        assert_eq!(feed(&mut o, &mut at, Duration::from_secs(2), ms(1)), [3]);
        assert_eq!(
            feed(&mut o, &mut at, Duration::from_secs(31), ms(1)),
            [2, 1, 0]
        );
    }

    #[test]
    fn bursts_that_drain_within_a_window_shed_nothing() {
        let mut o = Overload::default();
        let mut at = Instant::now();
        for _ in 0..100 {
            // A keyframe to every subscriber holds the loop for 60 ms; the queue drains.
            feed(&mut o, &mut at, ms(20), ms(60));
            assert!(feed(&mut o, &mut at, ms(180), ms(1)).is_empty());
        }
        assert_eq!(o.level(), 0);
    }

    #[test]
    fn half_the_subscribers_go_down_first_then_all_then_to_the_smallest() {
        let mut o = Overload::default();
        let limits = |o: &Overload| (0..4).map(|i| o.layer_limit(i)).collect::<Vec<_>>();
        assert_eq!(limits(&o), [None; 4]);
        for (level, expected) in [
            (1, [Some(1), None, Some(1), None]),
            (2, [Some(1); 4]),
            (3, [Some(0); 4]),
            (4, [Some(0); 4]),
        ] {
            o.level = level;
            assert_eq!(limits(&o), expected, "level {level}");
        }
        assert!(!Overload::default().drops(Duration::from_secs(5)));
    }
}
