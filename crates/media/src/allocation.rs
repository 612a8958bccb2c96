//! Sharing a subscriber's estimated bandwidth among the videos it receives. Audio comes
//! off the top; then every video gets its smallest layer, in order of priority (screen
//! shares, then the active speaker, then everyone else), as long as the budget lasts,
//! and a video that does not fit is paused; what is left raises each video, in the same
//! order, towards the layer its rendered size asks for. Moving to another layer (up, or
//! down to one that is not the smallest) needs 15 % more than the layer costs, keeping
//! one does not, and a step up is held back for a while after a step down, so a
//! subscriber near a layer's edge does not flap between two layers.

use std::time::Duration;

/// A step up needs this much more budget than the layer costs, in percent.
const UP_MARGIN_PERCENT: u64 = 115;
/// After a step down a video does not step up again for this long.
pub const UPGRADE_HOLD: Duration = Duration::from_secs(4);

/// What comes first when bandwidth is short (lower first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A shared screen: text must stay readable.
    Screen,
    /// The camera of whoever is speaking.
    Speaker,
    /// Every other camera.
    Camera,
}

/// One video a subscriber receives, as the allocation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// What comes first.
    pub priority: Priority,
    /// Bits a second of each layer it may have, smallest first, up to the one its
    /// rendered size asks for.
    pub costs: Vec<u64>,
    /// The index (into `costs`) it has now; `None` while paused or new.
    pub current: Option<usize>,
    /// Whether it may step up (not held back after a step down).
    pub may_rise: bool,
}

impl Demand {
    /// What the layer at `index` costs against the budget: more, with the margin, when
    /// it is another layer than the one it has (a layer that barely fits is not worth
    /// moving to), except the smallest for a video that runs (better than a pause).
    fn cost(&self, index: usize) -> u64 {
        let cost = self.costs[index];
        let kept = self.current == Some(index) || (index == 0 && self.current.is_some());
        if kept {
            cost
        } else {
            cost * UP_MARGIN_PERCENT / 100
        }
    }

    /// Whether the layer at `index` would be a step up it may not take.
    fn held(&self, index: usize) -> bool {
        !self.may_rise && self.current.is_none_or(|c| index > c)
    }
}

/// The layer (index into its `costs`) each demand gets within `budget` bits a second,
/// `None` for a paused one; in the demands' order.
pub fn allocate(budget: u64, demands: &[Demand]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| demands[i].priority);
    let mut chosen: Vec<Option<usize>> = vec![None; demands.len()];
    let mut left = budget;
    for &i in &order {
        let demand = &demands[i];
        if demand.costs.is_empty() || demand.held(0) {
            continue;
        }
        let cost = demand.cost(0);
        if cost <= left {
            left -= cost;
            chosen[i] = Some(0);
        }
    }
    for &i in &order {
        let demand = &demands[i];
        let Some(mut at) = chosen[i] else { continue };
        while at + 1 < demand.costs.len() && !demand.held(at + 1) {
            let extra = demand.cost(at + 1).saturating_sub(demand.cost(at));
            if extra > left {
                break;
            }
            left -= extra;
            at += 1;
        }
        chosen[i] = Some(at);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulcast camera of 150, 500 and 1500 kbit/s.
    fn camera(priority: Priority, current: Option<usize>) -> Demand {
        Demand {
            priority,
            costs: vec![150_000, 500_000, 1_500_000],
            current,
            may_rise: true,
        }
    }

    #[test]
    fn plenty_gives_everyone_what_their_size_asks_for() {
        let demands = [
            camera(Priority::Camera, None),
            camera(Priority::Camera, None),
        ];
        assert_eq!(allocate(10_000_000, &demands), [Some(2), Some(2)]);
    }

    #[test]
    fn the_screen_and_the_speaker_come_first_and_the_rest_share_what_is_left() {
        let demands = [
            camera(Priority::Camera, Some(0)),
            camera(Priority::Speaker, Some(0)),
            Demand {
                priority: Priority::Screen,
                costs: vec![1_000_000],
                current: Some(0),
                may_rise: true,
            },
        ];
        // 1 M for the screen, then the speaker climbs to 500 k; the other camera keeps
        // its smallest layer.
        assert_eq!(allocate(1_800_000, &demands), [Some(0), Some(1), Some(0)]);
        // Short of everything: the screen, then the speaker's smallest layer; the other
        // camera pauses.
        assert_eq!(allocate(1_200_000, &demands), [None, Some(0), Some(0)]);
    }

    #[test]
    fn stepping_up_needs_a_margin_and_keeping_a_layer_does_not() {
        // 500 k fits exactly: kept when it is the layer now, not taken as a step up.
        assert_eq!(
            allocate(520_000, &[camera(Priority::Camera, Some(1))]),
            [Some(1)]
        );
        assert_eq!(
            allocate(520_000, &[camera(Priority::Camera, Some(0))]),
            [Some(0)]
        );
        assert_eq!(
            allocate(600_000, &[camera(Priority::Camera, Some(0))]),
            [Some(1)]
        );
        // Stepping down lands on a layer that fits with the margin, not one that barely does.
        assert_eq!(
            allocate(560_000, &[camera(Priority::Camera, Some(2))]),
            [Some(0)]
        );
        assert_eq!(
            allocate(600_000, &[camera(Priority::Camera, Some(2))]),
            [Some(1)]
        );
        // A paused video resumes only with the margin too.
        assert_eq!(allocate(160_000, &[camera(Priority::Camera, None)]), [None]);
        assert_eq!(
            allocate(180_000, &[camera(Priority::Camera, None)]),
            [Some(0)]
        );
    }

    #[test]
    fn a_video_held_after_stepping_down_keeps_its_layer_or_less() {
        let mut held = camera(Priority::Camera, Some(0));
        held.may_rise = false;
        assert_eq!(allocate(10_000_000, std::slice::from_ref(&held)), [Some(0)]);
        held.current = None;
        assert_eq!(allocate(10_000_000, &[held]), [None]);
    }
}
