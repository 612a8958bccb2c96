//! Which worker a participant's sessions live on: all of one participant's sessions share
//! a worker (its home), and a new participant goes to the worker with the fewest. Commands
//! go to their participant's home. A worker that is shedding load (`overload.rs`) takes no
//! one new: it could only lower everyone's video further; with every worker so, a new
//! participant is refused ([`MediaError::Full`]) and those already in carry on.

use std::collections::HashMap;

use crate::command::Command;
use crate::error::MediaError;
use crate::ids::ParticipantId;
use crate::relay::WorkerId;

/// The home worker of every participant with media.
#[derive(Debug)]
pub struct Placement {
    home: HashMap<ParticipantId, WorkerId>,
    /// Participants per worker.
    load: Vec<usize>,
    /// Workers that take no new participant.
    saturated: Vec<bool>,
}

impl Placement {
    /// Placement over `workers` workers (at least one).
    pub fn new(workers: usize) -> Placement {
        Placement {
            home: HashMap::new(),
            load: vec![0; workers.max(1)],
            saturated: vec![false; workers.max(1)],
        }
    }

    /// Marks whether `worker` takes new participants.
    pub fn set_saturated(&mut self, worker: WorkerId, saturated: bool) {
        if let Some(s) = self.saturated.get_mut(worker.0) {
            *s = saturated;
        }
    }

    /// Whether some worker takes new participants.
    pub fn admits(&self) -> bool {
        self.saturated.iter().any(|s| !s)
    }

    /// The participant's worker, placing it on the least loaded one that takes newcomers
    /// if it has none; [`MediaError::Full`] when none does.
    pub fn place(&mut self, participant: ParticipantId) -> Result<WorkerId, MediaError> {
        if let Some(worker) = self.home.get(&participant) {
            return Ok(*worker);
        }
        let (index, _) = self
            .load
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.saturated[*i])
            .min_by_key(|(_, load)| **load)
            .ok_or(MediaError::Full)?;
        self.load[index] += 1;
        self.home.insert(participant, WorkerId(index));
        Ok(WorkerId(index))
    }

    /// The participant's worker, if it has been placed.
    pub fn home(&self, participant: ParticipantId) -> Option<WorkerId> {
        self.home.get(&participant).copied()
    }

    /// The worker `command` goes to (placing a new participant), or `None` when every
    /// worker needs it: data for participants anywhere, and the room's stream for players
    /// anywhere.
    pub fn route(&mut self, command: &Command) -> Result<Option<WorkerId>, MediaError> {
        Ok(Some(match command {
            Command::Publish { participant, .. }
            | Command::Subscribe { participant, .. }
            | Command::Play { participant, .. } => self.place(*participant)?,
            Command::SubscribeAnswer { participant, .. }
            | Command::RestartIce { participant }
            | Command::VideoSize { participant, .. }
            | Command::Mute { participant, .. }
            | Command::Unpublish { participant }
            | Command::Tap { participant, .. } => self.home(*participant).unwrap_or(WorkerId(0)),
            Command::RemoveParticipant { participant } => {
                self.release(*participant).unwrap_or(WorkerId(0))
            }
            Command::SendData { .. } | Command::Feature { .. } => return Ok(None),
        }))
    }

    /// Forgets the participant; returns where it was.
    pub fn release(&mut self, participant: ParticipantId) -> Option<WorkerId> {
        let worker = self.home.remove(&participant)?;
        self.load[worker.0] -= 1;
        Some(worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participants_spread_and_keep_their_worker() {
        let mut placement = Placement::new(2);
        let (a, b, c) = (ParticipantId(1), ParticipantId(2), ParticipantId(3));
        assert_eq!(placement.place(a), Ok(WorkerId(0)));
        assert_eq!(placement.place(b), Ok(WorkerId(1)));
        assert_eq!(
            placement.place(a),
            Ok(WorkerId(0)),
            "a participant stays home"
        );
        assert_eq!(placement.release(a), Some(WorkerId(0)));
        assert_eq!(placement.home(a), None);
        assert_eq!(placement.place(c), Ok(WorkerId(0)), "the emptier worker");
        assert_eq!(placement.release(a), None);
    }

    #[test]
    fn a_saturated_worker_takes_no_newcomer_and_keeps_those_it_has() {
        let mut placement = Placement::new(2);
        let (a, b, c, d) = (
            ParticipantId(1),
            ParticipantId(2),
            ParticipantId(3),
            ParticipantId(4),
        );
        assert_eq!(placement.place(a), Ok(WorkerId(0)));
        placement.set_saturated(WorkerId(1), true);
        assert_eq!(
            placement.place(b),
            Ok(WorkerId(0)),
            "not the emptier, saturated one"
        );
        placement.set_saturated(WorkerId(0), true);
        assert!(!placement.admits());
        assert_eq!(placement.place(c), Err(MediaError::Full));
        assert_eq!(
            placement.home(c),
            None,
            "a refused participant is not placed"
        );
        assert_eq!(placement.place(a), Ok(WorkerId(0)), "those placed carry on");
        placement.set_saturated(WorkerId(1), false);
        assert!(placement.admits());
        assert_eq!(placement.place(d), Ok(WorkerId(1)));
    }
}
