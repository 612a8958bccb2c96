//! Which worker a participant's sessions live on: all of one participant's sessions share
//! a worker (its home), and a new participant goes to the worker with the fewest. Commands
//! go to their participant's home.

use std::collections::HashMap;

use crate::command::Command;
use crate::ids::ParticipantId;
use crate::relay::WorkerId;

/// The home worker of every participant with media.
#[derive(Debug)]
pub struct Placement {
    home: HashMap<ParticipantId, WorkerId>,
    /// Participants per worker.
    load: Vec<usize>,
}

impl Placement {
    /// Placement over `workers` workers (at least one).
    pub fn new(workers: usize) -> Placement {
        Placement {
            home: HashMap::new(),
            load: vec![0; workers.max(1)],
        }
    }

    /// The participant's worker, placing it on the least loaded one if it has none.
    pub fn place(&mut self, participant: ParticipantId) -> WorkerId {
        if let Some(worker) = self.home.get(&participant) {
            return *worker;
        }
        let (index, _) = self
            .load
            .iter()
            .enumerate()
            .min_by_key(|(_, load)| **load)
            .expect("at least one worker");
        self.load[index] += 1;
        self.home.insert(participant, WorkerId(index));
        WorkerId(index)
    }

    /// The participant's worker, if it has been placed.
    pub fn home(&self, participant: ParticipantId) -> Option<WorkerId> {
        self.home.get(&participant).copied()
    }

    /// The worker `command` goes to (placing a new participant), or `None` when every
    /// worker needs it: data for participants anywhere, and the room's stream for players
    /// anywhere.
    pub fn route(&mut self, command: &Command) -> Option<WorkerId> {
        Some(match command {
            Command::Publish { participant, .. }
            | Command::Subscribe { participant, .. }
            | Command::Play { participant, .. } => self.place(*participant),
            Command::SubscribeAnswer { participant, .. }
            | Command::RestartIce { participant }
            | Command::VideoSize { participant, .. }
            | Command::Mute { participant, .. }
            | Command::Unpublish { participant }
            | Command::Tap { participant, .. } => self.home(*participant).unwrap_or(WorkerId(0)),
            Command::RemoveParticipant { participant } => {
                self.release(*participant).unwrap_or(WorkerId(0))
            }
            Command::SendData { .. } | Command::Feature { .. } => return None,
        })
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
        assert_eq!(placement.place(a), WorkerId(0));
        assert_eq!(placement.place(b), WorkerId(1));
        assert_eq!(placement.place(a), WorkerId(0), "a participant stays home");
        assert_eq!(placement.release(a), Some(WorkerId(0)));
        assert_eq!(placement.home(a), None);
        assert_eq!(placement.place(c), WorkerId(0), "the emptier worker");
        assert_eq!(placement.release(a), None);
    }
}
