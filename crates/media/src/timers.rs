//! The router's clock: when each session next wants its str0m timeouts run, and when
//! sessions are next swept. `drive.rs` decides what runs; this keeps the times.
//!
//! A session has at most one live entry in the heap: the soonest it asked for, recorded
//! in its `scheduled`. A later, sooner request pushes another entry; the one it replaces
//! stays in the heap until it comes up and is passed over, which is cheaper than finding
//! it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::ids::SessionId;

/// How often sessions are swept (for sessions that never connect, and for estimates
/// str0m has not updated).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The sessions' timers and the sweep's.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, SessionId)>>,
    next_sweep: Option<Instant>,
}

impl Timers {
    /// When something is next due.
    pub fn next(&self) -> Option<Instant> {
        let timer = self.heap.peek().map(|Reverse((t, _))| *t);
        match (timer, self.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Session `id`, whose soonest timer is `scheduled`, wants its timeouts run at `at`.
    pub fn schedule(&mut self, id: SessionId, at: Instant, scheduled: &mut Option<Instant>) {
        if scheduled.is_none_or(|s| at < s) {
            *scheduled = Some(at);
            self.heap.push(Reverse((at, id)));
        }
    }

    /// The next entry due at `now`, taken out of the heap: a session and the time it
    /// asked for. The entry is live only if that is still the session's `scheduled`
    /// ([`Timers::is_live`]).
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, SessionId)> {
        let Reverse((at, id)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        Some((at, id))
    }

    /// Whether an entry for `at` taken by [`Timers::pop_due`] is the session's live one;
    /// if so the session has no timer left.
    pub fn is_live(at: Instant, scheduled: &mut Option<Instant>) -> bool {
        if *scheduled != Some(at) {
            return false;
        }
        *scheduled = None;
        true
    }

    /// Whether the sweep is due at `now`; if so, the next is set, while there are
    /// `sessions`.
    pub fn sweep_due(&mut self, now: Instant, sessions: bool) -> bool {
        if self.next_sweep.is_none_or(|t| t > now) {
            return false;
        }
        self.next_sweep = sessions.then(|| now + SWEEP_INTERVAL);
        true
    }

    /// Makes sure sessions are swept (a new session must connect in time).
    pub fn arm_sweep(&mut self, now: Instant) {
        self.next_sweep.get_or_insert(now + SWEEP_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_runs_at_its_soonest_time_once() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let id = SessionId(1);
        let mut scheduled = None;
        let mut timers = Timers::default();
        timers.schedule(id, ms(30), &mut scheduled);
        timers.schedule(id, ms(50), &mut scheduled);
        timers.schedule(id, ms(10), &mut scheduled);
        assert_eq!(timers.next(), Some(ms(10)));
        assert_eq!(timers.pop_due(ms(5)), None);

        let mut runs = Vec::new();
        while let Some((at, id)) = timers.pop_due(ms(100)) {
            if Timers::is_live(at, &mut scheduled) {
                runs.push((at, id));
            }
        }
        assert_eq!(runs, vec![(ms(10), id)]);
        assert_eq!(scheduled, None);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn the_sweep_repeats_while_there_are_sessions() {
        let start = Instant::now();
        let mut timers = Timers::default();
        assert!(!timers.sweep_due(start + SWEEP_INTERVAL, true));
        timers.arm_sweep(start);
        timers.arm_sweep(start + Duration::from_millis(500));
        assert_eq!(timers.next(), Some(start + SWEEP_INTERVAL));
        assert!(!timers.sweep_due(start, true));
        assert!(timers.sweep_due(start + SWEEP_INTERVAL, true));
        assert_eq!(timers.next(), Some(start + 2 * SWEEP_INTERVAL));
        assert!(timers.sweep_due(start + 2 * SWEEP_INTERVAL, false));
        assert_eq!(timers.next(), None);
    }
}
