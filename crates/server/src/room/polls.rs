//! Polls: a host asks the room a question, each identity votes once, everyone sees the
//! counts change as votes arrive, the host closes it. The room keeps its polls for
//! newcomers and for the transcript.

use std::collections::HashSet;

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{PollInfo, PollOption, Sender};

/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// Longest answer, in characters.
pub const MAX_OPTION_CHARS: usize = 200;
/// Answers a poll may have.
pub const OPTIONS: std::ops::RangeInclusive<usize> = 2..=10;
/// Polls a room keeps.
pub const MAX_POLLS: usize = 100;

#[derive(Debug)]
struct Poll {
    info: PollInfo,
    /// Identities that voted.
    voters: HashSet<String>,
}

/// A room's polls, oldest first.
#[derive(Debug)]
pub struct Polls {
    polls: Vec<Poll>,
    next_id: u64,
}

impl Default for Polls {
    fn default() -> Polls {
        Polls {
            polls: Vec::new(),
            next_id: crate::room::chat::first_id(),
        }
    }
}

impl Polls {
    /// Asks a new poll.
    pub fn create(
        &mut self,
        from: Sender,
        question: String,
        options: Vec<String>,
        unix_ms: u64,
    ) -> Result<PollInfo, ApiError> {
        let question = question.trim().to_owned();
        if question.is_empty() || !OPTIONS.contains(&options.len()) {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                format!(
                    "A poll needs a question and {} to {} answers.",
                    OPTIONS.start(),
                    OPTIONS.end()
                ),
            ));
        }
        let options: Vec<String> = options.iter().map(|o| o.trim().to_owned()).collect();
        if options.iter().any(String::is_empty) {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                "Every answer of a poll needs some text.",
            ));
        }
        if question.chars().count() > MAX_QUESTION_CHARS
            || options.iter().any(|o| o.chars().count() > MAX_OPTION_CHARS)
        {
            return Err(ApiError::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "A question is at most {MAX_QUESTION_CHARS} characters, an answer at most {MAX_OPTION_CHARS}."
                ),
            ));
        }
        if self.polls.len() >= MAX_POLLS {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("This room already has {MAX_POLLS} polls."),
            ));
        }
        self.next_id += 1;
        let info = PollInfo {
            id: self.next_id,
            ts: unix_ms,
            from,
            question,
            options: options
                .into_iter()
                .map(|text| PollOption { text, votes: 0 })
                .collect(),
            closed: false,
        };
        self.polls.push(Poll {
            info: info.clone(),
            voters: HashSet::new(),
        });
        Ok(info)
    }

    /// Counts `identity`'s vote for answer `option` of poll `id`.
    pub fn vote(&mut self, id: u64, option: usize, identity: &str) -> Result<PollInfo, ApiError> {
        let poll = self.find(id)?;
        if poll.info.closed {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "This poll is closed; no more votes are taken.",
            ));
        }
        let Some(answer) = poll.info.options.get_mut(option) else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("The poll has no answer {option}."),
            ));
        };
        if !poll.voters.insert(identity.to_owned()) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "You already voted in this poll.",
            ));
        }
        answer.votes += 1;
        Ok(poll.info.clone())
    }

    /// Ends poll `id`.
    pub fn close(&mut self, id: u64) -> Result<PollInfo, ApiError> {
        let poll = self.find(id)?;
        poll.info.closed = true;
        Ok(poll.info.clone())
    }

    /// Every poll with the identities that voted in it, oldest first, for a snapshot.
    pub(super) fn all_with_voters(&self) -> Vec<(PollInfo, Vec<String>)> {
        self.polls
            .iter()
            .map(|p| (p.info.clone(), p.voters.iter().cloned().collect()))
            .collect()
    }

    /// The latest id given, for a snapshot.
    pub(super) fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The polls of a snapshot (the newest that fit), their ids going on.
    pub(super) fn from_parts(polls: Vec<(PollInfo, Vec<String>)>, next_id: u64) -> Polls {
        let skip = polls.len().saturating_sub(MAX_POLLS);
        Polls {
            polls: polls
                .into_iter()
                .skip(skip)
                .map(|(info, voters)| Poll {
                    info,
                    voters: voters.into_iter().collect(),
                })
                .collect(),
            next_id: next_id.max(crate::room::chat::first_id()),
        }
    }

    /// Every poll as announced, oldest first.
    pub fn all(&self) -> Vec<PollInfo> {
        self.polls.iter().map(|p| p.info.clone()).collect()
    }

    fn find(&mut self, id: u64) -> Result<&mut Poll, ApiError> {
        self.polls
            .iter_mut()
            .find(|p| p.info.id == id)
            .ok_or_else(|| {
                ApiError::new(ErrorCode::NotFound, format!("No poll {id} in this room."))
            })
    }
}

/// One transcript line of a poll: the question and each answer's votes.
pub fn summary(poll: &PollInfo) -> String {
    let results: Vec<String> = poll
        .options
        .iter()
        .map(|o| format!("{}: {}", o.text, o.votes))
        .collect();
    format!(
        "Poll by {}: {} ({}){}",
        poll.from.name,
        poll.question,
        results.join(", "),
        if poll.closed { ", closed" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> Sender {
        Sender {
            sid: "PA_1".into(),
            identity: "ada".into(),
            name: "Ada".into(),
        }
    }

    #[test]
    fn one_vote_per_identity_until_closed() {
        let mut polls = Polls::default();
        let poll = polls
            .create(
                ada(),
                "Lunch?".into(),
                vec!["Pizza".into(), "Sushi".into()],
                0,
            )
            .unwrap();
        assert_eq!(polls.vote(poll.id, 1, "bob").unwrap().options[1].votes, 1);
        assert_eq!(
            polls.vote(poll.id, 0, "bob").unwrap_err().code,
            ErrorCode::Conflict
        );
        assert_eq!(
            polls.vote(poll.id, 7, "cay").unwrap_err().code,
            ErrorCode::NotFound
        );
        assert_eq!(
            polls.vote(99, 0, "cay").unwrap_err().code,
            ErrorCode::NotFound
        );
        assert!(polls.close(poll.id).unwrap().closed);
        assert_eq!(
            polls.vote(poll.id, 0, "cay").unwrap_err().code,
            ErrorCode::Conflict
        );
        assert_eq!(
            summary(&polls.all()[0]),
            "Poll by Ada: Lunch? (Pizza: 0, Sushi: 1), closed"
        );
    }

    #[test]
    fn malformed_polls_are_refused() {
        let mut polls = Polls::default();
        let one = polls.create(ada(), "Q".into(), vec!["only".into()], 0);
        assert_eq!(one.unwrap_err().code, ErrorCode::MalformedMessage);
        let blank = polls.create(ada(), " ".into(), vec!["a".into(), "b".into()], 0);
        assert_eq!(blank.unwrap_err().code, ErrorCode::MalformedMessage);
        let long = polls.create(ada(), "Q".into(), vec!["a".into(), "b".repeat(201)], 0);
        assert_eq!(long.unwrap_err().code, ErrorCode::MessageTooLarge);
    }
}
